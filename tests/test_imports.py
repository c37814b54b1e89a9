"""The package's imports: no import cycles among its modules, and no function-level imports of its
own modules except where a "deferred:" comment on the import or above it (no blank line between)
says why:
the commands in `cli/` import their TensorFlow-loading work after parsing arguments, and a heavy
optional dependency may be imported where it is used.

Read from the source with `ast`, so nothing is imported. `CHECKED` names the folders held to these
rules (relative to the package); "" is the whole package.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hide_and_seek_tf"
#: Folders held to the rules, relative to the package ("" = all of it).
CHECKED = ("",)
#: Folders whose functions may import the package's modules without a "deferred:" comment.
FUNCTION_IMPORTS_ALLOWED = ()
DEFERRED_MARK = "deferred:"


def module_names(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of `package` (a package's is its __init__)."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module) -> tuple[list[ast.stmt], list[ast.stmt]]:
    """(imports run when the module is imported, imports inside functions). Class bodies run at
    import; `if TYPE_CHECKING:` blocks never run."""
    module_level, in_functions = [], []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for stmt in child.orelse:
                    visit_stmt(stmt, in_function)
                continue
            visit_stmt(child, in_function)

    def visit_stmt(child: ast.AST, in_function: bool) -> None:
        if isinstance(child, ast.Import | ast.ImportFrom):
            (in_functions if in_function else module_level).append(child)
            return
        inner = in_function or isinstance(
            child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
        )
        visit(child, inner)

    visit(tree, False)
    return module_level, in_functions


def _targets(node: ast.stmt, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The package modules an import statement loads (a name imported from a package resolves to
    its submodule when there is one, else to the package)."""
    if isinstance(node, ast.Import):
        candidates = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            anchor = module.split(".")
            anchor = anchor if is_package else anchor[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, *([base] if base else [])])
        candidates = [
            f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
            for alias in node.names
        ]
    return {name for name in candidates if name in modules}


def import_graph(package: Path) -> tuple[dict[str, set[str]], list[tuple[str, int, str]]]:
    """(module -> the package modules it imports at module level, function-level imports of the
    package's modules as (module, line, source line)) for every module of `package`."""
    names = module_names(package)
    graph, function_level = {}, []
    for name, path in names.items():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        module_level, in_functions = _imports(ast.parse(text, filename=str(path)))
        is_package = path.name == "__init__.py"
        graph[name] = set().union(
            *(_targets(node, name, is_package, set(names)) for node in module_level)
        )
        for node in in_functions:
            if not _targets(node, name, is_package, set(names)):
                continue
            start = node.lineno - 1  # the import and the lines above it up to a blank line
            while start > 0 and lines[start - 1].strip():
                start -= 1
            source = lines[start : node.end_lineno]
            if not any(DEFERRED_MARK in line.partition("#")[2] for line in source):
                function_level.append((name, node.lineno, lines[node.lineno - 1].strip()))
    return graph, function_level


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path a -> ... -> a) per strongly connected component that has one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                connect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_cycle_in(graph, set(component)) for component in components]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:  # breadth first, back to `start` within the component
        node = frontier.pop(0)
        for succ in sorted(graph[node] & component):
            if succ == start:
                return [*paths[node], start]
            if succ not in paths:
                paths[succ] = [*paths[node], succ]
                frontier.append(succ)
    raise AssertionError("a strongly connected component without a cycle")


def _checked(name: str, package: Path, folders=CHECKED) -> bool:
    relative = module_names(package)[name].relative_to(package).as_posix()
    return any(relative.startswith(folder) for folder in folders)


@pytest.fixture(scope="module")
def graph_and_function_imports():
    return import_graph(PACKAGE)


def test_no_import_cycles(graph_and_function_imports):
    graph, _ = graph_and_function_imports
    cycles = [
        cycle for cycle in find_cycles(graph) if any(_checked(name, PACKAGE) for name in cycle)
    ]
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_function_level_imports_of_the_package(graph_and_function_imports):
    _, function_level = graph_and_function_imports
    found = [
        f"{name}:{line}: {text}"
        for name, line, text in function_level
        if _checked(name, PACKAGE) and not _checked(name, PACKAGE, FUNCTION_IMPORTS_ALLOWED)
    ]
    assert not found, (
        "imports of the package's own modules inside functions (move them to the top, or say "
        f"why on the line with '# {DEFERRED_MARK} ...'):\n" + "\n".join(found)
    )


def test_the_checks_find_a_cycle_and_a_function_level_import(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from pkg.sub.a import f\n")
    (package / "sub" / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import b\n"
        "if TYPE_CHECKING:\n"
        "    from pkg import c\n"
        "def f():\n"
        "    from pkg import c\n"
        "\n"
        "    # deferred: heavy\n"
        "    import pkg.c\n"
    )
    (package / "sub" / "b.py").write_text("class B:\n    from pkg.sub.a import f\n")
    (package / "c.py").write_text("import os\nimport pkg.sub\n")
    graph, function_level = import_graph(package)
    assert graph["pkg.sub.a"] == {"pkg.sub.b"}  # the TYPE_CHECKING import does not run
    assert graph["pkg.c"] == {"pkg.sub"}
    assert find_cycles(graph) == [["pkg.sub.a", "pkg.sub.b", "pkg.sub.a"]]
    assert function_level == [("pkg.sub.a", 6, "from pkg import c")]
    assert find_cycles({"x": {"y"}, "y": {"z"}, "z": set()}) == []

"""`pip install .` gives a working library outside the checkout: every subpackage and data file of
`hide_and_seek_tf/` lands in the installed tree, the console scripts are declared, and in a venv
with only the wheel installed the five commands run. The wheel is built once, for all of them."""

import configparser
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11")

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "hide_and_seek_tf"
COMMANDS = (
    "hide-and-seek-train",
    "hide-and-seek-evaluate",
    "hide-and-seek-export",
    "hide-and-seek-demo",
    "hide-and-seek-data",
)
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done


def _package_files(folder: Path) -> set[str]:
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built with pip from a copy of the repository (offline)."""
    pytest.importorskip("setuptools", reason="building the wheel offline needs setuptools")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a copy, so that the build leaves nothing in the checkout
    shutil.copytree(PACKAGE, src / PACKAGE.name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    _run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", tmp / "dist", src]
    )
    (built,) = (tmp / "dist").glob("hide_and_seek_tf-*.whl")
    return built


@pytest.fixture(scope="module")
def target(wheel, tmp_path_factory) -> Path:
    """The package installed with pip from the wheel into a folder."""
    target = tmp_path_factory.mktemp("install") / "target"
    _run([*PIP, "install", "--no-deps", "--no-index", "--target", target, wheel])
    return target


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with only the wheel installed (no pip); the test environment's packages are
    on its path through a .pth file, so no dependency is downloaded. Returns its bin folder."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    _run([*PIP, "--python", python, "install", "--no-deps", "--no-index", wheel])
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site.stdout.strip()) / "test_env_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    return venv / "bin"


def test_every_module_and_data_file_of_the_package_is_installed(target):
    missing = _package_files(PACKAGE) - _package_files(target / PACKAGE.name)
    assert not missing, f"not in the wheel: {sorted(missing)}"


def test_the_library_imports_from_the_installed_tree_outside_the_checkout(target, tmp_path):
    subpackages = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
    assert {"cli", "data", "evaluation", "layers", "models", "temporal", "training"} <= set(
        subpackages
    )
    code = "; ".join(
        ["import importlib, hide_and_seek_tf", "print(hide_and_seek_tf.__file__)"]
        + [f"print(importlib.import_module('hide_and_seek_tf.{name}').__file__)" for name in subpackages]
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(target)}
    done = _run([sys.executable, "-c", code], cwd=tmp_path, env=env)
    files = [Path(line) for line in done.stdout.split()]
    assert len(files) == 1 + len(subpackages)
    for file in files:
        assert file.is_relative_to(target), f"{file} imported from outside the installed tree"


def test_the_console_scripts_are_declared_in_the_installed_metadata(target):
    (dist_info,) = target.glob("hide_and_seek_tf-*.dist-info")
    entry_points = configparser.ConfigParser()
    entry_points.optionxform = str  # script names keep their case
    entry_points.read(dist_info / "entry_points.txt")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert dict(entry_points["console_scripts"]) == scripts
    assert set(scripts) >= {"hide-and-seek-train", "hide-and-seek-evaluate", "hide-and-seek-demo"}


def test_the_wheel_installs_the_package_itself(installed, tmp_path):
    code = "import hide_and_seek_tf.cli.train as m; print(m.__file__)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = _run([installed / "python", "-c", code], cwd=tmp_path, env=env)
    assert Path(done.stdout.strip()).is_relative_to(installed.parent)


@pytest.mark.parametrize("command", COMMANDS)
def test_each_installed_command_prints_its_usage(installed, command, tmp_path):
    script = installed / command
    assert script.is_file(), f"{command} was not installed"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = _run([script, "--help"], cwd=tmp_path, env=env)
    assert done.stdout.startswith(f"usage: {command} ")
    assert done.stderr == ""

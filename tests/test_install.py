"""`pip install .` gives a working library outside the checkout: every subpackage and data file of
`hide_and_seek_tf/` lands in the installed tree, and the console scripts are declared."""

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11")

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "hide_and_seek_tf"


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
def target(tmp_path_factory) -> Path:
    """The package installed with pip from a wheel built from the repository (offline)."""
    pytest.importorskip("setuptools", reason="building the wheel offline needs setuptools")
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"  # a copy, so that the build leaves nothing in the checkout
    shutil.copytree(PACKAGE, src / PACKAGE.name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", tmp / "dist", src]
    )
    (wheel,) = (tmp / "dist").glob("hide_and_seek_tf-*.whl")
    _run([*pip, "install", "--no-deps", "--no-index", "--target", tmp / "target", wheel])
    return tmp / "target"


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

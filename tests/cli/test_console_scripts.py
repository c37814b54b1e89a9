"""`pip install` of a wheel built from the repository gives the five commands, and `--help` runs."""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = (
    "hide-and-seek-train",
    "hide-and-seek-evaluate",
    "hide-and-seek-export",
    "hide-and-seek-demo",
    "hide-and-seek-data",
)


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with only the wheel installed (no pip); the test environment's packages are
    on its path through a .pth file, so no dependency is downloaded. Returns its bin folder."""
    pytest.importorskip("setuptools", reason="building the wheel offline needs setuptools")
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"  # a copy, so that the build leaves nothing in the checkout
    shutil.copytree(
        ROOT / "hide_and_seek_tf",
        src / "hide_and_seek_tf",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", tmp / "dist", src]
    )
    (wheel,) = (tmp / "dist").glob("hide_and_seek_tf-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    _run([*pip, "--python", python, "install", "--no-deps", "--no-index", wheel])
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site.stdout.strip()) / "test_env_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    return venv / "bin"


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

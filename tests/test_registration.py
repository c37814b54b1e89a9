"""`import hide_and_seek_tf` is enough to load its models: every Keras serializable is registered once
Keras loads, in a fresh process, under every backend, for files saved under any backend; and the
import itself still loads neither Keras nor TensorFlow."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from hide_and_seek_tf._registration import SERIALIZABLE_MODULES

REPO = Path(__file__).resolve().parents[1]


def _python(*args: str, backend: str = "tensorflow") -> str:
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"under {backend}:\n{done.stderr[-4000:]}"
    return done.stdout.strip().splitlines()[-1]


def _registering_modules() -> set[str]:
    """The package's modules that call `register_keras_serializable` (read from the source)."""
    found = set()
    for path in (REPO / "hide_and_seek_tf").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "register_keras_serializable":
                found.add(".".join(path.relative_to(REPO).with_suffix("").parts))
    return found


def test_every_module_that_registers_a_serializable_is_imported_by_the_registration():
    assert _registering_modules() == set(SERIALIZABLE_MODULES)


def test_the_import_loads_neither_keras_nor_tensorflow():
    code = "import sys, hide_and_seek_tf; print(sorted({'keras', 'tensorflow'} & set(sys.modules)))"
    assert _python("-c", code) == "[]"


@pytest.mark.skipif(keras.config.backend() != "tensorflow", reason="the driver runs under TF")
@pytest.mark.timeout(900)
def test_files_saved_under_each_backend_load_in_fresh_processes_under_the_others(tmp_path):
    # Each run loads what the earlier ones saved, then saves its own; each imports differently.
    runs = [
        ("tensorflow", "package-then-keras", []),
        ("jax", "keras-then-package", ["images_tensorflow", "sequences_tensorflow"]),
        (
            "torch",
            "hiding-then-keras",
            ["images_jax", "images_tensorflow", "sequences_jax", "sequences_tensorflow"],
        ),  # fmt: skip
        (
            "tensorflow",
            "hiding-then-keras",
            [
                "images_jax",
                "images_tensorflow",
                "images_torch",
                "sequences_jax",
                "sequences_tensorflow",
                "sequences_torch",
            ],
        ),  # fmt: skip
    ]
    for backend, order, expected in runs:
        pytest.importorskip(backend, reason=f"{backend} is in requirements.txt: reinstall")
        script = str(REPO / "tests" / "registration_roundtrip.py")
        loaded = _python(script, str(tmp_path), order, backend=backend)
        assert json.loads(loaded) == expected, (backend, order)

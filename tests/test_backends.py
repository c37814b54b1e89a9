"""The layer, model and CAM tests under JAX and PyTorch, and `.keras` files across backends.

As Keras's own CI does, each backend runs in its own process with KERAS_BACKEND set (Keras picks
its backend once, at import): the tests marked `all_backends` in the files of `SUITES` run again
under "jax" and "torch". This process
(TensorFlow) first saves a model with a `HideAndSeek` layer into a shared folder; the JAX run loads
it and saves its own, the PyTorch run loads both and saves its own, and this process then loads
the JAX and PyTorch files.
"""

import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

REPO = Path(__file__).resolve().parents[1]
SUITES = [
    "tests/layers/test_hide_and_seek.py",
    "tests/layers/test_augmentation_dicts.py",
    "tests/models/test_models.py",
    "tests/test_cam.py",
]


def _run_under(backend: str, exchange: Path) -> str:
    env = dict(
        os.environ,
        KERAS_BACKEND=backend,
        HIDE_AND_SEEK_BACKEND_EXCHANGE=str(exchange),
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    command = [sys.executable, "-m", "pytest", "-q", "-m", "all_backends", "-p", "no:cacheprovider"]
    result = subprocess.run(
        [*command, *SUITES],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"the {backend} run failed:\n{output[-6000:]}"
    return output


@pytest.mark.skipif(keras.config.backend() != "tensorflow", reason="the driver runs under TF")
@pytest.mark.timeout(1200)
def test_layer_model_and_cam_tests_pass_under_jax_and_torch_and_files_cross_backends(tmp_path):
    from tests.layers.test_hide_and_seek import load_and_save_exchange

    for backend in ("jax", "torch"):
        pytest.importorskip(backend, reason=f"{backend} is in requirements.txt: reinstall")
    assert load_and_save_exchange(tmp_path) == []  # tensorflow.keras, for the others to load
    for backend in ("jax", "torch"):
        output = _run_under(backend, tmp_path)
        assert " passed" in output and " failed" not in output, output[-2000:]
    assert load_and_save_exchange(tmp_path) == ["jax", "tensorflow", "torch"]

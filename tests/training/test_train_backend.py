"""`train.py --backend`: one epoch under JAX, then evaluate and export under TensorFlow."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from hide_and_seek_tf.cli import train as train_cli

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(keras.config.backend() != "tensorflow", reason="evaluates under TensorFlow")
@pytest.mark.timeout(600)
def test_one_epoch_under_jax_then_evaluate_and_export_under_tensorflow(tmp_path):
    pytest.importorskip("jax", reason="jax is in requirements.txt: reinstall")
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}  # --backend alone
    env.update(TF_CPP_MIN_LOG_LEVEL="2", HIDE_AND_SEEK_CACHE=str(tmp_path / "cache"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    command = [
        sys.executable, str(REPO / "train.py"), "--backend", "jax", "--num-images", "64",
        "--image-size", "32", "--batch-size", "16", "--epochs", "1", "--verbose", "2",
        "--hide-patch-sizes", "8,0", "--run-dir", str(run_dir),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=500)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    record = json.loads((run_dir / "config.json").read_text())
    assert record["versions"]["keras_backend"] == "jax"
    with (run_dir / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and float(rows[0]["loss"]) > 0

    from hide_and_seek_tf.evaluation import evaluate_run
    from hide_and_seek_tf.export import export_run
    from hide_and_seek_tf.training import load_run

    model, config, _ = load_run(run_dir)  # the JAX-trained model, under TensorFlow
    assert config["model"] == "small_gap" and model.output_shape == (None, 8)
    metrics = evaluate_run(run_dir, num_images=16, batch_size=16, progress=False)
    assert metrics["metrics"]["num_images"] == 16 and 0.0 <= metrics["metrics"]["top1_cls"] <= 100.0
    for name in ("metrics.json", "thresholds.csv", "cams.png"):
        assert (run_dir / "eval" / name).is_file()
    serving = export_run(run_dir, jit_compile=False)
    assert (serving / "saved_model.pb").is_file()


def test_backend_flag_too_late_or_unknown_is_a_clear_error(capsys):
    other = "jax" if keras.config.backend() != "jax" else "torch"
    with pytest.raises(SystemExit) as info:
        train_cli.main(["--backend", other])  # Keras is already imported in this process
    assert info.value.code == 2 and "already imported" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_cli.main(["--backend", "mxnet"])
    assert "invalid choice: 'mxnet'" in capsys.readouterr().err

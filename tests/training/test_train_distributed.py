"""train.py under MirroredStrategy (2 logical CPUs) and MultiWorkerMirroredStrategy (2 processes)."""

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import keras
import pytest
import tensorflow as tf

REPO = Path(__file__).resolve().parents[2]
EPOCHS, STEPS = 2, 6  # 96 images / global batch 16


def _cmd(run_dir, *extra):
    return [
        sys.executable, str(REPO / "train.py"), "--num-images", "96", "--image-size", "32",
        "--batch-size", "16", "--epochs", str(EPOCHS), "--verbose", "2",
        "--run-dir", str(run_dir), *extra,
    ]  # fmt: skip


def _env(tmp_path, **extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", HIDE_AND_SEEK_CACHE=str(tmp_path / "cache"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def _check_run(run_dir, replicas):
    config = json.loads((run_dir / "config.json").read_text())
    assert config["num_replicas"] == replicas
    assert config["batch_size"] == 16  # the global batch: each replica gets 16 / replicas
    with (run_dir / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == list(range(EPOCHS))
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(rows[0])
    model = keras.models.load_model(run_dir / "model.keras", safe_mode=True)
    # One optimizer step per global batch, not per replica.
    assert int(model.optimizer.iterations) == EPOCHS * STEPS
    assert not (run_dir / "backup").exists()


@pytest.mark.timeout(150)
def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    run_dir = tmp_path / "run"
    result = subprocess.run(
        _cmd(run_dir, "--strategy", "mirrored", "--cpu-devices", "2"),
        cwd=REPO, env=_env(tmp_path), capture_output=True, text=True, timeout=140,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "on 2 replica(s)" in result.stdout
    _check_run(run_dir, replicas=2)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.timeout(200)
def test_multi_worker_strategy_with_two_worker_processes(tmp_path):
    if not hasattr(tf.distribute, "MultiWorkerMirroredStrategy"):
        pytest.skip("this TensorFlow build has no MultiWorkerMirroredStrategy")
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    run_dir = tmp_path / "run"
    procs, logs, temps = [], [], []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        temp = tmp_path / f"tmp{index}"
        temp.mkdir()
        temps.append(temp)
        logs.append((tmp_path / f"worker{index}.log").open("w+"))
        env = _env(tmp_path, TF_CONFIG=json.dumps(tf_config), TMPDIR=str(temp))
        procs.append(
            subprocess.Popen(
                _cmd(run_dir, "--strategy", "multi-worker"),
                cwd=REPO,
                env=env,
                stdout=logs[-1],
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        )
    try:
        codes = [p.wait(timeout=180) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    outputs = []
    for log in logs:
        log.seek(0)
        outputs.append(log.read())
        log.close()
    assert codes == [0, 0], "\n\n".join(outputs)
    assert "on 2 replica(s)" in outputs[0]
    _check_run(run_dir, replicas=2)
    # Worker 1 wrote its files to a temporary directory and removed it.
    assert not any(temps[1].iterdir())

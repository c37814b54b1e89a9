"""A real training process killed with SIGKILL mid-epoch resumes from its saved state."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import pytest

REPO = Path(__file__).resolve().parents[2]
STEPS = 12  # 192 images / batch 16
EPOCHS = 4


def _train_cmd(run_dir, *extra):
    return [
        sys.executable, str(REPO / "train.py"), "--num-images", "192", "--image-size", "32",
        "--batch-size", "16", "--epochs", str(EPOCHS), "--backup-every", "2", "--no-validation",
        "--verbose", "2", "--run-dir", str(run_dir), *extra,
    ]  # fmt: skip


def _env(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", HIDE_AND_SEEK_CACHE=str(tmp_path / "cache"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _state(run_dir):
    try:
        return json.loads((run_dir / "backup" / "state.json").read_text())
    except (OSError, ValueError):
        return None


def _history(run_dir):
    with (run_dir / "history.csv").open() as f:
        return list(csv.DictReader(f))


def _train_then_sigkill(cmd, run_dir, tmp_path, ready):
    """Starts `cmd` (logging to tmp_path/first.log) and kills it with SIGKILL once `ready(state)`
    holds for its saved state; returns that state. Asserts it was killed, not finished."""
    log_path = tmp_path / "first.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=_env(tmp_path), stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 120
        state = None
        while time.monotonic() < deadline and proc.poll() is None:
            state = _state(run_dir)
            if state and ready(state):
                break
            time.sleep(0.01)
        assert proc.poll() is None, (
            f"training ended before it could be killed:\n{log_path.read_text()}"
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / "model.keras").exists()
    return state


@pytest.mark.timeout(180)
def test_sigkill_mid_epoch_then_resume_finishes_without_redoing_epochs(tmp_path):
    run_dir = tmp_path / "run"
    # Kill once an epoch is done and a backup inside the next epoch exists.
    state = _train_then_sigkill(
        _train_cmd(run_dir), run_dir, tmp_path, lambda s: s["epoch"] >= 1 and s["step"] > 0
    )

    killed = _state(run_dir)  # the state the restart will see (may be a little past `state`)
    assert killed["global_step"] >= state["global_step"]
    done_epochs = killed["global_step"] // STEPS
    rows_before = [r for r in _history(run_dir) if int(r["epoch"]) < done_epochs]
    assert len(rows_before) == done_epochs >= 1

    second = subprocess.run(
        _train_cmd(run_dir, "--resume"),
        cwd=REPO, env=_env(tmp_path), capture_output=True, text=True, timeout=150,
    )  # fmt: skip
    assert second.returncode == 0, second.stdout + second.stderr
    resumed_at = f"at epoch {done_epochs + 1}, step {killed['global_step'] % STEPS} of {STEPS}"
    assert resumed_at in second.stdout, second.stdout
    # The epochs finished before the kill were not run again.
    assert f"Epoch {done_epochs}/{EPOCHS}" not in second.stdout

    rows = _history(run_dir)
    assert [int(r["epoch"]) for r in rows] == list(range(EPOCHS))
    assert [int(float(r["global_step"])) for r in rows] == [STEPS * (e + 1) for e in range(EPOCHS)]
    assert rows[:done_epochs] == rows_before

    model = keras.models.load_model(run_dir / "model.keras", safe_mode=True)
    # Every optimizer step ran exactly once across the two processes.
    assert int(model.optimizer.iterations) == EPOCHS * STEPS
    assert model.predict(keras.ops.zeros((2, 32, 32, 3)), verbose=0).shape == (2, 8)
    assert not (run_dir / "backup").exists()

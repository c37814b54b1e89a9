"""A temporal training process killed with SIGKILL resumes from its saved state, as image runs do
(the same run directory machinery); a resume with other settings is refused."""

import subprocess
import sys

import keras
import pytest

from hide_and_seek_tf.temporal import TemporalConfig, train_temporal
from tests.training.test_train_kill_resume import (
    REPO,
    _env,
    _history,
    _state,
    _train_then_sigkill,
)

STEPS = 8  # 96 videos / batch 12
EPOCHS = 12


def _train_cmd(run_dir, *extra):
    return [
        sys.executable, str(REPO / "train.py"), "--task", "temporal", "--num-images", "96",
        "--num-steps", "60", "--filters", "8", "--batch-size", "12", "--epochs", str(EPOCHS),
        "--backup-every", "1", "--no-validation", "--verbose", "2", "--run-dir", str(run_dir),
        *extra,
    ]  # fmt: skip


@pytest.mark.timeout(180)
def test_sigkill_after_an_epoch_then_resume_finishes_without_redoing_epochs(tmp_path):
    run_dir = tmp_path / "run"
    # Kill once the first epoch's state is saved.
    _train_then_sigkill(_train_cmd(run_dir), run_dir, tmp_path, lambda state: state["epoch"] >= 1)
    killed = _state(run_dir)  # the state the restart sees
    done_epochs, done_steps = divmod(killed["global_step"], STEPS)
    assert 1 <= done_epochs < EPOCHS
    rows_before = [r for r in _history(run_dir) if int(r["epoch"]) < done_epochs]
    assert len(rows_before) == done_epochs

    second = subprocess.run(
        _train_cmd(run_dir, "--resume"),
        cwd=REPO, env=_env(tmp_path), capture_output=True, text=True, timeout=150,
    )  # fmt: skip
    assert second.returncode == 0, second.stdout + second.stderr
    resumed_at = f"at epoch {done_epochs + 1}, step {done_steps} of {STEPS}"
    assert resumed_at in second.stdout, second.stdout
    assert f"Epoch {done_epochs}/{EPOCHS}" not in second.stdout  # finished epochs not rerun

    rows = _history(run_dir)
    assert [int(r["epoch"]) for r in rows] == list(range(EPOCHS))
    assert [int(float(r["global_step"])) for r in rows] == [STEPS * (e + 1) for e in range(EPOCHS)]
    assert rows[:done_epochs] == rows_before
    model = keras.models.load_model(run_dir / "model.keras", safe_mode=True)
    assert int(model.optimizer.iterations) == EPOCHS * STEPS  # every step ran exactly once
    assert not (run_dir / "backup").exists()


def test_resume_with_other_settings_is_refused_and_changes_nothing(tmp_path):
    tiny = {"num_videos": 24, "num_steps": 60, "filters": 8, "epochs": 1, "batch_size": 12}
    config = TemporalConfig(**tiny, run_dir=str(tmp_path / "run"), validation=False)
    train_temporal(config, verbose=0)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "run").rglob("*")}
    with pytest.raises(ValueError, match="filters: saved 8, now 16"):
        train_temporal(config.replace(resume=True, filters=16), verbose=0)
    # A finished run resumed with its own settings loads its model and writes nothing.
    train_temporal(config.replace(resume=True), verbose=0)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "run").rglob("*")} == before

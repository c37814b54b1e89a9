"""The callbacks that write a run directory during `fit`: `RunRecorder` (resumable state, history,
checkpoints, written atomically) and `EpochSummaries` (TensorBoard).

Keras's `BackupAndRestore` writes its weights and metadata in place (a kill during a save can leave
them corrupt or out of step) and restarts an interrupted epoch from its first batch. `RunRecorder`
saves the same state (model and optimizer variables) under a new name, then atomically points
`backup/state.json` at it, so a SIGKILL at any instant leaves a consistent state; the state records
the global step, so a resumed run finishes the interrupted epoch instead of repeating it.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from hide_and_seek_tf._io import (
    atomic_path,
    save_model_atomic,
    write_json_atomic,
    write_text_atomic,
)
from hide_and_seek_tf.training.config import BACKUP_SECONDS
from hide_and_seek_tf.training.records import history_csv
from hide_and_seek_tf.training.run_dir import BACKUP_DIR, CHECKPOINTS_DIR, HISTORY_FILE, STATE_FILE

KEEP_CHECKPOINTS = 3


def _scalar(value: Any) -> float | str:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


class RunRecorder(keras.callbacks.Callback):
    """Writes history.csv, epoch checkpoints and the resumable state into a run directory.

    Every `backup_every` steps (or `backup_seconds`) and at every epoch end it saves the model and optimizer variables to
    `backup/state-<step>.weights.h5` and then `backup/state.json` (global step, epoch, history so far);
    at every epoch end it also appends a row to history.csv and saves `checkpoints/epoch-NNN.keras`
    (the last `KEEP_CHECKPOINTS` are kept). Every file is written to a temporary name and renamed.

    Args:
        write_dir: the run directory (a throw-away directory on non-chief workers).
        steps_per_epoch: steps in one epoch.
        backup_every: steps between state saves; None: a save once `backup_seconds` have passed
            since the last one.
        global_step: steps already done (non-zero when resuming).
        history: rows of the epochs already done (when resuming).
        saved_model: the model the epoch checkpoints save (default: the model being fitted; it
            differs when `fit` trains it behind a training-only layer).
    """

    def __init__(
        self,
        write_dir: str | Path,
        steps_per_epoch: int,
        backup_every: int | None,
        global_step: int = 0,
        history: list[dict[str, Any]] | None = None,
        saved_model: keras.Model | None = None,
        backup_seconds: float = BACKUP_SECONDS,
    ):
        super().__init__()
        self.saved_model = saved_model
        self.write_dir = Path(write_dir)
        self.steps_per_epoch = int(steps_per_epoch)
        self.backup_every = None if backup_every is None else int(backup_every)
        self.backup_seconds = float(backup_seconds)
        self._epoch_start = self._last_save = time.perf_counter()
        self.global_step = int(global_step)
        self.history = list(history or [])

    @property
    def backup_dir(self) -> Path:
        return self.write_dir / BACKUP_DIR

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._epoch_start = self._last_save = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.global_step += 1
        if self.global_step % self.steps_per_epoch == 0:
            return  # epoch ends save in on_epoch_end, after the history row is complete
        if self.backup_every is None:
            due = time.perf_counter() - self._last_save >= self.backup_seconds
        else:
            due = self.global_step % self.backup_every == 0
        if due:
            self.save_state()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        row: dict[str, Any] = {"epoch": int(epoch)}
        for key, value in (logs or {}).items():
            row[key] = _scalar(value)
        row["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row["global_step"] = self.global_step
        # Wall time since the previous epoch's files were written: steps, validation and saves.
        row["epoch_seconds"] = round(time.perf_counter() - self._epoch_start, 3)
        self.history = [r for r in self.history if r["epoch"] < epoch] + [row]
        self.write_history()
        self.save_checkpoint(epoch)
        self.save_state()
        self._epoch_start = time.perf_counter()

    def write_history(self) -> None:
        """Rewrites history.csv from the rows so far (atomically)."""
        write_text_atomic(self.write_dir / HISTORY_FILE, history_csv(self.history))

    def save_checkpoint(self, epoch: int) -> None:
        folder = self.write_dir / CHECKPOINTS_DIR
        save_model_atomic(self.saved_model or self.model, folder / f"epoch-{epoch + 1:03d}.keras")
        for old in sorted(folder.glob("epoch-*.keras"))[:-KEEP_CHECKPOINTS]:
            old.unlink(missing_ok=True)

    def save_state(self) -> None:
        """Saves the variables, then points state.json at them; older weight files are removed."""
        self._last_save = time.perf_counter()
        name = f"state-{self.global_step:09d}.weights.h5"
        with atomic_path(self.backup_dir / name, suffix=".weights.h5") as tmp:
            self.model.save_weights(tmp)
        epoch, step = divmod(self.global_step, self.steps_per_epoch)
        write_json_atomic(
            self.backup_dir / STATE_FILE,
            {
                "global_step": self.global_step,
                "epoch": epoch,
                "step": step,
                "steps_per_epoch": self.steps_per_epoch,
                "weights": name,
                "history": self.history,
            },
        )
        for old in self.backup_dir.glob("state-*.weights.h5"):
            if old.name != name:
                old.unlink(missing_ok=True)

    def remove_state(self) -> None:
        """Deletes the backup folder (after the final model is saved)."""
        shutil.rmtree(self.backup_dir, ignore_errors=True)


class EpochSummaries(keras.callbacks.Callback):
    """TensorBoard scalars per epoch, written with TensorFlow alone (no `tensorboard` package).

    Same layout as `keras.callbacks.TensorBoard`: `log_dir/train` and `log_dir/validation`, tags
    `epoch_loss`, `epoch_accuracy`, ..., plus `epoch_learning_rate`; view with
    `tensorboard --logdir RUN/logs`.
    """

    def __init__(self, log_dir: str | Path):
        super().__init__()
        self.log_dir = Path(log_dir)
        self._writers: dict[str, Any] = {}
        self._metadata = tf.compat.v1.SummaryMetadata()
        self._metadata.plugin_data.plugin_name = "scalars"

    def _writer(self, name: str):
        if name not in self._writers:
            self._writers[name] = tf.summary.create_file_writer(str(self.log_dir / name))
        return self._writers[name]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = dict(logs or {})
        logs["learning_rate"] = keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        for key, value in logs.items():
            split, tag = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            with self._writer(split).as_default():
                tf.summary.write(
                    f"epoch_{tag}", tf.constant(float(value)), step=epoch, metadata=self._metadata
                )
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def resumed_seed(seed: int, global_step: int) -> int:
    """The input pipeline's seed after `global_step` steps: a resumed run's iterator restarts, and
    this gives it a new data order and new hiding masks instead of those of the first epochs."""
    return (int(seed) + 7919 * int(global_step)) % 2**31

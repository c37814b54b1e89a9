"""The run directory: its file names, its lock, the checks before a run writes it, the resumable
training state, and `load_run`.

Layout (docs/architecture.md)::

    RUN/config.json          resolved TrainConfig + num_classes, class_names, dataset, versions
    RUN/dataset_mean.json    {"mean", "std", "num_pixels", "fingerprint", ...}
    RUN/model.keras          final model (loads with safe_mode=True)
    RUN/history.csv          one row per epoch
    RUN/checkpoints/         epoch-NNN.keras, the last few epochs
    RUN/backup/              resumable training state: state.json naming state-<step>.weights.h5
                             (removed when the run completes)
    RUN/logs/                TensorBoard
    RUN/eval/                evaluate.py's output
    RUN/serving/<version>/   export.py's output
    RUN/.lock                held (flock) by the process that trains, evaluates into or exports from it

The file names are the constants below; importing this module does not import TensorFlow (the
command-line programs read them before loading it).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hide_and_seek_tf._io import is_leftover, locked_dir, remove_stale_temps
from hide_and_seek_tf.training.config import TrainConfig, config_differences

if TYPE_CHECKING:
    import keras

CONFIG_FILE = "config.json"
MEAN_FILE = "dataset_mean.json"
MODEL_FILE = "model.keras"
HISTORY_FILE = "history.csv"
CHECKPOINTS_DIR = "checkpoints"
BACKUP_DIR = "backup"
LOGS_DIR = "logs"
EVAL_DIR = "eval"
SERVING_DIR = "serving"
STATE_FILE = "state.json"  # in BACKUP_DIR


def is_empty_dir(path: str | os.PathLike) -> bool:
    """True when `path` does not exist or is an empty directory (its lock file and what a process
    killed before its first complete write left aside)."""
    path = Path(path)
    return not path.exists() or (path.is_dir() and all(is_leftover(p.name) for p in path.iterdir()))


@contextlib.contextmanager
def locked_run(run_dir: str | os.PathLike, holder: str) -> Iterator[Path]:
    """Holds the run directory's lock for the block (`_io.locked_dir`), creating the directory.

    Training, evaluating into and exporting from a run hold it, so two of them never write one run
    at once. Leftovers of saves a killed process left (`.model.keras.*`, `checkpoints/.epoch-*`,
    `backup/.state-*`) are removed once it is held.

    Raises:
        DirectoryInUseError: another process holds it (the message names the run and its pid).
    """
    with locked_dir(run_dir, holder, what="Run directory") as path:
        for folder in (path, path / CHECKPOINTS_DIR, path / BACKUP_DIR):
            remove_stale_temps(folder)
        yield path


def read_json(path: str | os.PathLike, what: str) -> Any:
    """Reads a JSON file, raising FileNotFoundError that names `what` and the path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"No {what} at {path} (expected a file named {path.name!r} in {path.parent})."
        )
    return json.loads(path.read_text())


def _check_run_dir(config: TrainConfig) -> None:
    """Refuses to overwrite a run, or to resume one with different settings."""
    run_dir = Path(config.run_dir)
    if not config.resume:
        if not is_empty_dir(run_dir):
            raise FileExistsError(
                f"Run directory {run_dir} is not empty. Resume it with --resume (`resume=True`) or "
                "choose a new --run-dir; nothing was changed."
            )
        return
    saved = read_json(run_dir / CONFIG_FILE, "run config to resume")
    diffs = config_differences(saved, config)
    if diffs:
        listed = "; ".join(
            f"{key}: saved {old!r}, now {new!r}" for key, (old, new) in diffs.items()
        )
        raise ValueError(
            f"Cannot resume {run_dir}: these settings differ from its config.json: {listed}. "
            "Resume with the same settings, or start a new run."
        )


def read_state(run_dir: str | Path) -> dict[str, Any] | None:
    """The saved training state of a run (`backup/state.json`), or None when there is none."""
    path = Path(run_dir) / BACKUP_DIR / STATE_FILE
    if not path.is_file():
        return None
    state = json.loads(path.read_text())
    if not (Path(run_dir) / BACKUP_DIR / state["weights"]).is_file():
        raise FileNotFoundError(
            f"The training state {path} names {state['weights']!r}, which is missing from "
            f"{path.parent}: the backup is damaged."
        )
    return state


def restore_state(model: keras.Model, run_dir: str | Path) -> dict[str, Any] | None:
    """Loads the saved model and optimizer variables into `model`; returns the state, or None.

    `model` must be built and compiled (its optimizer's variables are created before loading).
    """
    state = read_state(run_dir)
    if state is None:
        return None
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(Path(run_dir) / BACKUP_DIR / state["weights"])
    return state


def epochs_done(state: dict[str, Any] | None, steps_per_epoch: int) -> tuple[int, int]:
    """(epoch, step within it) at which a run with saved `state` continues."""
    if not state:
        return 0, 0
    if state["steps_per_epoch"] != steps_per_epoch:
        raise ValueError(
            f"The saved state was taken with steps_per_epoch={state['steps_per_epoch']}; this run has "
            f"steps_per_epoch={steps_per_epoch}. Resume with the same data, batch size and "
            "`steps_per_epoch`."
        )
    epoch, step = divmod(int(state["global_step"]), steps_per_epoch)
    return epoch, step


def load_run(run_dir: str | os.PathLike) -> tuple[keras.Model, dict[str, Any], np.ndarray]:
    """Loads a finished run: its model, its config and the dataset mean it was trained with.

    Args:
        run_dir: a directory written by `train`.

    Returns:
        (model, config, mean): the `keras.Model` from model.keras (loaded with `safe_mode=True`), the
        dict from config.json, and the per-channel mean (float64 NumPy array, C values) from
        dataset_mean.json, in raw pixel units (the Hide-and-Seek fill).

    Raises:
        FileNotFoundError: `run_dir` or one of its files is missing (named in the message).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"Run directory not found: {run_dir}")
    config = read_json(run_dir / CONFIG_FILE, "run config")
    stats = read_json(run_dir / MEAN_FILE, "dataset mean")
    model_path = run_dir / MODEL_FILE
    if not model_path.is_file():
        hint = (
            " (the run has not finished: resume it with --resume)"
            if (run_dir / BACKUP_DIR).exists()
            else ""
        )
        raise FileNotFoundError(f"No trained model at {model_path}{hint}.")
    import keras  # deferred: the command-line programs import this module before TensorFlow

    model = keras.models.load_model(model_path, safe_mode=True)
    return model, config, np.asarray(stats["mean"], dtype=np.float64)

"""The run directory: its file names, the cached dataset statistics, and `load_run`.

Layout (docs/architecture.md)::

    RUN/config.json          resolved TrainConfig + num_classes, class_names, dataset, versions
    RUN/dataset_mean.json    {"mean", "std", "num_pixels", "fingerprint", ...}
    RUN/model.keras          final model (loads with safe_mode=True)
    RUN/history.csv          one row per epoch
    RUN/checkpoints/         epoch-NNN.keras, the last few epochs
    RUN/backup/              resumable training state (removed when the run completes)
    RUN/logs/                TensorBoard
    RUN/eval/                evaluate.py's output
    RUN/serving/<version>/   export.py's output
    RUN/.lock                held (flock) by the process that trains, evaluates into or exports from it

The file names are the constants below; importing this module does not import TensorFlow (the
command-line programs read them before loading it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hide_and_seek_tf._io import is_leftover, locked_dir, remove_stale_temps, write_json_atomic
from hide_and_seek_tf.training.config import TrainConfig

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

CONFIG_FILE = "config.json"
MEAN_FILE = "dataset_mean.json"
MODEL_FILE = "model.keras"
HISTORY_FILE = "history.csv"
CHECKPOINTS_DIR = "checkpoints"
BACKUP_DIR = "backup"
LOGS_DIR = "logs"
EVAL_DIR = "eval"
SERVING_DIR = "serving"

CACHE_ENV = "HIDE_AND_SEEK_CACHE"
_FINGERPRINT_VERSION = 1


def cache_dir() -> Path:
    """Root of the on-disk cache: $HIDE_AND_SEEK_CACHE, else $XDG_CACHE_HOME/hide_and_seek_tf, else
    ~/.cache/hide_and_seek_tf."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hide_and_seek_tf"


def data_fingerprint(config: TrainConfig, split: str = "train") -> str:
    """A hash of everything the images of `split` depend on: data spec, options and image size.

    A dataset path (and an image root) enters resolved, with its size and modification time, so a
    changed file gets a new fingerprint. The seed enters only for synthetic data (the only source it changes).
    """
    spec = config.data_spec
    kind, source = spec.kind, spec.fingerprint()
    key = {
        "version": _FINGERPRINT_VERSION,
        "source": source,
        "split": split,
        "classes": list(config.classes) if isinstance(config.classes, tuple) else config.classes,
        "max_per_class": config.max_per_class,
        "num_images": config.num_images,
        "image_size": list(config.image_size) if config.image_size else None,
        "seed": config.seed if kind == "synthetic" else None,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]


def dataset_statistics(
    config: TrainConfig, train_images: Callable[[], tf.data.Dataset]
) -> dict[str, Any]:
    """Per-channel mean and std of the training images, from the cache or computed and cached.

    Args:
        config: the resolved config (its data options and `image_size` make the fingerprint).
        train_images: returns the (unbatched or batched) training dataset at `config.image_size`;
            called only on a cache miss.

    Returns:
        {"mean": [C floats], "std": [C floats], "num_pixels": int, "fingerprint": str, "data": spec,
        "split": "train", "image_size": [H, W]}: the content of `dataset_mean.json`.
    """
    fingerprint = data_fingerprint(config, config.train_split)
    cached = cache_dir() / "means" / f"{fingerprint}.json"
    if cached.exists():
        try:
            stats = json.loads(cached.read_text())
            if stats.get("fingerprint") == fingerprint:
                return stats
        except (OSError, ValueError):
            pass  # unreadable cache entry: recompute and overwrite it
    from hide_and_seek_tf.dataset_mean import compute_dataset_moments

    mean, std, count = compute_dataset_moments(train_images())
    stats = {
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "num_pixels": int(count),
        "fingerprint": fingerprint,
        "data": config.data,
        "split": config.train_split,
        "image_size": list(config.image_size) if config.image_size else None,
    }
    try:
        write_json_atomic(cached, stats)
    except OSError:
        pass  # a read-only cache must not stop training
    return stats


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
    import keras

    model = keras.models.load_model(model_path, safe_mode=True)
    return model, config, np.asarray(stats["mean"], dtype=np.float64)

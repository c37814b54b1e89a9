"""Training: `TrainConfig`, `train(config)` and `load_run(run_dir)`; `train.py` is a thin CLI over them.

A run directory holds config.json, dataset_mean.json, history.csv, checkpoints/, backup/ (resumable
state), logs/ (TensorBoard) and finally model.keras; see docs/architecture.md.
"""

from hide_and_seek_tf.training.config import RECIPES, TrainConfig, config_differences
from hide_and_seek_tf.training.loop import (
    configure_cpu_devices,
    make_lr_schedule,
    make_optimizer,
    make_strategy,
    train,
)
from hide_and_seek_tf.training.run_dir import data_fingerprint, dataset_statistics, load_run

__all__ = [
    "RECIPES",
    "TrainConfig",
    "config_differences",
    "configure_cpu_devices",
    "data_fingerprint",
    "dataset_statistics",
    "load_run",
    "make_lr_schedule",
    "make_optimizer",
    "make_strategy",
    "train",
]

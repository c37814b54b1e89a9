"""Training: `TrainConfig`, `train(config)` and `load_run(run_dir)`; `train.py` is a thin CLI over them.

A run directory holds config.json, dataset_mean.json, history.csv, checkpoints/, backup/ (resumable
state), logs/ (TensorBoard) and finally model.keras; see docs/architecture.md.

The names are imported on first use, so that `training.config` (all `train.py --help` needs) loads
without TensorFlow.
"""

from hide_and_seek_tf._lazy import lazy_attributes

_PUBLIC = {
    "RECIPES": "hide_and_seek_tf.training.config",
    "TrainConfig": "hide_and_seek_tf.training.config",
    "config_differences": "hide_and_seek_tf.training.config",
    "configure_cpu_devices": "hide_and_seek_tf.training.setup",
    "make_strategy": "hide_and_seek_tf.training.setup",
    "make_lr_schedule": "hide_and_seek_tf.training.optimizers",
    "make_optimizer": "hide_and_seek_tf.training.optimizers",
    "train": "hide_and_seek_tf.training.loop",
    "load_run": "hide_and_seek_tf.training.run_dir",
    "data_fingerprint": "hide_and_seek_tf.dataset_mean",
    "dataset_statistics": "hide_and_seek_tf.dataset_mean",
}

__all__ = sorted(_PUBLIC)

__getattr__, __dir__ = lazy_attributes(__name__, _PUBLIC)

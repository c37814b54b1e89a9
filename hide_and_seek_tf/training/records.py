"""What a run directory records besides the model: the run record (config.json: the resolved settings,
the data, the replicas and the versions of the environment) and history.csv's text."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import hide_and_seek_tf
from hide_and_seek_tf._io import write_json_atomic, write_text_atomic
from hide_and_seek_tf.data.checks import data_checks_record
from hide_and_seek_tf.training.config import TrainConfig
from hide_and_seek_tf.training.run_dir import CONFIG_FILE, HISTORY_FILE, MEAN_FILE


def _versions() -> dict[str, str]:
    """The versions a run was made with (config.json's "versions")."""
    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "hide_and_seek_tf": hide_and_seek_tf.__version__,
        "keras_backend": keras.config.backend(),
        "python": sys.version.split()[0],
    }


def _run_record(config: TrainConfig, info: Any, strategy: tf.distribute.Strategy) -> dict[str, Any]:
    """config.json's content: the resolved `config`, the data (`info`), the replicas, the versions."""
    return {
        **config.to_dict(),
        "num_classes": int(info.num_classes),
        "class_names": list(info.class_names),
        "dataset": {
            "name": info.name,
            "num_train_examples": info.num_examples,
            "native_image_size": list(info.image_size) if info.image_size else None,
            "wnids": list(getattr(info, "wnids", None) or []) or None,
            **data_checks_record(info),
        },
        "num_replicas": int(strategy.num_replicas_in_sync),
        "total_steps": int(config.epochs * config.steps_per_epoch),
        "versions": _versions(),
    }


def history_csv(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV text: "epoch" first, then the other columns in sorted order."""
    columns = ["epoch"] + sorted({key for row in rows for key in row} - {"epoch"})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue()


def write_run_start(
    run_dir: Path, record: dict[str, Any], stats: dict[str, Any], kept_history: list | None
) -> None:
    """The first files of a run, once its data and model have loaded: config.json (`record`) and
    dataset_mean.json (`stats`); a resumed run (`kept_history` not None) also rewrites history.csv
    to the rows it keeps, dropping those of epochs that will be redone."""
    write_json_atomic(run_dir / CONFIG_FILE, record)
    write_json_atomic(run_dir / MEAN_FILE, stats)
    if kept_history is not None:
        write_text_atomic(run_dir / HISTORY_FILE, history_csv(kept_history))


__all__ = ["history_csv", "write_run_start"]

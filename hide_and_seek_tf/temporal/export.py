"""Export a temporal run as a TF Serving SavedModel returning class scores, the 1-D CAM and intervals.

As image exports (`hide_and_seek_tf.export`) return class, score, CAM and box, the temporal one
returns, for a batch of feature sequences, the top classes with their scores, the top-1 class's 1-D
CAM and the intervals the paper predicts from it (section 4.2.3: every continuous run of the CAM
above `threshold` of its max). The model, the CAM and the run search are traced into the graph: the
SavedModel needs nothing but TensorFlow to load. Hiding is training-only and is not in it.

Signature:
    serving_default(features: float32 [None, None, D]): raw features (B, T, D), any T (the 1x1
        convolutions and the global pooling take every length; a batch shares one T).

Outputs:
    classes int32 (B, k): top-k class indices; scores float32 (B, k): their softmax probabilities;
    labels string (B, k): their class names;
    cams float32 (B, T): the top-1 class's CAM, raw, CAM_c(t) = sum_i W(c, i) F_i(t)
        (`temporal_class_activation_maps`; not normalized, as the evaluation thresholds it);
    intervals int32 (B, N, 2): inclusive (start, end) step indices of every run of
        cam >= threshold * max(cam), in order, N the most runs of any sequence in the batch, padded
        with -1 (`localization.cams_to_intervals`); step t covers [t, t + 1) * duration / T seconds;
    interval_scores float32 (B, N): each run's mean CAM (0 where padded);
    num_intervals int32 (B,): the runs of each sequence.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from hide_and_seek_tf.export import (
    check_class_names,
    serving_top_k,
    warmup_record,
    write_version,
    write_warmup_file,
)
from hide_and_seek_tf.temporal.localization import PAPER_CAM_THRESHOLD, _check_threshold
from hide_and_seek_tf.temporal.model import temporal_class_activation_maps
from hide_and_seek_tf.training.run_dir import SERVING_DIR, load_run, locked_run


def cam_runs(cams: tf.Tensor, threshold: float) -> dict[str, tf.Tensor]:
    """`cams_to_intervals` in the graph: every run of cam >= threshold * max(cam), per row.

    Args:
        cams: float32 (B, T).
        threshold: fraction of each map's max.

    Returns:
        {"intervals": int32 (B, N, 2) padded with -1, "interval_scores": float32 (B, N) padded
        with 0, "num_intervals": int32 (B,)}.
    """
    batch = tf.shape(cams)[0]
    above = tf.cast(cams >= threshold * tf.reduce_max(cams, axis=1, keepdims=True), tf.int32)
    change = tf.experimental.numpy.diff(tf.pad(above, [[0, 0], [1, 1]]), axis=1)  # (B, T + 1)
    starts = tf.where(tf.equal(change, 1))  # row-major: each run's end pairs with its start
    ends = tf.where(tf.equal(change, -1))[:, 1] - 1
    rows, starts = starts[:, 0], starts[:, 1]
    # Mean over each run from a cumulative sum.
    cumulative = tf.pad(tf.cumsum(cams, axis=1), [[0, 0], [1, 0]])
    total = tf.gather_nd(cumulative, tf.stack([rows, ends + 1], 1)) - tf.gather_nd(
        cumulative, tf.stack([rows, starts], 1)
    )
    scores = total / tf.cast(ends - starts + 1, tf.float32)
    nrows = tf.cast(batch, tf.int64)
    intervals = tf.RaggedTensor.from_value_rowids(
        tf.cast(tf.stack([starts, ends], 1), tf.int32), rows, nrows=nrows
    )
    ragged_scores = tf.RaggedTensor.from_value_rowids(scores, rows, nrows=nrows)
    return {
        "intervals": intervals.to_tensor(default_value=-1, shape=[None, None, 2]),
        "interval_scores": ragged_scores.to_tensor(default_value=0.0),
        "num_intervals": tf.cast(intervals.row_lengths(), tf.int32),
    }


class TemporalServer:
    """The traced computation behind the exported signature (also usable in Python directly).

    Args:
        model: a `build_temporal_classifier` model (raw features in, logits out).
        class_names: one name per class.
        threshold: fraction of the CAM's max the intervals are cut at (None: the paper's 0.5).
        top_k: classes returned, in [1, num_classes] (None: min(5, num_classes)).

    Raises:
        ValueError: a bad argument, naming it.
    """

    def __init__(
        self,
        model: keras.Model,
        class_names: Sequence[str],
        threshold: float | None = None,
        top_k: int | None = None,
    ) -> None:
        num_classes = int(model.output_shape[-1])
        check_class_names(class_names, num_classes)
        self.threshold = _check_threshold(PAPER_CAM_THRESHOLD if threshold is None else threshold)
        self.model = model
        self.top_k = serving_top_k(top_k, num_classes)
        self.feature_dim = int(model.input_shape[-1])
        self.class_names = tf.constant(list(class_names))
        self.predict_features = tf.function(
            self._predict,
            input_signature=[tf.TensorSpec([None, None, self.feature_dim], tf.float32)],
        )

    def _predict(self, features: tf.Tensor) -> dict[str, tf.Tensor]:
        # An empty batch never reaches the convolutions: oneDNN mis-shapes their output at batch 0.
        return tf.cond(
            tf.shape(features)[0] > 0,
            lambda: self._predict_batch(features),
            lambda: self._empty_outputs(tf.shape(features)[1]),
        )

    def _empty_outputs(self, length: tf.Tensor) -> dict[str, tf.Tensor]:
        k = self.top_k
        return {
            "classes": tf.zeros([0, k], tf.int32),
            "scores": tf.zeros([0, k], tf.float32),
            "labels": tf.fill([0, k], ""),
            "cams": tf.zeros(tf.stack([0, length]), tf.float32),
            "intervals": tf.zeros([0, 0, 2], tf.int32),
            "interval_scores": tf.zeros([0, 0], tf.float32),
            "num_intervals": tf.zeros([0], tf.int32),
        }

    def _predict_batch(self, features: tf.Tensor) -> dict[str, tf.Tensor]:
        logits, cams = temporal_class_activation_maps(self.model, features)
        scores, classes = tf.math.top_k(tf.nn.softmax(logits), k=self.top_k)
        cam = tf.gather(cams, classes[:, 0], axis=1, batch_dims=1)  # (B, T), the top-1 class
        return {
            "classes": tf.cast(classes, tf.int32),
            "scores": scores,
            "labels": tf.gather(self.class_names, classes),
            "cams": cam,
            **cam_runs(cam, self.threshold),
        }


def export_temporal(
    model: keras.Model,
    class_names: Sequence[str],
    out: str | os.PathLike,
    version: int | None = None,
    threshold: float | None = None,
    top_k: int | None = None,
    *,
    warmup: bool = True,
    warmup_steps: int = 100,
) -> Path:
    """Writes a TF Serving SavedModel of a temporal classifier to `out/<version>/` (atomically,
    never over an existing version; see `hide_and_seek_tf.export.write_version`).

    Args:
        model, class_names, threshold, top_k: see `TemporalServer`.
        out: the model base path TF Serving watches.
        version: version number; default: one more than the largest existing.
        warmup: write `assets.extra/tf_serving_warmup_requests` (one request of zeros).
        warmup_steps: T of the warm-up request (a run's `num_steps`).

    Returns:
        The version directory written.
    """
    server = TemporalServer(model, class_names, threshold, top_k)

    def write(staging: Path) -> None:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(
            "serving_default",
            server.predict_features,
            input_signature=[
                tf.TensorSpec([None, None, server.feature_dim], tf.float32, name="features")
            ],
        )
        archive.write_out(str(staging), verbose=False)
        if warmup:
            zeros = np.zeros((1, warmup_steps, server.feature_dim), np.float32)
            write_warmup_file(staging, [warmup_record(zeros, input_name="features")])

    return write_version(out, version, write)


def export_temporal_run(
    run_dir: str | os.PathLike,
    out: str | os.PathLike | None = None,
    version: int | None = None,
    threshold: float | None = None,
    top_k: int | None = None,
    *,
    warmup: bool = True,
) -> Path:
    """Exports the model of a temporal run directory (default destination `RUN/serving/<version>/`),
    holding the run's lock meanwhile.

    Raises:
        FileNotFoundError: the run or one of its files is missing.
        FileExistsError: `out/<version>` exists already.
        ValueError: bad arguments, naming them.
    """
    if not Path(run_dir).is_dir():
        raise FileNotFoundError(f"Run directory not found: {run_dir}")
    with locked_run(run_dir, "export"):
        model, config, _ = load_run(run_dir)
        class_names = config.get("class_names") or [str(i) for i in range(model.output_shape[-1])]
        out = Path(run_dir) / SERVING_DIR if out is None else Path(out)
        return export_temporal(
            model,
            class_names,
            out,
            version,
            threshold,
            top_k,
            warmup=warmup,
            warmup_steps=int(config.get("num_steps") or 100),
        )

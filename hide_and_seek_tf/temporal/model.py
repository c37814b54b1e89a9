"""The paper's action classifier over feature sequences and its 1-D class activation map (section 4.2.3).

Two 1x1 convolutions of 500 kernels (stride 1, ReLU) over the (T, D) features, global max pooling over
time (GMP; global average pooling as an option), and a Dense softmax classifier. The maps F_i(t) the
pooling reads are the layer `cam_features` and the classifier is `predictions`, as in the image models,
so the 1-D CAM of class c is CAM_c(t) = sum_i W(c, i) F_i(t).

References:
    arXiv:1811.02545, sections 3.2 and 4.2.3; Zhou et al., CVPR 2016 (CAM).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from hide_and_seek_tf._checks import positive_int
from hide_and_seek_tf.models._common import per_axis_values
from hide_and_seek_tf.models.contract import CAM_FEATURES, POOLINGS, PREDICTIONS

PAPER_FILTERS = 500


def build_temporal_classifier(
    num_classes: int,
    feature_dim: int,
    *,
    num_steps: int | None = None,
    filters: int = PAPER_FILTERS,
    pooling: str = "max",
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
    name: str = "temporal_cam",
) -> keras.Model:
    """The paper's weakly-supervised action classifier: features (B, T, D) -> class logits (B, K).

    Layers: `normalize` ((x - mean) / std per feature, baked in, so the model takes raw features and
    a step hidden with the dataset mean becomes 0), `conv1` and `cam_features` (1x1 Conv1D of `filters`
    kernels, ReLU), `pool` (GMP or GAP over time) and `predictions` (Dense, float32 logits; softmax in
    the loss).

    Args:
        num_classes: K.
        feature_dim: D (4096 for C3D fc7).
        num_steps: T, or None for any length (the 1x1 convolutions and the pooling work for every T).
        filters: kernels per convolution (500 in the paper).
        pooling: "max" (global max pooling, the paper's) or "avg" (global average pooling).
        mean, std: per-feature statistics of the training features (None: 0 and 1, i.e. no
            normalization).
        name: the model's name.

    Returns:
        A `keras.Model` with input `features` (T, D) and output logits (K,).

    Raises:
        ValueError: a bad argument, naming it.

    Example:
        >>> model = build_temporal_classifier(20, 4096, num_steps=2000, mean=mean, std=std)
        >>> scores, cams = temporal_class_activation_maps(model, features, class_ids=labels)
    """
    num_classes = positive_int(num_classes, "num_classes")
    feature_dim = positive_int(feature_dim, "feature_dim")
    filters = positive_int(filters, "filters")
    if num_steps is not None:
        num_steps = positive_int(num_steps, "num_steps")
    if pooling not in POOLINGS:
        raise ValueError(f"`pooling` must be one of {POOLINGS}. Received: pooling={pooling!r}")
    mean_arr = per_axis_values(mean, 0.0, feature_dim, "mean", unit="feature")
    std_arr = per_axis_values(std, 1.0, feature_dim, "std", unit="feature")
    if np.any(std_arr <= 0):
        raise ValueError(f"`std` must be > 0 for every feature. Received: std={std!r}")

    # === Layers ===
    inputs = keras.Input(shape=(num_steps, feature_dim), name="features")
    x = keras.layers.Normalization(
        axis=-1, mean=mean_arr.tolist(), variance=(std_arr**2).tolist(), name="normalize"
    )(inputs)
    x = keras.layers.Conv1D(filters, 1, activation="relu", name="conv1")(x)
    features = keras.layers.Conv1D(filters, 1, activation="relu", name=CAM_FEATURES)(x)
    pool = (
        keras.layers.GlobalMaxPooling1D if pooling == "max" else keras.layers.GlobalAveragePooling1D
    )
    pooled = pool(name="pool")(features)
    logits = keras.layers.Dense(num_classes, dtype="float32", name=PREDICTIONS)(pooled)
    # === Functional Model ===
    return keras.Model(inputs, logits, name=name)


_CAM_FNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# Compiled into the models `train_temporal` saves: registered so that they load with it.
@keras.saving.register_keras_serializable(package="hide_and_seek_tf")
def label_accuracy(y_true: Any, y_pred: Any) -> Any:
    """1 when the top-scoring class is one of the video's classes (top-1 accuracy, multi-label safe)."""
    top = keras.ops.argmax(y_pred, axis=-1)
    hit = keras.ops.take_along_axis(y_true, keras.ops.expand_dims(top, -1), axis=-1)[..., 0]
    return keras.ops.cast(hit > 0, "float32")


def _cam_function(model: keras.Model):
    fn = _CAM_FNS.get(model)
    if fn is not None:
        return fn
    try:
        features = model.get_layer(CAM_FEATURES)
        dense = model.get_layer(PREDICTIONS)
    except ValueError as err:
        raise ValueError(
            "`model` must have a layer named `cam_features` (the maps the global pooling reads) and a "
            f"Dense named `predictions`. Received: model={model.name!r} ({err})"
        ) from None
    extractor = keras.Model(model.inputs[0], [features.output, model.outputs[0]])

    @tf.function(reduce_retracing=True)
    def run(sequences):
        maps, logits = extractor(sequences, training=False)
        maps = tf.cast(maps, tf.float32)
        kernel = tf.cast(dense.kernel, tf.float32)  # (F, K)
        return tf.cast(logits, tf.float32), tf.einsum("btf,fk->bkt", maps, kernel)

    _CAM_FNS[model] = run
    return run


def temporal_class_activation_maps(
    model: keras.Model, features: Any, class_ids: Any = None
) -> tuple[tf.Tensor, tf.Tensor]:
    """Class scores and the 1-D CAMs, CAM_c(t) = sum_i W(c, i) F_i(t), in one forward pass.

    The maps are raw (not normalized and without the classifier's bias), so their values can be
    compared across videos; `cams_to_intervals` thresholds each relative to its own max.

    Args:
        model: a `build_temporal_classifier` model (any model with `cam_features` (B, T, F) read by a
            global pooling and a Dense `predictions`).
        features: (B, T, D) raw features.
        class_ids: None (every class) or int (B,) (one class per video, e.g. the ground truth).

    Returns:
        (logits (B, K) float32, cams float32: (B, K, T) for every class, or (B, T) for `class_ids`).
    """
    features = tf.convert_to_tensor(features, tf.float32)
    if features.shape.rank != 3:
        raise ValueError(
            f"`features` must be a batch (B, T, D). Received: features.shape={features.shape}"
        )
    logits, cams = _cam_function(model)(features)
    if class_ids is None:
        return logits, cams
    class_ids = tf.convert_to_tensor(class_ids, tf.int32)
    return logits, tf.gather(cams, class_ids, axis=1, batch_dims=1)

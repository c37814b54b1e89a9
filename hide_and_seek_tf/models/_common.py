"""Pieces every CAM model shares: the input normalization, conv blocks and the GAP/GMP head."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from hide_and_seek_tf.models.contract import POOLINGS, PREDICTIONS

#: Default statistics when the caller gives none: raw 0..255 pixels map to [-1, 1]. Training passes
#: the dataset's own per-channel mean and std instead (never ImageNet's constants silently).
DEFAULT_MEAN = 127.5
DEFAULT_STD = 127.5


def check_common_args(
    num_classes: int, pooling: str, input_shape: Sequence[int], mean, std
) -> tuple[tuple[int, int, int], np.ndarray, np.ndarray]:
    """Validates the arguments every builder takes; returns (input_shape, mean, std) normalized."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"`num_classes` must be an int. Received: num_classes={num_classes!r}")
    if num_classes < 1:
        raise ValueError(f"`num_classes` must be >= 1. Received: num_classes={num_classes}")
    if pooling not in POOLINGS:
        raise ValueError(f"`pooling` must be one of {POOLINGS}. Received: pooling={pooling!r}")
    shape = tuple(input_shape)
    if len(shape) != 3 or any(
        not isinstance(d, (int, np.integer)) or isinstance(d, bool) or d < 1 for d in shape
    ):
        raise ValueError(
            "`input_shape` must be (height, width, channels) of positive ints. "
            f"Received: input_shape={input_shape!r}"
        )
    channels = int(shape[2])
    mean_arr = per_axis_values(mean, DEFAULT_MEAN, channels, "mean")
    std_arr = per_axis_values(std, DEFAULT_STD, channels, "std")
    if np.any(std_arr <= 0):
        raise ValueError(f"`std` must be > 0 in every channel. Received: std={std!r}")
    return (int(shape[0]), int(shape[1]), channels), mean_arr, std_arr


def per_axis_values(
    value: Any, default: float, size: int, name: str, unit: str = "channel"
) -> np.ndarray:
    """`value` (None: `default`) as `size` finite float64 values, a scalar repeated; else an error
    naming `name` and one value per `unit` (channel for images, feature for sequences)."""
    arr = np.asarray(default if value is None else value, dtype=np.float64).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, size)
    if arr.size != size or not np.all(np.isfinite(arr)):
        raise ValueError(
            f"`{name}` must be a finite scalar or one value per {unit} ({size}). "
            f"Received: {name}={value!r}"
        )
    return arr


def normalized_input(
    input_shape: tuple[int, int, int], mean: np.ndarray, std: np.ndarray
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """Returns (raw pixel input, normalized tensor): (x - mean) / std baked into the model."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Normalization(
        axis=-1, mean=mean.tolist(), variance=(std**2).tolist(), name="normalize"
    )(inputs)
    return inputs, x


def conv_bn_relu(
    x,
    filters: int,
    kernel_size: int,
    name: str,
    strides: int = 1,
    padding: str = "same",
    activation_name: str | None = None,
):
    """Conv (no bias: BN has one) -> BatchNorm -> ReLU, with named layers `{name}`, `{name}_bn`."""
    x = keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=False, name=name
    )(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=activation_name or f"{name}_relu")(x)


def classification_head(features, num_classes: int, pooling: str):
    """GAP (or GMP) over the `cam_features` maps, then `Dense(name="predictions")` giving logits.

    The Dense runs in float32 so logits stay float32 under a mixed-precision policy.
    """
    if pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="gap")(features)
    else:
        x = keras.layers.GlobalMaxPooling2D(name="gmp")(features)
    return keras.layers.Dense(num_classes, name=PREDICTIONS, dtype="float32")(x)


def reverse_input_channels(conv: keras.layers.Layer) -> None:
    """Reverses the input channels of `conv`'s kernel: a first conv trained on BGR then reads RGB."""
    kernel, *rest = conv.get_weights()
    conv.set_weights([kernel[:, :, ::-1, :], *rest])

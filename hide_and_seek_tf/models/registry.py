"""`build_model(name, ...)` and the `MODELS` it chooses from (see `hide_and_seek_tf.models`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras

from hide_and_seek_tf.models._common import check_common_args, normalized_input
from hide_and_seek_tf.models.alexnet import alexnet_gap, alexnet_gap_64
from hide_and_seek_tf.models.googlenet import googlenet_gap
from hide_and_seek_tf.models.resnet import resnet50_gap
from hide_and_seek_tf.models.small import small_gap

#: name -> (builder, default input shape)
MODELS: dict[str, tuple[Callable, tuple[int, int, int]]] = {
    "alexnet_gap": (alexnet_gap, (224, 224, 3)),
    "googlenet_gap": (googlenet_gap, (224, 224, 3)),
    "alexnet_gap_64": (alexnet_gap_64, (64, 64, 3)),
    "small_gap": (small_gap, (64, 64, 3)),
    "resnet50_gap": (resnet50_gap, (224, 224, 3)),
}


def build_model(
    name: str,
    num_classes: int,
    input_shape: Sequence[int] | None = None,
    pooling: str = "avg",
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
) -> keras.Model:
    """Builds a CAM network by name.

    Args:
        name: one of `"alexnet_gap"` (224 px, the paper's AlexNet-GAP), `"googlenet_gap"`
            (224 px, GoogLeNet-GAP), `"alexnet_gap_64"` (64 px, Tiny ImageNet), `"small_gap"`
            (64 px, small and fast) and `"resnet50_gap"` (224 px, Keras ResNet50, random init).
        num_classes: number of classes (size of the logits).
        input_shape: (H, W, C); defaults to the model's native size (224 or 64 px, 3 channels).
            Every model also builds at other sizes (a smaller one is handy in tests).
        pooling: `"avg"` (GAP, the paper's model) or `"max"` (GMP, the paper's ablation).
        mean: per-channel (or scalar) mean of the raw training pixels, baked into the model.
        std: per-channel (or scalar) std of the raw training pixels. When `mean`/`std` are None
            the default is 127.5 / 127.5, i.e. raw 0..255 pixels scaled to [-1, 1]; training
            passes the dataset's own statistics.

    Returns:
        A functional `keras.Model` mapping raw pixels (B, H, W, C) to logits (B, num_classes),
        with layers named `cam_features` and `predictions`.

    Raises:
        ValueError: unknown `name` or `pooling`, bad `input_shape`, `mean` or `std`.
        TypeError: `num_classes` is not an int.

    Example:
        >>> model = build_model("small_gap", num_classes=10)
        >>> model.get_layer("cam_features").output.shape
        (None, 16, 16, 128)

    References:
        Singh et al., Hide-and-Seek, https://arxiv.org/abs/1811.02545 ;
        Zhou et al., Learning Deep Features for Discriminative Localization, CVPR 2016.
    """
    if name not in MODELS:
        raise ValueError(f"`name` must be one of {sorted(MODELS)}. Received: name={name!r}")
    builder, default_shape = MODELS[name]
    shape, mean_arr, std_arr = check_common_args(
        num_classes, pooling, default_shape if input_shape is None else input_shape, mean, std
    )
    inputs, x = normalized_input(shape, mean_arr, std_arr)
    return builder(inputs, x, int(num_classes), pooling, name=name)

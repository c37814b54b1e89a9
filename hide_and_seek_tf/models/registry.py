"""`build_model(name, ...)` and the `MODELS` it chooses from (see `hide_and_seek_tf.models`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras

from hide_and_seek_tf.models._common import check_common_args, normalized_input
from hide_and_seek_tf.models.alexnet import alexnet_gap, alexnet_gap_64
from hide_and_seek_tf.models.applications import (
    PRETRAINED_NORMALIZATION,
    inception_v3_gap,
    resnet50_gap,
    vgg16_gap,
)
from hide_and_seek_tf.models.contract import CAM_FEATURES
from hide_and_seek_tf.models.googlenet import googlenet_gap
from hide_and_seek_tf.models.small import small_gap

#: name -> (builder, default input shape)
MODELS: dict[str, tuple[Callable, tuple[int, int, int]]] = {
    "alexnet_gap": (alexnet_gap, (224, 224, 3)),
    "googlenet_gap": (googlenet_gap, (224, 224, 3)),
    "alexnet_gap_64": (alexnet_gap_64, (64, 64, 3)),
    "small_gap": (small_gap, (64, 64, 3)),
    "resnet50_gap": (resnet50_gap, (224, 224, 3)),
    "vgg16_gap": (vgg16_gap, (224, 224, 3)),
    "inception_v3_gap": (inception_v3_gap, (224, 224, 3)),
}
#: Models that take `weights` ("imagenet" or a weights file of their Keras application).
PRETRAINED_MODELS = tuple(PRETRAINED_NORMALIZATION)


def check_model_choice(name: str, weights: str | None = None, *, arg: str = "name") -> None:
    """Checks a model name and its `weights` choice without building anything (see `build_model`).

    `arg`: what the caller calls the name in messages (`TrainConfig` says "model").

    Raises:
        ValueError: unknown `name`; `weights` for a model that trains from scratch; `weights`
            neither "imagenet" nor an existing file.
    """
    if name not in MODELS:
        raise ValueError(f"`{arg}` must be one of {sorted(MODELS)}. Received: {arg}={name!r}")
    if weights is None:
        return
    if name not in PRETRAINED_MODELS:
        raise ValueError(
            f"`weights` is for {list(PRETRAINED_MODELS)}; {name!r} trains from scratch. "
            f"Received: weights={weights!r}"
        )
    if not isinstance(weights, str) or not weights:
        raise ValueError(
            "`weights` must be None, 'imagenet' or a weights file path. "
            f"Received: weights={weights!r}"
        )
    if weights != "imagenet" and not os.path.isfile(weights):
        raise ValueError(
            f"`weights` must be 'imagenet' or an existing weights file. Received: weights={weights!r}"
        )


def build_model(
    name: str,
    num_classes: int,
    input_shape: Sequence[int] | None = None,
    pooling: str = "avg",
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
    hide_features: Mapping[str, Mapping[str, Any] | None] | None = None,
    weights: str | None = None,
) -> keras.Model:
    """Builds a CAM network by name.

    Args:
        name: one of `"alexnet_gap"` (224 px, the paper's AlexNet-GAP), `"googlenet_gap"`
            (224 px, GoogLeNet-GAP), `"alexnet_gap_64"` (64 px, Tiny ImageNet), `"small_gap"`
            (64 px, small and fast), and on `keras.applications` backbones modified for CAM as
            Choe et al. (CVPR 2020) describe: `"vgg16_gap"`, `"resnet50_gap"`,
            `"inception_v3_gap"` (224 px; see `models.applications`).
        num_classes: number of classes (size of the logits).
        input_shape: (H, W, C); defaults to the model's native size (224 or 64 px, 3 channels).
            Every model also builds at other sizes (a smaller one is handy in tests).
        pooling: `"avg"` (GAP, the paper's model) or `"max"` (GMP, the paper's ablation).
        mean: per-channel (or scalar) mean of the raw training pixels, baked into the model.
        std: per-channel (or scalar) std of the raw training pixels. When `mean`/`std` are None
            the default is 127.5 / 127.5, i.e. raw 0..255 pixels scaled to [-1, 1]; training
            passes the dataset's own statistics.
        hide_features: feature-map Hide-and-Seek (the paper's section 4.3.4): block or layer
            name -> `HideAndSeek` keyword arguments (None = the defaults), e.g.
            `{"conv1": {"patch_sizes": (5, 11)}}`. A `HideAndSeek` layer named `<name>_hide` is
            inserted after the conv block `<name>` (conv -> BN -> ReLU, so after its ReLU) or,
            for a name that is not a conv block, after that layer. Its fill defaults to
            `"running_mean"` (the maps' moving per-channel mean). Hiding runs in training only:
            at inference the model computes exactly what the plain model computes.
        weights: `PRETRAINED_MODELS` only: None (random init), "imagenet" (Keras downloads them
            on first use) or the path of a weights file of the Keras application
            (include_top=False). With weights the model normalizes as they expect (raw pixels
            in), so `mean` and `std` must be None.

    Returns:
        A functional `keras.Model` mapping raw pixels (B, H, W, C) to logits (B, num_classes),
        with layers named `cam_features` and `predictions`.

    Raises:
        ValueError: unknown `name` or `pooling`, bad `input_shape`, `mean`, `std` or `weights`,
            or a `hide_features` name that is not a layer of the model.
        TypeError: `num_classes` is not an int.

    Example:
        >>> model = build_model("small_gap", num_classes=10)
        >>> model.get_layer("cam_features").output.shape
        (None, 16, 16, 128)

    References:
        Singh et al., Hide-and-Seek, https://arxiv.org/abs/1811.02545 ;
        Zhou et al., Learning Deep Features for Discriminative Localization, CVPR 2016.
    """
    check_model_choice(name, weights)
    builder, default_shape = MODELS[name]
    extra = {}
    if weights is not None:
        if mean is not None or std is not None:
            raise ValueError(
                "With `weights`, the model normalizes as the weights expect: `mean` and `std` "
                f"must be None. Received: mean={mean!r}, std={std!r}"
            )
        mean, std = PRETRAINED_NORMALIZATION[name]
        extra["weights"] = weights
    shape, mean_arr, std_arr = check_common_args(
        num_classes, pooling, default_shape if input_shape is None else input_shape, mean, std
    )
    inputs, x = normalized_input(shape, mean_arr, std_arr)
    model = builder(inputs, x, int(num_classes), pooling, name=name, **extra)
    return insert_feature_hiding(model, hide_features) if hide_features else model


def insert_feature_hiding(
    model: keras.Model, hide_features: Mapping[str, Mapping[str, Any] | None]
) -> keras.Model:
    """`model` with a `HideAndSeek` layer after each named block or layer (see `build_model`).

    The new model has copies of `model`'s layers with the same names and weights, plus the hiding
    layers. Works on any functional Keras model.

    Raises:
        ValueError: `hide_features` is not a mapping, or names no layer of `model`.
        TypeError / ValueError: bad `HideAndSeek` arguments (named).
    """
    from hide_and_seek_tf.layers import HideAndSeek

    if not isinstance(hide_features, Mapping):
        raise ValueError(
            "`hide_features` must map block or layer names to HideAndSeek arguments, e.g. "
            f'{{"conv1": {{"patch_sizes": (5, 11)}}}}. Received: hide_features={hide_features!r}'
        )
    names = {layer.name for layer in model.layers}
    hiders: dict[str, keras.layers.Layer] = {}
    for key, kwargs in hide_features.items():
        target = _block_output(key, names)
        if target is None:
            raise ValueError(
                f"`hide_features` names must be conv blocks or layers of {model.name!r} "
                f"(e.g. 'conv1'). Received: {key!r}"
            )
        hiders[target] = HideAndSeek(
            **{"fill_value": "running_mean", **(kwargs or {})}, name=f"{key}_hide"
        )

    def call_function(layer, *args, **kwargs):
        outputs = layer(*args, **kwargs)
        hider = hiders.get(layer.name)
        return outputs if hider is None else hider(outputs)

    # New layers (from their configs) rather than shared ones: a shared layer would have two
    # graph nodes, and `get_layer("cam_features").output` would then name the old graph's.
    hidden = keras.models.clone_model(model, call_function=call_function)
    for layer in model.layers:
        hidden.get_layer(layer.name).set_weights(layer.get_weights())
    return hidden


def _block_output(name: str, layer_names: set[str]) -> str | None:
    """The layer whose output is block `name`'s output (`conv_bn_relu`'s naming), else `name`."""
    if f"{name}_bn" in layer_names:  # a conv block: its ReLU, or `cam_features` for the last one
        return f"{name}_relu" if f"{name}_relu" in layer_names else CAM_FEATURES
    return name if name in layer_names else None

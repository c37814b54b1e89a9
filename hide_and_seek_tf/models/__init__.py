"""CAM networks: GAP (or GMP) classifiers that take raw pixels and output logits.

Every model built here follows one contract, which the CAM code (`hide_and_seek_tf.cam`) relies on
and which any user model can follow too:

- input: raw pixels, float32 0..255 (or uint8), shape (B, H, W, C); `(x - mean) / std` happens
  inside (a `Normalization` layer named `normalize`);
- the layer named `cam_features` outputs the (B, h, w, K) maps that the global pooling reads
  (the last conv block's output, after its BatchNorm and ReLU);
- the `Dense` named `predictions` maps the pooled K features to logits (no softmax).

Only built-in, serializable Keras layers are used, so `model.save("m.keras")` reloads with
`keras.models.load_model(..., safe_mode=True)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras

from hide_and_seek_tf.models._common import (
    DEFAULT_MEAN,
    DEFAULT_STD,
    check_common_args,
    normalized_input,
)
from hide_and_seek_tf.models.alexnet import alexnet_gap, alexnet_gap_64
from hide_and_seek_tf.models.applications import (
    NEW_LAYERS,
    PRETRAINED_NORMALIZATION,
    inception_v3_gap,
    resnet50_gap,
    vgg16_gap,
)
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

CAM_FEATURES = "cam_features"
PREDICTIONS = "predictions"


def build_model(
    name: str,
    num_classes: int,
    input_shape: Sequence[int] | None = None,
    pooling: str = "avg",
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
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
        weights: `PRETRAINED_MODELS` only: None (random init), "imagenet" (Keras downloads them
            on first use) or the path of a weights file of the Keras application
            (include_top=False). With weights the model normalizes as they expect (raw pixels
            in), so `mean` and `std` must be None.

    Returns:
        A functional `keras.Model` mapping raw pixels (B, H, W, C) to logits (B, num_classes),
        with layers named `cam_features` and `predictions`.

    Raises:
        ValueError: unknown `name` or `pooling`, bad `input_shape`, `mean`, `std` or `weights`.
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
    extra = {}
    if weights is not None:
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
    return builder(inputs, x, int(num_classes), pooling, name=name, **extra)


__all__ = [
    "CAM_FEATURES",
    "DEFAULT_MEAN",
    "DEFAULT_STD",
    "MODELS",
    "NEW_LAYERS",
    "PREDICTIONS",
    "PRETRAINED_MODELS",
    "build_model",
]

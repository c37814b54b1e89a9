"""The model registry: one `ModelSpec` per model, and `build_model(name, ...)` built from it.

Every fact about a model lives in its registration: its builder, default input size, the CAM
threshold the paper reports it at, the pretrained weights it can load (and the normalization
those expect) and the layers a fine-tuning schedule treats as new. Export, evaluation, training and
the command lines read them from here. Adding a model is its builder (its own file, e.g.
`models/alexnet.py`) and one `register_model(ModelSpec(...))` below.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras

from hide_and_seek_tf.layers import HideAndSeek
from hide_and_seek_tf.models._common import (
    check_common_args,
    normalized_input,
    reverse_input_channels,
)
from hide_and_seek_tf.models.alexnet import alexnet_gap, alexnet_gap_64
from hide_and_seek_tf.models.applications import inception_v3_gap, resnet50_gap, vgg16_gap
from hide_and_seek_tf.models.contract import CAM_FEATURES, PREDICTIONS
from hide_and_seek_tf.models.googlenet import googlenet_gap
from hide_and_seek_tf.models.small import small_gap

#: The CAM threshold (a fraction of the map's max) evaluation and export use unless a model's spec
#: gives another, and for a model with no spec: AlexNet-GAP's in the paper.
DEFAULT_THRESHOLD = 0.2


@dataclasses.dataclass(frozen=True)
class PretrainedWeights:
    """The `keras.applications` weights a model's backbone can load, and how they read pixels.

    Attributes:
        application: the `keras.applications` model whose weights (include_top=False) the
            backbone takes: "imagenet" or a weights file of it ("VGG16").
        mean, std: the weights' preprocessing as `(x - mean) / std` per RGB channel, raw 0..255
            pixels in; the model does it inside itself when it loads them.
        bgr_first_conv: the first conv layer of weights that read BGR ("caffe" preprocessing);
            its kernel's input channels are reversed so that the model keeps reading RGB.
    """

    application: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    bgr_first_conv: str | None = None


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One model `build_model` can build by name.

    Attributes:
        name: the name `build_model`, `TrainConfig.model` and `train.py --model` take.
        builder: `(inputs, normalized, num_classes, pooling, name=..., [weights=...]) -> Model`:
            the network on the normalized input tensor, ending in the contract's `cam_features`,
            pooling and `predictions` (see `hide_and_seek_tf.models`); takes `weights` when
            `pretrained` is set.
        input_shape: (H, W, C) built when `build_model` is given none.
        paper_threshold: the CAM threshold evaluation reports at and export serves at by default
            (the paper's for its network, section 4.1; `DEFAULT_THRESHOLD` otherwise).
        pretrained: the weights it can load (`build_model(..., weights=...)`); None: it trains
            from scratch only. Without weights every model normalizes with the given mean and
            std (training passes the dataset's own; `DEFAULT_MEAN`/`DEFAULT_STD` otherwise).
        new_layers: prefixes of the layers that are not in the pretrained weights, which the
            "finetune" schedule trains at 10x the backbone's rate; empty: no "finetune".
    """

    name: str
    builder: Callable[..., keras.Model]
    input_shape: tuple[int, int, int]
    paper_threshold: float = DEFAULT_THRESHOLD
    pretrained: PretrainedWeights | None = None
    new_layers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"`name` must be a non-empty string. Received: name={self.name!r}")
        shape = self.input_shape
        if not (
            isinstance(shape, tuple)
            and len(shape) == 3
            and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
        ):
            raise ValueError(
                "`input_shape` must be a tuple (height, width, channels) of positive ints. "
                f"Received: input_shape={shape!r}"
            )
        if not callable(self.builder):
            raise TypeError(f"`builder` must be callable. Received: builder={self.builder!r}")
        threshold = self.paper_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
            threshold = -1.0
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(
                "`paper_threshold` must be in [0, 1]. "
                f"Received: paper_threshold={self.paper_threshold!r}"
            )
        if self.pretrained is not None and not isinstance(self.pretrained, PretrainedWeights):
            raise TypeError(
                "`pretrained` must be None or a PretrainedWeights. "
                f"Received: pretrained={self.pretrained!r}"
            )
        if isinstance(self.new_layers, str) or not all(
            isinstance(prefix, str) and prefix for prefix in self.new_layers
        ):
            raise ValueError(
                "`new_layers` must be a tuple of layer-name prefixes. "
                f"Received: new_layers={self.new_layers!r}"
            )


#: name -> spec, in registration order. `register_model` adds one.
MODEL_SPECS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Adds (or replaces) a model `build_model` can build by `spec.name`; returns `spec`."""
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"`spec` must be a ModelSpec. Received: spec={spec!r}")
    MODEL_SPECS[spec.name] = spec
    return spec


def model_spec(name: str, *, arg: str = "name") -> ModelSpec:
    """The registration of model `name`.

    `arg`: what the caller calls the name in messages (`TrainConfig` says "model").

    Raises:
        ValueError: `name` is not a registered model (the message lists them).
    """
    spec = MODEL_SPECS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ValueError(f"`{arg}` must be one of {sorted(MODEL_SPECS)}. Received: {arg}={name!r}")
    return spec


class _SpecView(Mapping):
    """A live, read-only view of `MODEL_SPECS`: the per-model tables earlier releases exported
    (`MODELS`, `NEW_LAYERS`, `PAPER_THRESHOLDS`), now derived from the registrations."""

    def __init__(self, value: Callable[[ModelSpec], Any], keep: Callable[[ModelSpec], bool]):
        self._value, self._keep = value, keep

    def __getitem__(self, name: str) -> Any:
        spec = MODEL_SPECS.get(name)
        if spec is None or not self._keep(spec):
            raise KeyError(name)
        return self._value(spec)

    def __iter__(self):
        return (name for name, spec in MODEL_SPECS.items() if self._keep(spec))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return repr(dict(self))


#: name -> (builder, default input shape), every registered model.
MODELS = _SpecView(lambda spec: (spec.builder, spec.input_shape), lambda spec: True)
#: name -> prefixes of the layers a "finetune" schedule trains at 10x the base rate.
NEW_LAYERS = _SpecView(lambda spec: spec.new_layers, lambda spec: bool(spec.new_layers))
#: name -> CAM threshold, for the models the paper reports at another than `DEFAULT_THRESHOLD`.
PAPER_THRESHOLDS = _SpecView(
    lambda spec: spec.paper_threshold, lambda spec: spec.paper_threshold != DEFAULT_THRESHOLD
)
#: name -> `PretrainedWeights`, the models that take `weights`.
PRETRAINED_MODELS = _SpecView(
    lambda spec: spec.pretrained, lambda spec: spec.pretrained is not None
)


def paper_threshold(name: str | None) -> float:
    """The CAM threshold for a model called `name`: its spec's, or `DEFAULT_THRESHOLD` for any
    other name (a user's model, None)."""
    spec = MODEL_SPECS.get(name) if isinstance(name, str) else None
    return DEFAULT_THRESHOLD if spec is None else spec.paper_threshold


def check_model_choice(name: str, weights: str | None = None, *, arg: str = "name") -> None:
    """Checks a model name and its `weights` choice without building anything (see `build_model`).

    `arg`: what the caller calls the name in messages (`TrainConfig` says "model").

    Raises:
        ValueError: unknown `name`; `weights` for a model that trains from scratch; `weights`
            neither "imagenet" nor an existing file.
    """
    spec = model_spec(name, arg=arg)
    if weights is None:
        return
    if spec.pretrained is None:
        pretrained = [other.name for other in MODEL_SPECS.values() if other.pretrained]
        raise ValueError(
            f"`weights` is for {pretrained}; {name!r} trains from scratch. "
            f"Received: weights={weights!r}"
        )
    if not isinstance(weights, str) or not weights:
        raise ValueError(
            "`weights` must be None, 'imagenet' or a weights file path. "
            f"Received: weights={weights!r}"
        )
    if weights != "imagenet" and not os.path.isfile(weights):
        raise ValueError(
            "`weights` must be 'imagenet' or an existing weights file of "
            f"keras.applications.{spec.pretrained.application}(include_top=False). "
            f"Received: weights={weights!r}"
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
        name: a registered model (`MODEL_SPECS`): `"alexnet_gap"` (224 px, the paper's AlexNet-GAP), `"googlenet_gap"`
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
        weights: for models whose spec has `pretrained` weights: None (random init), "imagenet" (Keras downloads them
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
    spec = MODEL_SPECS[name]
    extra = {}
    if weights is not None:
        if mean is not None or std is not None:
            raise ValueError(
                "With `weights`, the model normalizes as the weights expect: `mean` and `std` "
                f"must be None. Received: mean={mean!r}, std={std!r}"
            )
        mean, std = spec.pretrained.mean, spec.pretrained.std
        extra["weights"] = weights
    shape, mean_arr, std_arr = check_common_args(
        num_classes, pooling, spec.input_shape if input_shape is None else input_shape, mean, std
    )
    inputs, x = normalized_input(shape, mean_arr, std_arr)
    model = spec.builder(inputs, x, int(num_classes), pooling, name=name, **extra)
    if weights is not None and spec.pretrained.bgr_first_conv is not None:
        reverse_input_channels(model.get_layer(spec.pretrained.bgr_first_conv))
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


# === Registrations: one per model ===
register_model(ModelSpec(name="alexnet_gap", builder=alexnet_gap, input_shape=(224, 224, 3)))
register_model(
    ModelSpec(
        name="googlenet_gap",
        builder=googlenet_gap,
        input_shape=(224, 224, 3),
        paper_threshold=0.3,
    )
)
register_model(ModelSpec(name="alexnet_gap_64", builder=alexnet_gap_64, input_shape=(64, 64, 3)))
register_model(ModelSpec(name="small_gap", builder=small_gap, input_shape=(64, 64, 3)))
# The "caffe" weights (VGG16, ResNet50): BGR, the ImageNet mean subtracted, no scaling.
_CAFFE_MEAN, _CAFFE_STD = (123.68, 116.779, 103.939), (1.0, 1.0, 1.0)
register_model(
    ModelSpec(
        name="vgg16_gap",
        builder=vgg16_gap,
        input_shape=(224, 224, 3),
        pretrained=PretrainedWeights("VGG16", _CAFFE_MEAN, _CAFFE_STD, "block1_conv1"),
        new_layers=("cam_conv", PREDICTIONS),
    )
)
register_model(
    ModelSpec(
        name="resnet50_gap",
        builder=resnet50_gap,
        input_shape=(224, 224, 3),
        pretrained=PretrainedWeights("ResNet50", _CAFFE_MEAN, _CAFFE_STD, "conv1_conv"),
        new_layers=("conv5_", PREDICTIONS),  # wsolevaluation's recipe: its last stage is new too
    )
)
register_model(
    ModelSpec(
        name="inception_v3_gap",
        builder=inception_v3_gap,
        input_shape=(224, 224, 3),
        # The "tf" weights: x / 127.5 - 1.
        pretrained=PretrainedWeights("InceptionV3", (127.5,) * 3, (127.5,) * 3),
        new_layers=("cam_conv", PREDICTIONS),
    )
)

"""CAM networks on `keras.applications` backbones, modified for CAM as Choe et al. describe.

Choe et al., "Evaluating Weakly Supervised Object Localization Methods Right", CVPR 2020
(https://arxiv.org/abs/2001.07437; clovaai/wsolevaluation, `wsol/vgg.py`, `resnet.py`,
`inception.py`), the setting of every WSOL benchmark since 2018:

- `vgg16_gap`: VGG16 conv1_1 .. conv5_3 without the last pooling, plus a 3x3 conv of 1024 + ReLU
  (`cam_conv`): 14 x 14 maps at 224 px.
- `resnet50_gap`: ResNet50 with its last stage (conv5, their `layer4`) at stride 1: 14 x 14 x 2048
  maps at 224 px (their `large_feature_map`).
- `inception_v3_gap`: InceptionV3 cut after Mixed_6e (Keras `mixed7`) with the grid reduction
  Mixed_6a (Keras `mixed3`) at stride 1, plus two 3x3 convs of 1024 + ReLU (`cam_conv1`,
  `cam_conv2`), each after a 0.5 dropout as theirs: 25 x 25 maps at 224 px (theirs are 28 x 28:
  PyTorch's InceptionV3 pads its stem convs and pools, Keras's does not).

`weights=None` trains from scratch and normalizes with the given (dataset) statistics like every
other model here. `weights="imagenet"` (downloaded by Keras on first use, into ~/.keras/models) or
the path of a weights file of the same Keras application (e.g. a local copy of
`resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5`, or any `.weights.h5` saved from
`keras.applications.ResNet50(include_top=False)`) loads the backbone, and the model then normalizes
raw pixels exactly as those weights expect, inside itself: VGG16 and ResNet50 ("caffe": RGB -> BGR
and the ImageNet mean subtracted; the BGR swap is folded into the first conv's kernel, so the model
keeps taking RGB) and InceptionV3 ("tf": x / 127.5 - 1). Those facts, and the layers a fine-tuning
schedule trains at 10x the backbone's learning rate (wsolevaluation's recipe: the CAM layers and
classifier; for ResNet50 also its last stage), are each model's registration (`models.registry`).
Build these models with `build_model`: it normalizes the input and, for the "caffe" weights, reverses
the first conv's input channels (the spec's `bgr_first_conv`); the builders here do neither.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from hide_and_seek_tf.models._common import classification_head
from hide_and_seek_tf.models.contract import CAM_FEATURES


def _backbone(
    application: Callable[..., keras.Model],
    x: Any,
    weights: str | None,
    modify: Callable[[keras.layers.Layer], dict[str, Any] | None],
) -> keras.Model:
    """The application (loaded with `weights`) rebuilt on tensor `x`, layers changed by `modify`
    (a config update or None), weights copied over. Its layers become the caller's model's own."""
    shape = tuple(int(d) for d in x.shape[1:])
    try:
        base = application(include_top=False, weights=weights, input_shape=shape)
    except ValueError as err:
        raise ValueError(
            f"`weights` must be None, 'imagenet' or the path of a weights file of "
            f"{application.__name__}(include_top=False). Received: weights={weights!r} ({err})"
        ) from None

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        config.update(modify(layer) or {})
        return layer.__class__.from_config(config)

    rebuilt = keras.models.clone_model(base, input_tensors=x, clone_function=clone)
    for layer in base.layers:
        if layer.weights:
            rebuilt.get_layer(layer.name).set_weights(layer.get_weights())
    return rebuilt


def vgg16_gap(inputs, x, num_classes: int, pooling: str, name: str = "vgg16_gap", weights=None):
    """VGG16 without pool5 + a 3x3 conv of 1024 (`cam_conv`, ReLU `cam_features`) + pooling + Dense."""
    backbone = _backbone(keras.applications.VGG16, x, weights, lambda layer: None)
    features = backbone.get_layer("block5_conv3").output
    features = keras.layers.Conv2D(1024, 3, padding="same", name="cam_conv")(features)
    features = keras.layers.Activation("relu", name=CAM_FEATURES)(features)
    return keras.Model(inputs, classification_head(features, num_classes, pooling), name=name)


def _resnet_stride_one(layer: keras.layers.Layer) -> dict[str, Any] | None:
    # Keras puts the stage's stride on its first block's 1x1 conv and on the shortcut conv.
    if layer.name in ("conv5_block1_1_conv", "conv5_block1_0_conv"):
        return {"strides": (1, 1)}
    return None


def resnet50_gap(
    inputs, x, num_classes: int, pooling: str, name: str = "resnet50_gap", weights=None
):
    """ResNet50 with a stride-1 last stage + pooling + Dense; `cam_features` is 14 x 14 x 2048 at
    224 px (an `Identity` on the last block's output)."""
    backbone = _backbone(keras.applications.ResNet50, x, weights, _resnet_stride_one)
    features = keras.layers.Identity(name=CAM_FEATURES)(
        backbone.get_layer("conv5_block3_out").output
    )
    return keras.Model(inputs, classification_head(features, num_classes, pooling), name=name)


def inception_v3_gap(
    inputs, x, num_classes: int, pooling: str, name: str = "inception_v3_gap", weights=None
):
    """InceptionV3 to Mixed_6e with Mixed_6a at stride 1, + two 3x3 convs of 1024 + pooling + Dense.

    Needs an input of at least 75 px (Keras's InceptionV3 stem).
    """
    reduction: set[str] = set()  # the grid reduction's stride-2 convs and max pool

    def application(**kwargs):
        base = keras.applications.InceptionV3(**kwargs)
        names = [layer.name for layer in base.layers]
        start, end = names.index("mixed2"), names.index("mixed3")
        reduction.update(
            layer.name
            for layer in base.layers[start + 1 : end]
            if getattr(layer, "strides", None) == (2, 2)
        )
        return base

    def stride_one(layer: keras.layers.Layer) -> dict[str, Any] | None:
        if layer.name in reduction:
            return {"strides": (1, 1), "padding": "same"}
        return None

    application.__name__ = "InceptionV3"
    backbone = _backbone(application, x, weights, stride_one)
    features = backbone.get_layer("mixed7").output
    features = keras.layers.Dropout(0.5, name="cam_dropout1")(features)
    features = keras.layers.Conv2D(1024, 3, padding="same", activation="relu", name="cam_conv1")(
        features
    )
    features = keras.layers.Dropout(0.5, name="cam_dropout2")(features)
    features = keras.layers.Conv2D(1024, 3, padding="same", name="cam_conv2")(features)
    features = keras.layers.Activation("relu", name=CAM_FEATURES)(features)
    return keras.Model(inputs, classification_head(features, num_classes, pooling), name=name)


__all__ = [
    "inception_v3_gap",
    "resnet50_gap",
    "vgg16_gap",
]

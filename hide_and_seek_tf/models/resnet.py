"""ResNet-50 with a GAP/GMP head: `keras.applications.ResNet50(weights=None, include_top=False)`."""

from __future__ import annotations

import keras

from hide_and_seek_tf.models._common import classification_head
from hide_and_seek_tf.models.contract import CAM_FEATURES


def resnet50_gap(inputs, x, num_classes: int, pooling: str, name: str = "resnet50_gap"):
    """ResNet-50 (random init) + pooling + Dense; `cam_features` is 7 x 7 x 2048 at 224 px.

    The backbone is built on our normalized tensor, so its layers live directly in this model
    (no nested model); an `Identity` layer named `cam_features` marks its last block's output.
    """
    backbone = keras.applications.ResNet50(weights=None, include_top=False, input_tensor=x)
    features = keras.layers.Identity(name=CAM_FEATURES)(backbone.output)
    return keras.Model(inputs, classification_head(features, num_classes, pooling), name=name)

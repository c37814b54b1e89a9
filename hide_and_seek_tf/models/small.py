"""A small, fast GAP CNN for the built-in synthetic data and for tests."""

from __future__ import annotations

import keras

from hide_and_seek_tf.models._common import classification_head, conv_bn_relu
from hide_and_seek_tf.models.contract import CAM_FEATURES


def small_gap(inputs, x, num_classes: int, pooling: str, name: str = "small_gap"):
    """Three conv blocks (32, 64, 128 filters, two 2x2 max pools): `cam_features` is at 1/4 of the
    input resolution (16 x 16 x 128 at 64 px)."""
    x = conv_bn_relu(x, 32, 3, "conv1")
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = conv_bn_relu(x, 64, 3, "conv2")
    x = keras.layers.MaxPooling2D(2, name="pool2")(x)
    features = conv_bn_relu(x, 128, 3, "conv3", activation_name=CAM_FEATURES)
    return keras.Model(inputs, classification_head(features, num_classes, pooling), name=name)

"""GoogLeNet-GAP (Zhou et al., CVPR 2016; Hide-and-Seek, arXiv 1811.02545, section 3.1.3).

GoogLeNet (Inception v1) up to inception-4e, then one 3x3 conv of 1024 (stride 1, pad 1), global
pooling and one Dense; batch normalization after every conv, as in the paper. The auxiliary
classifiers are not used. `cam_features` is 14 x 14 x 1024 at 224 px.
"""

from __future__ import annotations

import keras

from hide_and_seek_tf.models._common import classification_head, conv_bn_relu
from hide_and_seek_tf.models.contract import CAM_FEATURES

# (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj) per block, from Szegedy et al. 2015, table 1.
_INCEPTION = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
}


def _inception(x, block: str):
    f1, f3r, f3, f5r, f5, fp = _INCEPTION[block]
    name = f"inception_{block}"
    b1 = conv_bn_relu(x, f1, 1, f"{name}_1x1")
    b3 = conv_bn_relu(x, f3r, 1, f"{name}_3x3_reduce")
    b3 = conv_bn_relu(b3, f3, 3, f"{name}_3x3")
    b5 = conv_bn_relu(x, f5r, 1, f"{name}_5x5_reduce")
    b5 = conv_bn_relu(b5, f5, 5, f"{name}_5x5")
    bp = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    bp = conv_bn_relu(bp, fp, 1, f"{name}_pool_proj")
    return keras.layers.Concatenate(name=f"{name}_output")([b1, b3, b5, bp])


def googlenet_gap(inputs, x, num_classes: int, pooling: str, name: str = "googlenet_gap"):
    """GoogLeNet-GAP for 224 px input."""
    x = conv_bn_relu(x, 64, 7, "conv1", strides=2)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    x = conv_bn_relu(x, 64, 1, "conv2_reduce")
    x = conv_bn_relu(x, 192, 3, "conv2")
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
    x = _inception(x, "3a")
    x = _inception(x, "3b")
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool3")(x)
    for block in ("4a", "4b", "4c", "4d", "4e"):
        x = _inception(x, block)
    features = conv_bn_relu(x, 1024, 3, "cam_conv", activation_name=CAM_FEATURES)
    return keras.Model(inputs, classification_head(features, num_classes, pooling), name=name)

"""AlexNet-GAP (Zhou et al., CVPR 2016; used by Hide-and-Seek, arXiv 1811.02545, section 3.1.3).

AlexNet up to pool5 with pool5's stride set to 1, then two new 3x3 conv layers of 512 (stride 1,
pad 1), global pooling and one Dense. Differences from the 2012 network, all deliberate:
no grouped convolutions (as in the paper), and batch normalization after every conv in place of
local response normalization (the paper adds BN to GoogLeNet-GAP to help training from scratch;
we do the same here so both families train with one recipe).
"""

from __future__ import annotations

import keras

from hide_and_seek_tf.models._common import classification_head, conv_bn_relu
from hide_and_seek_tf.models.contract import CAM_FEATURES


def _alexnet_trunk(x, conv1_kernel: int, conv1_stride: int):
    x = conv_bn_relu(x, 96, conv1_kernel, "conv1", strides=conv1_stride)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    x = conv_bn_relu(x, 256, 5, "conv2")
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
    x = conv_bn_relu(x, 384, 3, "conv3")
    x = conv_bn_relu(x, 384, 3, "conv4")
    x = conv_bn_relu(x, 256, 3, "conv5")
    # Stride 1 at pool5 keeps the resolution the CAM needs (14 x 14 at 224 px).
    x = keras.layers.MaxPooling2D(3, strides=1, padding="same", name="pool5")(x)
    x = conv_bn_relu(x, 512, 3, "conv6")
    return conv_bn_relu(x, 512, 3, "conv7", activation_name=CAM_FEATURES)


def alexnet_gap(inputs, x, num_classes: int, pooling: str, name: str = "alexnet_gap"):
    """The paper's AlexNet-GAP for 224 px input: `cam_features` is 14 x 14 x 512 at 224 px."""
    features = _alexnet_trunk(x, conv1_kernel=11, conv1_stride=4)
    return keras.Model(inputs, classification_head(features, num_classes, pooling), name=name)


def alexnet_gap_64(inputs, x, num_classes: int, pooling: str, name: str = "alexnet_gap_64"):
    """AlexNet-GAP shaped for 64 x 64 input (Tiny ImageNet): conv1 is 7 x 7 stride 2 instead of
    11 x 11 stride 4, so `cam_features` stays at 8 x 8 x 512 (the 224 px network would leave 4 x 4).
    """
    features = _alexnet_trunk(x, conv1_kernel=7, conv1_stride=2)
    return keras.Model(inputs, classification_head(features, num_classes, pooling), name=name)

"""Tests for hide_and_seek_tf.cam_head: CAM's layers found in any Keras classifier (keras.applications
models with weights=None at small inputs, transfer-learning and Sequential heads), clear errors
naming the candidates, and the keras.applications input conventions."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from hide_and_seek_tf.cam import class_activation_maps
from hide_and_seek_tf.cam_head import (
    find_cam_head,
    load_classifier,
    preprocess,
    read_class_names,
)


@pytest.fixture(scope="module")
def mobilenet():
    keras.utils.set_random_seed(0)
    return keras.applications.MobileNetV2(
        weights=None, alpha=0.35, input_shape=(64, 64, 3), classes=6
    )


def _images(n=2, size=64, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype(np.float32)


def _manual_cams(model, images, features_layer, kernel, class_ids):
    feats = keras.Model(model.inputs[0], model.get_layer(features_layer).output)(images)
    raw = np.einsum("bhwc,cb->bhw", np.asarray(feats), kernel.numpy()[:, class_ids])
    up = tf.image.resize(raw[..., None], images.shape[1:3], method="bilinear").numpy()[..., 0]
    low = up.min(axis=(1, 2), keepdims=True)
    return (up - low) / (up.max(axis=(1, 2), keepdims=True) - low)


def test_keras_applications_mobilenet_v2(mobilenet):
    head = find_cam_head(mobilenet)
    assert (head.cam_layer, head.classifier_layer) == ("out_relu", "predictions")
    assert head.num_classes == 6
    images = preprocess(_images(), "tf")
    logits, cams = class_activation_maps(mobilenet, images, class_ids=[1, 4])
    # Logits are the softmax head's pre-activation: the model's probabilities come back.
    np.testing.assert_allclose(tf.nn.softmax(logits), mobilenet(images), atol=1e-5)
    kernel = mobilenet.get_layer("predictions").kernel
    want = _manual_cams(mobilenet, images, "out_relu", kernel, [1, 4])
    np.testing.assert_allclose(cams[:, 0], want, atol=1e-4)


def test_keras_applications_resnet50():
    model = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=3)
    head = find_cam_head(model)
    assert (head.cam_layer, head.classifier_layer) == ("conv5_block3_out", "predictions")
    assert tuple(head.features.shape) == (None, 1, 1, 2048)


def test_transfer_learning_head_with_nested_backbone_and_own_preprocessing():
    keras.utils.set_random_seed(1)
    base = keras.applications.MobileNetV2(
        weights=None, alpha=0.35, include_top=False, input_shape=(64, 64, 3)
    )
    inputs = keras.Input((64, 64, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="scale")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(base(x))
    x = keras.layers.Dropout(0.3)(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="head")(x)
    model = keras.Model(inputs, outputs)
    head = find_cam_head(model)
    assert (head.cam_layer, head.classifier_layer) == (base.name, "head")
    # Raw pixels in: the model's own Rescaling stays in front of the CAM's maps.
    logits, cams = class_activation_maps(model, _images(), top_k=2)
    np.testing.assert_allclose(tf.nn.softmax(logits), model(_images()), atol=1e-5)
    assert cams.shape == (2, 2, 64, 64)


def test_sequential_max_pooling_head_and_explicit_names():
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(4, 3, padding="same", name="maps"),
            keras.layers.GlobalMaxPooling2D(),
            keras.layers.Dropout(0.1),
            keras.layers.Dense(5, name="logits"),
        ]
    )
    for kwargs in ({}, {"cam_layer": "maps"}, {"classifier_layer": "logits"}):
        head = find_cam_head(model, **kwargs)
        assert (head.cam_layer, head.classifier_layer) == ("maps", "logits")
    _, cams = class_activation_maps(model, _images(3, 16), top_k=1, cam_layer="maps")
    assert cams.shape == (3, 1, 16, 16)


def _two_heads():
    inputs = keras.Input((8, 8, 3))
    maps = keras.layers.Conv2D(4, 3, name="maps")(inputs)
    a = keras.layers.Dense(2, name="head_a")(keras.layers.GlobalAveragePooling2D(name="gap")(maps))
    b = keras.layers.Dense(3, name="head_b")(keras.layers.GlobalMaxPooling2D(name="gmp")(maps))
    return keras.Model(inputs, [a, b])


def test_ambiguous_heads_are_named_and_names_resolve_them():
    model = _two_heads()
    with pytest.raises(ValueError, match=r"'gap' -> 'head_a'; 'gmp' -> 'head_b'(.|\n)*ambiguous"):
        find_cam_head(model)
    head = find_cam_head(model, classifier_layer="head_b")
    assert (head.cam_layer, head.num_classes) == ("maps", 3)


def test_impossible_heads_name_the_candidates():
    inputs = keras.Input((8, 8, 3))
    maps = keras.layers.Conv2D(4, 3, name="maps")(inputs)
    hidden = keras.layers.Dense(8, name="hidden")(
        keras.layers.GlobalAveragePooling2D(name="gap")(maps)
    )
    mlp_head = keras.Model(inputs, keras.layers.Dense(2, name="out")(hidden))
    # The Dense after the pooling is not the output (an MLP head): CAM does not apply as is.
    with pytest.raises(
        ValueError, match=r"'gap' \(GlobalAveragePooling2D\)(.|\n)*'hidden'(.|\n)*'out'"
    ):
        find_cam_head(mlp_head)
    with pytest.raises(ValueError, match="`cam_layer` must name a layer"):
        find_cam_head(mlp_head, cam_layer="nope")
    with pytest.raises(ValueError, match="`classifier_layer` must name a Dense"):
        find_cam_head(mlp_head, classifier_layer="maps")
    with pytest.raises(ValueError, match="`cam_layer` must name a layer with one \\(B, h, w, C\\)"):
        find_cam_head(mlp_head, cam_layer="hidden")


@pytest.mark.parametrize("mode", ["tf", "torch", "caffe"])
def test_preprocessing_is_keras_applications(mode):
    pixels = _images(2, 8)
    want = keras.applications.imagenet_utils.preprocess_input(pixels.copy(), mode=mode)
    np.testing.assert_allclose(preprocess(tf.constant(pixels), mode), want, atol=1e-5)


def test_preprocessing_none_and_bad_mode():
    pixels = _images(1, 4)
    assert preprocess(pixels, None) is pixels
    with pytest.raises(ValueError, match="`preprocessing` must be one of"):
        preprocess(pixels, "imagenet")


def test_files(tmp_path):
    (tmp_path / "names.txt").write_text("cat\n\ndog\n bird \n")
    assert read_class_names(tmp_path / "names.txt") == ["cat", "dog", "bird"]
    (tmp_path / "names.json").write_text(json.dumps(["a", "b"]))
    assert read_class_names(tmp_path / "names.json") == ["a", "b"]
    (tmp_path / "bad.json").write_text(json.dumps({"a": 1}))
    with pytest.raises(ValueError, match="bad.json"):
        read_class_names(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        load_classifier(tmp_path / "missing.keras")
    (tmp_path / "model.h5").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"\.keras"):
        load_classifier(tmp_path / "model.h5")

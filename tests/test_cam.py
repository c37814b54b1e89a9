"""Tests for hide_and_seek_tf.cam.class_activation_maps: CAM = sum_i W(c, i) F_i, upsampled
and min-max normalized, in one forward pass, for given classes or the top-k predicted ones.
Tests marked `all_backends` also run under JAX and PyTorch (tests/test_backends.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from hide_and_seek_tf.boxes import cams_to_boxes
from hide_and_seek_tf.cam import class_activation_maps, merge_ten_crops, ten_crops
from hide_and_seek_tf.models import build_model

all_backends = pytest.mark.all_backends


def _np(x):
    return keras.ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return build_model("small_gap", 4, input_shape=(32, 40, 3))


def _images(n=3, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, 32, 40, 3)).astype(np.float32)


def _manual_cam(model, images, class_id):
    feats = keras.Model(model.inputs[0], model.get_layer("cam_features").output)(images)
    kernel = model.get_layer("predictions").kernel.numpy()
    raw = np.einsum("bhwc,c->bhw", _np(feats), kernel[:, class_id])
    up = tf.image.resize(raw[..., None], images.shape[1:3], method="bilinear").numpy()[..., 0]
    low = up.min(axis=(1, 2), keepdims=True)
    return (up - low) / (up.max(axis=(1, 2), keepdims=True) - low)


@all_backends
def test_cam_is_weighted_sum_of_features(model):
    images = _images()
    logits, cams = class_activation_maps(model, images, class_ids=[2, 2, 2])
    assert keras.ops.is_tensor(cams) and tuple(cams.shape) == (3, 1, 32, 40)  # backend tensors
    np.testing.assert_allclose(_np(cams)[:, 0], _manual_cam(model, images, 2), atol=1e-5)
    np.testing.assert_allclose(_np(logits), _np(model(images)), rtol=1e-5, atol=1e-5)


@all_backends
def test_top_k_maps_follow_the_predicted_order(model):
    images = _images(seed=1)
    logits, cams = class_activation_maps(model, images, top_k=3)
    assert tuple(cams.shape) == (3, 3, 32, 40)
    order = np.argsort(-_np(logits), axis=1, kind="stable")[:, :3]
    for i in range(3):
        for j in range(3):
            want = _manual_cam(model, images[i : i + 1], order[i, j])[0]
            np.testing.assert_allclose(_np(cams)[i, j], want, atol=1e-5)


@all_backends
def test_maps_are_in_unit_range_with_both_ends(model):
    _, cams = class_activation_maps(model, _images(seed=2), class_ids=[[0, 1], [2, 3], [1, 1]])
    cams = _np(cams)
    assert cams.shape == (3, 2, 32, 40)
    np.testing.assert_allclose(cams.min(axis=(2, 3)), 0.0, atol=1e-6)
    np.testing.assert_allclose(cams.max(axis=(2, 3)), 1.0, atol=1e-6)


@all_backends
def test_feature_hiding_model_has_the_plain_models_cams(model):
    hidden = build_model(
        "small_gap", 4, input_shape=(32, 40, 3), hide_features={"conv2": {"patch_sizes": 4}}
    )
    for layer in model.layers:
        hidden.get_layer(layer.name).set_weights(layer.get_weights())
    images = _images(seed=4)
    for got, want in zip(
        class_activation_maps(hidden, images, top_k=2),
        class_activation_maps(model, images, top_k=2),
        strict=True,
    ):
        np.testing.assert_array_equal(_np(got), _np(want))


@all_backends
def test_constant_map_becomes_zeros_not_nan():
    # A model whose features are constant: every CAM is flat.
    inputs = keras.Input((8, 8, 3))
    feats = keras.layers.Lambda(lambda x: 0.0 * x[..., :2] + 1.0, name="cam_features")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(feats)
    flat = keras.Model(inputs, keras.layers.Dense(3, name="predictions")(pooled))
    _, cams = class_activation_maps(flat, np.ones((2, 8, 8, 3)), top_k=2)
    cams = _np(cams)
    assert not np.isnan(cams).any()
    np.testing.assert_array_equal(cams, 0.0)
    # ... and its box is the whole image (cams_to_boxes's documented flat-map rule).
    np.testing.assert_array_equal(cams_to_boxes(cams[:, 0], (0.2,))[:, 0], [[0, 0, 7, 7]] * 2)


def test_works_inside_a_tf_function_and_with_uint8(model):
    images = _images(seed=3)

    @tf.function
    def boxes(x):
        _, cams = class_activation_maps(model, x, top_k=1)
        return cams_to_boxes(cams[:, 0], (0.2,))

    got = boxes(tf.constant(images.round().astype(np.uint8)))
    _, cams = class_activation_maps(model, images.round(), top_k=1)
    np.testing.assert_array_equal(got, cams_to_boxes(cams[:, 0], (0.2,)))


@all_backends
def test_bad_arguments(model):
    with pytest.raises(ValueError, match="`images`"):
        class_activation_maps(model, np.zeros((32, 40, 3)))
    with pytest.raises(ValueError, match="`top_k`"):
        class_activation_maps(model, _images(), top_k=5)
    with pytest.raises(ValueError, match="`class_ids`"):
        class_activation_maps(model, _images(), class_ids=[0, 4, 1])
    with pytest.raises(ValueError, match="`class_ids`"):
        class_activation_maps(model, _images(), class_ids=[0, 1])
    plain = keras.Sequential(
        [keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(2)]
    )
    # No global pooling: the error names the Dense it did find.
    with pytest.raises(ValueError, match=f"no global pooling(.|\n)*'{plain.layers[-1].name}'"):
        class_activation_maps(plain, np.zeros((1, 4, 4, 3)))


def test_ten_crops_map_back_to_the_image():
    # Crops of a map, merged back, give the map itself on every pixel (flips undone).
    rng = np.random.default_rng(0)
    image = tf.constant(rng.random((2, 37, 41, 1)), tf.float32)
    crops = ten_crops(image, (32, 32))
    assert crops.shape == (20, 32, 32, 1)
    np.testing.assert_allclose(merge_ten_crops(crops[..., 0], (37, 41)), image[..., 0], atol=1e-6)
    # Flipped crops are the unflipped ones mirrored.
    np.testing.assert_array_equal(crops[10:12], crops[0:2, :, ::-1])

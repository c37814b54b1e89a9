"""Tests for hide_and_seek_tf.models: the CAM networks' contract (raw pixels in, logits out,
named `cam_features` / `predictions`), sizes, pooling, normalization and `.keras` round trips."""

import keras
import numpy as np
import pytest

from hide_and_seek_tf.models import MODELS, build_model


def _pixels(n, size, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


@pytest.mark.parametrize(
    "name, input_shape, cam_hw, channels",
    [
        ("small_gap", None, (16, 16), 128),
        ("alexnet_gap_64", None, (8, 8), 512),
        ("alexnet_gap", None, (14, 14), 512),
        ("googlenet_gap", (64, 64, 3), (4, 4), 1024),
        ("resnet50_gap", (64, 64, 3), (2, 2), 2048),
    ],
)
def test_model_contract(name, input_shape, cam_hw, channels):
    model = build_model(name, num_classes=7, input_shape=input_shape)
    h, w = (input_shape or MODELS[name][1])[:2]
    assert model.input_shape == (None, h, w, 3)
    assert model.output_shape == (None, 7)
    assert model.get_layer("cam_features").output.shape == (None, *cam_hw, channels)
    dense = model.get_layer("predictions")
    assert isinstance(dense, keras.layers.Dense)
    assert dense.kernel.shape == (channels, 7)
    # Logits, not probabilities: no softmax on the Dense.
    assert dense.get_config()["activation"] == "linear"


def test_googlenet_gap_at_224_keeps_14x14_maps():
    model = build_model("googlenet_gap", num_classes=3)
    assert model.get_layer("cam_features").output.shape == (None, 14, 14, 1024)
    assert model.get_layer("inception_4e_output").output.shape == (None, 14, 14, 832)
    # Batch norm after every conv, as in the paper.
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    bns = {
        layer.name for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)
    }
    assert convs and all(f"{c.name}_bn" in bns for c in convs)


def test_alexnet_gap_has_no_grouped_convs_and_stride_one_pool5():
    model = build_model("alexnet_gap", num_classes=3)
    assert all(
        layer.get_config()["groups"] == 1
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D)
    )
    assert model.get_layer("pool5").strides == (1, 1)
    assert [model.get_layer(n).filters for n in ("conv6", "conv7")] == [512, 512]


def test_max_pooling_gives_the_gmp_ablation():
    avg = build_model("small_gap", 4, pooling="avg")
    gmp = build_model("small_gap", 4, pooling="max")
    assert isinstance(avg.get_layer("gap"), keras.layers.GlobalAveragePooling2D)
    assert isinstance(gmp.get_layer("gmp"), keras.layers.GlobalMaxPooling2D)
    # Same features, different pooling: the logits follow max, not mean, of the maps.
    gmp.set_weights(avg.get_weights())
    x = _pixels(2, 64)
    feats = keras.Model(gmp.inputs[0], gmp.get_layer("cam_features").output)(x).numpy()
    kernel, bias = gmp.get_layer("predictions").get_weights()
    np.testing.assert_allclose(gmp(x), feats.max(axis=(1, 2)) @ kernel + bias, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        avg(x), feats.mean(axis=(1, 2)) @ kernel + bias, rtol=1e-4, atol=1e-4
    )


def test_normalization_is_inside_with_given_stats():
    mean, std = [120.0, 100.0, 80.0], [50.0, 40.0, 30.0]
    model = build_model("small_gap", 3, mean=mean, std=std)
    norm = keras.Model(model.inputs[0], model.get_layer("normalize").output)
    x = _pixels(2, 64)
    np.testing.assert_allclose(norm(x), (x - mean) / std, rtol=1e-5, atol=1e-5)
    # uint8 pixels work as well as float ones.
    np.testing.assert_allclose(model(x.astype("uint8")), model(x.astype("uint8").astype("float32")))


def test_default_normalization_maps_raw_pixels_to_minus_one_one():
    model = build_model("small_gap", 3)
    norm = keras.Model(model.inputs[0], model.get_layer("normalize").output)
    x = np.zeros((3, 64, 64, 3), "float32") + np.array([0.0, 127.5, 255.0]).reshape(3, 1, 1, 1)
    np.testing.assert_allclose(np.asarray(norm(x))[:, 0, 0, 0], [-1.0, 0.0, 1.0], atol=1e-6)


@pytest.mark.parametrize("name", ["small_gap", "alexnet_gap_64", "resnet50_gap"])
def test_keras_round_trip_with_safe_mode(tmp_path, name):
    model = build_model(name, 5, input_shape=(64, 64, 3), mean=[1.0, 2.0, 3.0], std=4.0)
    x = _pixels(2, 64, seed=1)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-5, atol=1e-5)
    assert (
        loaded.get_layer("cam_features").output.shape
        == model.get_layer("cam_features").output.shape
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(name="vgg_gap", num_classes=3), "`name`"),
        (dict(name="small_gap", num_classes=3, pooling="mean"), "`pooling`"),
        (dict(name="small_gap", num_classes=0), "`num_classes`"),
        (dict(name="small_gap", num_classes=3, input_shape=(64, 64)), "`input_shape`"),
        (dict(name="small_gap", num_classes=3, mean=[1.0, 2.0]), "`mean`"),
        (dict(name="small_gap", num_classes=3, std=0.0), "`std`"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_model(**kwargs)


def test_num_classes_must_be_int():
    with pytest.raises(TypeError, match="`num_classes`"):
        build_model("small_gap", 3.0)

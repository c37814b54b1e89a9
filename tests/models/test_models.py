"""Tests for hide_and_seek_tf.models: the CAM networks' contract (raw pixels in, logits out,
named `cam_features` / `predictions`), sizes, pooling, normalization and `.keras` round trips."""

import keras
import numpy as np
import pytest

from hide_and_seek_tf.layers import HideAndSeek
from hide_and_seek_tf.models import build_model, model_spec

all_backends = pytest.mark.all_backends


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _pixels(n, size, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


@pytest.mark.parametrize(
    "name, input_shape, cam_hw, channels",
    [
        pytest.param("small_gap", None, (16, 16), 128, marks=all_backends),
        ("alexnet_gap_64", None, (8, 8), 512),
        ("alexnet_gap", None, (14, 14), 512),
        ("googlenet_gap", (64, 64, 3), (4, 4), 1024),
    ],
)
def test_model_contract(name, input_shape, cam_hw, channels):
    model = build_model(name, num_classes=7, input_shape=input_shape)
    h, w = (input_shape or model_spec(name).input_shape)[:2]
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


@all_backends
def test_max_pooling_gives_the_gmp_ablation():
    avg = build_model("small_gap", 4, pooling="avg")
    gmp = build_model("small_gap", 4, pooling="max")
    assert isinstance(avg.get_layer("gap"), keras.layers.GlobalAveragePooling2D)
    assert isinstance(gmp.get_layer("gmp"), keras.layers.GlobalMaxPooling2D)
    # Same features, different pooling: the logits follow max, not mean, of the maps.
    gmp.set_weights(avg.get_weights())
    x = _pixels(2, 64)
    feats = _np(keras.Model(gmp.inputs[0], gmp.get_layer("cam_features").output)(x))
    kernel, bias = gmp.get_layer("predictions").get_weights()
    np.testing.assert_allclose(
        _np(gmp(x)), feats.max(axis=(1, 2)) @ kernel + bias, rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(
        _np(avg(x)), feats.mean(axis=(1, 2)) @ kernel + bias, rtol=1e-4, atol=1e-4
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


# vgg16_gap: the keras.applications backbones are rebuilt layer by layer (clone_model); one of
# them stands for all three (resnet50_gap and inception_v3_gap take 5-10x longer to build).
@pytest.mark.parametrize(
    "name", [pytest.param("small_gap", marks=all_backends), "alexnet_gap_64", "vgg16_gap"]
)
def test_keras_round_trip_with_safe_mode(tmp_path, name):
    model = build_model(name, 5, input_shape=(64, 64, 3), mean=[1.0, 2.0, 3.0], std=4.0)
    x = _pixels(2, 64, seed=1)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(_np(loaded(x)), _np(model(x)), rtol=1e-5, atol=1e-5)
    assert (
        loaded.get_layer("cam_features").output.shape
        == model.get_layer("cam_features").output.shape
    )


def _plain_and_hidden(name, hide_features, shape=(32, 32, 3)):
    """The same network built plain and with hidden feature maps, with the same weights."""
    plain = build_model(name, 4, input_shape=shape)
    hidden = build_model(name, 4, input_shape=shape, hide_features=hide_features)
    for layer in plain.layers:
        hidden.get_layer(layer.name).set_weights(layer.get_weights())
    return plain, hidden


@all_backends
def test_hide_features_inserts_the_layer_after_the_block_and_is_exact_at_inference():
    plain, hidden = _plain_and_hidden(
        "small_gap", {"conv1": {"patch_sizes": (4, 8), "seed": 1}, "conv3": None}
    )
    names = [layer.name for layer in hidden.layers]
    assert names.index("conv1_hide") == names.index("conv1_relu") + 1
    assert names.index("conv3_hide") == names.index("cam_features") + 1  # the last block's output
    layer = hidden.get_layer("conv1_hide")
    assert isinstance(layer, HideAndSeek) and layer.fill_value == "running_mean"
    assert layer.patch_sizes == [4, 8] and hidden.get_layer("conv3_hide").patch_sizes == 16
    x = _pixels(3, 32)
    # Inference: exactly the plain model (bit for bit), whatever the hiding layers learned.
    layer(np.ones((2, 32, 32, 32), "float32"), training=True)  # moves its running mean only
    np.testing.assert_array_equal(
        _np(hidden.predict(x, verbose=0)), _np(plain.predict(x, verbose=0))
    )
    np.testing.assert_array_equal(_np(hidden(x)), _np(plain(x)))
    # Training: conv1's maps are hidden (all 32 channels of a cell take the running mean).
    maps = keras.Model(hidden.inputs[0], [hidden.get_layer("conv1_relu").output, layer.output])
    before, after = (_np(m) for m in maps(x, training=True))
    hidden_pixels = np.any(before != after, axis=-1)
    assert 0 < hidden_pixels.mean() < 1
    np.testing.assert_allclose(
        after[hidden_pixels], np.broadcast_to(_np(layer.moving_mean), after[hidden_pixels].shape)
    )


@all_backends
def test_hide_features_saves_and_loads_with_safe_mode(tmp_path):
    _, hidden = _plain_and_hidden("small_gap", {"conv2": {"patch_sizes": 3}})
    x = _pixels(2, 32)
    hidden(x, training=True)  # a running mean to save
    hidden.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_array_equal(
        _np(loaded.get_layer("conv2_hide").moving_mean),
        _np(hidden.get_layer("conv2_hide").moving_mean),
    )
    np.testing.assert_allclose(_np(loaded(x)), _np(hidden(x)), rtol=1e-6, atol=1e-6)


def test_hide_features_bad_names_and_arguments():
    with pytest.raises(ValueError, match="'conv9'"):
        build_model("small_gap", 3, hide_features={"conv9": None})
    with pytest.raises(ValueError, match="`hide_features`"):
        build_model("small_gap", 3, hide_features=["conv1"])
    with pytest.raises(ValueError, match="hide_prob=2"):
        build_model("small_gap", 3, hide_features={"conv1": {"hide_prob": 2}})


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


# === keras.applications backbones (Choe et al.'s CAM versions) ===
_APPLICATIONS = {
    # name: (application, its preprocess_input, small input side, a layer before any change,
    #        cam_features at that side)
    "vgg16_gap": (
        keras.applications.VGG16, keras.applications.vgg16.preprocess_input, 32,
        "block5_conv3", (2, 2, 1024),  # no pool5: 1/16 of the input
    ),
    "resnet50_gap": (
        keras.applications.ResNet50, keras.applications.resnet50.preprocess_input, 32,
        "conv4_block6_out", (2, 2, 2048),  # last stage at stride 1: 1/16, not 1/32
    ),
    "inception_v3_gap": (
        keras.applications.InceptionV3, keras.applications.inception_v3.preprocess_input, 75,
        "mixed2", (7, 7, 1024),  # Mixed_6a at stride 1: mixed7 keeps mixed2's 7 x 7
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(_APPLICATIONS))
def test_pretrained_backbone_uses_the_weights_file_and_its_normalization(tmp_path, name):
    application, preprocess, side, before, cam_shape = _APPLICATIONS[name]
    keras.utils.set_random_seed(7)
    reference = application(include_top=False, weights=None, input_shape=(side, side, 3))
    weights = tmp_path / f"{name}.weights.h5"
    reference.save_weights(weights)
    model = build_model(name, 3, input_shape=(side, side, 3), weights=str(weights))

    assert model.get_layer("cam_features").output.shape == (None, *cam_shape)
    dense = model.get_layer("predictions")
    assert dense.kernel.shape == (cam_shape[-1], 3)
    assert dense.get_config()["activation"] == "linear"
    # Raw RGB pixels in: the model's maps equal the application's on its own preprocessing
    # (caffe: BGR minus the ImageNet mean; tf: x / 127.5 - 1), with the file's weights.
    x = _pixels(2, side, seed=3)
    ours = keras.Model(model.inputs[0], model.get_layer(before).output)(x)
    theirs = keras.Model(reference.inputs[0], reference.get_layer(before).output)(
        preprocess(x.copy())
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * float(np.abs(theirs).max()))
    # The file's weights, not a random init, are in the layers before and after the change.
    last = {"vgg16_gap": "block5_conv3", "resnet50_gap": "conv5_block3_3_conv"}.get(name, "mixed7")
    for layer in (model.get_layer(last), model.get_layer(before)):
        for got, want in zip(
            layer.get_weights(), reference.get_layer(layer.name).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(got, want)


def test_weights_are_refused_where_they_cannot_apply(tmp_path):
    with pytest.raises(ValueError, match="`weights`.*small_gap"):
        build_model("small_gap", 3, weights="imagenet")
    with pytest.raises(ValueError, match="`mean` and `std` must be None"):
        build_model("vgg16_gap", 3, input_shape=(32, 32, 3), weights="imagenet", mean=100.0)
    with pytest.raises(ValueError, match="`weights`.*nowhere"):
        build_model("vgg16_gap", 3, input_shape=(32, 32, 3), weights=str(tmp_path / "nowhere.h5"))

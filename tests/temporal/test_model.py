"""The paper's temporal classifier: architecture, GMP/GAP, its 1-D CAM, normalization, saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from hide_and_seek_tf.temporal import build_temporal_classifier, temporal_class_activation_maps


def _features(shape=(3, 25, 6), seed=0):
    return tf.constant(np.random.default_rng(seed).normal(size=shape), tf.float32)


def test_the_papers_layers_two_1x1_convs_of_500_and_gmp():
    model = build_temporal_classifier(20, 4096, num_steps=2000)
    conv1, cam_features = model.get_layer("conv1"), model.get_layer("cam_features")
    assert tuple(conv1.kernel.shape) == (1, 4096, 500)
    assert tuple(cam_features.kernel.shape) == (1, 500, 500)
    assert isinstance(model.get_layer("pool"), keras.layers.GlobalMaxPooling1D)
    assert model.output_shape == (None, 20)
    gap = build_temporal_classifier(4, 6, pooling="avg", filters=8)
    assert isinstance(gap.get_layer("pool"), keras.layers.GlobalAveragePooling1D)


def test_any_length_and_logits_are_the_dense_of_pooled_features():
    model = build_temporal_classifier(4, 6, filters=8)
    dense = model.get_layer("predictions")
    maps = keras.Model(model.inputs, model.get_layer("cam_features").output)
    for length in (1, 25, 70):
        x = _features((2, length, 6))
        expected = dense(tf.reduce_max(maps(x), axis=1))
        np.testing.assert_allclose(model(x).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


def test_gap_cam_averages_to_the_logit_without_bias():
    model = build_temporal_classifier(4, 6, filters=16, pooling="avg")
    model.get_layer("predictions").bias.assign(tf.constant([1.0, -2.0, 0.5, 3.0]))
    x = _features()
    logits, cams = temporal_class_activation_maps(model, x)
    assert cams.shape == (3, 4, 25)
    bias = model.get_layer("predictions").bias.numpy()
    np.testing.assert_allclose(
        cams.numpy().mean(axis=2), logits.numpy() - bias, rtol=1e-4, atol=1e-5
    )


def test_class_ids_select_one_map_per_video():
    model = build_temporal_classifier(5, 6, filters=8)
    x = _features()
    _, every = temporal_class_activation_maps(model, x)
    _, chosen = temporal_class_activation_maps(model, x, class_ids=[4, 0, 2])
    np.testing.assert_array_equal(chosen.numpy(), every.numpy()[[0, 1, 2], [4, 0, 2]])


def test_normalization_maps_the_mean_feature_to_zero():
    mean, std = np.arange(6.0), np.full(6, 2.0)
    normalized = build_temporal_classifier(3, 6, filters=8, mean=mean, std=std)
    plain = build_temporal_classifier(3, 6, filters=8)
    for name in ("conv1", "cam_features", "predictions"):
        plain.get_layer(name).set_weights(normalized.get_layer(name).get_weights())
    x = _features()
    np.testing.assert_allclose(
        normalized(x * 2.0 + mean).numpy(), plain(x).numpy(), rtol=1e-4, atol=1e-5
    )


def test_keras_file_round_trip_with_safe_mode(tmp_path):
    model = build_temporal_classifier(3, 6, filters=8, mean=0.5, std=2.0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    x = _features()
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6)
    np.testing.assert_allclose(
        temporal_class_activation_maps(loaded, x)[1].numpy(),
        temporal_class_activation_maps(model, x)[1].numpy(),
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pooling": "sum"}, "pooling='sum'"),
        ({"filters": 0}, "filters=0"),
        ({"num_classes": 0}, "num_classes=0"),
        ({"std": [1.0, 0.0, 1.0, 1.0, 1.0, 1.0]}, "std"),
        ({"mean": [1.0, 2.0]}, "mean"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        build_temporal_classifier(**{"num_classes": 3, "feature_dim": 6, **kwargs})


def test_cam_of_a_model_without_cam_layers_and_bad_features():
    inputs = keras.Input((None, 6))
    other = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalMaxPooling1D()(inputs)))
    with pytest.raises(ValueError, match="cam_features"):
        temporal_class_activation_maps(other, _features())
    with pytest.raises(ValueError, match="features.shape"):
        temporal_class_activation_maps(build_temporal_classifier(2, 6, filters=4), tf.zeros([5, 6]))

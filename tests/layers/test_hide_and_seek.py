"""`HideAndSeek` layer: training-only behaviour, config and `.keras` round trips, tf.data, seeding."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from hide_and_seek_tf import HideAndSeek


def _images(shape=(4, 32, 32, 3)):
    return tf.constant(np.random.default_rng(1).integers(1, 255, size=shape), tf.float32)


def test_identity_unless_training():
    layer = HideAndSeek(8, 1.0, fill_value=0.0, seed=1)
    images = _images()
    np.testing.assert_array_equal(layer(images).numpy(), images.numpy())
    np.testing.assert_array_equal(layer(images, training=False).numpy(), images.numpy())
    assert float(tf.reduce_max(layer(images, training=True))) == 0.0


def test_predict_is_identity_and_training_call_hides():
    inputs = keras.Input((16, 16, 3))
    hidden = HideAndSeek(4, 1.0, fill_value=-5.0, seed=0)(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(hidden))
    images = _images((8, 16, 16, 3))
    np.testing.assert_allclose(
        model.predict(images, verbose=0), tf.reduce_mean(images, axis=(1, 2)).numpy(), rtol=1e-6
    )
    # fit() calls the model with training=True: every pixel hidden, so the pooled output is the fill.
    np.testing.assert_array_equal(model(images, training=True).numpy(), -5.0)


def test_masks_change_between_calls_and_images():
    layer = HideAndSeek(8, 0.5, fill_value=0.0, seed=3)
    images = tf.ones([6, 32, 32, 1])
    first = layer(images, training=True).numpy()
    second = layer(images, training=True).numpy()
    assert first.tobytes() != second.tobytes()
    assert len({image.tobytes() for image in first}) == 6


def test_same_seed_same_sequence():
    images = _images()
    a, b = HideAndSeek((8, 16, 0), seed=7), HideAndSeek((8, 16, 0), seed=7)
    for _ in range(2):
        np.testing.assert_array_equal(
            a(images, training=True).numpy(), b(images, training=True).numpy()
        )


def test_config_round_trip():
    layer = HideAndSeek([16, 32, 0], 0.33, fill_value=[1.0, 2.0, 3.0], seed=5, name="has")
    clone = HideAndSeek.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.patch_sizes == [16, 32, 0] and clone.fill_value == [1.0, 2.0, 3.0]


def test_keras_file_round_trip_with_safe_mode(tmp_path):
    inputs = keras.Input((16, 16, 3))
    hidden = HideAndSeek(4, 0.5, fill_value=[10.0, 20.0, 30.0], seed=2)(inputs)
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(hidden))
    model = keras.Model(inputs, outputs)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    layer = next(layer for layer in loaded.layers if isinstance(layer, HideAndSeek))
    assert layer.get_config() == model.layers[1].get_config()
    images = _images((3, 16, 16, 3))
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0))


def test_in_tf_data_after_batch():
    layer = HideAndSeek(8, 1.0, fill_value=0.0, seed=4)
    ds = tf.data.Dataset.from_tensor_slices((_images((8, 16, 16, 3)), tf.range(8)))
    ds = ds.batch(4).map(lambda x, y: (layer(x, training=True), y))
    for images, _ in ds:
        assert float(tf.reduce_max(images)) == 0.0


def test_single_image_and_bad_arguments():
    assert HideAndSeek(4)(tf.ones([8, 8, 3]), training=True).shape == (8, 8, 3)
    with pytest.raises(ValueError, match="hide_prob=2"):
        HideAndSeek(hide_prob=2)
    with pytest.raises(ValueError, match="patch_sizes=\\[\\]"):
        HideAndSeek(patch_sizes=[])
    with pytest.raises(ValueError, match="images.shape"):
        HideAndSeek()(tf.ones([8, 8]), training=True)

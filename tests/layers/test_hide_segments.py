"""`HideSegments` layer: training-only, config and `.keras` round trips, tf.data, seeding, sequences."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from hide_and_seek_tf import HideSegments


def _sequences(shape=(4, 60, 5)):
    return tf.constant(np.random.default_rng(1).normal(size=shape), tf.float32)


def test_identity_unless_training():
    layer = HideSegments(10, 1.0, fill_value=0.0, seed=1)
    x = _sequences()
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
    np.testing.assert_array_equal(layer(x, training=True).numpy(), 0.0)


def test_predict_sees_the_full_video_and_training_call_hides():
    inputs = keras.Input((30, 3))
    hidden = HideSegments(5, 1.0, fill_value=-5.0, seed=0)(inputs)
    model = keras.Model(inputs, keras.layers.GlobalMaxPooling1D()(hidden))
    x = _sequences((6, 30, 3))
    np.testing.assert_allclose(model.predict(x, verbose=0), tf.reduce_max(x, axis=1).numpy())
    np.testing.assert_array_equal(model(x, training=True).numpy(), -5.0)


def test_masks_differ_between_calls_and_sequences_and_follow_the_seed():
    x = tf.ones([6, 100, 2])
    layer = HideSegments(10, 0.5, fill_value=0.0, seed=3)
    first, second = layer(x, training=True).numpy(), layer(x, training=True).numpy()
    assert first.tobytes() != second.tobytes()
    assert len({s.tobytes() for s in first}) == 6
    a, b = HideSegments(10, seed=7), HideSegments(10, seed=7)
    for _ in range(2):
        np.testing.assert_array_equal(a(x, training=True).numpy(), b(x, training=True).numpy())


def test_config_and_keras_file_round_trip_with_safe_mode(tmp_path):
    layer = HideSegments(100, 0.33, fill_value=[1.0, 2.0, 3.0], seed=5, name="hide")
    assert HideSegments.from_config(layer.get_config()).get_config() == layer.get_config()
    inputs = keras.Input((None, 3))
    outputs = keras.layers.Dense(2)(keras.layers.GlobalMaxPooling1D()(layer(inputs)))
    model = keras.Model(inputs, outputs)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    clone = next(lay for lay in loaded.layers if isinstance(lay, HideSegments))
    assert clone.get_config() == layer.get_config()
    x = _sequences((2, 40, 3))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_in_tf_data_after_batch_and_one_sequence():
    layer = HideSegments(4, 1.0, fill_value=0.0, seed=4)
    ds = tf.data.Dataset.from_tensor_slices((_sequences((8, 16, 3)), tf.range(8)))
    for x, _ in ds.batch(4).map(lambda x, y: (layer(x, training=True), y)):
        assert float(tf.reduce_max(tf.abs(x))) == 0.0
    assert HideSegments(4)(tf.ones([16, 3]), training=True).shape == (16, 3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="hide_prob=2"):
        HideSegments(hide_prob=2)
    with pytest.raises(ValueError, match="segment_length=-3"):
        HideSegments(segment_length=-3)
    with pytest.raises(ValueError, match="sequences.shape"):
        HideSegments(4)(tf.ones([2, 8, 8, 3]), training=True)

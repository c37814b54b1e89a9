"""`HideAndSeek` layer: hide_patches's semantics on every backend, training-only behaviour, seeding,
the running-mean fill, tf.data, compiled `fit` and `.keras` round trips (across backends too).

Tests marked `all_backends` also run under JAX and PyTorch (tests/test_backends.py runs them in
subprocesses with KERAS_BACKEND set); they use only NumPy and `keras.ops` on the layer's outputs.
"""

import math
import os
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from hide_and_seek_tf import HideAndSeek, hide_patches

BACKEND = keras.config.backend()
#: Set by tests/test_backends.py: a folder shared by the runs under each backend.
EXCHANGE = os.environ.get("HIDE_AND_SEEK_BACKEND_EXCHANGE")

all_backends = pytest.mark.all_backends


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _images(shape=(4, 32, 32, 3), dtype="float32", seed=1):
    return np.random.default_rng(seed).integers(1, 255, size=shape).astype(dtype)


def _binomial_band(n, p, sigmas=5.0):
    spread = sigmas * math.sqrt(p * (1 - p) / n)
    return p - spread, p + spread


def _hidden_mask(out, images, fill):
    """Per-pixel hidden mask of `out` (every channel the fill); the other pixels must be `images`'
    own bytes. The test images are integers and the fills are not, so the two cannot mix up."""
    hidden = np.all(out == np.asarray(fill, out.dtype), axis=-1)
    assert out[~hidden].tobytes() == images[~hidden].tobytes()
    return hidden


def _constant_on_cells(mask, side):
    height, width = mask.shape
    return all(
        mask[y : y + side, x : x + side].min() == mask[y : y + side, x : x + side].max()
        for y in range(0, height, side)
        for x in range(0, width, side)
    )


@all_backends
def test_identity_unless_training_and_backend_tensors_out():
    layer = HideAndSeek(8, 1.0, fill_value=0.0, seed=1)
    images = _images()
    np.testing.assert_array_equal(_np(layer(images)), images)
    np.testing.assert_array_equal(_np(layer(images, training=False)), images)
    hidden = layer(images, training=True)
    assert keras.ops.is_tensor(hidden)  # the backend's own tensor, not a tf.Tensor under JAX/torch
    assert _np(hidden).max() == 0.0


@all_backends
def test_hidden_pixels_are_the_fill_and_visible_pixels_bit_identical_in_clipped_cells():
    images = _images((16, 37, 53, 3))
    fill = [0.5, 1.5, 2.5]
    out = _np(HideAndSeek(8, 0.5, fill_value=fill, seed=2)(images, training=True))
    assert out.shape == images.shape and out.dtype == np.float32
    mask = _hidden_mask(out, images, fill)
    assert 0.2 < mask.mean() < 0.8
    assert all(_constant_on_cells(m, 8) for m in mask)
    # Cell edges fall on multiples of 8 from the top-left (the last row/column clipped).
    rows = np.nonzero((mask[:, 1:] != mask[:, :-1]).any(axis=(0, 2)))[0] + 1
    cols = np.nonzero((mask[:, :, 1:] != mask[:, :, :-1]).any(axis=(0, 1)))[0] + 1
    assert set(rows) <= set(range(8, 37, 8)) and set(cols) <= set(range(8, 53, 8))


@all_backends
def test_each_cell_hidden_with_hide_prob():
    images = _images((64, 32, 32, 1))
    out = _np(HideAndSeek(4, 0.3, fill_value=0.5, seed=3)(images, training=True))
    cells = _hidden_mask(out, images, [0.5])[:, ::4, ::4]
    low, high = _binomial_band(cells.size, 0.3)
    assert low <= cells.mean() <= high


@all_backends
def test_each_image_draws_its_own_side():
    # Sides 4 and 12 (p = 0.5): a 4 px image looks 12-px-consistent with negligible probability.
    images = _images((400, 24, 24, 1))
    out = _np(HideAndSeek((4, 12), 0.5, fill_value=0.5, seed=4)(images, training=True))
    mask = _hidden_mask(out, images, [0.5])
    assert all(_constant_on_cells(m, 4) for m in mask)
    share_12 = np.mean([_constant_on_cells(m, 12) for m in mask])
    low, high = _binomial_band(400, 0.5)
    assert low <= share_12 <= high
    # Side 0 means "show the whole image": with p = 1 an image is all hidden or untouched.
    out = _np(HideAndSeek((6, 0), 1.0, fill_value=0.5, seed=5)(images[:, :12, :18], training=True))
    hidden = _hidden_mask(out, images[:, :12, :18], [0.5]).reshape(400, -1)
    assert np.all(hidden.all(axis=1) | ~hidden.any(axis=1))
    assert low <= hidden.all(axis=1).mean() <= high


@all_backends
def test_integer_images_keep_their_dtype_and_take_the_rounded_fill():
    images = _images((2, 8, 8, 3), dtype="uint8")
    out = _np(HideAndSeek(8, 1.0, fill_value=[100.6, 0.4, 255.0], seed=0)(images, training=True))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, 3, 5], [[101, 0, 255]] * 2)


@all_backends
def test_hide_prob_zero_and_side_zero_leave_images_untouched():
    images = _images((2, 16, 16, 3))
    for layer in (HideAndSeek(4, 0.0, 7.0), HideAndSeek(0, 1.0, 7.0)):
        assert _np(layer(images, training=True)).tobytes() == images.tobytes()


@all_backends
def test_same_seed_same_sequence_and_new_masks_every_call():
    images = _images((6, 32, 32, 1))
    a, b = HideAndSeek((8, 16, 0), fill_value=0.5, seed=7), HideAndSeek((8, 16, 0), 0.5, 0.5, 7)
    first = [_np(a(images, training=True)) for _ in range(2)]
    np.testing.assert_array_equal(first, [_np(b(images, training=True)) for _ in range(2)])
    assert first[0].tobytes() != first[1].tobytes()
    masks = _hidden_mask(_np(HideAndSeek(8, fill_value=0.5, seed=3)(images, training=True)),
                         images, [0.5])  # fmt: skip
    assert len({m.tobytes() for m in masks}) == 6


@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow's draws: see the JAX/torch tests")
def test_tensorflow_backend_masks_are_hide_patches_with_the_same_seed():
    images = _images((4, 20, 30, 3))
    layer = HideAndSeek((4, 8, 0), 0.5, fill_value=[1.5, 2.5, 3.5], seed=11)
    for k in range(3):  # call k draws the stateless seed [11, k]
        expected = hide_patches(images, (4, 8, 0), 0.5, [1.5, 2.5, 3.5], seed=[11, k])
        np.testing.assert_array_equal(_np(layer(images, training=True)), expected.numpy())


@all_backends
def test_in_tf_data_on_any_backend_it_is_hide_patches_with_the_same_seed():
    images = _images((8, 16, 16, 3))
    layer = HideAndSeek((4, 0), 0.5, fill_value=0.5, seed=4)
    ds = tf.data.Dataset.from_tensor_slices(images).batch(4)
    ds = ds.map(lambda x: layer(x, training=True))
    batches = [b for b in ds]
    assert all(isinstance(b, tf.Tensor) for b in batches)  # tf.data always yields TF tensors
    for k, batch in enumerate(batches):
        expected = hide_patches(images[4 * k : 4 * k + 4], (4, 0), 0.5, 0.5, seed=[4, k])
        np.testing.assert_array_equal(batch.numpy(), expected.numpy())
    plain = tf.data.Dataset.from_tensor_slices(images).batch(8).map(lambda x: layer(x))
    np.testing.assert_array_equal(next(iter(plain)).numpy(), images)  # no training: identity


def _pooled_model(layer, shape=(8, 8, 3)):
    inputs = keras.Input(shape)
    pooled = keras.layers.GlobalAveragePooling2D()(layer(inputs))
    return keras.Model(inputs, keras.layers.Dense(2)(pooled))


@all_backends
def test_trains_inside_compiled_fit_and_predict_sees_the_full_image():
    layer = HideAndSeek(2, 0.5, fill_value="running_mean", seed=0)
    model = _pooled_model(layer)
    # XLA under TensorFlow, jit under JAX; PyTorch's default (eager) mode.
    model.compile("sgd", "mse", jit_compile=BACKEND in ("tensorflow", "jax"))
    images = _images((8, 8, 8, 3))
    model.fit(images, np.zeros((8, 2), "float32"), batch_size=4, epochs=1, shuffle=False, verbose=0)
    # Two batches of 4: the running mean is the mean of all 8 images (its cumulative phase).
    np.testing.assert_allclose(_np(layer.moving_mean), images.mean(axis=(0, 1, 2)), rtol=1e-5)
    assert float(_np(layer.moving_mean_count)) == 2.0
    features = keras.Model(model.inputs[0], model.layers[1].output)
    np.testing.assert_array_equal(_np(features.predict(images, verbose=0)), images)


@all_backends
def test_running_mean_is_cumulative_then_exponential_and_fills_the_cells():
    layer = HideAndSeek(4, 1.0, fill_value="running_mean", momentum=0.5, seed=0)
    batches = [np.full((2, 4, 4, 2), v, "float32") + [0.0, 10.0] for v in (1.0, 3.0, 9.0)]
    expected, means = None, []
    for i, batch in enumerate(batches):
        weight = min(0.5, i / (i + 1))  # 0, then 0.5, 0.5 (count / (count + 1) capped)
        mean = batch.mean(axis=(0, 1, 2))
        expected = mean if expected is None else weight * expected + (1 - weight) * mean
        out = _np(layer(batch, training=True))
        means.append(_np(layer.moving_mean))
        np.testing.assert_allclose(out, np.broadcast_to(expected, out.shape), rtol=1e-6)
    np.testing.assert_allclose(means, [[1, 11], [2, 12], [5.5, 15.5]], rtol=1e-6)
    layer(batches[0], training=False)  # inference neither hides nor updates
    np.testing.assert_allclose(_np(layer.moving_mean), [5.5, 15.5], rtol=1e-6)


@all_backends
def test_running_mean_in_tf_data_works_under_tensorflow_only():
    layer = HideAndSeek(4, 1.0, fill_value="running_mean")
    ds = tf.data.Dataset.from_tensor_slices(_images((4, 8, 8, 3))).batch(4)
    if BACKEND == "tensorflow":
        assert next(iter(ds.map(lambda x: layer(x, training=True)))).shape == (4, 8, 8, 3)
    else:  # its weight lives on JAX / PyTorch, which a TF graph cannot update: a clear error
        with pytest.raises(ValueError, match="running_mean"):
            ds.map(lambda x: layer(x, training=True))


@all_backends
def test_config_round_trip():
    layer = HideAndSeek([16, 32, 0], 0.33, fill_value=[1.0, 2.0, 3.0], seed=5, name="has")
    clone = HideAndSeek.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.patch_sizes == [16, 32, 0] and clone.fill_value == [1.0, 2.0, 3.0]
    running = HideAndSeek(4, fill_value="running_mean", momentum=0.9)
    assert HideAndSeek.from_config(running.get_config()).get_config() == running.get_config()


def _exchange_model():
    layer = HideAndSeek(4, 0.5, fill_value="running_mean", seed=2)
    model = _pooled_model(layer, (16, 16, 3))
    for seed in (1, 2):  # moves the running mean away from its initial zeros
        model(_images((3, 16, 16, 3), seed=seed), training=True)
    return model, layer


def load_and_save_exchange(folder: Path) -> list[str]:
    """Loads every `.keras` file in `folder` (saved under any backend) with `safe_mode=True` and
    checks its running mean and predictions against those saved beside it; then saves this
    backend's own. Returns the names loaded. tests/test_backends.py shares one folder between
    the TensorFlow, JAX and PyTorch runs."""
    images = _images((3, 16, 16, 3), seed=9)
    loaded_names = []
    for path in sorted(folder.glob("*.keras")):
        loaded = keras.saving.load_model(path, safe_mode=True)
        saved = np.load(path.with_suffix(".npz"))
        layer = next(x for x in loaded.layers if isinstance(x, HideAndSeek))
        np.testing.assert_array_equal(_np(layer.moving_mean), saved["moving_mean"], path.name)
        np.testing.assert_allclose(
            _np(loaded.predict(images, verbose=0)), saved["predictions"], rtol=1e-5, atol=1e-6
        )
        loaded_names.append(path.stem)
    model, layer = _exchange_model()
    path = folder / f"{BACKEND}.keras"
    model.save(path)
    predictions = _np(model.predict(images, verbose=0))
    np.savez(path.with_suffix(".npz"), moving_mean=_np(layer.moving_mean), predictions=predictions)
    again = keras.saving.load_model(path, safe_mode=True)
    assert next(x for x in again.layers if isinstance(x, HideAndSeek)).get_config() == (
        layer.get_config()
    )
    np.testing.assert_array_equal(_np(again.predict(images, verbose=0)), predictions)
    return loaded_names


@all_backends
def test_keras_file_round_trip_with_safe_mode_and_across_backends(tmp_path):
    """Saved and reloaded under this backend; and, run by tests/test_backends.py, every file the
    other backends left in the shared folder loads here and predicts the same."""
    loaded = load_and_save_exchange(Path(EXCHANGE) if EXCHANGE else tmp_path)
    if EXCHANGE:
        assert loaded, f"no model from another backend in {EXCHANGE}"


@all_backends
def test_single_image_and_bad_arguments():
    assert tuple(HideAndSeek(4)(np.ones((8, 8, 3), "float32"), training=True).shape) == (8, 8, 3)
    with pytest.raises(ValueError, match="hide_prob=2"):
        HideAndSeek(hide_prob=2)
    with pytest.raises(ValueError, match="patch_sizes=\\[\\]"):
        HideAndSeek(patch_sizes=[])
    with pytest.raises(TypeError, match="fill_value='mean'"):
        HideAndSeek(fill_value="mean")
    with pytest.raises(ValueError, match="momentum=1.0"):
        HideAndSeek(fill_value="running_mean", momentum=1.0)
    with pytest.raises(ValueError, match="inputs.shape"):
        HideAndSeek()(np.ones((8, 8), "float32"), training=True)
    with pytest.raises(ValueError, match="`fill_value`"):
        HideAndSeek(fill_value=[1.0, 2.0])(np.ones((1, 8, 8, 3), "float32"), training=True)

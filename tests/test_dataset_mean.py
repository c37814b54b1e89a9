"""`compute_dataset_mean`: the exact per-pixel mean the paper fills hidden cells with; a training run's
statistics, cached under the fingerprint of its images."""

import numpy as np
import pytest
import tensorflow as tf

from hide_and_seek_tf import compute_dataset_mean
from hide_and_seek_tf.dataset_mean import (
    compute_dataset_moments,
    data_fingerprint,
    dataset_statistics,
)
from hide_and_seek_tf.training import TrainConfig


def _mixed_size_images():
    rng = np.random.default_rng(0)
    sizes = [(17, 23), (64, 64), (5, 80), (31, 9), (64, 64)]
    return [rng.integers(0, 256, size=(h, w, 3)).astype(np.uint8) for h, w in sizes]


def _ragged_dataset(images):
    return tf.data.Dataset.from_generator(
        lambda: iter(images), output_signature=tf.TensorSpec([None, None, 3], tf.uint8)
    )


def test_equals_numpy_over_every_pixel_with_mixed_sizes():
    images = _mixed_size_images()
    expected = np.concatenate([im.reshape(-1, 3) for im in images]).astype(np.float64).mean(0)
    np.testing.assert_allclose(compute_dataset_mean(_ragged_dataset(images)), expected, rtol=1e-6)
    # Weighted by pixels, not the mean of per-image means.
    per_image = np.mean([im.reshape(-1, 3).mean(0) for im in images], axis=0)
    assert not np.allclose(per_image, expected, rtol=1e-6)


@pytest.mark.parametrize("wrap", ["tuple", "dict", "batched"])
def test_accepts_tuples_dicts_and_batches(wrap):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(10, 8, 6, 3)).astype(np.uint8)
    ds = tf.data.Dataset.from_tensor_slices(images)
    if wrap == "tuple":
        ds = tf.data.Dataset.zip((ds, tf.data.Dataset.range(10)))
    elif wrap == "dict":
        ds = ds.map(lambda x: {"image": x, "label": 0})
    else:
        ds = ds.batch(3)
    expected = images.reshape(-1, 3).astype(np.float64).mean(0)
    np.testing.assert_allclose(compute_dataset_mean(ds), expected, rtol=1e-6)


def test_float64_accumulation_is_exact_on_large_uint8_data():
    # 2**25 pixels of 255 and 1: a float32 running sum would lose the odd ones.
    ones = tf.data.Dataset.from_tensors(tf.fill([2048, 2048, 1], tf.constant(1, tf.uint8)))
    data = ones.concatenate(
        tf.data.Dataset.from_tensors(tf.fill([2048, 2048, 1], tf.constant(254, tf.uint8)))
    ).repeat(4)
    assert compute_dataset_mean(data)[0] == 127.5


def test_std_matches_numpy():
    images = _mixed_size_images()
    pixels = np.concatenate([im.reshape(-1, 3) for im in images]).astype(np.float64)
    mean, std, count = compute_dataset_moments(_ragged_dataset(images))
    np.testing.assert_allclose(std, pixels.std(0), rtol=1e-6)
    assert count == len(pixels)


def test_bad_inputs():
    with pytest.raises(TypeError, match="tf.data.Dataset"):
        compute_dataset_mean(np.zeros((2, 4, 4, 3)))
    with pytest.raises(ValueError, match="no pixel"):
        compute_dataset_mean(tf.data.Dataset.from_tensor_slices(np.zeros((0, 4, 4, 3))))
    with pytest.raises(ValueError, match="'image' key"):
        compute_dataset_mean(tf.data.Dataset.from_tensors({"img": tf.zeros([2, 2, 3])}))


def test_feature_sequences_give_the_mean_feature_over_every_step():
    # Videos of different lengths, as (T, D) arrays and as sequence element dicts.
    rng = np.random.default_rng(2)
    videos = [rng.normal(size=(length, 4)) for length in (3, 10, 7)]
    steps = np.concatenate(videos)
    ragged = tf.data.Dataset.from_generator(
        lambda: iter(videos), output_signature=tf.TensorSpec([None, 4], tf.float64)
    )
    mean, std, count = compute_dataset_moments(ragged)
    np.testing.assert_allclose(mean, steps.mean(0), rtol=1e-12)
    np.testing.assert_allclose(std, steps.std(0), rtol=1e-9)
    assert count == 20
    as_dicts = ragged.map(lambda x: {"features": x, "labels": tf.zeros([2])})
    np.testing.assert_allclose(compute_dataset_mean(as_dicts), steps.mean(0), rtol=1e-12)
    with pytest.raises(ValueError, match="element shape"):
        compute_dataset_mean(tf.data.Dataset.from_tensor_slices(np.zeros((3, 4))))  # rank 1


# === dataset statistics ===
def test_fingerprint_depends_on_what_the_images_depend_on():
    base = TrainConfig(image_size=32, num_images=100)
    assert data_fingerprint(base) == data_fingerprint(TrainConfig(image_size=32, num_images=100))
    assert data_fingerprint(base) != data_fingerprint(base.replace(seed=1))
    assert data_fingerprint(base) != data_fingerprint(base.replace(image_size=(48, 48)))
    assert data_fingerprint(base) != data_fingerprint(base, split="val")
    assert data_fingerprint(base) != data_fingerprint(base.replace(classes=3))
    # Training settings do not change the images.
    assert data_fingerprint(base) == data_fingerprint(base.replace(epochs=3, hide_prob=0.2))
    tfds = TrainConfig(data="tfds:foo", image_size=32)
    assert data_fingerprint(tfds) == data_fingerprint(tfds.replace(seed=7))


def test_statistics_are_exact_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("HIDE_AND_SEEK_CACHE", str(tmp_path))
    images = np.random.default_rng(0).integers(0, 256, size=(10, 6, 5, 3), dtype=np.uint8)
    config = TrainConfig(image_size=(6, 5), num_images=10)
    stats = dataset_statistics(
        config, lambda: tf.data.Dataset.from_tensor_slices({"image": images})
    )
    pixels = images.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(stats["mean"], pixels.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats["std"], pixels.std(axis=0), rtol=1e-9)
    assert stats["num_pixels"] == 10 * 6 * 5
    assert (tmp_path / "means" / f"{stats['fingerprint']}.json").is_file()

    def must_not_run():
        raise AssertionError("the cached statistics were recomputed")

    assert dataset_statistics(config, must_not_run) == stats

"""Built-in synthetic sequences: the element contract, determinism, the design's structure, options."""

import numpy as np
import pytest
import tensorflow as tf

from hide_and_seek_tf.data import load_dataset
from hide_and_seek_tf.data.sequences import batch_sequences, check_sequence_spec, load_sequences
from hide_and_seek_tf.data.synthetic_sequences import (
    FEATURE_DIM,
    SYNTHETIC_SEQUENCE_CLASS_NAMES,
    class_patterns,
    make_synthetic_sequences,
)

K = len(SYNTHETIC_SEQUENCE_CLASS_NAMES)


def _all(ds):
    return next(iter(batch_sequences(ds, 10_000)))


def test_element_contract():
    ds = make_synthetic_sequences("train", 12, 100, seed=0)
    check_sequence_spec(ds)
    batch = _all(ds)
    assert batch["features"].shape == (12, 100, FEATURE_DIM)
    assert batch["features"].dtype == tf.float32
    labels = batch["labels"].numpy()
    np.testing.assert_array_equal(labels.argmax(1), np.arange(12) % K)
    np.testing.assert_array_equal(labels.sum(1), 1.0)
    np.testing.assert_array_equal(batch["interval_labels"].numpy()[:, 0], np.arange(12) % K)
    np.testing.assert_array_equal(batch["duration"].numpy(), 100.0)
    start, end = batch["intervals"].numpy()[:, 0].T
    assert np.all((0 <= start) & (end <= 100))
    assert np.all((10 <= end - start) & (end - start <= 20))  # 10-20% of the video
    assert batch["id"].numpy()[3] == b"train_000003"


def test_deterministic_independent_of_count_and_disjoint_between_splits_and_seeds():
    a = _all(make_synthetic_sequences("train", 6, 60, seed=1))["features"].numpy()
    b = _all(make_synthetic_sequences("train", 9, 60, seed=1))["features"].numpy()
    np.testing.assert_array_equal(a, b[:6])
    other_split = _all(make_synthetic_sequences("val", 6, 60, seed=1))["features"].numpy()
    other_seed = _all(make_synthetic_sequences("train", 6, 60, seed=2))["features"].numpy()
    assert not np.allclose(a, other_split) and not np.allclose(a, other_seed)


def test_moment_is_inside_the_action_and_only_in_its_class_and_body_covers_the_action():
    batch = _all(make_synthetic_sequences("val", 60, 200, seed=3))
    features = batch["features"].numpy()
    labels = batch["labels"].numpy().argmax(1)
    start, end = batch["intervals"].numpy()[:, 0].T.astype(int)
    body, moment = (p.numpy() for p in class_patterns())
    projection = np.einsum("btd,kd->bkt", features, moment)  # every class's moment, every step
    inside = (np.arange(200)[None] >= start[:, None]) & (np.arange(200)[None] < end[:, None])
    own = projection[np.arange(60), labels]
    # The moment (amplitude ~1.5, noise ~0.3 along any direction) peaks inside the action ...
    peak_inside = np.max(np.where(inside, own, -np.inf), axis=1)
    assert np.all(peak_inside > 1.0)
    assert np.mean(peak_inside > np.max(np.where(inside, -np.inf, own), axis=1)) >= 0.95
    # ... and stands above every other class's moment pattern in the video.
    others = projection.copy()
    others[np.arange(60), labels] = -np.inf
    assert np.mean(peak_inside > others.max(axis=(1, 2))) >= 0.95
    # The body (amplitude ~1.2) fills most of the action in its class's videos (90% of them match).
    body_own = np.einsum("btd,bd->bt", features, body[labels])
    share = np.sum((body_own > 0.6) & inside, axis=1) / inside.sum(axis=1)
    assert np.mean(share > 0.5) >= 0.75


def test_load_dataset_hook_class_selection_and_info():
    ds, info = load_dataset("synthetic-sequences", "test", num_images=18, classes=2)
    assert info.num_classes == 2 and info.class_names == SYNTHETIC_SEQUENCE_CLASS_NAMES[:2]
    assert info.num_examples == 6 and info.num_steps == 200 and info.feature_dim == FEATURE_DIM
    batch = _all(ds)
    assert batch["labels"].shape == (6, 2)
    np.testing.assert_array_equal(batch["interval_labels"].numpy()[:, 0], [0, 1] * 3)
    _, named = load_sequences(
        "synthetic-sequences", "train", num_videos=12, classes=["diving", "high_jump"]
    )
    assert named.class_names == ("diving", "high_jump") and named.num_examples == 4
    with pytest.raises(ValueError, match="image_size"):
        load_dataset("synthetic-sequences", "train", image_size=64)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"split": "holdout"}, ValueError, "split='holdout'"),
        ({"num_videos": -1}, ValueError, "num_videos=-1"),
        ({"num_steps": 10}, ValueError, "num_steps=10"),
        ({"num_steps": 100.0}, TypeError, "num_steps=100.0"),
        ({"seed": -2}, ValueError, "seed=-2"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(")):
        make_synthetic_sequences(**{"split": "train", "num_videos": 2, "num_steps": 60, **kwargs})

"""`video-features:PATH`: THUMOS14-style annotations, uniform sampling, seconds, class subsets, errors."""

import json
import logging

import numpy as np
import pytest

from hide_and_seek_tf.data import load_dataset
from hide_and_seek_tf.data.sequences import batch_sequences, check_sequence_spec
from hide_and_seek_tf.data.video_features import load_video_features

RATE = 2.0  # features per second


def _write(root, *, annotations=None, features=None, info=None):
    (root / "features").mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    features = features or {"v1": (20, 3), "v2": (9, 3), "v3": (5, 3)}
    arrays = {}
    for name, shape in features.items():
        arrays[name] = rng.normal(size=shape).astype(np.float32)
        np.save(root / "features" / f"{name}.npy", arrays[name])
    annotations = annotations or {
        "ClassB_val.txt": "v1 1.0 4.0\nv2 0.5 2.0\nv2 4.0 6.0\nv2 5.0 6.0\n",
        "ClassA_val.txt": "v1 6.0 8.0\n\n",
        "Ambiguous_val.txt": "v1 0.0 1.0\n",
        "ClassA_test.txt": "v3 0.0 1.0\n",
    }
    for name, text in annotations.items():
        (root / "annotations" / name).write_text(text)
    (root / "info.json").write_text(json.dumps(info or {"feature_rate": RATE}))
    return arrays


def _all(ds):
    return next(iter(batch_sequences(ds, 100)))


def test_videos_classes_labels_and_intervals_in_seconds(tmp_path, caplog):
    _write(tmp_path)
    with caplog.at_level(logging.WARNING, logger="hide_and_seek_tf.data"):
        ds, info = load_video_features(tmp_path, "val", num_steps=10)
    assert "1 annotated instances" in caplog.text  # v2 5-6 s lies past its 4.5 s
    check_sequence_spec(ds)
    assert info.class_names == ("ClassA", "ClassB")  # sorted; Ambiguous is not a class
    assert (info.num_examples, info.num_steps, info.feature_dim) == (2, 10, 3)
    assert info.feature_rate == RATE
    batch = _all(ds)
    assert list(batch["id"].numpy()) == [b"v1", b"v2"]  # v3 has no val annotation
    np.testing.assert_array_equal(batch["labels"].numpy(), [[1, 1], [0, 1]])  # v1: both classes
    np.testing.assert_allclose(batch["duration"].numpy(), [10.0, 4.5])
    intervals, labels = batch["intervals"].numpy(), batch["interval_labels"].numpy()
    np.testing.assert_allclose(intervals[0], [[6.0, 8.0], [1.0, 4.0]])
    np.testing.assert_array_equal(labels[0], [0, 1])
    np.testing.assert_allclose(intervals[1], [[0.5, 2.0], [4.0, 4.5]])  # clipped to the video
    np.testing.assert_array_equal(labels[1], [1, 1])


def test_features_are_sampled_uniformly_to_num_steps(tmp_path):
    arrays = _write(tmp_path)
    ds, _ = load_video_features(tmp_path, "val", num_steps=10)
    batch = _all(ds)
    # T = 20 -> every other step from 1; T = 9 -> step floor((j + 0.5) * 0.9), one repeated.
    np.testing.assert_array_equal(batch["features"].numpy()[0], arrays["v1"][1::2])
    np.testing.assert_array_equal(
        batch["features"].numpy()[1], arrays["v2"][[0, 1, 2, 3, 4, 4, 5, 6, 7, 8]]
    )


def test_class_subset_num_videos_and_the_load_dataset_hook(tmp_path):
    _write(tmp_path)
    ds, info = load_video_features(tmp_path, "val", num_steps=4, classes=["ClassB"])
    batch = _all(ds)
    assert info.class_names == ("ClassB",)
    np.testing.assert_allclose(batch["intervals"].numpy()[0], [[1.0, 4.0], [-1.0, -1.0]])
    ds, info = load_dataset(f"video-features:{tmp_path}", "val", num_images=1)
    assert info.num_examples == 1 and info.num_steps == 2000
    assert _all(ds)["features"].shape == (1, 2000, 3)


def test_missing_and_malformed_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_video_features(tmp_path / "nowhere", "val")
    _write(tmp_path)
    with pytest.raises(ValueError, match=r"Splits found: \['test', 'val'\]"):
        load_video_features(tmp_path, "train")
    with pytest.raises(ValueError, match="num_steps=0"):
        load_video_features(tmp_path, "val", num_steps=0)
    (tmp_path / "info.json").unlink()
    with pytest.raises(FileNotFoundError, match="feature_rate"):
        load_video_features(tmp_path, "val")


@pytest.mark.parametrize(
    ("annotations", "features", "error", "message"),
    [
        ({"A_val.txt": "v1 1.0\n"}, None, ValueError, r"A_val.txt:1"),
        ({"A_val.txt": "v1 3.0 1.0\n"}, None, ValueError, "end >= start"),
        ({"A_val.txt": "v9 0 1\n"}, None, FileNotFoundError, "v9.npy"),
        ({"A_val.txt": "v1 0 1\nv2 0 1\n"}, {"v1": (5, 3), "v2": (5, 4)}, ValueError, "D=4"),
        ({"A_val.txt": "v1 0 1\n"}, {"v1": (5,)}, ValueError, r"\(T, D\)"),
    ],
)
def test_bad_annotations_and_arrays(tmp_path, annotations, features, error, message):
    _write(tmp_path, annotations=annotations, features=features)
    with pytest.raises(error, match=message):
        load_video_features(tmp_path, "val")


def test_bad_info_json(tmp_path):
    _write(tmp_path, info={"feature_rate": -1})
    with pytest.raises(ValueError, match="feature_rate"):
        load_video_features(tmp_path, "val")

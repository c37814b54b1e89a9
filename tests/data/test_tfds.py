"""TFDS: the Tiny ImageNet builder (offline, manual_dir), the adapter, box conversions."""

from __future__ import annotations

import types

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from hide_and_seek_tf.data import load_dataset
from hide_and_seek_tf.data.elements import inclusive_to_normalized, normalized_to_inclusive
from hide_and_seek_tf.data.tfds_source import _check_every_example_has_a_box, from_tfds
from hide_and_seek_tf.data.tfds_tiny_imagenet_builder import TinyImagenetHs
from tests.fake_tiny_imagenet import WNIDS


def _by_id(ds: tf.data.Dataset) -> dict[str, dict]:
    return {e["id"].decode(): e for e in ds.as_numpy_iterator()}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, fake_tiny_imagenet):
    """A tiny Tiny ImageNet zip, prepared with the TFDS builder into a fresh data_dir."""
    root = tmp_path_factory.mktemp("tfds")
    zip_path = fake_tiny_imagenet(root / "manual")
    data_dir = root / "data"
    builder = tfds.builder("tiny_imagenet_hs", data_dir=str(data_dir))
    assert isinstance(builder, TinyImagenetHs)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(root / "manual"))
    )
    return zip_path, data_dir


@pytest.mark.parametrize("split", ["train", "val"])
def test_builder_round_trip_equals_the_direct_reader(prepared, split):
    zip_path, data_dir = prepared
    via_tfds, info = load_dataset("tfds:tiny_imagenet_hs", split, data_dir=data_dir)
    direct, direct_info = load_dataset(f"tiny-imagenet:{zip_path}", split)
    assert info.name == "tfds:tiny_imagenet_hs"
    assert info.wnids == direct_info.wnids == WNIDS
    assert info.class_names == direct_info.class_names
    assert (info.num_classes, info.image_size) == (3, (64, 64))
    assert info.num_examples == direct_info.num_examples
    a, b = _by_id(via_tfds), _by_id(direct)
    assert sorted(a) == sorted(b)
    for key, x in a.items():
        y = b[key]
        assert x["label"] == y["label"] and x["label"].dtype == np.int32
        assert x["image"].dtype == np.uint8 and x["image"].shape == (64, 64, 3)
        np.testing.assert_array_equal(x["image"], y["image"])
        assert x["boxes"].dtype == np.float32
        np.testing.assert_array_equal(x["boxes"], y["boxes"])  # exact, not approximately


def test_plain_tfds_load_gives_normalized_boxes(prepared):
    _, data_dir = prepared
    ds = tfds.load("tiny_imagenet_hs", split="validation", data_dir=str(data_dir), download=False)
    example = next(iter(ds))
    bbox = example["objects"]["bbox"].numpy()
    assert bbox.shape == (1, 4) and np.all((bbox >= 0) & (bbox <= 1))
    assert example["image"].shape == (64, 64, 3)


def test_tfds_class_subset_and_caps(prepared):
    _, data_dir = prepared
    ds, info = load_dataset(
        "tfds:tiny_imagenet_hs", "train", data_dir=data_dir, classes=[WNIDS[2]], max_per_class=2
    )
    elements = list(ds.as_numpy_iterator())
    assert info.wnids == (WNIDS[2],) and info.class_names == ("red fox",)
    assert len(elements) == 2
    assert all(e["label"] == 0 and e["id"].decode().startswith(WNIDS[2]) for e in elements)
    ds, info = load_dataset("tfds:tiny_imagenet_hs", "val", data_dir=data_dir, num_images=4)
    assert info.num_examples == 4 and len(list(ds)) == 4


def test_unprepared_dataset_error_says_how_to_prepare(tmp_path):
    with pytest.raises(ValueError, match=r"not prepared.*manual_dir"):
        load_dataset("tfds:tiny_imagenet_hs", "val", data_dir=tmp_path)


def test_dataset_without_boxes_is_rejected_by_name(tmp_path):
    # TFDS's imagenet2012 has image, label and file_name only.
    with pytest.raises(ValueError, match=r"tfds:imagenet2012 has no bounding boxes"):
        load_dataset("tfds:imagenet2012", "val", data_dir=tmp_path)


def test_unknown_split_lists_the_available_ones(prepared):
    _, data_dir = prepared
    with pytest.raises(ValueError, match=r"`split` 'test'.*\['train', 'validation'\]"):
        load_dataset("tfds:tiny_imagenet_hs", "test", data_dir=data_dir)


def _fake(examples: list[dict]) -> tf.data.Dataset:
    """An in-memory stand-in for a TFDS split (shapes may differ between examples)."""
    ds = tf.data.Dataset.from_tensors(examples[0])
    for example in examples[1:]:
        ds = ds.concatenate(tf.data.Dataset.from_tensors(example))
    return ds


def test_adapter_reads_objects_bbox_sequences():
    image = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)
    boxes = np.array([[0.1, 0.2, 0.6, 1.0], [0.0, 0.0, 1.0, 0.5]], np.float32)  # ymin, xmin, ...
    ds = _fake([{"image": image, "label": np.int64(7), "objects": {"bbox": boxes}}])
    (e,) = list(from_tfds(ds).as_numpy_iterator())
    np.testing.assert_array_equal(e["image"], image)
    assert e["label"] == 7 and e["label"].dtype == np.int32
    # x0 = round(xmin * W), x1 = round(xmax * W) - 1 on a 30 x 20 image.
    np.testing.assert_array_equal(e["boxes"], [[6, 2, 29, 11], [0, 0, 14, 19]])
    assert e["id"] == b"0"  # no id feature: the position


def test_adapter_reads_a_top_level_bbox_and_grayscale_images():
    gray = np.full((10, 10, 1), 77, np.uint8)
    examples = [
        {
            "image": gray,
            "label": np.int64(i),
            "bbox": np.array([0.0, 0.5, 0.5, 1.0], np.float32),
            "image/filename": f"bird_{i}.jpg",
        }
        for i in range(2)
    ]
    ds = _fake(examples)
    elements = list(
        from_tfds(ds, types.SimpleNamespace(name="caltech_birds2011")).as_numpy_iterator()
    )
    assert [e["id"] for e in elements] == [b"bird_0.jpg", b"bird_1.jpg"]
    e = elements[1]
    assert e["image"].shape == (10, 10, 3) and np.all(e["image"] == 77)
    np.testing.assert_array_equal(e["boxes"], [[5, 0, 9, 4]])


def test_adapter_examples_without_boxes_error_by_id_or_are_skipped():
    image = np.zeros((8, 8, 3), np.uint8)
    examples = [
        {
            "image": image,
            "label": np.int64(0),
            "id": "has_box",
            "objects": {"bbox": np.array([[0, 0, 1, 1]], np.float32)},
        },
        {
            "image": image,
            "label": np.int64(1),
            "id": "no_box",
            "objects": {"bbox": np.zeros((0, 4), np.float32)},
        },
    ]
    info = types.SimpleNamespace(name="imagenet2012")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"tfds:imagenet2012.*no_box"):
        list(from_tfds(_fake(examples), info))
    kept = list(from_tfds(_fake(examples), info, missing_boxes="skip").as_numpy_iterator())
    assert [e["id"] for e in kept] == [b"has_box"]
    with pytest.raises(ValueError, match=r"`missing_boxes`.*'drop'"):
        from_tfds(_fake(examples), info, missing_boxes="drop")


def test_load_tfds_names_an_example_without_a_box_before_any_pipeline_runs():
    image = np.zeros((8, 8, 3), np.uint8)
    examples = [
        {"image": image, "label": np.int64(k), "tfds_id": f"ex_{k}",
         "objects": {"bbox": np.zeros((1 - k, 4), np.float32)}}
        for k in range(2)
    ]  # fmt: skip
    with pytest.raises(ValueError, match=r"^tfds:x split 'val': example ex_1 has no box\."):
        _check_every_example_has_a_box(_fake(examples), "tfds:x", "val")
    _check_every_example_has_a_box(_fake(examples[:1]), "tfds:x", "val")


def test_adapter_rejects_examples_without_boxes_or_labels():
    ds = tf.data.Dataset.from_tensors({"image": tf.zeros([4, 4, 3], tf.uint8), "label": 0})
    with pytest.raises(ValueError, match="no bounding boxes"):
        from_tfds(ds)
    ds = tf.data.Dataset.from_tensors({"image": tf.zeros([4, 4, 3], tf.uint8)})
    with pytest.raises(ValueError, match="'image' and 'label'"):
        from_tfds(ds)


@pytest.mark.parametrize(("height", "width"), [(64, 64), (37, 50), (375, 500)])
def test_inclusive_normalized_round_trip_is_exact(height, width):
    rng = np.random.default_rng(height)
    x = np.sort(rng.integers(0, width, size=(500, 2)), axis=1)
    y = np.sort(rng.integers(0, height, size=(500, 2)), axis=1)
    boxes = np.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], axis=1).astype(np.float32)
    boxes[:3] = [[0, 0, width - 1, height - 1], [0, 0, 0, 0], [width - 1, height - 1] * 2]
    normalized = inclusive_to_normalized(boxes, height, width)
    assert np.all((normalized.numpy() >= 0) & (normalized.numpy() <= 1))
    back = normalized_to_inclusive(normalized, height, width)
    np.testing.assert_array_equal(back, boxes)

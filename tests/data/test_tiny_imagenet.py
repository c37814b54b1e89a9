"""Tiny ImageNet reader: zip and folder, annotations, class subsets, holdout, errors, real data."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from hide_and_seek_tf.data import load_dataset
from hide_and_seek_tf.data import tiny_imagenet as ti
from tests.fake_tiny_imagenet import (
    GRAY_TRAIN,
    GRAY_VAL,
    NUM_VAL,
    TRAIN_INDICES,
    WNIDS,
    tiny_imagenet_files,
    train_box,
    val_box,
    write_tiny_imagenet,
)


def _elements(ds: tf.data.Dataset) -> list[dict]:
    return [
        {k: (v.decode() if isinstance(v, bytes) else v) for k, v in e.items()}
        for e in ds.as_numpy_iterator()
    ]


@pytest.fixture(params=["zip", "folder"])
def dataset_path(request, tmp_path, fake_tiny_imagenet) -> Path:
    return fake_tiny_imagenet(tmp_path, as_zip=request.param == "zip")


def test_val_labels_boxes_and_class_order_follow_the_annotation_files(dataset_path):
    ds, info = load_dataset(f"tiny-imagenet:{dataset_path}", "val")
    elements = _elements(ds)
    assert info.name == "tiny_imagenet"
    assert info.wnids == WNIDS
    assert info.class_names == ("teapot", "cat", "red fox")
    assert (info.num_classes, info.num_examples, info.image_size) == (3, NUM_VAL, (64, 64))
    assert [e["id"] for e in elements] == [f"val_{i}.JPEG" for i in range(NUM_VAL)]
    for i, e in enumerate(elements):
        assert e["image"].shape == (64, 64, 3) and e["image"].dtype == np.uint8
        assert e["label"] == i % 3 and e["label"].dtype == np.int32
        assert e["boxes"].dtype == np.float32
        np.testing.assert_array_equal(e["boxes"], [val_box(i)])


def test_train_is_index_interleaved_with_numeric_image_order(dataset_path):
    ds, info = load_dataset(f"tiny-imagenet:{dataset_path}", "train")
    elements = _elements(ds)
    expected = [(c, i) for i in sorted(TRAIN_INDICES) for c in range(3)]
    assert info.num_examples == len(expected) == len(elements)
    for e, (c, i) in zip(elements, expected, strict=True):
        assert e["id"] == f"{WNIDS[c]}_{i}.JPEG"
        assert e["label"] == c
        np.testing.assert_array_equal(e["boxes"], [train_box(c, i)])


def test_zip_and_folder_give_identical_elements(tmp_path):
    files = tiny_imagenet_files()
    zipped = write_tiny_imagenet(files, tmp_path / "z", as_zip=True)
    folder = write_tiny_imagenet(files, tmp_path / "f", as_zip=False)
    for split in ("train", "val"):
        a = _elements(load_dataset(f"tiny-imagenet:{zipped}", split)[0])
        b = _elements(load_dataset("tiny-imagenet", split, data_dir=folder.parent)[0])
        assert len(a) == len(b) > 0
        for x, y in zip(a, b, strict=True):
            assert x["id"] == y["id"] and x["label"] == y["label"]
            np.testing.assert_array_equal(x["image"], y["image"])
            np.testing.assert_array_equal(x["boxes"], y["boxes"])


def test_grayscale_jpegs_decode_to_three_equal_channels(dataset_path):
    for split, name in (("train", GRAY_TRAIN), ("val", GRAY_VAL)):
        ds, _ = load_dataset(f"tiny-imagenet:{dataset_path}", split)
        (image,) = [e["image"] for e in _elements(ds) if e["id"] == name]
        assert image.shape == (64, 64, 3)
        np.testing.assert_array_equal(image[..., 0], image[..., 1])
        np.testing.assert_array_equal(image[..., 0], image[..., 2])
        assert image.std() > 10  # real content, not a blank


def test_class_subset_by_count_and_by_wnids_reindexes_labels(dataset_path):
    ds, info = load_dataset(f"tiny-imagenet:{dataset_path}", "val", classes=2)
    assert info.wnids == WNIDS[:2] and info.num_classes == 2
    assert [(e["id"], e["label"]) for e in _elements(ds)] == [
        ("val_0.JPEG", 0),
        ("val_1.JPEG", 1),
        ("val_3.JPEG", 0),
        ("val_4.JPEG", 1),
    ]
    ds, info = load_dataset(f"tiny-imagenet:{dataset_path}", "train", classes=[WNIDS[2], WNIDS[0]])
    assert info.wnids == (WNIDS[2], WNIDS[0])
    assert info.class_names == ("red fox", "teapot")
    labels = {e["id"].split("_")[0]: e["label"] for e in _elements(ds)}
    assert labels == {WNIDS[2]: 0, WNIDS[0]: 1}


def test_max_per_class_keeps_first_images_by_index_and_num_images_a_prefix(dataset_path):
    ds, info = load_dataset(f"tiny-imagenet:{dataset_path}", "train", max_per_class=2)
    ids = [e["id"] for e in _elements(ds)]
    assert info.num_examples == 6
    assert ids == [f"{w}_{i}.JPEG" for i in (0, 1) for w in WNIDS]
    ds, info = load_dataset(f"tiny-imagenet:{dataset_path}", "train", num_images=4)
    assert info.num_examples == 4
    assert [e["id"] for e in _elements(ds)] == [f"{w}_0.JPEG" for w in WNIDS] + [
        f"{WNIDS[0]}_1.JPEG"
    ]


def test_holdout_splits_partition_train(dataset_path, monkeypatch):
    monkeypatch.setattr(ti, "HOLDOUT_PER_CLASS", 1)
    ids = {
        split: [e["id"] for e in _elements(load_dataset(f"tiny-imagenet:{dataset_path}", split)[0])]
        for split in ("train", "train_holdout", "train_minus_holdout")
    }
    # The held-out image of each class is its last by index, so a `max_per_class` cap on
    # "train" does not reach it.
    assert sorted(ids["train_holdout"]) == sorted(f"{w}_10.JPEG" for w in WNIDS)
    assert not set(ids["train_holdout"]) & set(ids["train_minus_holdout"])
    assert sorted(ids["train_holdout"] + ids["train_minus_holdout"]) == sorted(ids["train"])


def test_image_size_resizes_images_and_scales_boxes(dataset_path):
    ds, info = load_dataset(f"tiny-imagenet:{dataset_path}", "val", image_size=128)
    assert info.image_size == (128, 128)
    e = _elements(ds)[1]
    assert e["image"].shape == (128, 128, 3)
    x0, y0, x1, y1 = val_box(1)  # doubling maps inclusive [a, b] to [2a, 2b + 1]
    np.testing.assert_array_equal(e["boxes"], [[2 * x0, 2 * y0, 2 * x1 + 1, 2 * y1 + 1]])


@pytest.mark.parametrize(
    ("rel", "line_no", "bad_line"),
    [
        ("val/val_annotations.txt", 3, "val_2.JPEG\tn02000002\t1\t2\t3"),  # a field missing
        ("val/val_annotations.txt", 2, "val_1.JPEG\tn01000001\t1\t2\tx\t4"),  # not an int
        ("val/val_annotations.txt", 1, "val_0.JPEG\tn01000001\t9\t2\t3\t4"),  # x0 > x1
        ("val/val_annotations.txt", 4, "val_3.JPEG\tn07777777\t1\t2\t3\t4"),  # unknown wnid
        (f"train/{WNIDS[1]}/{WNIDS[1]}_boxes.txt", 2, f"{WNIDS[1]}_0.JPEG 1 2 3 4"),  # spaces
        (f"train/{WNIDS[1]}/{WNIDS[1]}_boxes.txt", 1, f"{WNIDS[2]}_10.JPEG\t1\t2\t3\t4"),
    ],
)
@pytest.mark.parametrize("as_zip", [True, False])
def test_malformed_annotation_line_names_file_and_line(tmp_path, rel, line_no, bad_line, as_zip):
    files = tiny_imagenet_files()
    lines = files[rel].decode().splitlines()
    lines[line_no - 1] = bad_line
    files[rel] = ("\n".join(lines) + "\n").encode()
    path = write_tiny_imagenet(files, tmp_path, as_zip=as_zip)
    split = "val" if rel.startswith("val") else "train"
    with pytest.raises(ValueError, match=rf"{Path(rel).name}.* line {line_no}\b"):
        load_dataset(f"tiny-imagenet:{path}", split)


@pytest.mark.parametrize("as_zip", [True, False])
@pytest.mark.parametrize("damage", ["truncated", "not_a_jpeg"])
def test_corrupt_jpeg_error_names_the_file(tmp_path, as_zip, damage):
    files = tiny_imagenet_files()
    rel = "val/images/val_3.JPEG"
    files[rel] = files[rel][: len(files[rel]) // 2] if damage == "truncated" else b"GIF89a..."
    path = write_tiny_imagenet(files, tmp_path, as_zip=as_zip)
    # Refused while loading, before any pipeline runs: one line naming the file and its line.
    with pytest.raises(
        ValueError, match=r"Unreadable image .*val/images/val_3\.JPEG \(listed at .*line 4\)"
    ):
        load_dataset(f"tiny-imagenet:{path}", "val")


def test_missing_image_listed_in_annotations_is_reported(tmp_path):
    files = tiny_imagenet_files()
    del files["val/images/val_5.JPEG"]
    path = write_tiny_imagenet(files, tmp_path, as_zip=True)
    with pytest.raises(ValueError, match=r"val_annotations\.txt line 6.*val_5\.JPEG"):
        load_dataset(f"tiny-imagenet:{path}", "val")


def test_bad_arguments_name_the_argument(dataset_path, tmp_path):
    spec = f"tiny-imagenet:{dataset_path}"
    with pytest.raises(ValueError, match=r"`split`.*split='test'"):
        load_dataset(spec, "test")
    with pytest.raises(ValueError, match=r"`classes` must be in \[1, 3\].*classes=4"):
        load_dataset(spec, "val", classes=4)
    with pytest.raises(ValueError, match=r"`classes`.*n00000000"):
        load_dataset(spec, "val", classes=["n00000000"])
    with pytest.raises(ValueError, match=r"`max_per_class`.*max_per_class=0"):
        load_dataset(spec, "train", max_per_class=0)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_dataset(f"tiny-imagenet:{tmp_path / 'nowhere.zip'}", "val")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="wnids.txt"):
        load_dataset(f"tiny-imagenet:{tmp_path / 'empty'}", "val")
    with pytest.raises(ValueError, match=r"`spec`.*spec='imagenet'"):
        load_dataset("imagenet", "val")


def _first_grayscale_jpeg(zf: zipfile.ZipFile, names: list[str]) -> str:
    """The first member whose JPEG frame header (SOF0/SOF2) declares one component."""
    for name in names:
        data = zf.read(name)
        pos = 2
        while pos + 4 <= len(data):
            marker, length = data[pos + 1], int.from_bytes(data[pos + 2 : pos + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2):
                if data[pos + 9] == 1:
                    return name
                break
            pos += 2 + length
    raise AssertionError("no grayscale JPEG found")


def test_real_subset_counts_class_order_boxes_and_grayscale(tiny_imagenet_subset):
    with zipfile.ZipFile(tiny_imagenet_subset) as zf:
        wnids = tuple(zf.read("tiny-imagenet-200/wnids.txt").decode().split())
        first_val = zf.read("tiny-imagenet-200/val/val_annotations.txt").decode().split("\n")[0]
        gray = _first_grayscale_jpeg(
            zf, [f"tiny-imagenet-200/val/images/val_{i}.JPEG" for i in range(2000)]
        )
    spec = f"tiny-imagenet:{tiny_imagenet_subset}"
    train, train_info = load_dataset(spec, "train")
    val, info = load_dataset(spec, "val")
    assert (train_info.num_examples, info.num_examples) == (40_000, 10_000)
    assert info.wnids == wnids and len(wnids) == 200
    assert info.class_names[wnids.index("n02124075")] == "Egyptian cat"

    # val_0's line gives its label and inclusive box, read as x0, y0, x1, y1 (not x, y, w, h).
    name, wnid, *box = first_val.split("\t")
    e = next(val.as_numpy_iterator())
    assert e["id"].decode() == name and e["label"] == wnids.index(wnid)
    np.testing.assert_array_equal(e["boxes"], [[float(v) for v in box]])

    gray_index = int(Path(gray).stem.split("_")[1])
    elements = list(val.take(gray_index + 1).as_numpy_iterator())
    for e in elements:
        assert e["image"].shape == (64, 64, 3) and e["image"].dtype == np.uint8
        x0, y0, x1, y1 = e["boxes"][0]
        assert 0 <= x0 <= x1 <= 63 and 0 <= y0 <= y1 <= 63
    e = elements[-1]
    assert e["id"].decode() == Path(gray).name
    np.testing.assert_array_equal(e["image"][..., 0], e["image"][..., 2])

    # Train is interleaved across classes: the first 200 elements are image 0 of every class.
    first = list(train.take(200).as_numpy_iterator())
    assert [x["label"] for x in first] == list(range(200))
    assert all(x["id"].decode() == f"{w}_0.JPEG" for x, w in zip(first, wnids, strict=True))

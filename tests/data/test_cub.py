"""CUB-200-2011 reader: the official folder and .tgz, the x y w h box convention, splits, errors."""

from __future__ import annotations

import numpy as np
import pytest

from hide_and_seek_tf.data import load_dataset
from hide_and_seek_tf.data.cub import HOLDOUT_PER_CLASS, xywh_to_inclusive
from hide_and_seek_tf.metrics import best_iou
from tests.data.layouts import CUB_CLASSES, CUB_GRAY, CUB_PER_CLASS, cub_files, write_cub


def _elements(ds):
    return {e["id"].decode(): e for e in ds.as_numpy_iterator()}


@pytest.fixture(scope="module")
def cub(tmp_path_factory):
    files, truth = cub_files()
    root = tmp_path_factory.mktemp("cub")
    return write_cub(files, root / "folder", False), write_cub(files, root / "tgz", True), truth


def test_xywh_becomes_an_inclusive_box_one_pixel_inside_wsolevaluations():
    # CUB's first image: 60 27 325 304 covers columns 60 .. 384 (325 of them).
    assert xywh_to_inclusive(60.0, 27.0, 325.0, 304.0) == (60.0, 27.0, 384.0, 330.0)
    ours = np.array([xywh_to_inclusive(60.0, 27.0, 325.0, 304.0)])
    wsol = np.array([[60.0, 27.0, 60.0 + 325.0, 27.0 + 304.0]])  # their x1 = x + w
    np.testing.assert_array_equal(ours + [0, 0, 1, 1], wsol)
    # Scored with the same inclusive IoU, theirs is one pixel wider and taller.
    iou = best_iou(ours[:, None], wsol[:, None])[0]
    assert iou == pytest.approx(325 * 304 / (326 * 305))
    # Fractions: edges round half up; a box thinner than a pixel keeps one.
    assert xywh_to_inclusive(1.5, 2.4, 3.0, 0.2) == (2.0, 2.0, 4.0, 2.0)


@pytest.mark.parametrize("form", ["folder", "tgz"])
def test_splits_labels_boxes_and_native_sizes(cub, form):
    path = cub[0] if form == "folder" else cub[1]
    truth = cub[2]
    by_path = {t["path"]: t for t in truth.values()}
    ds, info = load_dataset(f"cub:{path}", "train")
    elements = _elements(ds)
    assert info.name == "cub" and info.wnids == CUB_CLASSES
    assert info.class_names[0] == "Black footed Albatross" and info.image_size is None
    n_train = sum(t["train"] for t in truth.values())
    assert info.num_examples == len(elements) == n_train
    sizes = set()
    for image_id, e in elements.items():
        t = by_path[image_id]
        assert t["train"] and e["label"] == t["label"]
        np.testing.assert_array_equal(e["boxes"], [xywh_to_inclusive(*t["xywh"])])
        assert e["image"].shape == t["pixels"].shape and e["image"].dtype == np.uint8
        assert np.abs(e["image"].astype(int) - t["pixels"]).max() <= 6  # JPEG q95 of a ramp
        sizes.add(e["image"].shape)
    assert len(sizes) > 3  # native, varying sizes
    gray = elements[truth[CUB_GRAY]["path"]]["image"]
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])
    test, test_info = load_dataset(f"cub:{path}", "test")
    assert test_info.num_examples == len(truth) - n_train
    assert not set(_elements(test)) & set(elements)


def test_the_tgz_gives_the_folders_elements(cub):
    for split in ("train", "test"):
        a = _elements(load_dataset(f"cub:{cub[0]}", split)[0])
        b = _elements(load_dataset(f"cub:{cub[1]}", split)[0])
        assert set(a) == set(b)
        for key in a:
            np.testing.assert_array_equal(a[key]["image"], b[key]["image"])
            np.testing.assert_array_equal(a[key]["boxes"], b[key]["boxes"])


def test_holdout_is_the_last_train_images_of_each_class_and_disjoint(cub):
    ids = {
        split: list(_elements(load_dataset(f"cub:{cub[0]}", split)[0]))
        for split in ("train", "train_holdout", "train_minus_holdout")
    }
    assert len(ids["train_holdout"]) == HOLDOUT_PER_CLASS * len(CUB_CLASSES)
    assert not set(ids["train_holdout"]) & set(ids["train_minus_holdout"])
    assert set(ids["train_holdout"]) | set(ids["train_minus_holdout"]) == set(ids["train"])
    # Train splits are interleaved across classes: any prefix is class-balanced.
    ds, _ = load_dataset(f"cub:{cub[0]}", "train", num_images=3)
    assert [int(e["label"]) for e in ds.as_numpy_iterator()] == [0, 1, 2]


def test_classes_restrict_and_missing_images_are_named(tmp_path):
    files, truth = cub_files()
    missing = truth[CUB_PER_CLASS + 1]["path"]  # first image of the second class
    del files[f"images/{missing}"]
    root = write_cub(files, tmp_path, as_tgz=False)
    with pytest.raises(ValueError, match=r"bounding_boxes\.txt line 9 lists .*missing from"):
        load_dataset(f"cub:{root}", "train")
    ds, info = load_dataset(f"cub:{root}", "train", classes=[CUB_CLASSES[2], CUB_CLASSES[0]])
    assert info.wnids == (CUB_CLASSES[2], CUB_CLASSES[0])
    assert {int(e["label"]) for e in ds.as_numpy_iterator()} == {0, 1}


@pytest.mark.parametrize(
    "name, line_no, bad",
    [
        ("bounding_boxes.txt", 3, "3 1.0 2.0 wide 4.0"),
        ("bounding_boxes.txt", 2, "2 5.0 5.0 0.0 4.0"),  # empty box
        ("image_class_labels.txt", 4, "4 9"),  # class 9 is not in classes.txt
        ("train_test_split.txt", 5, "5 yes"),
        ("images.txt", 6, "6"),
    ],
)
@pytest.mark.parametrize("as_tgz", [False, True])
def test_malformed_line_names_file_and_line(tmp_path, name, line_no, bad, as_tgz):
    files, _ = cub_files()
    lines = files[name].decode().splitlines()
    lines[line_no - 1] = bad
    files[name] = ("\n".join(lines) + "\n").encode()
    path = write_cub(files, tmp_path, as_tgz=as_tgz)
    with pytest.raises(ValueError, match=rf"{name} line {line_no}\b"):
        load_dataset(f"cub:{path}", "train")


def test_a_box_past_its_image_is_clipped_and_counted_strict_refuses(tmp_path):
    files, truth = cub_files()
    width = truth[1]["pixels"].shape[1]
    lines = files["bounding_boxes.txt"].decode().splitlines()
    lines[0] = f"1 10.0 2.0 {width} 4.0"  # x + w = width + 10: past the border
    files["bounding_boxes.txt"] = ("\n".join(lines) + "\n").encode()
    path = write_cub(files, tmp_path, False)
    ds, info = load_dataset(f"cub:{path}", "train", num_images=1)
    (e,) = _elements(ds).values()
    np.testing.assert_array_equal(e["boxes"], [[10, 2, width - 1, 5]])
    assert info.num_clipped_boxes == 1 and "bounding_boxes.txt line 1" in info.clipped_boxes[0]
    with pytest.raises(ValueError, match=r"bounding_boxes\.txt line 1 extends past"):
        load_dataset(f"cub:{path}", "train", num_images=1, strict_boxes=True)

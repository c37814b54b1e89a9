"""ILSVRC CLS-LOC reader (Kaggle LOC layout): box-less train images, several boxes, CMYK and PNG
files named .JPEG, the XML fallback, the boxed holdout, errors naming file and line."""

from __future__ import annotations

import io
import os
import shutil

import numpy as np
import pytest

from hide_and_seek_tf.data import load_dataset
from hide_and_seek_tf.data.imagenet import HOLDOUT_PER_CLASS
from tests.data.layouts import (
    IMAGENET_BOXED_PER_CLASS,
    IMAGENET_CMYK,
    IMAGENET_GRAY,
    IMAGENET_PNG,
    IMAGENET_TRAIN_PER_CLASS,
    IMAGENET_WNIDS,
    imagenet_files,
    write_files,
)


def _elements(ds):
    return {e["id"].decode(): e for e in ds.as_numpy_iterator()}


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory):
    files, truth = imagenet_files()
    return write_files(files, tmp_path_factory.mktemp("ilsvrc")), truth


def _check(elements, truth):
    for image_id, e in elements.items():
        t = truth[image_id]
        assert e["label"] == t["label"]
        np.testing.assert_array_equal(e["boxes"], np.reshape(t["boxes"], (-1, 4)))
        assert e["image"].shape == t["pixels"].shape
        assert np.abs(e["image"].astype(int) - t["pixels"]).max() <= 6


def test_train_keeps_box_less_images_with_zero_boxes(imagenet):
    root, truth = imagenet
    ds, info = load_dataset(f"imagenet:{root}", "train")
    elements = _elements(ds)
    assert info.wnids == IMAGENET_WNIDS and info.class_names[1] == "goldfish"
    assert len(elements) == IMAGENET_TRAIN_PER_CLASS * len(IMAGENET_WNIDS)
    boxless = (IMAGENET_TRAIN_PER_CLASS - IMAGENET_BOXED_PER_CLASS) * len(IMAGENET_WNIDS)
    assert info.num_without_boxes == boxless
    assert sum(e["boxes"].shape[0] == 0 for e in elements.values()) == boxless
    _check(elements, truth)
    assert elements[IMAGENET_PNG]["image"].shape[-1] == 3  # a PNG named .JPEG


def test_val_several_boxes_cmyk_and_grayscale(imagenet):
    root, truth = imagenet
    ds, info = load_dataset(f"imagenet:{root}", "val")
    elements = _elements(ds)
    assert list(elements) == sorted(k for k in truth if k.startswith("val/"))
    assert info.max_boxes == 3 and info.num_without_boxes == 0
    _check(elements, truth)  # the CMYK JPEG decodes to the right RGB colours
    cmyk = elements[IMAGENET_CMYK]["image"].astype(int)
    assert np.abs(cmyk - truth[IMAGENET_CMYK]["pixels"]).mean() < 2
    gray = elements[IMAGENET_GRAY]["image"]
    np.testing.assert_array_equal(gray[..., 0], gray[..., 1])


def test_the_cmyk_file_is_cmyk_and_pil_agrees(imagenet):
    from PIL import Image

    root, _ = imagenet
    data = (root / "ILSVRC/Data/CLS-LOC" / IMAGENET_CMYK).read_bytes()
    image = Image.open(io.BytesIO(data))
    assert image.mode == "CMYK"
    ds, _ = load_dataset(f"imagenet:{root}", "val")
    ours = _elements(ds)[IMAGENET_CMYK]["image"].astype(int)
    assert np.abs(ours - np.asarray(image.convert("RGB"), int)).max() <= 3


def test_xml_annotations_where_the_csv_is_absent(imagenet, tmp_path):
    root, _ = imagenet
    copy = shutil.copytree(root, tmp_path / "ilsvrc")
    os.remove(copy / "LOC_val_solution.csv")
    from_xml = _elements(load_dataset(f"imagenet:{copy}", "val")[0])
    from_csv = _elements(load_dataset(f"imagenet:{root}", "val")[0])
    assert set(from_xml) == set(from_csv)
    for key, e in from_csv.items():
        assert from_xml[key]["label"] == e["label"]
        np.testing.assert_array_equal(from_xml[key]["boxes"], e["boxes"])


def test_holdout_takes_boxed_train_images_only(imagenet):
    root, _ = imagenet
    holdout, info = load_dataset(f"imagenet:{root}", "train_holdout")
    rest, _ = load_dataset(f"imagenet:{root}", "train_minus_holdout")
    held, others = _elements(holdout), _elements(rest)
    per_class = min(HOLDOUT_PER_CLASS, IMAGENET_BOXED_PER_CLASS)
    assert len(held) == per_class * len(IMAGENET_WNIDS) and info.num_without_boxes == 0
    assert not set(held) & set(others)
    assert len(held) + len(others) == IMAGENET_TRAIN_PER_CLASS * len(IMAGENET_WNIDS)


@pytest.mark.parametrize(
    "name, line_no, bad, match",
    [
        ("LOC_val_solution.csv", 3, "ILSVRC2012_val_00000002,n01443537 1 2 3", "line 3"),
        ("LOC_val_solution.csv", 2, "ILSVRC2012_val_00000001,n09999999 1 2 3 4", "n09999999"),
        ("LOC_train_solution.csv", 2, "n01440764_0,n01440764 9 2 3 4", "line 2"),  # x0 > x1
        ("LOC_synset_mapping.txt", 2, "goldfish", "line 2"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, name, line_no, bad, match):
    files, _ = imagenet_files(xml=False)
    lines = files[name].decode().splitlines()
    lines[line_no - 1] = bad
    files[name] = ("\n".join(lines) + "\n").encode()
    root = write_files(files, tmp_path)
    split = "val" if "val" in name else "train"
    with pytest.raises(ValueError, match=rf"{name}.*{match}"):
        load_dataset(f"imagenet:{root}", split)


def test_listed_but_missing_image_is_named_unless_its_class_is_left_out(tmp_path):
    files, _ = imagenet_files(xml=False)
    del files[f"ILSVRC/Data/CLS-LOC/train/{IMAGENET_WNIDS[2]}/{IMAGENET_WNIDS[2]}_0.JPEG"]
    root = write_files(files, tmp_path)
    missing = rf"LOC_train_solution\.csv line \d+ lists .{IMAGENET_WNIDS[2]}_0"
    with pytest.raises(ValueError, match=missing):
        load_dataset(f"imagenet:{root}", "train")
    _, info = load_dataset(f"imagenet:{root}", "train", classes=2)
    assert info.num_examples == 2 * IMAGENET_TRAIN_PER_CLASS

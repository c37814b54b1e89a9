"""wsolevaluation metadata reader: their splits, boxes as written (x1 = W clipped), stated sizes."""

from __future__ import annotations

import numpy as np
import pytest

from hide_and_seek_tf.data import load_dataset
from tests.data.layouts import WSOL_CLASSES, WSOL_SPLITS, write_files, wsol_files


@pytest.fixture(scope="module")
def wsol(tmp_path_factory):
    meta, images, truth = wsol_files()
    root = tmp_path_factory.mktemp("wsol")
    return write_files(meta, root / "metadata"), write_files(images, root / "images"), truth


@pytest.mark.parametrize("split", sorted(WSOL_SPLITS))
def test_every_split_reads_labels_boxes_and_images(wsol, split):
    meta, images, truth = wsol
    ds, info = load_dataset(f"wsol:{meta}", split, data_dir=images)
    elements = list(ds.as_numpy_iterator())
    assert info.class_names == WSOL_CLASSES and info.max_boxes == 2
    assert len(elements) == WSOL_SPLITS[split] * len(WSOL_CLASSES)
    for e in elements:
        t = truth[(split, e["id"].decode())]
        assert e["label"] == t["label"]
        np.testing.assert_array_equal(e["boxes"], t["boxes"])  # x1 = W became W - 1
        assert e["image"].shape == t["pixels"].shape
        assert np.abs(e["image"].astype(int) - t["pixels"]).max() <= 6
    if split != "train":  # image_ids.txt order
        order = (meta / split / "image_ids.txt").read_text().split()
        assert [e["id"].decode() for e in elements] == order


def test_a_split_without_localization_has_zero_boxes(tmp_path):
    meta, images, _ = wsol_files(train_boxes=False)
    meta_dir, image_dir = write_files(meta, tmp_path / "m"), write_files(images, tmp_path / "i")
    _, info = load_dataset(f"wsol:{meta_dir}", "train", data_dir=image_dir)
    assert info.num_without_boxes == info.num_examples


def test_the_image_root_is_required_and_checked(wsol, tmp_path):
    meta, _, _ = wsol
    with pytest.raises(ValueError, match=r"needs `data_dir`"):
        load_dataset(f"wsol:{meta}", "val")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"val/\w+\.txt line 1 lists .*missing from"):
        load_dataset(f"wsol:{meta}", "val", data_dir=tmp_path / "empty")
    with pytest.raises(ValueError, match=r"`split`.*\['test', 'train', 'val'\]"):
        load_dataset(f"wsol:{meta}", "train_holdout", data_dir=tmp_path)


@pytest.mark.parametrize(
    "name, line_no, bad, match",
    [
        ("localization.txt", 2, "{path},1,2,3", "line 2"),
        ("localization.txt", 1, "{path},5,1,2,3", "line 1"),  # x0 > x1
        ("localization.txt", 3, "{path},999,0,1000,3", "line 3 lies entirely outside"),
        ("class_labels.txt", 2, "{path},cat", "line 2"),
        ("image_sizes.txt", 1, "{path},40", "line 1"),
        ("class_labels.txt", 1, "elsewhere/x.jpg,0", "line 1.*not in"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, name, line_no, bad, match):
    meta, images, _ = wsol_files()
    rel = f"val/{name}"
    lines = meta[rel].decode().splitlines()
    lines[line_no - 1] = bad.format(path=lines[line_no - 1].split(",")[0])
    meta[rel] = ("\n".join(lines) + "\n").encode()
    meta_dir, image_dir = write_files(meta, tmp_path / "m"), write_files(images, tmp_path / "i")
    with pytest.raises(ValueError, match=rf"val/{name} {match}"):
        load_dataset(f"wsol:{meta_dir}", "val", data_dir=image_dir)


def test_an_image_of_another_size_than_stated_fails_naming_it(tmp_path):
    meta, images, _ = wsol_files()
    lines = meta["val/image_sizes.txt"].decode().splitlines()
    path, width, height = lines[0].split(",")
    lines[0] = f"{path},{int(width) + 1},{height}"
    meta["val/image_sizes.txt"] = ("\n".join(lines) + "\n").encode()
    meta_dir, image_dir = write_files(meta, tmp_path / "m"), write_files(images, tmp_path / "i")
    with pytest.raises(
        ValueError, match=rf"{path} is {width} x {height}.*image_sizes\.txt line 1 states"
    ):
        load_dataset(f"wsol:{meta_dir}", "val", data_dir=image_dir)

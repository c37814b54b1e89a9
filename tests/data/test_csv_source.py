"""CSV reader (your own data): columns, several boxes, box-less images, derived holdout, errors."""

from __future__ import annotations

import numpy as np
import pytest

from hide_and_seek_tf.data import load_dataset
from hide_and_seek_tf.data.sources import DataSpec
from tests.data.layouts import CSV_LABELS, csv_files, write_files


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    files, truth = csv_files()
    return write_files(files, tmp_path_factory.mktemp("mine")) / "data.csv", truth


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_rows_become_images_with_their_boxes(table, split):
    path, truth = table
    ds, info = load_dataset(f"csv:{path}", split)
    elements = list(ds.as_numpy_iterator())
    assert info.class_names == CSV_LABELS and info.max_boxes == 2
    assert {e["id"].decode() for e in elements} == {
        k for k, t in truth.items() if t["split"] == split
    }
    for e in elements:
        t = truth[e["id"].decode()]
        assert e["label"] == t["label"]
        np.testing.assert_array_equal(e["boxes"], np.reshape(t["boxes"], (-1, 4)))
        assert e["image"].shape == t["pixels"].shape
        tolerance = 0 if e["id"].decode().endswith(".png") else 6
        assert np.abs(e["image"].astype(int) - t["pixels"]).max() <= tolerance
    assert info.num_without_boxes == (1 if split == "train" else 0)


def test_derived_holdout_boxed_only_and_the_validation_split(table):
    path, truth = table
    held = {
        e["id"].decode()
        for e in load_dataset(f"csv:{path}", "train_holdout")[0].as_numpy_iterator()
    }
    rest, info = load_dataset(f"csv:{path}", "train_minus_holdout")
    rest = {e["id"].decode() for e in rest.as_numpy_iterator()}
    train = {k for k, t in truth.items() if t["split"] == "train"}
    assert held | rest == train and not held & rest
    assert all(truth[k]["boxes"] for k in held)
    assert DataSpec.parse(f"csv:{path}").validation_split == "val"


def test_images_resolve_against_data_dir(table, tmp_path):
    path, _ = table
    moved = tmp_path / "boxes.csv"
    moved.write_bytes(path.read_bytes())
    with pytest.raises(ValueError, match=r"boxes\.csv line 2 lists .*missing from"):
        load_dataset(f"csv:{moved}", "train")
    _, info = load_dataset(f"csv:{moved}", "val", data_dir=path.parent)
    assert info.num_examples == 4


@pytest.mark.parametrize(
    "line, match",
    [
        ("photos/train/cat_0.jpg,cat,1,2,3", "line 3: expected 7 fields"),
        ("photos/train/cat_0.jpg,cat,1,2,x,4,train", "line 3"),
        ("photos/train/cat_1.jpg,cat,1,2,,4,train", "line 3: give all four"),
        ("photos/train/cat_1.jpg,cat,9,2,3,4,train", "line 3: the box must satisfy"),
        ("photos/train/cat_0.jpg,dog,1,2,3,4,train", "line 3: .*cat_0.jpg. is listed at .*line 2"),
        ("photos/train/dog_5.jpg,dog,1,2,3,4,train", r"line \d+: .*has both box rows and a row"),
        (",cat,1,2,3,4,train", "line 3: `image`, `label` and `split` must not be empty"),
    ],
)
def test_malformed_row_names_file_and_line(tmp_path, line, match):
    files, _ = csv_files()
    lines = files["data.csv"].decode().splitlines()
    lines.insert(2, line)  # line 3 of the file
    files["data.csv"] = ("\n".join(lines) + "\n").encode()
    root = write_files(files, tmp_path)
    with pytest.raises(ValueError, match=rf"data\.csv {match}"):
        load_dataset(f"csv:{root / 'data.csv'}", "train")


def test_header_split_and_class_errors(tmp_path, table):
    path, _ = table
    bad = tmp_path / "bad.csv"
    bad.write_text("image,label,x0,y0,x1,y1,score\n")
    with pytest.raises(ValueError, match=r"bad\.csv line 1.*score"):
        load_dataset(f"csv:{bad}", "train")
    with pytest.raises(ValueError, match=r"`split`.*'holdout'"):
        load_dataset(f"csv:{path}", "holdout")
    with pytest.raises(ValueError, match=r"`classes`.*'bird'"):
        load_dataset(f"csv:{path}", "train", classes=["bird"])

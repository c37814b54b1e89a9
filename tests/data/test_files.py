"""The file sources' shared reader: decode by content, name bad files and their annotation line."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from hide_and_seek_tf.data.files import Record, corner_box, records_dataset, split_holdout
from tests.data.layouts import image_bytes


def _read(tmp_path, data: bytes, boxes=((0, 0, 3, 3),), size=None, name="a.JPEG"):
    (tmp_path / name).write_bytes(data)
    record = Record(name, 0, list(boxes), name, "boxes.csv line 7", size)
    return list(records_dataset([record], root=tmp_path).as_numpy_iterator())


@pytest.mark.parametrize("fmt", ["jpeg", "png", "cmyk"])
def test_decodes_by_content_whatever_the_extension(tmp_path, fmt):
    data, pixels = image_bytes(23, 17, 0, fmt=fmt)
    (e,) = _read(tmp_path, data, size=(23, 17))
    assert e["image"].shape == (17, 23, 3)
    assert np.abs(e["image"].astype(int) - pixels).max() <= (0 if fmt == "png" else 6)


@pytest.mark.parametrize(
    "damage, match",
    [
        (lambda d: d[: len(d) // 2], "Truncated image"),
        (lambda d: b"GIF-ish but not" + d, "Not a JPEG, PNG, GIF or BMP"),
        (lambda d: b"", "Not a JPEG"),
    ],
)
@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_bad_bytes_fail_naming_the_file_and_its_annotation(tmp_path, damage, match, fmt):
    data, _ = image_bytes(23, 17, 0, fmt=fmt)
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=rf"{match}.*a\.JPEG.*boxes\.csv line 7"
    ):
        _read(tmp_path, damage(data))


def test_box_edges_on_the_border_are_clipped_beyond_it_fail(tmp_path):
    data, _ = image_bytes(23, 17, 0)
    (e,) = _read(tmp_path, data, boxes=[(0, 0, 23, 17)])  # x1 = W, y1 = H: exclusive edges
    np.testing.assert_array_equal(e["boxes"], [[0, 0, 22, 16]])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Box outside.*boxes\.csv line 7"):
        _read(tmp_path, data, boxes=[(0, 0, 24, 5)])
    (e,) = _read(tmp_path, data, boxes=[])
    assert e["boxes"].shape == (0, 4)
    with pytest.raises(ValueError, match=r"at f line 3: the box must satisfy"):
        corner_box([5, 0, 4, 1], "f line 3", "5,0,4,1")
    with pytest.raises(ValueError, match=r"at f line 3: the box leaves the 10 x 8 image"):
        corner_box([0, 0, 11, 1], "f line 3", "0,0,11,1", size=(10, 8))


def test_holdout_takes_the_last_images_by_key_and_boxed_ones_when_asked():
    group = [
        Record(str(k), 0, [(0, 0, 1, 1)] if k % 2 else [], str(k), "", None, k) for k in range(6)
    ]
    held = split_holdout([group[::-1]], "train_holdout", 2)[0]
    assert [r.key for r in held] == [4, 5]
    held = split_holdout([group], "train_holdout", 2, boxed_only=True)[0]
    assert [r.key for r in held] == [3, 5]
    rest = split_holdout([group], "train_minus_holdout", 2, boxed_only=True)[0]
    assert [r.key for r in rest] == [0, 1, 2, 4]

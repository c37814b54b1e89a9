"""The file sources' shared reader: decode by content, name bad files and their annotation line."""

from __future__ import annotations

import numpy as np
import pytest

from hide_and_seek_tf.data.file_records import (
    Record,
    check_records,
    corner_box,
    records_dataset,
    split_holdout,
)
from tests.data.layouts import image_bytes


def _read(tmp_path, data: bytes, boxes=((0, 0, 3, 3),), size=None, name="a.JPEG", **options):
    (tmp_path / name).write_bytes(data)
    record = Record(name, 0, list(boxes), name, "boxes.csv line 7", size)
    records, checked = check_records([record], options, source="test", root=tmp_path)
    return list(records_dataset(records, root=tmp_path).as_numpy_iterator()), checked


@pytest.mark.parametrize("fmt", ["jpeg", "png", "cmyk"])
def test_decodes_by_content_whatever_the_extension(tmp_path, fmt):
    data, pixels = image_bytes(23, 17, 0, fmt=fmt)
    (e,), _ = _read(tmp_path, data, size=(23, 17))
    assert e["image"].shape == (17, 23, 3)
    assert np.abs(e["image"].astype(int) - pixels).max() <= (0 if fmt == "png" else 6)


@pytest.mark.parametrize(
    "damage, match",
    [
        (lambda d: d[: len(d) // 2], "truncated"),
        (lambda d: b"GIF-ish but not" + d, "not a JPEG, PNG, GIF or BMP"),
        (lambda d: b"", "empty file"),
    ],
)
@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_bad_bytes_fail_naming_the_file_and_its_annotation(tmp_path, damage, match, fmt):
    data, _ = image_bytes(23, 17, 0, fmt=fmt)
    with pytest.raises(ValueError, match=rf"a\.JPEG \(listed at boxes\.csv line 7\): {match}"):
        _read(tmp_path, damage(data))
    # Skipping (tested on every source in test_checks.py) leaves no image here: an error too.
    with pytest.raises(ValueError, match=r"^test: none of the 1 images can be read"):
        _read(tmp_path, damage(data), skip_bad_images=True)


def test_boxes_past_the_border_are_clipped_and_counted_outside_ones_fail(tmp_path):
    data, _ = image_bytes(23, 17, 0)
    (e,), checked = _read(tmp_path, data, boxes=[(0, 0, 23, 17), (-2, 3, 5, 9)])
    np.testing.assert_array_equal(e["boxes"], [[0, 0, 22, 16], [0, 3, 5, 9]])
    assert checked.num_clipped_boxes == 2
    (e,), checked = _read(tmp_path, data, boxes=[(0, 0, 22, 16)])  # on the border: kept as is
    np.testing.assert_array_equal(e["boxes"], [[0, 0, 22, 16]])
    assert checked.num_clipped_boxes == 0
    with pytest.raises(ValueError, match=r"boxes\.csv line 7 extends past the 23 x 17 image"):
        _read(tmp_path, data, boxes=[(0, 0, 24, 5)], strict_boxes=True)
    with pytest.raises(ValueError, match=r"boxes\.csv line 7 lies entirely outside the 23 x 17"):
        _read(tmp_path, data, boxes=[(23, 0, 30, 5)])
    (e,), _ = _read(tmp_path, data, boxes=[])
    assert e["boxes"].shape == (0, 4)
    with pytest.raises(ValueError, match=r"at f line 3: the box must satisfy"):
        corner_box([5, 0, 4, 1], "f line 3", "5,0,4,1")


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

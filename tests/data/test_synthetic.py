"""The built-in synthetic localization data: contract, determinism, and the design properties."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from hide_and_seek_tf.data.synthetic import (
    DEFAULT_IMAGE_SIZE,
    DEFAULT_NUM_TRAIN,
    DEFAULT_NUM_VAL,
    MIN_IMAGE_SIZE,
    SYNTHETIC_CLASS_NAMES,
    make_synthetic_dataset,
)

NUM_CLASSES = len(SYNTHETIC_CLASS_NAMES)
# Design bound (module docstring): the head covers at most 20% of the object's box (median 8%).
MAX_HEAD_FRACTION_OF_BOX = 0.2


def _elements(split="train", num_images=16, image_size=48, seed=0, with_parts=False):
    ds = make_synthetic_dataset(split, num_images, image_size, seed, with_parts=with_parts)
    return list(ds.as_numpy_iterator())


def _stack(elements, key):
    return np.stack([e[key] for e in elements])


@pytest.fixture(scope="module")
def parts():
    """400 training images with their part masks (rendering them takes well under a second)."""
    return _elements(num_images=400, with_parts=True)


def test_element_contract():
    ds = make_synthetic_dataset("val", 3, 40, 7)
    spec = ds.element_spec
    assert set(spec) == {"image", "label", "boxes", "id"}
    assert spec["image"].shape == (40, 40, 3) and spec["image"].dtype == tf.uint8
    assert spec["label"].shape == () and spec["label"].dtype == tf.int32
    assert spec["boxes"].shape == (1, 4) and spec["boxes"].dtype == tf.float32
    assert spec["id"].dtype == tf.string
    assert int(ds.cardinality()) == 3
    ids = [e["id"].decode() for e in ds.as_numpy_iterator()]
    assert ids == ["synthetic/val/000000", "synthetic/val/000001", "synthetic/val/000002"]


def test_defaults_and_empty_dataset():
    assert int(make_synthetic_dataset("train").cardinality()) == DEFAULT_NUM_TRAIN
    assert int(make_synthetic_dataset("test").cardinality()) == DEFAULT_NUM_VAL
    assert make_synthetic_dataset("val").element_spec["image"].shape[0] == DEFAULT_IMAGE_SIZE
    assert _elements(num_images=0) == []


def test_same_arguments_give_identical_bytes():
    a, b = _elements(seed=3), _elements(seed=3)
    for key in ("image", "label", "boxes"):
        np.testing.assert_array_equal(_stack(a, key), _stack(b, key))


def test_an_image_does_not_depend_on_num_images():
    np.testing.assert_array_equal(
        _stack(_elements(num_images=5), "image"), _stack(_elements(num_images=12)[:5], "image")
    )


@pytest.mark.parametrize("other", [{"seed": 1}, {"split": "val"}, {"split": "test"}])
def test_other_seed_or_split_gives_other_images(other):
    base = _stack(_elements(), "image")
    changed = _stack(_elements(**other), "image")
    # Not one image in common, position by position.
    assert all(np.any(x != y) for x, y in zip(base, changed, strict=True))


def test_images_within_a_split_differ():
    images = _stack(_elements(num_images=8), "image").reshape(8, -1)
    assert len({row.tobytes() for row in images}) == 8


def test_box_is_the_tight_box_of_the_whole_object(parts):
    for e in parts:
        ys, xs = np.nonzero(e["object_mask"])
        np.testing.assert_array_equal(e["boxes"][0], [xs.min(), ys.min(), xs.max(), ys.max()])
        hy, hx = np.nonzero(e["head_mask"])
        x0, y0, x1, y1 = e["boxes"][0]
        assert x0 <= hx.min() and hx.max() <= x1 and y0 <= hy.min() and hy.max() <= y1
        assert np.all(e["object_mask"][e["head_mask"]])


def test_object_is_never_cut_by_the_image_border(parts):
    masks = _stack(parts, "object_mask")
    assert not masks[:, 0, :].any() and not masks[:, -1, :].any()
    assert not masks[:, :, 0].any() and not masks[:, :, -1].any()


def test_head_is_small_relative_to_the_box(parts):
    boxes = _stack(parts, "boxes")[:, 0]
    box_area = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    head_area = _stack(parts, "head_mask").sum(axis=(1, 2))
    assert np.all(head_area > 0)
    assert np.all(head_area / box_area <= MAX_HEAD_FRACTION_OF_BOX)
    # ... so a box around the head alone never reaches IoU 0.5 with the object's box.
    assert np.all(head_area / box_area < 0.5)


def test_objects_are_placed_all_over_the_image(parts):
    boxes = _stack(parts, "boxes")[:, 0]
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    assert centres.min() < 0.35 * 48 and centres.max() > 0.65 * 48
    areas = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    assert areas.max() < 0.6 * 48 * 48  # never "the whole image"


def test_classes_are_exactly_balanced():
    labels = _stack(_elements(num_images=10 * NUM_CLASSES), "label")
    assert labels.min() >= 0 and labels.max() < NUM_CLASSES
    np.testing.assert_array_equal(np.bincount(labels, minlength=NUM_CLASSES), 10)


def test_head_colour_identifies_the_class(parts):
    images = _stack(parts, "image").astype(np.float64)
    heads = _stack(parts, "head_mask")
    labels = _stack(parts, "label")
    colours = np.stack([img[m].mean(axis=0) for img, m in zip(images, heads, strict=True)])
    # Class centroids from the first half; nearest centroid must name every image of the second.
    half = len(parts) // 2
    centroids = np.stack([colours[:half][labels[:half] == c].mean(0) for c in range(NUM_CLASSES)])
    dist = np.linalg.norm(colours[half:, None, :] - centroids[None], axis=-1)
    np.testing.assert_array_equal(dist.argmin(axis=1), labels[half:])


def test_body_stripes_agree_with_the_class_about_90_percent(parts):
    labels = _stack(parts, "label")
    body = _stack(parts, "body_class")
    agree = np.mean(body == labels)
    # 400 draws at p = 0.9: standard deviation 1.5 points; 4 of them either side.
    assert 0.84 <= agree <= 0.96
    assert body.min() >= 0 and body.max() < NUM_CLASSES


def test_other_image_sizes_scale_the_object():
    small = _elements(num_images=40, image_size=MIN_IMAGE_SIZE, with_parts=True)
    large = _elements(num_images=40, image_size=96, with_parts=True)
    assert small[0]["image"].shape == (MIN_IMAGE_SIZE, MIN_IMAGE_SIZE, 3)
    frac_small = np.mean([e["object_mask"].mean() for e in small])
    frac_large = np.mean([e["object_mask"].mean() for e in large])
    assert frac_small == pytest.approx(frac_large, rel=0.25)


def test_square_pair_image_size_is_accepted():
    a = _stack(_elements(num_images=2, image_size=(40, 40)), "image")
    np.testing.assert_array_equal(a, _stack(_elements(num_images=2, image_size=40), "image"))


def test_numpy_integer_arguments_are_accepted():
    a = _stack(
        _elements(num_images=np.int64(2), image_size=np.int32(40), seed=np.int64(5)), "image"
    )
    np.testing.assert_array_equal(
        a, _stack(_elements(num_images=2, image_size=40, seed=5), "image")
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"split": "holdout"}, ValueError, r"`split`.*Received: split='holdout'"),
        ({"split": ["train"]}, ValueError, r"`split`.*Received: split=\['train'\]"),
        ({"num_images": -1}, ValueError, r"`num_images`.*Received: num_images=-1"),
        ({"num_images": 2.5}, TypeError, r"`num_images`.*Received: num_images=2.5"),
        ({"num_images": True}, TypeError, r"`num_images`"),
        ({"image_size": 16}, ValueError, r"`image_size` must be >= 32.*Received: image_size=16"),
        ({"image_size": (48, 64)}, ValueError, r"`image_size` must be square"),
        ({"image_size": 48.0}, TypeError, r"`image_size`.*Received: image_size=48.0"),
        ({"seed": -1}, ValueError, r"`seed`.*Received: seed=-1"),
        ({"seed": "0"}, TypeError, r"`seed`.*Received: seed='0'"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, error, match):
    args = {"split": "train", "num_images": 4, "image_size": 48, "seed": 0, **kwargs}
    with pytest.raises(error, match=match):
        make_synthetic_dataset(**args)

"""make_pipeline: shapes, box geometry under resize/flip/crop, seeds, hiding after batching."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from hide_and_seek_tf.data import (
    SYNTHETIC_CLASS_NAMES,
    DatasetInfo,
    load_dataset,
    make_pipeline,
)
from hide_and_seek_tf.data.elements import affine_boxes, round_half_up

WHITE = 255


def _paint(images: np.ndarray, box) -> None:
    """Red marks the box's columns, green its rows (full bands, so each axis resamples alone)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    images[..., x0 : x1 + 1, 0] = WHITE
    images[..., y0 : y1 + 1, :, 1] = WHITE


def _painted(boxes: list[tuple[int, int, int, int]], size=(64, 64)) -> tf.data.Dataset:
    """Images whose painted bands the box must tightly bound, whatever geometry is applied."""
    images = np.zeros((len(boxes), *size, 3), np.uint8)
    for image, box in zip(images, boxes, strict=True):
        _paint(image, box)
    return tf.data.Dataset.from_tensor_slices(
        {
            "image": images,
            "label": np.arange(len(boxes), dtype=np.int32),
            "boxes": np.asarray(boxes, np.float32)[:, None, :],
            "id": [f"img{i}" for i in range(len(boxes))],
        }
    )


def _extent(band: np.ndarray) -> list[float] | None:
    """First and last index above half brightness (resampled edge pixels are blends)."""
    (inside,) = np.nonzero(band > WHITE / 2)
    return [inside.min(), inside.max()] if inside.size else None


def _tight_box(image: np.ndarray) -> list[float] | None:
    """Inclusive box of the painted bands: columns from red, rows from green."""
    xs, ys = _extent(image[0, :, 0]), _extent(image[:, 0, 1])
    return None if xs is None or ys is None else [xs[0], ys[0], xs[1], ys[1]]


@pytest.mark.parametrize(
    ("size", "new_size", "box"),
    [
        ((64, 64), (128, 128), (5, 10, 40, 33)),  # upsample x2
        ((64, 64), (96, 96), (4, 10, 41, 33)),  # upsample x1.5
        ((64, 64), (32, 32), (6, 10, 41, 33)),  # downsample x2 (even edges stay on pixel edges)
        ((48, 64), (96, 32), (8, 2, 51, 39)),  # non-square, x and y scaled differently
    ],
)
def test_eval_resize_scales_boxes_with_the_image(size, new_size, box):
    ds = make_pipeline(_painted([box], size), training=False, batch_size=1, image_size=new_size)
    batch = next(iter(ds))
    assert batch["image"].shape == (1, *new_size, 3)
    assert batch["boxes"][0, 0].numpy().tolist() == _tight_box(batch["image"][0].numpy())


def test_eval_pipeline_shapes_padding_and_order():
    boxes = [(1, 2, 30, 40), (0, 0, 63, 63), (10, 5, 20, 60)]
    ds = make_pipeline(
        _painted(boxes),
        training=False,
        batch_size=2,
        image_size=64,
        max_boxes=3,
        hide_patch_sizes=(16,),  # ignored at evaluation: never hide at test time
    )
    batches = list(ds.as_numpy_iterator())
    assert [b["image"].shape for b in batches] == [(2, 64, 64, 3), (1, 64, 64, 3)]
    first = batches[0]
    assert first["image"].dtype == np.float32 and first["label"].dtype == np.int32
    assert first["boxes"].shape == (2, 3, 4) and first["boxes"].dtype == np.float32
    np.testing.assert_array_equal(first["boxes"][:, 0], boxes[:2])
    np.testing.assert_array_equal(first["boxes"][:, 1:], -1.0)
    assert [i for b in batches for i in b["id"]] == [b"img0", b"img1", b"img2"]
    # No hiding: the image is exactly the painted source.
    assert (
        _tight_box(first["image"][0]) == list(boxes[0]) and np.isin(first["image"], [0, 255]).all()
    )


def test_eval_source_boxes_keep_the_decoded_image_and_its_boxes():
    # wsolevaluation rescales the decoded image's boxes itself: they must survive the resize.
    boxes = [(1, 2, 30, 40), (10, 5, 47, 63)]
    kept = make_pipeline(
        _painted(boxes, size=(64, 48)),
        training=False,
        batch_size=2,
        image_size=32,
        max_boxes=2,
        source_boxes=True,
    )
    batch = next(iter(kept.as_numpy_iterator()))
    assert batch["source_size"].tolist() == [[64, 48], [64, 48]]
    np.testing.assert_array_equal(batch["source_boxes"][:, 0], boxes)
    np.testing.assert_array_equal(batch["source_boxes"][:, 1], -1.0)
    assert batch["boxes"][0, 0].tolist() == _tight_box(batch["image"][0])  # resized as ever
    plain = make_pipeline(
        _painted(boxes, size=(64, 48)), training=False, batch_size=2, image_size=32
    )
    assert "source_boxes" not in next(iter(plain))


def test_eval_more_boxes_than_max_boxes_is_an_error_naming_the_image():
    ds = tf.data.Dataset.from_tensors(
        {
            "image": tf.zeros([8, 8, 3], tf.uint8),
            "label": 0,
            "boxes": tf.zeros([3, 4]),
            "id": "crowded",
        }
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"max_boxes=2.*crowded"):
        list(make_pipeline(ds, training=False, batch_size=1, image_size=8, max_boxes=2))


def test_training_output_signature():
    ds, _ = load_dataset("synthetic", "train", num_images=8, image_size=32)
    batches = make_pipeline(ds, training=True, batch_size=4, image_size=40, hide_patch_sizes=(8,))
    images, labels = next(iter(batches))
    assert images.shape == (4, 40, 40, 3) and images.dtype == tf.float32
    assert labels.shape == (4,) and labels.dtype == tf.int32
    assert 0.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 255.0


@pytest.mark.parametrize("augment", ["flip", "crop_flip"])
def test_training_boxes_follow_flip_and_crop(augment):
    box = (3, 8, 25, 50)  # asymmetric, so a flip moves it
    ds = make_pipeline(
        _painted([box] * 32),
        training=True,
        batch_size=32,
        image_size=64,
        augment=augment,
        return_boxes=True,
        seed=3,
    )
    batch = next(iter(ds))
    images, boxes = batch["image"].numpy(), batch["boxes"].numpy()
    for image, image_boxes in zip(images, boxes, strict=True):
        assert image_boxes[0].tolist() == _tight_box(image)
        np.testing.assert_array_equal(image_boxes[1:], -1.0)
    flipped = boxes[:, 0, 0] > 32
    assert flipped.any() and not flipped.all()  # a coin per image, not one per batch
    if augment == "flip":
        np.testing.assert_array_equal(
            boxes[flipped, 0], [[64 - 1 - 25, 8, 64 - 1 - 3, 50]] * flipped.sum()
        )
    else:
        assert len({tuple(b) for b in boxes[:, 0]}) > 8  # every image its own crop


def test_crop_clips_boxes_and_drops_those_cropped_away():
    # The box sits in a corner, so some crops cut it off entirely.
    images = np.zeros((64, 64, 64, 3), np.uint8)
    _paint(images, (0, 0, 9, 9))
    ds = tf.data.Dataset.from_tensor_slices(
        {
            "image": images,
            "label": np.zeros(64, np.int32),
            "boxes": np.tile(np.array([[0, 0, 9, 9], [50, 50, 63, 63]], np.float32), (64, 1, 1)),
            "id": [str(i) for i in range(64)],
        }
    )
    batch = next(
        iter(
            make_pipeline(
                ds,
                training=True,
                batch_size=64,
                image_size=64,
                augment="crop_flip",
                return_boxes=True,
                max_boxes=2,
                seed=1,
            )
        )
    )
    corner = batch["boxes"].numpy()[:, 0]
    gone = corner[:, 2] < 0
    assert gone.any() and not gone.all()
    for image, box in zip(batch["image"].numpy(), corner, strict=True):
        xs, ys = _extent(image[0, :, 0]), _extent(image[:, 0, 1])
        if box[2] < 0:
            np.testing.assert_array_equal(box, -1.0)
            assert xs is None or ys is None
            continue
        # Less than half a pixel left in view on an axis: a one-pixel sliver at that edge.
        for extent, lo, hi in ((xs, box[0], box[2]), (ys, box[1], box[3])):
            if extent is None:
                assert lo == hi and lo in (0, 63)
            else:
                assert extent == [lo, hi]


def test_box_geometry_edge_cases():
    boxes = tf.constant(
        [[63, 0, 63, 63], [0, 0, 9, 9], [-1, -1, -1, -1], [10, 20, 30, 40]], tf.float32
    )
    # Halving: a one-pixel box at the right edge stays one pixel; padding stays padding.
    halved = affine_boxes(boxes, 0.5, 0.0, 0.5, 0.0, 32, 32)
    np.testing.assert_array_equal(
        halved, [[31, 0, 31, 31], [0, 0, 4, 4], [-1] * 4, [5, 10, 15, 20]]
    )
    # Shifting left by 20 pixels (a crop): the first two leave the image and become padding.
    shifted = affine_boxes(boxes, 1.0, -20.0, 1.0, 0.0, 40, 64)
    np.testing.assert_array_equal(shifted, [[-1] * 4, [-1] * 4, [-1] * 4, [0, 20, 10, 40]])


def test_box_edges_round_half_up_alike_for_parsed_numbers_and_tensors():
    # Annotation files give Python floats, the pipeline tensors: one rule, halves up (not to even).
    values = [-1.5, -0.5, 0.5, 1.5, 2.5, 2.4999, 2.5001]
    expected = [-1.0, 0.0, 1.0, 2.0, 3.0, 2.0, 3.0]
    assert [round_half_up(v) for v in values] == expected
    assert all(type(round_half_up(v)) is float for v in values)
    np.testing.assert_array_equal(round_half_up(tf.constant(values)), expected)
    np.testing.assert_array_equal(tf.function(round_half_up)(tf.constant(values)), expected)


def _constant_images(n: int, value: int = 200) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices(
        {
            "image": np.full((n, 32, 32, 3), value, np.uint8),
            "label": np.arange(n, dtype=np.int32) % 3,
            "boxes": np.zeros((n, 1, 4), np.float32),
            "id": [f"c{i}" for i in range(n)],
        }
    )


def _epochs(ds: tf.data.Dataset, n: int) -> list[list]:
    return [list(ds.as_numpy_iterator()) for _ in range(n)]


def test_hiding_uses_the_fill_and_a_new_random_grid_per_image_and_epoch():
    fill = (10.0, 20.0, 30.0)
    ds = make_pipeline(
        _constant_images(16),
        training=True,
        batch_size=8,
        image_size=32,
        augment=False,
        hide_patch_sizes=(8,),
        hide_prob=0.5,
        fill_value=fill,
        return_boxes=True,
        shuffle_buffer=1,  # same order every epoch: a changed grid must come from the seeds
        seed=0,
    )
    masks = []
    for epoch in _epochs(ds, 2):
        by_id = {}
        for batch in epoch:
            hidden = np.all(batch["image"] == fill, axis=-1)
            visible = np.all(batch["image"] == 200.0, axis=-1)
            assert np.all(hidden ^ visible)  # every pixel is either the fill or untouched
            by_id.update(zip(batch["id"], hidden, strict=True))
        masks.append(by_id)
        assert 0.3 < np.mean(list(by_id.values())) < 0.7
        assert len({m.tobytes() for m in by_id.values()}) > 12  # own grid per image
    assert sorted(masks[0]) == sorted(masks[1])
    changed = [not np.array_equal(masks[0][k], masks[1][k]) for k in masks[0]]
    assert sum(changed) >= 14  # a new grid each epoch


def test_repeat_hides_anew_on_every_pass_and_reproducibly():
    # The training loop runs one endless iterator over `make_pipeline(...).repeat()`.
    def passes():
        ds = make_pipeline(
            _constant_images(8),
            training=True,
            batch_size=8,
            image_size=32,
            augment=False,
            hide_patch_sizes=(8,),
            shuffle_buffer=1,
            seed=0,
        )
        return [x.numpy() for x, _ in ds.repeat().take(3)]

    first, second = passes(), passes()
    assert not np.array_equal(first[0], first[1]) and not np.array_equal(first[1], first[2])
    for x, y in zip(first, second, strict=True):
        np.testing.assert_array_equal(x, y)


def test_same_seed_same_batches_across_fresh_pipelines_and_epochs():
    def build(seed):
        ds, _ = load_dataset("synthetic", "train", num_images=24, image_size=32)
        return make_pipeline(
            ds,
            training=True,
            batch_size=8,
            image_size=32,
            hide_patch_sizes=(8, 16, 0),
            fill_value=100.0,
            shuffle_buffer=24,
            seed=seed,
        )

    a, b, c = _epochs(build(7), 2), _epochs(build(7), 2), _epochs(build(8), 2)
    for epoch_a, epoch_b in zip(a, b, strict=True):
        for (xa, ya), (xb, yb) in zip(epoch_a, epoch_b, strict=True):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)
    assert not all(np.array_equal(x0, x1) for (x0, _), (x1, _) in zip(a[0], a[1], strict=True))
    assert not all(np.array_equal(x0, x1) for (x0, _), (x1, _) in zip(a[0], c[0], strict=True))


def test_every_epoch_visits_every_example_once_in_a_new_order(tmp_path):
    ds = make_pipeline(
        _constant_images(20),
        training=True,
        batch_size=6,
        image_size=32,
        return_boxes=True,
        cache=str(tmp_path / "cache"),
    )
    orders = [[i for batch in epoch for i in batch["id"]] for epoch in _epochs(ds, 3)]
    for order in orders:
        assert sorted(order) == sorted(f"c{i}".encode() for i in range(20))
    assert len({tuple(o) for o in orders}) == 3
    assert list(tmp_path.glob("cache*"))  # the file cache was written
    drop = make_pipeline(
        _constant_images(20), training=True, batch_size=6, image_size=32, drop_remainder=True
    )
    assert [x.shape[0] for x, _ in drop] == [6, 6, 6]


def test_load_dataset_synthetic_defaults_and_class_subset():
    ds, info = load_dataset("synthetic", "val")
    assert info == DatasetInfo(
        name="synthetic",
        num_classes=len(SYNTHETIC_CLASS_NAMES),
        class_names=SYNTHETIC_CLASS_NAMES,
        image_size=(48, 48),
        num_examples=1000,
    )
    assert ds.cardinality() == 1000
    ds, info = load_dataset("synthetic", "train", num_images=34, classes=["blue", "red"])
    assert info.class_names == ("blue", "red") and info.num_classes == 2
    labels = [int(e["label"]) for e in ds]
    assert sorted(set(labels)) == [0, 1] and len(labels) == info.num_examples == 9
    ds, info = load_dataset("synthetic", "train", num_images=34, classes=3, max_per_class=4)
    labels = [int(e["label"]) for e in ds]
    assert [labels.count(c) for c in range(3)] == [4, 4, 4] and info.num_examples == 12


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"batch_size": 0}, ValueError, r"`batch_size`.*batch_size=0"),
        ({"image_size": (32,)}, TypeError, r"`image_size`.*image_size=\(32,\)"),
        ({"augment": "rotate"}, ValueError, r"`augment`.*augment='rotate'"),
        ({"hide_patch_sizes": (-8,)}, ValueError, r"`patch_sizes`"),
        ({"hide_prob": 2.0}, ValueError, r"`hide_prob`.*2\.0"),
        ({"cache": 1}, TypeError, r"`cache`.*cache=1"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, error, pattern):
    args = {"training": True, "batch_size": 2, "image_size": 32} | kwargs
    with pytest.raises(error, match=pattern):
        make_pipeline(_constant_images(2), **args)


def test_rejects_datasets_that_are_not_element_dicts():
    with pytest.raises(TypeError, match=r"`ds` must yield dicts"):
        make_pipeline(tf.data.Dataset.range(3), training=False, batch_size=1, image_size=8)
    batched = _constant_images(4).batch(2)
    with pytest.raises(TypeError, match="unbatched"):
        make_pipeline(batched, training=False, batch_size=1, image_size=8)

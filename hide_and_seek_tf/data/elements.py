"""What every data source shares: `DatasetInfo`, the element contract and box geometry.

Element (unbatched), yielded by every source::

    {"image": uint8 (H, W, 3), "label": int32 (), "boxes": float32 (n, 4), "id": string ()}

Boxes are x0, y0, x1, y1 in inclusive pixel coordinates of `image` (width = x1 - x0 + 1). n >= 1,
except for training images of sources where not every image is annotated (ImageNet train, CSV rows
without a box): n = 0 there, and evaluation refuses such images by name.

Geometry convention: a box's *edges* are L = x0 and R = x1 + 1 on the continuous axis where pixel i
spans [i, i + 1]. Every geometric transform (resize, flip, crop) maps the edges linearly, and the
new inclusive box is x0' = round(L'), x1' = round(R') - 1, clipped to the image. This is exact for
flips and integer scale factors, and it is the same convention as TFDS's normalized boxes
(xmin = x0 / W, xmax = (x1 + 1) / W), so pixel -> normalized -> pixel round trips are exact.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from hide_and_seek_tf._checks import positive_int

ELEMENT_KEYS = ("image", "label", "boxes", "id")


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a loaded dataset is.

    Attributes:
        name: "synthetic", "tiny_imagenet", "tfds:caltech_birds2011", ...
        num_classes: number of classes; labels are 0 .. num_classes - 1.
        class_names: human-readable name per label (Tiny ImageNet: the first WordNet synonym).
        image_size: (H, W) when every image has it, else None.
        num_examples: number of elements when known, else None.
        wnids: dataset-specific class ids per label when they differ from `class_names`
            (WordNet ids for Tiny ImageNet and ImageNet, CUB's folder names), else None.
        max_boxes: the most boxes any element has, when known (evaluation pads to it).
        num_without_boxes: elements with no box (ImageNet train images without annotation,
            CSV rows with empty box fields): usable for training; evaluation refuses them.
        without_boxes: the ids of the first few of them, for messages.
        num_clipped_boxes: boxes that extended past their image and were clipped to it
            (`data.checks`); clipped_boxes: the first few, for messages.
        num_skipped_images: unreadable images left out (`skip_bad_images`); skipped_images:
            the first few, with why.
        scan: what the header scan of the split found (`data.checks.ScanSummary`), for sources
            whose files are scanned, else None.
    """

    name: str
    num_classes: int
    class_names: tuple[str, ...]
    image_size: tuple[int, int] | None
    num_examples: int | None
    wnids: tuple[str, ...] | None = None
    max_boxes: int | None = None
    num_without_boxes: int = 0
    without_boxes: tuple[str, ...] = ()
    num_clipped_boxes: int = 0
    clipped_boxes: tuple[str, ...] = ()
    num_skipped_images: int = 0
    skipped_images: tuple[str, ...] = ()
    scan: Any = dataclasses.field(default=None, compare=False, repr=False)


def parse_image_size(image_size: Any, name: str = "image_size") -> tuple[int, int]:
    """Returns `image_size` (an int S or an (H, W) pair of positive ints) as (H, W).

    Raises:
        TypeError / ValueError: anything else, naming `name`.
    """
    if isinstance(image_size, numbers.Integral) and not isinstance(image_size, bool):
        size = (int(image_size), int(image_size))
    elif (
        isinstance(image_size, Sequence)
        and not isinstance(image_size, str)
        and len(image_size) == 2
        and all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in image_size)
    ):
        size = (int(image_size[0]), int(image_size[1]))
    else:
        raise TypeError(
            f"`{name}` must be an int or an (H, W) pair of ints. Received: {name}={image_size!r}"
        )
    if min(size) < 1:
        raise ValueError(f"`{name}` must be positive. Received: {name}={image_size!r}")
    return size


def check_count(value: Any, name: str) -> int | None:
    """Returns `value` if it is None or a positive int; raises naming `name` otherwise."""
    return positive_int(value, name, optional=True)


def check_dict_dataset(ds: Any, name: str, keys: Sequence[str], made_by: str) -> dict[str, Any]:
    """The element spec of `ds`; raises TypeError unless `ds` is a tf.data.Dataset of dicts with
    `keys` (as `made_by` yields them)."""
    if not isinstance(ds, tf.data.Dataset):
        raise TypeError(f"`{name}` must be a tf.data.Dataset. Received: {name}={ds!r}")
    spec = ds.element_spec
    if not isinstance(spec, dict) or not set(keys) <= set(spec):
        raise TypeError(
            f"`{name}` must yield dicts with keys {list(keys)} (from `{made_by}`). "
            f"Received: element_spec={spec!r}"
        )
    return spec


def check_element_spec(ds: Any, name: str = "ds") -> None:
    """Raises TypeError unless `ds` is a tf.data.Dataset of element dicts (see module docstring)."""
    spec = check_dict_dataset(ds, name, ELEMENT_KEYS, "load_dataset")
    if spec["image"].shape.rank != 3:
        raise TypeError(
            f"`{name}` must be unbatched: 'image' of rank 3 (H, W, 3). "
            f"Received: image spec={spec['image']!r}"
        )
    if spec["boxes"].shape.rank != 2:
        raise TypeError(
            f"`{name}` 'boxes' must have shape (n, 4). Received: boxes spec={spec['boxes']!r}"
        )


def round_half_up(x: Any) -> Any:
    """Rounds .5 up, on a Python number (a float comes back), a NumPy array or a tensor alike.

    `round()` and `tf.round` round half to even, which would make box edges depend on parity.
    """
    # Floor division by 1 is floor() for all three (tf.floor would turn a number into a tensor).
    return (x + 0.5) // 1


def affine_boxes(
    boxes: tf.Tensor,
    scale_x: Any,
    offset_x: Any,
    scale_y: Any,
    offset_y: Any,
    width: Any,
    height: Any,
) -> tf.Tensor:
    """Maps inclusive pixel boxes through x -> scale_x * x + offset_x (same for y) on box edges.

    Works for a flip (negative scale; edges are re-sorted), a resize and a crop. Padding rows
    (x1 < 0) stay rows of -1; a box left entirely outside the new image (cropped away) becomes
    padding; a box narrower than a pixel after the transform keeps one pixel.

    Args:
        boxes: float (..., n, 4) x0, y0, x1, y1 inclusive.
        scale_x, offset_x, scale_y, offset_y: scalars or tensors broadcastable to boxes[..., 0].
        width, height: the new image's size (scalars or broadcastable likewise).

    Returns:
        float32 boxes of the same shape, inclusive pixels of the new image.
    """
    boxes = tf.cast(boxes, tf.float32)
    scale_x, offset_x, scale_y, offset_y, width, height = (
        tf.cast(v, tf.float32) for v in (scale_x, offset_x, scale_y, offset_y, width, height)
    )
    x0, y0, x1, y1 = tf.unstack(boxes, axis=-1)
    ax, bx = x0 * scale_x + offset_x, (x1 + 1.0) * scale_x + offset_x
    ay, by = y0 * scale_y + offset_y, (y1 + 1.0) * scale_y + offset_y
    # Clip the continuous edges to the image; the box is kept if anything of it remains.
    left = tf.clip_by_value(tf.minimum(ax, bx), 0.0, width)
    right = tf.clip_by_value(tf.maximum(ax, bx), 0.0, width)
    top = tf.clip_by_value(tf.minimum(ay, by), 0.0, height)
    bottom = tf.clip_by_value(tf.maximum(ay, by), 0.0, height)
    valid = (x1 >= 0.0) & (right > left) & (bottom > top)  # padding rows have x1 < 0
    nx0 = tf.minimum(round_half_up(left), width - 1.0)
    ny0 = tf.minimum(round_half_up(top), height - 1.0)
    # A box narrower than a pixel after the transform keeps one pixel.
    nx1 = tf.clip_by_value(round_half_up(right) - 1.0, nx0, width - 1.0)
    ny1 = tf.clip_by_value(round_half_up(bottom) - 1.0, ny0, height - 1.0)
    out = tf.stack([nx0, ny0, nx1, ny1], axis=-1)
    return tf.where(valid[..., None], out, -tf.ones_like(out))


def inclusive_to_normalized(boxes: Any, height: int, width: int) -> tf.Tensor:
    """Inclusive pixel x0, y0, x1, y1 -> TFDS normalized ymin, xmin, ymax, xmax.

    ymin = y0 / H, ymax = (y1 + 1) / H; `normalized_to_inclusive` inverts it exactly.
    """
    boxes = tf.cast(boxes, tf.float32)
    x0, y0, x1, y1 = tf.unstack(boxes, axis=-1)
    h, w = float(height), float(width)
    return tf.stack([y0 / h, x0 / w, (y1 + 1.0) / h, (x1 + 1.0) / w], axis=-1)


def normalized_to_inclusive(bbox: Any, height: Any, width: Any) -> tf.Tensor:
    """TFDS normalized ymin, xmin, ymax, xmax -> inclusive pixel x0, y0, x1, y1 (float32).

    x0 = round(xmin * W), x1 = round(xmax * W) - 1, clipped to the image and with x1 >= x0.
    """
    bbox = tf.cast(bbox, tf.float32)
    ymin, xmin, ymax, xmax = tf.unstack(bbox, axis=-1)
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    x0 = tf.clip_by_value(round_half_up(xmin * w), 0.0, w - 1.0)
    y0 = tf.clip_by_value(round_half_up(ymin * h), 0.0, h - 1.0)
    x1 = tf.clip_by_value(round_half_up(xmax * w) - 1.0, x0, w - 1.0)
    y1 = tf.clip_by_value(round_half_up(ymax * h) - 1.0, y0, h - 1.0)
    return tf.stack([x0, y0, x1, y1], axis=-1)


def resize_image(image: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """Resizes one uint8 image to `size` = (H, W): bilinear, antialiased, rounded back to uint8.

    The aspect ratio is not kept (the image is stretched), as in the paper's resizing. An image
    already of that size comes back unchanged (the rounded same-size resize is the identity; it is
    skipped when the size is known statically). The data pipeline and the serving export both
    resize through here.
    """
    height, width = size
    if tuple(image.shape[:2]) == (height, width):
        return image
    resized = tf.image.resize(image, (height, width), method="bilinear", antialias=True)
    return tf.cast(tf.round(tf.clip_by_value(resized, 0.0, 255.0)), tf.uint8)


def resize_image_and_boxes(
    image: tf.Tensor, boxes: tf.Tensor, size: tuple[int, int]
) -> tuple[tf.Tensor, tf.Tensor]:
    """`resize_image`, with the image's boxes scaled to match (float32, inclusive pixels)."""
    height, width = size
    if tuple(image.shape[:2]) == (height, width):
        return image, tf.cast(boxes, tf.float32)
    old = tf.cast(tf.shape(image)[:2], tf.float32)
    boxes = affine_boxes(boxes, width / old[1], 0.0, height / old[0], 0.0, width, height)
    return resize_image(image, size), boxes


def resize_element(element: dict, size: tuple[int, int]) -> dict:
    """`resize_image_and_boxes` on an element dict (other keys pass through)."""
    image, boxes = resize_image_and_boxes(element["image"], element["boxes"], size)
    return {**element, "image": image, "boxes": boxes}


def resolve_classes(class_names: Sequence[str], classes: Any, where: str = "") -> tuple[int, ...]:
    """The original labels a `classes` option keeps, in their new order.

    Args:
        class_names: name (or id) of every original label, in label order.
        classes: None (all), K (the first K labels) or a list of names from `class_names`
            (new labels follow the list's order).
        where: where the names come from, for error messages (e.g. a wnids.txt path).

    Raises:
        TypeError / ValueError: a bad `classes`, naming it.
    """
    n = len(class_names)
    source = f" (classes in {where})" if where else ""
    if classes is None:
        return tuple(range(n))
    if isinstance(classes, numbers.Integral) and not isinstance(classes, bool):
        if not 1 <= classes <= n:
            raise ValueError(f"`classes` must be in [1, {n}]{source}. Received: classes={classes}")
        return tuple(range(int(classes)))
    if isinstance(classes, str) or not isinstance(classes, Sequence) or not classes:
        raise TypeError(
            "`classes` must be None, a number K of classes (the first K) or a non-empty list of "
            f"class names. Received: classes={classes!r}"
        )
    index = {name: i for i, name in enumerate(class_names)}
    unknown = [c for c in classes if c not in index]
    if unknown:
        raise ValueError(
            f"`classes` holds unknown class names{source}: {unknown[:5]}. "
            f"Received: classes={list(classes)!r}"
        )
    if len(set(classes)) != len(classes):
        raise ValueError(f"`classes` must not repeat a class. Received: classes={list(classes)!r}")
    return tuple(index[c] for c in classes)


def select_classes(
    ds: tf.data.Dataset, class_names: Sequence[str], classes: Any
) -> tuple[tf.data.Dataset, tuple[int, ...]]:
    """Keeps the examples of some classes and re-indexes their labels 0 .. K-1.

    Args:
        ds: dataset of dicts with an integer "label".
        class_names: name of every original label, in label order.
        classes: see `resolve_classes`.

    Returns:
        (dataset, kept) where `kept[new_label]` is the original label.

    Raises:
        TypeError / ValueError: a bad `classes`, naming it.
    """
    n = len(class_names)
    kept = resolve_classes(class_names, classes)
    if kept == tuple(range(n)):
        return ds, kept
    new_label = [-1] * n
    for new, old in enumerate(kept):
        new_label[old] = new
    table = tf.constant(new_label, tf.int64)

    def relabel(example):
        return {**example, "label": tf.gather(table, tf.cast(example["label"], tf.int64))}

    ds = ds.map(relabel).filter(lambda e: e["label"] >= 0)
    return ds, kept


def cap_per_class(ds: tf.data.Dataset, num_classes: int, max_per_class: int) -> tf.data.Dataset:
    """Keeps the first `max_per_class` examples of each label, in the dataset's order."""
    max_per_class = check_count(max_per_class, "max_per_class")

    def count(seen, example):
        label = tf.cast(example["label"], tf.int32)
        keep = tf.gather(seen, label) < max_per_class
        seen = tf.tensor_scatter_nd_add(seen, label[None, None], tf.ones([1], tf.int64))
        return seen, (keep, example)

    ds = ds.scan(tf.zeros([num_classes], tf.int64), count)
    return ds.filter(lambda keep, example: keep).map(lambda keep, example: example)

"""The one tf.data input pipeline for training and evaluation.

Training: resize (boxes scaled) -> cache -> shuffle (seeded, reshuffled every epoch) -> batch ->
random flip (and, with `augment="crop_flip"`, a random resized crop) -> Hide-and-Seek -> prefetch.
Only deterministic work runs before the cache; all randomness comes after it from one stateless
[2] seed per batch, drawn from `tf.data.Dataset.random(seed, rerandomize_each_iteration=True)`,
so every epoch (every new iterator, as Keras `fit` makes) flips and hides a new random set, and
two pipelines built with the same `seed` (and the same global TF seed) give identical batches.

Evaluation: resize -> cache -> batch (boxes padded to `max_boxes` with rows of -1) -> prefetch;
no randomness and no hiding.

Images are cached as uint8 (4x less memory than float32) and become float32 raw 0..255 after
batching. Boxes follow every geometric transform under the edge convention of `elements`.
"""

from __future__ import annotations

import numbers
from typing import Any

import tensorflow as tf

from hide_and_seek_tf._checks import positive_int
from hide_and_seek_tf.data.elements import (
    affine_boxes,
    check_element_spec,
    parse_image_size,
    resize_element,
)
from hide_and_seek_tf.hiding import (
    hide_patches,
    validate_fill_value,
    validate_hide_prob,
    validate_patch_sizes,
)

AUGMENTATIONS = ("none", "flip", "crop_flip")
# Random resized crop: area fraction and aspect ratio ranges (kept mild: objects must stay in view).
CROP_AREA = (0.5, 1.0)
CROP_ASPECT = (3.0 / 4.0, 4.0 / 3.0)


def _augmentation(augment: Any) -> str:
    if augment is True:
        return "flip"
    if augment is False or augment is None:
        return "none"
    if augment in AUGMENTATIONS:
        return augment
    raise ValueError(
        f"`augment` must be True (= 'flip'), False (= 'none') or one of {list(AUGMENTATIONS)}. "
        f"Received: augment={augment!r}"
    )


def random_flip(
    images: tf.Tensor, boxes: tf.Tensor, seed: tf.Tensor, prob: float = 0.5
) -> tuple[tf.Tensor, tf.Tensor]:
    """Flips each image of a batch left-right with probability `prob`, boxes too.

    Args:
        images: (B, H, W, C).
        boxes: (B, n, 4) inclusive x0, y0, x1, y1 (rows of -1 are padding and stay so).
        seed: stateless [2] int seed.
        prob: flip probability.

    Returns:
        (images, boxes); a flipped box is x0' = W - 1 - x1, x1' = W - 1 - x0.
    """
    shape = tf.shape(images)
    flip = tf.random.stateless_uniform([shape[0]], seed) < prob
    images = tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images)
    width = tf.cast(shape[2], tf.float32)
    scale = tf.where(flip, -1.0, 1.0)[:, None]
    offset = tf.where(flip, width, 0.0)[:, None]
    height = tf.cast(shape[1], tf.float32)
    boxes = affine_boxes(boxes, scale, offset, 1.0, 0.0, width, height)
    return images, boxes


def random_resized_crop(
    images: tf.Tensor,
    boxes: tf.Tensor,
    seed: tf.Tensor,
    area: tuple[float, float] = CROP_AREA,
    aspect: tuple[float, float] = CROP_ASPECT,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Crops a random window of each image (own size and place per image) and resizes it back.

    Args:
        images: float (B, H, W, C).
        boxes: (B, n, 4) inclusive boxes; they are mapped into the crop and clipped to it, and a
            box entirely outside the window becomes a padding row of -1.
        seed: stateless [2] int seed.
        area: range of the window's area as a fraction of the image.
        aspect: range of the window's width/height ratio relative to the image's (log-uniform).

    Returns:
        (images, boxes) of the input sizes.
    """
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    keys = tf.random.experimental.stateless_split(seed, 4)
    frac = tf.random.stateless_uniform([batch], keys[0], area[0], area[1])
    log_ratio = tf.random.stateless_uniform(
        [batch], keys[1], tf.math.log(aspect[0]), tf.math.log(aspect[1])
    )
    ratio = tf.exp(log_ratio)
    crop_w = tf.minimum(tf.sqrt(frac * ratio), 1.0)  # fractions of the image side
    crop_h = tf.minimum(tf.sqrt(frac / ratio), 1.0)
    x_start = tf.random.stateless_uniform([batch], keys[2]) * (1.0 - crop_w)
    y_start = tf.random.stateless_uniform([batch], keys[3]) * (1.0 - crop_h)
    # crop_and_resize samples pixel centres from y1 * (H - 1) to y2 * (H - 1) (corners aligned).
    crop_boxes = tf.stack([y_start, x_start, y_start + crop_h, x_start + crop_w], axis=1)
    images = tf.image.crop_and_resize(
        images, crop_boxes, tf.range(batch), tf.stack([height, width]), method="bilinear"
    )
    # Output pixel i's centre samples input centre a + i * step; on edges (centre + 0.5):
    # e_out = (e_in - a - 0.5) / step + 0.5.
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    step_x = crop_w * (w - 1.0) / tf.maximum(w - 1.0, 1.0)
    step_y = crop_h * (h - 1.0) / tf.maximum(h - 1.0, 1.0)
    ax, ay = x_start * (w - 1.0), y_start * (h - 1.0)
    scale_x, scale_y = 1.0 / step_x, 1.0 / step_y
    boxes = affine_boxes(
        boxes,
        scale_x[:, None],
        (0.5 - (ax + 0.5) * scale_x)[:, None],
        scale_y[:, None],
        (0.5 - (ay + 0.5) * scale_y)[:, None],
        w,
        h,
    )
    return images, boxes


def pad_element_boxes(element: dict, max_boxes: int) -> dict:
    """Pads an element's (n, 4) boxes to (max_boxes, 4) with rows of -1.

    Raises:
        tf.errors.InvalidArgumentError: while iterating, an element with more than `max_boxes`
            boxes (the message names its id); truncating would silently change the metrics.
    """
    boxes = tf.cast(element["boxes"], tf.float32)
    count = tf.shape(boxes)[0]
    check = tf.debugging.Assert(
        count <= max_boxes,
        [
            f"More than max_boxes={max_boxes} boxes in",
            element["id"],
            "count:",
            count,
            "; raise `max_boxes`.",
        ],
    )
    with tf.control_dependencies([check]):
        padded = tf.pad(
            boxes, [[0, tf.maximum(max_boxes - count, 0)], [0, 0]], constant_values=-1.0
        )
    padded = padded[:max_boxes]  # a no-op once the check passed; keeps static shapes valid
    return {**element, "boxes": tf.ensure_shape(padded, (max_boxes, 4))}


def make_pipeline(
    ds: tf.data.Dataset,
    *,
    training: bool,
    batch_size: int,
    image_size: int | tuple[int, int],
    hide_patch_sizes: Any = (),
    hide_prob: float = 0.5,
    fill_value: Any = 0.0,
    seed: int = 0,
    max_boxes: int = 8,
    shuffle_buffer: int = 10000,
    augment: bool | str = True,
    cache: bool | str = True,
    drop_remainder: bool = False,
    return_boxes: bool = False,
    source_boxes: bool = False,
) -> tf.data.Dataset:
    """Builds the training or evaluation input pipeline over a dataset of element dicts.

    Args:
        ds: unbatched element dicts from `load_dataset`.
        training: True for the training pipeline (shuffle, augmentation, Hide-and-Seek), False
            for evaluation (deterministic, no hiding).
        batch_size: images per batch.
        image_size: output size, int S or (H, W); images are resized (stretched) to it with
            bilinear antialiased resampling and boxes scaled (see `elements`).
        hide_patch_sizes: Hide-and-Seek cell sides in pixels, each image drawing one per epoch
            (0 = no hiding for that image); () or None disables hiding. Training only.
        hide_prob: probability of hiding each cell.
        fill_value: value of hidden pixels, raw 0..255 units: the per-channel training-set mean
            (`compute_dataset_mean`) for the paper's method.
        seed: int seed of the shuffle, the augmentation and the hiding.
        max_boxes: boxes per image after padding (evaluation, and training with `return_boxes`).
        shuffle_buffer: shuffle buffer size in elements (training).
        augment: training augmentation: True / "flip" (random horizontal flip, the default),
            "crop_flip" (random resized crop, area 50-100%, then flip), False / "none".
        cache: True caches the resized uint8 elements in memory, a string caches them in files
            with that prefix, False does not cache.
        drop_remainder: drop the last incomplete batch.
        return_boxes: training only: yield dicts like evaluation (with the augmented boxes)
            instead of (images, labels), e.g. to look at what the network sees.
        source_boxes: evaluation only: also yield each image's decoded size and its boxes before
            the resize (wsolevaluation's protocol rescales those itself).

    Returns:
        training: batches (images float32 (B, H, W, 3) raw 0..255 after augmentation and hiding,
        labels int32 (B,)). Evaluation: dicts {"image": float32 (B, H, W, 3), "label": int32 (B,),
        "boxes": float32 (B, max_boxes, 4) inclusive boxes of the resized image, padded with -1
        rows, "id": string (B,)}; with `source_boxes`, also "source_size" int32 (B, 2) (H, W)
        and "source_boxes" float32 (B, max_boxes, 4) in the decoded image's pixels.

    Raises:
        TypeError / ValueError: a bad argument, naming it.

    Example:
        >>> train_ds, info = load_dataset("synthetic", "train")
        >>> batches = make_pipeline(train_ds, training=True, batch_size=64, image_size=48,
        ...                         hide_patch_sizes=(8, 16, 0), fill_value=mean, seed=0)
    """
    check_element_spec(ds)
    size = parse_image_size(image_size)
    batch_size = positive_int(batch_size, "batch_size")
    max_boxes = positive_int(max_boxes, "max_boxes")
    shuffle_buffer = positive_int(shuffle_buffer, "shuffle_buffer")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"`seed` must be an int. Received: seed={seed!r}")
    if not isinstance(cache, bool | str):
        raise TypeError(f"`cache` must be a bool or a file prefix. Received: cache={cache!r}")
    augmentation = _augmentation(augment)
    patch_sizes = () if hide_patch_sizes is None else hide_patch_sizes
    if not (isinstance(patch_sizes, tuple | list) and len(patch_sizes) == 0):
        patch_sizes = validate_patch_sizes(patch_sizes)
    hide_prob = validate_hide_prob(hide_prob)
    fill = validate_fill_value(fill_value)
    hiding = training and any(s > 0 for s in patch_sizes) and hide_prob > 0.0

    autotune = tf.data.AUTOTUNE
    with_source = source_boxes and not training

    with_boxes = not training or return_boxes
    if with_boxes:
        keys = ("image", "label", "boxes", "id")
        keys += ("source_size", "source_boxes") if with_source else ()
    else:
        keys = ("image", "label")

    def prepare(e):  # one map per element: tf.data does not fuse maps by default
        source = {}
        if with_source:  # the boxes as annotated, for protocols that score in source pixels
            source_boxes = pad_element_boxes(e, max_boxes)["boxes"]
            source = {"source_size": tf.shape(e["image"])[:2], "source_boxes": source_boxes}
        e = resize_element(e, size)
        if with_boxes:
            e = pad_element_boxes(e, max_boxes)
        e = {**e, **source}
        return {k: tf.cast(e[k], tf.int32) if k == "label" else e[k] for k in keys}

    ds = ds.map(prepare, num_parallel_calls=autotune)
    if cache:
        ds = ds.cache("" if cache is True else cache)

    if not training:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=autotune)
        ds = ds.map(
            lambda b: {**b, "image": tf.cast(b["image"], tf.float32)}, num_parallel_calls=autotune
        )
        return ds.prefetch(autotune)

    ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=autotune)
    # One [2] seed per batch, different in every epoch and reproducible from `seed`.
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

    def augment_batch(batch: dict, batch_seed: tf.Tensor):
        flip_seed, crop_seed, hide_seed = tf.unstack(
            tf.random.experimental.stateless_split(batch_seed, 3)
        )
        images = tf.cast(batch["image"], tf.float32)
        boxes = batch.get("boxes")
        if boxes is None:  # boxes are not needed: transform a placeholder
            boxes = tf.fill([tf.shape(images)[0], 1, 4], -1.0)
        if augmentation == "crop_flip":
            images, boxes = random_resized_crop(images, boxes, crop_seed)
        if augmentation in ("flip", "crop_flip"):
            images, boxes = random_flip(images, boxes, flip_seed)
        if hiding:
            images = hide_patches(images, patch_sizes, hide_prob, fill, seed=hide_seed)
        if return_boxes:
            return {**batch, "image": images, "boxes": boxes}
        return images, batch["label"]

    ds = tf.data.Dataset.zip(ds, seeds).map(augment_batch, num_parallel_calls=autotune)
    return ds.prefetch(autotune)

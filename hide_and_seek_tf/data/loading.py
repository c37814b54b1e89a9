"""`load_dataset`: one split of any registered data spec (see `hide_and_seek_tf.data`)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import tensorflow as tf

from hide_and_seek_tf.data import synthetic
from hide_and_seek_tf.data.common import (
    DatasetInfo,
    cap_per_class,
    parse_image_size,
    select_classes,
)
from hide_and_seek_tf.data.spec import DataSpec
from hide_and_seek_tf.data.synthetic import SYNTHETIC_CLASS_NAMES, make_synthetic_dataset


def _load_synthetic(split, classes, max_per_class, num_images, image_size, seed):
    if num_images is None:
        num_images = synthetic.DEFAULT_NUM_TRAIN if split == "train" else synthetic.DEFAULT_NUM_VAL
    if image_size is None:
        image_size = synthetic.DEFAULT_IMAGE_SIZE
    ds = make_synthetic_dataset(split, num_images, image_size, seed)
    size = parse_image_size(image_size)
    ds, kept = select_classes(ds, SYNTHETIC_CLASS_NAMES, classes)
    if max_per_class is not None:
        ds = cap_per_class(ds, len(kept), max_per_class)
    # Synthetic labels cycle with the image index (label = index % 8), so counts are exact.
    per_class = [len(range(c, num_images, len(SYNTHETIC_CLASS_NAMES))) for c in kept]
    if max_per_class is not None:
        per_class = [min(n, max_per_class) for n in per_class]
    info = DatasetInfo(
        name="synthetic",
        num_classes=len(kept),
        class_names=tuple(SYNTHETIC_CLASS_NAMES[i] for i in kept),
        image_size=size,
        num_examples=sum(per_class),
    )
    return ds, info


def load_dataset(
    spec: str | DataSpec,
    split: str,
    *,
    classes: int | Sequence[str] | None = None,
    max_per_class: int | None = None,
    num_images: int | None = None,
    image_size: int | tuple[int, int] | None = None,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    strict_boxes: bool = False,
    skip_bad_images: bool = False,
    max_image_pixels: int | None = None,
) -> tuple[tf.data.Dataset, DatasetInfo]:
    """Loads one split of a dataset as unbatched element dicts.

    Args:
        spec: a data spec (see `hide_and_seek_tf.data.spec` and the README's table), as text or
            a parsed `DataSpec`: "synthetic" (built-in, rendered on the fly);
            "tiny-imagenet:PATH" (tiny-imagenet-200.zip, read in place, or its folder);
            "tfds:NAME" (a prepared TFDS dataset with boxes); "cub:PATH" (the CUB_200_2011
            folder or .tgz); "imagenet:PATH" (ILSVRC 2012 CLS-LOC, the Kaggle LOC layout);
            "wsol:METADATA_DIR" (wsolevaluation's metadata, images under `data_dir`);
            "csv:FILE" (your own data, one row per box). Feature sequences (videos):
            "synthetic-sequences" and "video-features:PATH" return sequence elements and a
            `SequenceInfo` instead (see `data.sequences.load_sequences`).
        split: the source's split: "train", "val" or "test" as it has them, and for choosing
            thresholds on held-out training images "train_holdout" / "train_minus_holdout"
            (Tiny ImageNet, CUB, ImageNet, CSV).
        classes: None (all), K (the first K classes) or a list of class ids (Tiny ImageNet and
            ImageNet: wnids; CUB: classes.txt names; TFDS, CSV: label names; synthetic: colour
            names). Labels are re-indexed 0 .. K-1.
        max_per_class: keep the first N images of each class (Tiny ImageNet: train splits only).
        num_images: synthetic: how many images to render (default 4000 train / 1000 otherwise);
            other sources: keep the first N examples.
        image_size: synthetic: the side to render (default 48); other sources: None keeps the
            native size, else images are resized to it (boxes scaled).
        seed: synthetic data's seed; the file sources are deterministic and ignore it.
        data_dir: depends on the kind: the TFDS data directory ("tfds:"), the image root
            ("wsol:", "csv:"), or the dataset path of a bare "tiny-imagenet" / "cub" /
            "imagenet".
        strict_boxes: refuse a box that extends past its image instead of clipping it (file
            sources; see `hide_and_seek_tf.data.checks`).
        skip_bad_images: leave unreadable images out (counted in `info.num_skipped_images`)
            instead of refusing them (file sources).
        max_image_pixels: refuse, from its header, an image of more pixels than this (default
            `checks.MAX_IMAGE_PIXELS`, or $HIDE_AND_SEEK_MAX_IMAGE_PIXELS).

    Returns:
        (dataset, info): elements {"image": uint8 (H, W, 3), "label": int32 (), "boxes": float32
        (n, 4) inclusive x0, y0, x1, y1, "id": string ()}; `info` a `DatasetInfo`.

    Raises:
        ValueError: an unknown spec or split, a dataset that is missing or not prepared, a
            malformed annotation (naming its file and line), an unreadable image or a box
            entirely outside its image (naming the file and annotation line; file sources check
            every selected image's header before returning), bad options; TypeError: an argument
            of the wrong type. Messages name the argument.

    Example:
        >>> ds, info = load_dataset("tiny-imagenet:~/data/tiny-imagenet-200.zip", "train",
        ...                         classes=20, max_per_class=100)
        >>> info.num_classes, info.num_examples
        (20, 2000)
    """
    parsed = DataSpec.parse(spec, data_dir=data_dir, name="spec")
    return parsed.load(
        split,
        classes=classes,
        max_per_class=max_per_class,
        num_images=num_images,
        image_size=image_size,
        seed=seed,
        strict_boxes=strict_boxes,
        skip_bad_images=skip_bad_images,
        max_image_pixels=max_image_pixels,
    )

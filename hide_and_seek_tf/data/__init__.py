"""Data sources (Tiny ImageNet zip/folder, TFDS, synthetic) and the tf.data input pipeline.

Every source yields the same unbatched element::

    {"image": uint8 (H, W, 3), "label": int32 (), "boxes": float32 (n, 4), "id": string ()}

with boxes x0, y0, x1, y1 in inclusive pixel coordinates of `image` and n >= 1.
"""

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
from hide_and_seek_tf.data.pipeline import make_pipeline
from hide_and_seek_tf.data.synthetic import SYNTHETIC_CLASS_NAMES, make_synthetic_dataset
from hide_and_seek_tf.data.tiny_imagenet import load_tiny_imagenet

__all__ = [
    "DatasetInfo",
    "SYNTHETIC_CLASS_NAMES",
    "load_dataset",
    "make_pipeline",
    "make_synthetic_dataset",
]

_SPEC_FORMS = (
    "'synthetic', 'tiny-imagenet:/path/to/tiny-imagenet-200.zip' (or its folder; or "
    "'tiny-imagenet' with `data_dir`), or 'tfds:NAME'; for feature sequences "
    "'synthetic-sequences' or 'video-features:PATH'"
)


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
    spec: str,
    split: str,
    *,
    classes: int | Sequence[str] | None = None,
    max_per_class: int | None = None,
    num_images: int | None = None,
    image_size: int | tuple[int, int] | None = None,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
) -> tuple[tf.data.Dataset, DatasetInfo]:
    """Loads one split of a dataset as unbatched element dicts.

    Args:
        spec: "synthetic" (built-in, rendered on the fly), "tiny-imagenet:PATH" with PATH the
            official tiny-imagenet-200.zip (read in place) or its extracted folder ("tiny-imagenet"
            alone takes PATH from `data_dir`), or "tfds:NAME" for a prepared TFDS dataset with
            boxes ("tfds:tiny_imagenet_hs" is this package's builder; "tfds:caltech_birds2011").
            Feature sequences (videos): "synthetic-sequences" and "video-features:PATH" return
            sequence elements and a `SequenceInfo` instead (see `data.sequences.load_sequences`).
        split: "train" or "val"; also "test" (synthetic, TFDS datasets that have it) and, for
            Tiny ImageNet, "train_holdout" / "train_minus_holdout" (10 held-out train images per
            class for choosing thresholds; see `tiny_imagenet`).
        classes: None (all), K (the first K classes) or a list of class names (Tiny ImageNet:
            wnids; TFDS: label names; synthetic: colour names). Labels are re-indexed 0 .. K-1.
        max_per_class: keep the first N images of each class (Tiny ImageNet: train splits only).
        num_images: synthetic: how many images to render (default 4000 train / 1000 otherwise);
            other sources: keep the first N examples.
        image_size: synthetic: the side to render (default 48); other sources: None keeps the
            native size, else images are resized to it (boxes scaled).
        seed: synthetic data's seed; the file sources are deterministic and ignore it.
        data_dir: TFDS data directory for "tfds:", the dataset path for a bare "tiny-imagenet".

    Returns:
        (dataset, info): elements {"image": uint8 (H, W, 3), "label": int32 (), "boxes": float32
        (n, 4) inclusive x0, y0, x1, y1, "id": string ()}; `info` a `DatasetInfo`.

    Raises:
        ValueError: an unknown spec or split, a dataset that is missing or not prepared, bad
            options; TypeError: an argument of the wrong type. Messages name the argument.

    Example:
        >>> ds, info = load_dataset("tiny-imagenet:~/data/tiny-imagenet-200.zip", "train",
        ...                         classes=20, max_per_class=100)
        >>> info.num_classes, info.num_examples
        (20, 2000)
    """
    if not isinstance(spec, str):
        raise TypeError(f"`spec` must be a string: {_SPEC_FORMS}. Received: spec={spec!r}")
    kind, _, rest = spec.partition(":")
    kind = kind.strip().lower().replace("_", "-")
    if kind == "synthetic" and not rest:
        return _load_synthetic(split, classes, max_per_class, num_images, image_size, seed)
    if kind == "tiny-imagenet":
        path = rest or data_dir
        if not path:
            raise ValueError(
                "`spec` 'tiny-imagenet' needs a path: "
                "'tiny-imagenet:/path/to/tiny-imagenet-200.zip' "
                f"or `data_dir`. Received: spec={spec!r}, data_dir={data_dir!r}"
            )
        return load_tiny_imagenet(
            path,
            split,
            classes=classes,
            max_per_class=max_per_class,
            num_images=num_images,
            image_size=image_size,
        )
    if kind == "tfds" and rest:
        from hide_and_seek_tf.data.tfds_adapter import load_tfds  # imports TFDS only when needed

        return load_tfds(
            rest,
            split,
            classes=classes,
            max_per_class=max_per_class,
            num_images=num_images,
            image_size=image_size,
            data_dir=None if data_dir is None else os.fspath(data_dir),
        )
    if kind in (
        "synthetic-sequences",
        "video-features",
    ):  # feature sequences: see data/sequences.py
        from hide_and_seek_tf.data.sequences import load_sequences

        if image_size is not None or max_per_class is not None:
            raise ValueError(
                f"`image_size` and `max_per_class` do not apply to sequence data. Received: "
                f"spec={spec!r}, image_size={image_size!r}, max_per_class={max_per_class!r}"
            )
        spec = kind if not rest else f"{kind}:{rest}"
        return load_sequences(spec, split, classes=classes, num_videos=num_images, seed=seed)
    raise ValueError(f"`spec` must be {_SPEC_FORMS}. Received: spec={spec!r}")

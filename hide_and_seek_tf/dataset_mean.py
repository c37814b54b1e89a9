"""The dataset mean that Hide-and-Seek fills hidden pixels (or hidden video steps) with (paper, 3.1.2, 4.2.3).

`compute_dataset_moments` / `compute_dataset_mean` compute it for any dataset; `dataset_statistics`
gives a training run's mean and std, cached on disk under the `data_fingerprint` of its images.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf

from hide_and_seek_tf._io import write_json_atomic

if TYPE_CHECKING:
    from hide_and_seek_tf.training.config import TrainConfig


def _image_of(element: Any) -> tf.Tensor:
    if isinstance(element, dict):
        for key in ("image", "features"):
            if key in element:
                return element[key]
        raise ValueError(
            "Dataset elements that are dicts must have an 'image' key (or 'features', for sequences). "
            f"Received keys: {sorted(element)}"
        )
    if isinstance(element, tuple | list):
        return element[0]
    return element


def compute_dataset_moments(dataset: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray, int]:
    """Exact per-channel mean and standard deviation over every pixel of a finite dataset.

    Accumulates in float64 inside the `tf.data` graph (`Dataset.reduce`), so it is exact for uint8 data and
    fast on large datasets. Images may have different sizes: every pixel weighs the same. Feature
    sequences work the same way: a "pixel" is one time step, a "channel" one feature.

    Args:
        dataset: a finite `tf.data.Dataset` of images (H, W, C) or batches (B, H, W, C), of feature
            sequences (T, D) (batches (B, T, D) reduce the same as images), of tuples whose first item is
            the image or sequence, or of dicts with an "image" (else "features") key.

    Returns:
        (mean (C,), std (C,), number of pixels or steps), NumPy float64 arrays and an int.

    Raises:
        TypeError: `dataset` is not a `tf.data.Dataset`.
        ValueError: the elements are not rank 2, 3 or 4, or the dataset holds no pixel.
    """
    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(f"`dataset` must be a tf.data.Dataset. Received: dataset={dataset!r}")
    # map() spreads tuple elements over positional arguments.
    images = dataset.map(lambda *element: _image_of(element[0] if len(element) == 1 else element))
    spec = images.element_spec
    # Every axis but the last is summed over, so (T, D), (H, W, C) and batches all reduce alike.
    if spec.shape.rank not in (2, 3, 4):
        raise ValueError(
            "Dataset elements must be images (H, W, C), batches (B, H, W, C), or feature sequences "
            f"(T, D) or (B, T, D). Received: element shape={spec.shape}"
        )
    channels = spec.shape[-1]
    if channels is None:
        raise ValueError("Dataset images must have a known channel count (static last dimension).")

    def moments(image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        pixels = tf.reshape(tf.cast(image, tf.float64), [-1, channels])
        return (
            tf.reduce_sum(pixels, axis=0),
            tf.reduce_sum(tf.square(pixels), axis=0),
            tf.cast(tf.shape(pixels)[0], tf.int64),
        )

    zeros = tf.zeros([channels], tf.float64)
    total, total_sq, count = images.map(moments).reduce(
        (zeros, zeros, tf.constant(0, tf.int64)),
        lambda acc, m: (acc[0] + m[0], acc[1] + m[1], acc[2] + m[2]),
    )
    count = int(count.numpy())
    if count == 0:
        raise ValueError("`dataset` holds no pixel: cannot compute a mean of an empty dataset.")
    mean = total.numpy() / count
    var = np.maximum(total_sq.numpy() / count - mean**2, 0.0)
    return mean, np.sqrt(var), count


def compute_dataset_mean(dataset: tf.data.Dataset) -> np.ndarray:
    """Exact per-channel mean over every pixel of a finite `tf.data` dataset (float64 accumulation).

    This is the paper's mu = (1 / N_pixels) sum_j x_j: the value Hide-and-Seek fills hidden cells with, in the
    same units as the images at the point of hiding; for videos the dataset-mean feature (one value per
    feature over every step of every video) that `hide_segments` fills hidden segments with.

    Args:
        dataset: a finite dataset of images, batches of images, feature sequences (T, D), `(image, ...)`
            tuples, or dicts with "image" (or "features"); images and sequences may differ in size.

    Returns:
        NumPy float64 array of shape (C,).

    Example:
        >>> mean = compute_dataset_mean(train_ds.map(lambda x: x["image"]))
        >>> hidden = hide_patches(images, 16, fill_value=mean)
    """
    return compute_dataset_moments(dataset)[0]


# === A training run's statistics, cached across runs ===
CACHE_ENV = "HIDE_AND_SEEK_CACHE"
_FINGERPRINT_VERSION = 1


def cache_dir() -> Path:
    """Root of the on-disk cache: $HIDE_AND_SEEK_CACHE, else $XDG_CACHE_HOME/hide_and_seek_tf, else
    ~/.cache/hide_and_seek_tf."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hide_and_seek_tf"


def data_fingerprint(config: TrainConfig, split: str = "train") -> str:
    """A hash of everything the images of `split` depend on: data spec, options and image size.

    A dataset path (and an image root) enters resolved, with its size and modification time, so a
    changed file gets a new fingerprint. The seed enters only for synthetic data (the only source it changes).
    """
    spec = config.data_spec
    kind, source = spec.kind, spec.fingerprint()
    key = {
        "version": _FINGERPRINT_VERSION,
        "source": source,
        "split": split,
        "classes": list(config.classes) if isinstance(config.classes, tuple) else config.classes,
        "max_per_class": config.max_per_class,
        "num_images": config.num_images,
        "image_size": list(config.image_size) if config.image_size else None,
        "seed": config.seed if kind == "synthetic" else None,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]


def dataset_statistics(
    config: TrainConfig, train_images: Callable[[], tf.data.Dataset]
) -> dict[str, Any]:
    """Per-channel mean and std of the training images, from the cache or computed and cached.

    Args:
        config: the resolved config (its data options and `image_size` make the fingerprint).
        train_images: returns the (unbatched or batched) training dataset at `config.image_size`;
            called only on a cache miss.

    Returns:
        {"mean": [C floats], "std": [C floats], "num_pixels": int, "fingerprint": str, "data": spec,
        "split": "train", "image_size": [H, W]}: the content of `dataset_mean.json`.
    """
    fingerprint = data_fingerprint(config, config.train_split)
    cached = cache_dir() / "means" / f"{fingerprint}.json"
    if cached.exists():
        try:
            stats = json.loads(cached.read_text())
            if stats.get("fingerprint") == fingerprint:
                return stats
        except (OSError, ValueError):
            pass  # unreadable cache entry: recompute and overwrite it
    mean, std, count = compute_dataset_moments(train_images())
    stats = {
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "num_pixels": int(count),
        "fingerprint": fingerprint,
        "data": config.data,
        "split": config.train_split,
        "image_size": list(config.image_size) if config.image_size else None,
    }
    try:
        write_json_atomic(cached, stats)
    except OSError:
        pass  # a read-only cache must not stop training
    return stats

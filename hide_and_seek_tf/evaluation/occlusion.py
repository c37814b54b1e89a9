"""Occlusion robustness: top-1 accuracy with cells hidden at random, filled with the dataset mean."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from hide_and_seek_tf.cam_head import preprocess
from hide_and_seek_tf.hiding import hide_patches

#: Occlusion defaults: 16 px cells (a quarter of a Tiny ImageNet side), fixed seed.
OCCLUSION_CELL = 16
OCCLUSION_SEED = 2017


def occlusion_top1(
    model: Any,
    batches: Iterable[Mapping[str, Any]],
    fractions: Sequence[float],
    fill: Sequence[float],
    cell: int = OCCLUSION_CELL,
    seed: int = OCCLUSION_SEED,
    preprocessing: str | None = None,
) -> list[float]:
    """Top-1 accuracy (%) when each `cell` px cell of every image is hidden with probability f.

    Hidden pixels take `fill` (the run's dataset mean, raw pixel units). Batch b's mask has the
    stateless seed (seed, b) at every f: the same images for every model (at the same batch size),
    and nested masks across f (a cell hidden at f is hidden at every larger f).

    Args:
        model: a classifier (raw pixels in, logits out).
        batches: evaluation batches ("image", "label").
        fractions: hiding probabilities in [0, 1]; 0 is the clean image.
        fill: per-channel fill value.
        cell: cell side in pixels.
        seed: first half of every mask's stateless seed.
        preprocessing: None, or the `keras.applications` convention applied after hiding.

    Returns:
        Top-1 accuracy per fraction, percent.

    Raises:
        ValueError: a fraction outside [0, 1], or no images.
    """
    fractions = [float(f) for f in fractions]
    if not fractions or not all(0.0 <= f <= 1.0 for f in fractions):
        raise ValueError(f"`fractions` must be values in [0, 1]. Received: fractions={fractions!r}")
    correct = np.zeros(len(fractions), np.int64)
    total = 0
    for b, batch in enumerate(batches):
        images, labels = batch["image"], batch["label"].numpy()
        total += len(labels)
        for i, f in enumerate(fractions):
            shown = images
            if f > 0:
                mask_seed = tf.constant([seed, b], tf.int64)
                shown = hide_patches(images, cell, f, list(fill), seed=mask_seed)
            shown = preprocess(shown, preprocessing)
            logits = tf.cast(model(shown, training=False), tf.float32).numpy()
            correct[i] += int((logits.argmax(axis=1) == labels).sum())
    if total == 0:
        raise ValueError("The split has no images.")
    return (100.0 * correct / total).tolist()

"""Fixed-box baselines: one box for every image (the whole image; a box fitted on training boxes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hide_and_seek_tf.metrics import IOU_THRESHOLDS, FixedBoxBaseline


def whole_image_box(image_size: Sequence[int]) -> list[int]:
    """[0, 0, W - 1, H - 1] for an (H, W) image."""
    height, width = (int(v) for v in image_size)
    return [0, 0, width - 1, height - 1]


def score_fixed_boxes(
    boxes: Mapping[str, Sequence[float]],
    gt_boxes: np.ndarray,
    iou_thresholds: Sequence[float] = IOU_THRESHOLDS,
) -> dict[str, dict[str, Any]]:
    """Each named box used for every image, scored by `FixedBoxBaseline` (the evaluator's code).

    Args:
        boxes: {name: [x0, y0, x1, y1]}.
        gt_boxes: (N, G, 4) ground-truth boxes of the evaluated images, -1 padded.

    Returns:
        {name: `FixedBoxBaseline.compute()`}.
    """
    out = {}
    for name, box in boxes.items():
        baseline = FixedBoxBaseline(box, iou_thresholds)
        baseline.accumulate(gt_boxes)
        out[name] = baseline.compute()
    return out

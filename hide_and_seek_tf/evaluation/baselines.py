"""Fixed-box baselines: one box for every image (the whole image; a box fitted on a named split's
boxes by `metrics.choose_fixed_box`), scored from their per-image IoUs by the counting function
every other number uses (`metrics.localization_metrics`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hide_and_seek_tf.metrics import (
    IOU_THRESHOLDS,
    best_iou,
    choose_fixed_box,
    localization_metrics,
    valid_boxes,
)


def whole_image_box(image_size: Sequence[int]) -> list[int]:
    """[0, 0, W - 1, H - 1] for an (H, W) image."""
    height, width = (int(v) for v in image_size)
    return [0, 0, width - 1, height - 1]


def fixed_box_scores(
    box: Sequence[float], ious: np.ndarray, iou_thresholds: Sequence[float] = IOU_THRESHOLDS
) -> dict[str, Any]:
    """One box's baseline from its per-image IoUs (e.g. `per_image.csv`'s `fixed_box_iou`).

    Returns:
        {"box", "num_images", "gt_known_loc", "box_acc" (per IoU threshold)}, percent.

    Raises:
        ValueError: `box` is not a valid box.
    """
    box_arr = np.asarray(box, np.float64).reshape(-1)
    if box_arr.shape != (4,) or not valid_boxes(box_arr):
        raise ValueError(f"`box` must be a valid x0, y0, x1, y1 box. Received: box={box!r}")
    ious = np.asarray(ious, np.float64).reshape(-1, 1)
    m = localization_metrics(None, 1, ious, None, (0.0,), iou_thresholds)
    return {
        "box": [int(v) if float(v).is_integer() else float(v) for v in box_arr],
        "num_images": m["num_images"],
        "gt_known_loc": m["gt_known_loc"],
        "box_acc": {k: v[0] for k, v in m["curves"]["box_acc"].items()},
    }


def score_fixed_boxes(
    boxes: Mapping[str, Sequence[float]],
    gt_boxes: np.ndarray,
    iou_thresholds: Sequence[float] = IOU_THRESHOLDS,
) -> dict[str, dict[str, Any]]:
    """Each named box used for every image, scored like the model's boxes (`fixed_box_scores`).

    Args:
        boxes: {name: [x0, y0, x1, y1]}.
        gt_boxes: (N, G, 4) ground-truth boxes of the evaluated images, -1 padded.

    Returns:
        {name: `fixed_box_scores(...)`} (as `metrics.FixedBoxBaseline.compute()`).
    """
    gt = np.asarray(gt_boxes, np.float64)
    out = {}
    for name, box in boxes.items():
        pred = np.broadcast_to(np.asarray(box, np.float64), (len(gt), 4))
        out[name] = fixed_box_scores(box, best_iou(pred, gt), iou_thresholds)
    return out


def fit_fixed_box(
    batches: Any, image_size: Sequence[int], rescale: Any = None
) -> tuple[list[int], int]:
    """The fixed box fitted (`choose_fixed_box`) on the boxes of evaluation batches.

    Args:
        batches: `make_pipeline(..., training=False)` batches of the split to fit on.
        image_size: (H, W) the box is for.
        rescale: None (the batches' "boxes"), or `(source_boxes, source_size) -> boxes` (the
            wsolevaluation protocol's rescaling of the decoded images' boxes).

    Returns:
        (box, number of images fitted on); (None, 0) when no image has a box.
    """
    found = [
        b["boxes"].numpy() if rescale is None else rescale(b["source_boxes"], b["source_size"])
        for b in batches
    ]
    if not found:
        return None, 0
    boxes = np.concatenate(found, axis=0)
    return choose_fixed_box(boxes, image_size), len(boxes)

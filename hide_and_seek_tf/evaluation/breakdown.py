"""Per-image rows (`per_image.csv`), the headline summary of any subset of them, and the breakdown
by ground-truth box size."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hide_and_seek_tf.evaluation.baselines import whole_image_box
from hide_and_seek_tf.evaluation.scoring import SplitScores
from hide_and_seek_tf.evaluation.thresholds import threshold_index
from hide_and_seek_tf.metrics import (
    SIZE_BINS,
    best_iou,
    box_iou,
    localization_metrics,
    size_bin,
    valid_boxes,
)

#: How an image with several ground-truth boxes is binned (recorded in metrics.json).
BINNED_BY = (
    "the area (inclusive pixels, as a fraction of the image) of the ground-truth box that the "
    "image's box at the fixed CAM threshold is scored against: the ground-truth box with the "
    "highest IoU with it, or, when it overlaps none, the largest ground-truth box. Each image is "
    "in one bin, for every column (the baselines included)."
)
#: Occlusion defaults: 16 px cells (a quarter of a Tiny ImageNet side), fixed seed.

# Columns of `per_image.csv`, in order (see `per_image_table`).
PER_IMAGE_COLUMNS = (
    "id",
    "label",
    "top1_class",
    "top1_score",
    "label_rank",
    "num_gt_boxes",
    "gt_x0",
    "gt_y0",
    "gt_x1",
    "gt_y1",
    "gt_area_fraction",
    "size_bin",
    "cam_threshold",
    "box_x0",
    "box_y0",
    "box_x1",
    "box_y1",
    "iou",
    "tau",
    "tau_box_x0",
    "tau_box_y0",
    "tau_box_x1",
    "tau_box_y1",
    "tau_iou",
    "v2_iou_0.3",
    "v2_iou_0.5",
    "v2_iou_0.7",
    "fixed_box_iou",
    "whole_image_iou",
    "cam_inside",
    "cam_outside",
    "cam_foreground_fraction",
)


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Inclusive pixel area (x1 - x0 + 1) * (y1 - y0 + 1) of (..., 4) boxes; 0 for non-boxes."""
    b = np.asarray(boxes, np.float64)
    area = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    return np.where(valid_boxes(b), area, 0.0)


def scored_gt_box(pred_boxes: np.ndarray, gt_boxes: np.ndarray) -> np.ndarray:
    """The ground-truth box each prediction is scored against (see `BINNED_BY`).

    Args:
        pred_boxes: (N, 4) one predicted box per image.
        gt_boxes: (N, G, 4) -1 padded.

    Returns:
        (N, 4): the ground-truth box with the highest IoU with the prediction (the first among
        ties), or the largest ground-truth box when the prediction overlaps none.
    """
    gt = np.asarray(gt_boxes, np.float64)
    iou = box_iou(np.asarray(pred_boxes, np.float64)[:, None, :], gt)  # (N, G)
    index = np.where(iou.max(axis=1) > 0, iou.argmax(axis=1), box_area(gt).argmax(axis=1))
    return np.take_along_axis(gt, index[:, None, None], axis=1)[:, 0]


def per_image_table(
    scores: SplitScores,
    tau: float,
    tau_v2: Mapping[str, float] | None,
    fixed_box: Sequence[float],
) -> dict[str, np.ndarray]:
    """One row per image (columns `PER_IMAGE_COLUMNS`), as arrays.

    `box_*` / `iou` are the largest-component box at the fixed CAM threshold (`cam_threshold`,
    the paper protocol: GT-known Loc = mean(iou >= 0.5), Top-1 Loc = mean(label_rank == 0 and
    iou >= 0.5)); `tau_*` the box at the chosen tau (MaxBoxAcc = mean(tau_iou >= 0.5));
    `v2_iou_<delta>` the best IoU of any component's box at tau_delta (MaxBoxAccV2 = mean over
    delta of mean(v2_iou_delta >= delta)); `fixed_box_iou` / `whole_image_iou` the baselines'.
    IoUs are the best over the image's ground-truth boxes; `gt_*`, `gt_area_fraction` and
    `size_bin` describe the box the fixed-threshold box is scored against (`scored_gt_box`).

    Args:
        scores: `score_batches(...)`.
        tau: the MaxBoxAcc threshold; tau_v2: {delta: threshold} of MaxBoxAccV2 (or None).
        fixed_box: the fixed-box baseline's box.

    Returns:
        {column: (N,) array}.
    """
    p = scores.per_image
    grid = scores.cam_thresholds
    f = threshold_index(grid, scores.metrics["cam_threshold"], "cam_threshold")
    t = threshold_index(grid, tau)
    height, width = scores.image_size
    gt = p["gt"]
    box, tau_box = p["boxes"][:, f], p["boxes"][:, t]
    scored = scored_gt_box(box, gt)
    fraction = box_area(scored) / float(height * width)
    n = len(p["label"])
    table = {
        "id": p["id"],
        "label": p["label"],
        "top1_class": p["top1_class"],
        "top1_score": p["top1_score"],
        "label_rank": p["label_rank"],
        "num_gt_boxes": valid_boxes(gt).sum(axis=1),
        **{f"gt_{c}": scored[:, i] for i, c in enumerate(("x0", "y0", "x1", "y1"))},
        "gt_area_fraction": fraction,
        "size_bin": size_bin(fraction),
        "cam_threshold": np.full(n, grid[f]),
        **{f"box_{c}": box[:, i] for i, c in enumerate(("x0", "y0", "x1", "y1"))},
        "iou": p["iou"][:, f],
        "tau": np.full(n, grid[t]),
        **{f"tau_box_{c}": tau_box[:, i] for i, c in enumerate(("x0", "y0", "x1", "y1"))},
        "tau_iou": p["iou"][:, t],
        "fixed_box_iou": best_iou(np.broadcast_to(np.asarray(fixed_box, np.float64), (n, 4)), gt),
        "whole_image_iou": best_iou(
            np.broadcast_to(np.asarray(whole_image_box((height, width)), np.float64), (n, 4)), gt
        ),
        "cam_inside": p["cam_inside"],
        "cam_outside": p["cam_outside"],
        "cam_foreground_fraction": p["cam_foreground_fraction"],
    }
    for delta in ("0.3", "0.5", "0.7"):
        column = np.full(n, np.nan)
        if tau_v2 and delta in tau_v2:
            column = p["any_iou"][:, threshold_index(grid, tau_v2[delta], f"tau_v2[{delta}]")]
        table[f"v2_iou_{delta}"] = column
    return table


def _nanmean(values: np.ndarray) -> float | None:
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else None


# The IoU columns of a per-image table that the summary scores at IoU 0.5, in this order.
_BOX_COLUMNS = ("iou", "tau_iou", "fixed_box_iou", "whole_image_iou")
_V2_DELTAS = ("0.3", "0.5", "0.7")


def localization_summary(table: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The headline metrics of per-image rows (any subset of them), percent, counted by
    `metrics.localization_metrics` (the function behind every number): the table's IoU columns
    stand where a split's CAM thresholds stand.

    Keys: count, top1_cls, gt_known_loc and top1_loc (fixed threshold), max_box_acc and
    top1_loc_at_tau (tau), max_box_acc_v2 (None without V2 columns), fixed_box_gt_known_loc,
    whole_image_gt_known_loc, fixed_box_top1_loc (the model's class with the fixed box),
    cam_inside, cam_outside, cam_contrast (means over images where defined). Values are None for
    an empty subset; the classification columns are None without class scores (CAM files).
    """
    n = len(table["label"])
    contrast = table["cam_inside"] - table["cam_outside"]
    out: dict[str, Any] = {
        "count": int(n),
        "top1_cls": None,
        "gt_known_loc": None,
        "top1_loc": None,
        "max_box_acc": None,
        "top1_loc_at_tau": None,
        "max_box_acc_v2": None,
        "fixed_box_gt_known_loc": None,
        "fixed_box_top1_loc": None,
        "whole_image_gt_known_loc": None,
        "cam_inside": _nanmean(table["cam_inside"]),
        "cam_outside": _nanmean(table["cam_outside"]),
        "cam_contrast": _nanmean(contrast),
    }
    if n == 0:
        return out
    rank = np.asarray(table["label_rank"])
    ranked = not (rank < 0).any()  # CAM files: no class scores
    # The IoU deltas MaxBoxAccV2 was scored at (a column of NaN: not scored).
    v2 = [d for d in _V2_DELTAS if not np.isnan(table[f"v2_iou_{d}"]).all()]
    columns = np.stack([np.asarray(table[c], np.float64) for c in _BOX_COLUMNS], axis=1)
    any_iou = np.stack([np.nan_to_num(table[f"v2_iou_{d}"]) for d in _V2_DELTAS], axis=1)
    m = localization_metrics(
        rank if ranked else None,
        int(rank.max()) + 1,
        columns,
        any_iou if v2 else None,
        (0.0, 0.25, 0.5, 0.75),  # labels of the columns
    )
    loc, top1_loc = m["curves"]["gt_known_loc"], m["curves"]["top1_loc"] or [None] * 4
    out.update(
        top1_cls=m["top1_cls"],
        gt_known_loc=loc[0],
        top1_loc=top1_loc[0],
        max_box_acc=loc[1],
        top1_loc_at_tau=top1_loc[1],
        max_box_acc_v2=float(
            np.mean([m["curves"]["box_acc_v2"][d][_V2_DELTAS.index(d)] for d in v2])
        )
        if v2
        else None,
        fixed_box_gt_known_loc=loc[2],
        fixed_box_top1_loc=top1_loc[2],
        whole_image_gt_known_loc=loc[3],
    )
    return out


def size_breakdown(
    table: Mapping[str, np.ndarray], edges: Sequence[float] = SIZE_BINS
) -> dict[str, Any]:
    """The localization summary per bin of ground-truth box area (`per_image_table`'s `size_bin`).

    Returns:
        {"edges", "binned_by" (`BINNED_BY`), "bins": [{"range": [lo, hi], "fraction_of_images",
        **localization_summary(rows in the bin)}, ...]}. Count-weighted, the bins add up to the
        headline numbers.
    """
    bins = size_bin(table["gt_area_fraction"], edges)
    n = len(bins)
    rows = []
    for k in range(len(edges) - 1):
        keep = bins == k
        subset = {key: np.asarray(values)[keep] for key, values in table.items()}
        summary = localization_summary(subset)
        rows.append(
            {
                "range": [float(edges[k]), float(edges[k + 1])],
                "fraction_of_images": float(keep.sum() / n) if n else 0.0,
                **summary,
            }
        )
    return {"edges": [float(e) for e in edges], "binned_by": BINNED_BY, "bins": rows}


def per_image_csv(table: Mapping[str, np.ndarray]) -> str:
    """`per_image.csv` text: a header of `PER_IMAGE_COLUMNS`, one row per image. Floats are
    written with Python's shortest round-trip repr (so thresholds like IoU >= 0.5 re-read exactly);
    NaN is an empty field."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(PER_IMAGE_COLUMNS)
    columns = [np.asarray(table[c]) for c in PER_IMAGE_COLUMNS]
    for i in range(len(columns[0])):
        writer.writerow([_cell(column[i]) for column in columns])
    return buf.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        value = float(value)
        if math.isnan(value):
            return ""
        return int(value) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, np.integer):
        return int(value)
    return value

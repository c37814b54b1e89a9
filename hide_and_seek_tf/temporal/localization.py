"""From 1-D class activation maps to scored intervals, and their evaluation: tIoU and detection mAP.

Pure NumPy, vectorized over steps and videos.

- `cams_to_intervals`: every maximal run of steps with cam >= threshold * max(cam) (paper, 4.2.3: "all
  continuous segments after thresholding are considered predictions"), as inclusive step indices,
  scored by the mean of the CAM over the run.
- `interval_iou`: temporal IoU, continuous ([start, end] times, length end - start) or inclusive
  (step indices, length end - start + 1).
- `mean_average_precision`: per class, detections by descending score, each matched to the unmatched
  ground truth of its video and class with the highest tIoU, a true positive when that tIoU exceeds the
  threshold (the paper's "IoU > theta"); AP is the all-point interpolated area under the
  precision-recall curve, as ActivityNet's evaluation code (`interpolated_prec_rec`) computes it; mAP is
  the mean over the classes that have ground truth.

  THUMOS14's own Matlab code (`TH14eventDetPr.m`) differs in three ways, so numbers from it are not
  exactly comparable: it averages the interpolated precision at the 11 recall points 0, 0.1, ..., 1;
  it matches ground truth to detections in ground-truth order (each ground truth takes the free
  detection of highest overlap) rather than detections in score order; and it drops false positives
  that overlap an "Ambiguous" annotation.

References:
    arXiv:1811.02545, sections 4.1.3 and 4.2.3; ActivityNet's Evaluation/eval_detection.py.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

#: The paper's tIoU thresholds (Table 7).
PAPER_TIOU_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5)
#: The paper's CAM threshold: 50% of the map's max.
PAPER_CAM_THRESHOLD = 0.5


def _check_threshold(threshold: Any, name: str = "threshold") -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"`{name}` must be a number in [0, 1]. Received: {name}={threshold!r}")
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"`{name}` must be in [0, 1]. Received: {name}={threshold!r}")
    return float(threshold)


def cams_to_intervals(
    cam: Any, threshold: float = PAPER_CAM_THRESHOLD
) -> tuple[np.ndarray, np.ndarray] | list[tuple[np.ndarray, np.ndarray]]:
    """Every maximal run of steps with `cam >= threshold * max(cam)`, with a score per run.

    The CAM is thresholded as given (raw, relative to its own max). A map whose max is negative has no
    step above `threshold * max` for threshold < 1 and gives no interval: no positive evidence. A flat
    map gives one interval over the whole sequence.

    Args:
        cam: one map (T,) or a batch (B, T), finite.
        threshold: the fraction of the map's max, in [0, 1] (0.5 in the paper).

    Returns:
        For (T,): `(intervals, scores)` with `intervals` int64 (n, 2) inclusive `(start, end)` step
        indices in increasing order and `scores` float64 (n,) the mean CAM value over each run. For
        (B, T): a list of B such pairs.

    Raises:
        ValueError: `cam` is not 1-D or 2-D, is empty along T, or holds NaN or infinity; `threshold`
            outside [0, 1].

    Example:
        >>> cams_to_intervals(np.array([0.0, 0.6, 1.0, 0.2, 0.7, 0.0]))
        (array([[1, 2], [4, 4]]), array([0.8, 0.7]))
    """
    cam = np.asarray(cam, dtype=np.float64)
    if cam.ndim not in (1, 2) or cam.shape[-1] == 0:
        raise ValueError(
            f"`cam` must be one map (T,) or a batch (B, T) with T >= 1. Received: cam.shape={cam.shape}"
        )
    single = cam.ndim == 1
    cams = cam[None] if single else cam
    rows, starts, ends, scores = threshold_runs(cams, threshold)
    intervals = np.stack([starts, ends], axis=1)
    if len(cams) == 0:
        return []
    split_at = np.cumsum(np.bincount(rows, minlength=len(cams)))[:-1]
    out = list(zip(np.split(intervals, split_at), np.split(scores, split_at), strict=True))
    return out[0] if single else out


def threshold_runs(
    cams: Any, threshold: float = PAPER_CAM_THRESHOLD
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`cams_to_intervals` for a batch (B, T) as flat arrays: one entry per run, rows in order.

    Returns:
        (row int64, start int64, end int64 inclusive, score float64), each (n,), sorted by row then
        start.
    """
    threshold = _check_threshold(threshold)
    cams = np.asarray(cams, dtype=np.float64)
    if cams.ndim != 2 or cams.shape[1] == 0:
        raise ValueError(
            f"`cams` must be a batch (B, T) with T >= 1. Received: cams.shape={cams.shape}"
        )
    if not np.all(np.isfinite(cams)):
        raise ValueError("`cam` must be finite. Received: a map with NaN or infinite values")
    batch, length = cams.shape
    above = cams >= threshold * cams.max(axis=1, keepdims=True)
    # Runs start where `above` turns on and end where it turns off: one diff over the padded batch.
    padded = np.zeros((batch, length + 2), dtype=np.int8)
    padded[:, 1:-1] = above
    change = np.diff(padded, axis=1)
    rows, starts = np.nonzero(change == 1)
    _, ends = np.nonzero(change == -1)  # row-major order: each run's end pairs with its start
    ends = ends - 1
    # Mean over each run from a cumulative sum.
    cumulative = np.concatenate([np.zeros((batch, 1)), np.cumsum(cams, axis=1)], axis=1)
    scores = (cumulative[rows, ends + 1] - cumulative[rows, starts]) / (ends - starts + 1)
    return rows.astype(np.int64), starts.astype(np.int64), ends.astype(np.int64), scores


def _as_intervals(value: Any, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0 or arr.shape[-1] != 2:
        raise ValueError(
            f"`{name}` must hold (start, end) pairs, shape (..., 2). Received: {name}.shape={arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite. Received: {name} with NaN or infinite values")
    if np.any(arr[..., 1] < arr[..., 0]):
        raise ValueError(f"`{name}` must have end >= start in every interval.")
    return arr


def interval_iou(a: Any, b: Any, inclusive: bool = False) -> np.ndarray:
    """Temporal IoU of intervals, broadcast over leading axes.

    Args:
        a, b: (..., 2) `(start, end)` pairs, broadcastable (`a[:, None]`, `b[None]` gives every pair).
        inclusive: False for continuous intervals (times; length end - start, as THUMOS14 and
            ActivityNet compute it), True for inclusive step indices (length end - start + 1).

    Returns:
        float64 IoU in [0, 1], the broadcast shape without the last axis. Two intervals of zero length
        have IoU 0.

    Raises:
        ValueError: not (..., 2), non-finite, or an end before its start.
    """
    a = _as_intervals(a, "a")
    b = _as_intervals(b, "b")
    extra = 1.0 if inclusive else 0.0
    intersection = np.clip(
        np.minimum(a[..., 1], b[..., 1]) - np.maximum(a[..., 0], b[..., 0]) + extra, 0.0, None
    )
    union = (a[..., 1] - a[..., 0] + extra) + (b[..., 1] - b[..., 0] + extra) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, intersection / np.where(union > 0, union, 1.0), 0.0)


def average_precision(tp: np.ndarray, num_positives: int) -> float:
    """All-point interpolated AP of detections already sorted by descending score.

    Precision is made monotonically non-increasing from the right and integrated over every recall
    step (ActivityNet's `interpolated_prec_rec`).

    Args:
        tp: bool (N,) true positive flags, in score order.
        num_positives: number of ground-truth instances (> 0).
    """
    tp = np.asarray(tp, dtype=np.float64)
    if tp.size == 0:
        return 0.0
    tp_cum = np.cumsum(tp)
    recall = tp_cum / num_positives
    precision = tp_cum / np.arange(1, tp.size + 1)
    precision = np.concatenate([[0.0], precision, [0.0]])
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.nonzero(recall[1:] != recall[:-1])[0] + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def _table(rows: Any, width: int, name: str) -> np.ndarray:
    arr = np.asarray(rows, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, width))
    if arr.ndim != 2 or arr.shape[1] != width:
        raise ValueError(
            f"`{name}` must be rows of {width} values. Received: {name} of shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite.")
    return arr


def _match(det: np.ndarray, gt: np.ndarray, thresholds: np.ndarray, inclusive: bool) -> np.ndarray:
    """True positive flags (num_thresholds, N) of one class's detections, in descending score order."""
    tp = np.zeros((len(thresholds), len(det)), dtype=bool)
    if len(gt) == 0:
        return tp
    # Every detection against every ground truth of the class at once; matching is then a greedy pass.
    ious = interval_iou(det[:, None, 2:4], gt[None, :, 2:4], inclusive=inclusive)
    ious = np.where(det[:, None, 0] == gt[None, :, 0], ious, -1.0)  # other videos never match
    for t, theta in enumerate(thresholds):
        free = np.ones(len(gt), dtype=bool)
        for i in range(len(det)):  # greedy by score: each step depends on the previous matches
            candidates = np.where(free, ious[i], -1.0)
            best = int(np.argmax(candidates))
            if candidates[best] > theta:
                tp[t, i] = True
                free[best] = False
    return tp


def mean_average_precision(
    detections: Any,
    ground_truth: Any,
    tiou_thresholds: Sequence[float] = PAPER_TIOU_THRESHOLDS,
    inclusive: bool = False,
) -> dict[str, Any]:
    """Detection mAP at each tIoU threshold (THUMOS14 / ActivityNet style, see the module docstring).

    Per class, detections are taken by descending score (ties keep their input order); each is matched
    to the still unmatched ground truth of its video and class with the highest tIoU, and is a true
    positive when that tIoU is strictly greater than the threshold. AP is the all-point interpolated area
    under the precision-recall curve; mAP averages AP over the classes that have ground truth (a class
    with ground truth and no detection scores 0; detections of classes without ground truth are ignored).

    Args:
        detections: rows `(video, class, start, end, score)`; video and class are integer ids.
        ground_truth: rows `(video, class, start, end)`.
        tiou_thresholds: thresholds theta in [0, 1).
        inclusive: intervals are inclusive step indices (see `interval_iou`); default continuous times.

    Returns:
        {"tiou_thresholds": [...], "map": [mAP per threshold], "ap": {class id: [AP per threshold]},
        "num_ground_truth": {class id: n}, "num_detections": {class id: n}}: fractions in [0, 1].

    Raises:
        ValueError: malformed rows, or no ground truth at all.

    Example:
        >>> mean_average_precision([(0, 0, 10, 20, 0.9)], [(0, 0, 12, 20)], (0.5,))["map"]
        [1.0]
    """
    det = _table(detections, 5, "detections")
    gt = _table(ground_truth, 4, "ground_truth")
    if len(gt) == 0:
        raise ValueError("`ground_truth` must hold at least one instance. Received: no rows")
    thresholds = np.asarray([_check_threshold(t, "tiou_thresholds") for t in tiou_thresholds])
    _as_intervals(det[:, 2:4], "detections")
    _as_intervals(gt[:, 2:4], "ground_truth")
    classes = np.unique(gt[:, 1])
    ap = {}
    for c in classes:  # one pass per class (tens of classes), vectorized within it
        class_gt = gt[gt[:, 1] == c]
        class_det = det[det[:, 1] == c]
        class_det = class_det[np.argsort(-class_det[:, 4], kind="stable")]
        tp = _match(class_det, class_gt, thresholds, inclusive)
        ap[int(c)] = [average_precision(flags, len(class_gt)) for flags in tp]
    per_threshold = np.mean(np.array(list(ap.values())), axis=0)
    return {
        "tiou_thresholds": [float(t) for t in thresholds],
        "map": [float(v) for v in per_threshold],
        "ap": ap,
        "num_ground_truth": {int(c): int(np.sum(gt[:, 1] == c)) for c in classes},
        "num_detections": {int(c): int(np.sum(det[:, 1] == c)) for c in classes},
    }

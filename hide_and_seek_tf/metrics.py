"""Weakly-supervised localization metrics: IoU, GT-known / Top-1 / Top-5 Loc, MaxBoxAcc(V2).

Boxes are x0, y0, x1, y1 in inclusive pixel coordinates (area = (x1 - x0 + 1) * (y1 - y0 + 1)),
as in Tiny ImageNet and ILSVRC. A row whose x1 or y1 is negative, or with x1 < x0 or y1 < y0, is
not a box: padding in ground truth, or the "no box" row [-1, -1, -1, -1] that `cams_to_boxes`
returns for an empty foreground. It has IoU 0 with everything.

Metrics (percentages, 0..100):

- GT-known Loc: the ground-truth class's box has IoU >= 0.5 with some ground-truth box.
- Top-1 Loc: the top-1 class is right and its box has IoU >= 0.5.
- Top-5 Loc: the right class is among the top 5 and its box has IoU >= 0.5.
- BoxAcc(t, delta): GT-known Loc at CAM threshold t and IoU threshold delta;
  MaxBoxAcc = max over t of BoxAcc(t, 0.5) (Choe et al., CVPR 2020);
  MaxBoxAccV2 = mean over delta in {0.3, 0.5, 0.7} of max over t of BoxAccV2(t, delta), where an
  image counts when the box of ANY connected component matches some ground-truth box.

Only boxes of the ground-truth class are needed, for all of them: when the top-1 class is the
ground truth, "its box" is the ground-truth class's box; when the ground truth is among the top
5, "that class's box" is again the ground-truth class's box. So Top-k Loc = (label in top-k) AND
(GT-class box IoU >= 0.5), which is what `LocalizationEvaluator` computes.

References:
    Singh et al., Hide-and-Seek, https://arxiv.org/abs/1811.02545 (section 4.1).
    Choe et al., Evaluating Weakly Supervised Object Localization Methods Right, CVPR 2020,
    https://arxiv.org/abs/2001.07437 (code: clovaai/wsolevaluation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

IOU_THRESHOLDS = (0.3, 0.5, 0.7)


# ----------------------------------------------------------------------------------------------
# Small pure functions
# ----------------------------------------------------------------------------------------------


def valid_boxes(boxes: np.ndarray) -> np.ndarray:
    """Boolean mask (...) of rows that are real boxes (not padding / "no box")."""
    boxes = np.asarray(boxes)
    x0, y0, x1, y1 = (boxes[..., i] for i in range(4))
    return (x1 >= 0) & (y1 >= 0) & (x1 >= x0) & (y1 >= y0)


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """IoU of inclusive pixel boxes, broadcasting over leading dimensions.

    Args:
        boxes_a: (..., 4) x0, y0, x1, y1.
        boxes_b: (..., 4), broadcastable against `boxes_a`.

    Returns:
        float64 (...) IoU in [0, 1]; 0 where either row is not a valid box.

    Example:
        >>> box_iou([0, 0, 9, 9], [5, 0, 14, 9])  # 50 shared pixels of 150
        0.3333333333333333
    """
    a = np.asarray(boxes_a, dtype=np.float64)
    b = np.asarray(boxes_b, dtype=np.float64)
    if a.shape[-1:] != (4,) or b.shape[-1:] != (4,):
        raise ValueError(
            f"Boxes must have a last dimension of 4. Received: shapes {a.shape} and {b.shape}"
        )
    iw = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1
    ih = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    ok = valid_boxes(a) & valid_boxes(b)
    union = np.where(ok, area_a + area_b - inter, 1.0)
    iou = np.where(ok, inter / union, 0.0)
    return iou[()] if iou.ndim == 0 else iou


def best_iou(pred_boxes: np.ndarray, gt_boxes: np.ndarray) -> np.ndarray:
    """Best IoU of each predicted box with any ground-truth box of its image.

    Args:
        pred_boxes: (B, ..., 4) predicted boxes (e.g. (B, T, 4) or (B, T, M, 4)).
        gt_boxes: (B, G, 4) ground-truth boxes, padded with -1 rows.

    Returns:
        (B, ...) max over the G ground-truth boxes (0 when an image has none).
    """
    pred = np.asarray(pred_boxes)
    gt = np.asarray(gt_boxes)
    extra = pred.ndim - 2  # dims between B and the box
    gt = gt.reshape(gt.shape[:1] + (1,) * extra + gt.shape[1:])
    iou = box_iou(pred[..., None, :], gt)
    if iou.shape[-1] == 0:
        return np.zeros(iou.shape[:-1])
    return iou.max(axis=-1)


def label_ranks(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Rank (0 = top-1) of each label in its row of logits; ties go to the lower class index,
    as in `tf.math.top_k` (so the rank matches the order of `class_activation_maps`)."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64)
    own = np.take_along_axis(logits, labels[:, None], axis=1)
    classes = np.arange(logits.shape[1])[None, :]
    ahead = (logits > own) | ((logits == own) & (classes < labels[:, None]))
    return ahead.sum(axis=1)


def dense_gt_boxes(gt_boxes: Any, batch_size: int | None = None) -> np.ndarray:
    """Ground-truth boxes as a dense (B, G, 4) array padded with -1 rows.

    Accepts a dense (B, G, 4) or (B, 4) array (or tensor), a `tf.RaggedTensor`, or a sequence
    of (n_i, 4) arrays (several boxes per image).
    """
    if hasattr(gt_boxes, "to_tensor"):  # tf.RaggedTensor
        gt_boxes = gt_boxes.to_tensor(default_value=-1)
    if hasattr(gt_boxes, "numpy"):
        gt_boxes = gt_boxes.numpy()
    if isinstance(gt_boxes, np.ndarray) or (
        isinstance(gt_boxes, Sequence) and len(gt_boxes) and np.ndim(gt_boxes[0]) == 1
    ):
        dense = np.asarray(gt_boxes, dtype=np.float64)
        if dense.ndim == 2:
            dense = dense[:, None, :]
    else:
        rows = [np.asarray(b, dtype=np.float64).reshape(-1, 4) for b in gt_boxes]
        most = max([len(r) for r in rows] + [1])
        dense = np.full((len(rows), most, 4), -1.0)
        for i, r in enumerate(rows):
            dense[i, : len(r)] = r
    if dense.ndim != 3 or dense.shape[-1] != 4:
        raise ValueError(
            f"`gt_boxes` must be (B, G, 4), (B, 4) or a list of (n, 4). Received shape {dense.shape}"
        )
    if batch_size is not None and dense.shape[0] != batch_size:
        raise ValueError(
            f"`gt_boxes` must have one entry per image ({batch_size}). Received: {dense.shape[0]}"
        )
    return dense


def _numpy(x: Any) -> np.ndarray:
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


def _check_thresholds(values: Any, name: str) -> tuple[float, ...]:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size == 0 or not np.all((arr >= 0.0) & (arr <= 1.0)):
        raise ValueError(f"`{name}` must be one or more values in [0, 1]. Received: {values!r}")
    return tuple(float(v) for v in arr)


def _key(value: float) -> str:
    """JSON-friendly key for a threshold ("0.5")."""
    return f"{value:g}"


# ----------------------------------------------------------------------------------------------
# Evaluators
# ----------------------------------------------------------------------------------------------


def localization_metrics(
    label_rank: np.ndarray,
    num_classes: int,
    iou: np.ndarray,
    any_iou: np.ndarray | None,
    cam_thresholds: Sequence[float],
    iou_thresholds: Sequence[float] = IOU_THRESHOLDS,
    fixed_threshold: float | None = None,
    top_k: int = 5,
) -> dict[str, Any]:
    """The split's metrics from its per-image records: the one place they are counted.

    Args:
        label_rank: (N,) rank of the ground-truth class in each image's scores (0 = top-1);
            None where no class scores exist (CAM files): the classification metrics are None.
        num_classes: number of classes (caps `top_k`).
        iou: (N, T) best IoU of the ground-truth class's box (largest component) per CAM
            threshold.
        any_iou: (N, T) best IoU of any component's box (MaxBoxAccV2), or None.
        cam_thresholds, iou_thresholds, fixed_threshold, top_k: see `LocalizationEvaluator`.

    Returns:
        `LocalizationEvaluator.compute()`'s dict.

    Raises:
        ValueError: no image, or shapes that do not match the thresholds.
    """
    cam_thresholds = _check_thresholds(cam_thresholds, "cam_thresholds")
    iou_thresholds = _check_thresholds(iou_thresholds, "iou_thresholds")
    if 0.5 not in iou_thresholds:
        iou_thresholds = tuple(sorted(iou_thresholds + (0.5,)))
    iou = np.asarray(iou, np.float64)
    n = len(iou)
    if n == 0:
        raise ValueError("Nothing accumulated: call `accumulate` before `compute`.")
    ranked = label_rank is not None
    rank = np.asarray(label_rank).reshape(-1) if ranked else np.zeros(n, np.int64)
    if iou.shape != (n, len(cam_thresholds)):
        raise ValueError(
            f"`iou` must be (N, T) = ({n}, {len(cam_thresholds)}). Received shape {iou.shape}"
        )
    f = _fixed_index(cam_thresholds, fixed_threshold)
    deltas = np.asarray(iou_thresholds)
    top1 = rank == 0
    topk = rank < min(int(top_k), int(num_classes))

    def pct(hits: np.ndarray) -> np.ndarray:  # percent of images, per trailing index
        return 100.0 * np.count_nonzero(hits, axis=0).astype(np.float64) / n

    hits = iou[..., None] >= deltas  # (N, T, D)
    half = iou_thresholds.index(0.5)
    box_acc = pct(hits)  # (T, D)
    top1_loc = pct(hits[..., half] & top1[:, None])
    topk_loc = pct(hits[..., half] & topk[:, None])
    best_t = box_acc.argmax(axis=0)  # first best threshold per delta
    known = (lambda v: v) if ranked else (lambda v: None)  # noqa: E731
    out: dict[str, Any] = {
        "num_images": n,
        "top1_cls": known(float(pct(top1))),
        "top5_cls": known(float(pct(topk))),
        "top_k": int(top_k),
        "cam_threshold": cam_thresholds[f],
        "iou_threshold": 0.5,
        "gt_known_loc": float(box_acc[f, half]),
        "top1_loc": known(float(top1_loc[f])),
        "top5_loc": known(float(topk_loc[f])),
        "max_box_acc": float(box_acc[best_t[half], half]),
        "max_box_acc_threshold": cam_thresholds[best_t[half]],
        "max_box_acc_per_iou": {
            _key(d): float(box_acc[best_t[i], i]) for i, d in enumerate(iou_thresholds)
        },
        "max_box_acc_v2": None,
        "max_box_acc_v2_per_iou": None,
        "max_box_acc_v2_thresholds": None,
        "curves": {
            "cam_thresholds": list(cam_thresholds),
            "gt_known_loc": box_acc[:, half].tolist(),
            "top1_loc": known(top1_loc.tolist()),
            "top5_loc": known(topk_loc.tolist()),
            "box_acc": {_key(d): box_acc[:, i].tolist() for i, d in enumerate(iou_thresholds)},
            "box_acc_v2": None,
        },
    }
    if any_iou is not None:
        v2 = pct(np.asarray(any_iou, np.float64)[..., None] >= deltas)
        best_v2 = v2.argmax(axis=0)
        v2_deltas = [(i, d) for i, d in enumerate(iou_thresholds) if d in IOU_THRESHOLDS]
        per_iou = {_key(d): float(v2[best_v2[i], i]) for i, d in v2_deltas}
        out["max_box_acc_v2"] = float(np.mean(list(per_iou.values())))
        out["max_box_acc_v2_per_iou"] = per_iou
        out["max_box_acc_v2_thresholds"] = {
            _key(d): cam_thresholds[best_v2[i]] for i, d in v2_deltas
        }
        out["curves"]["box_acc_v2"] = {
            _key(d): v2[:, i].tolist() for i, d in enumerate(iou_thresholds)
        }
    return out


def _fixed_index(cam_thresholds: Sequence[float], fixed_threshold: float | None) -> int:
    if fixed_threshold is None:
        return 0
    close = np.isclose(cam_thresholds, fixed_threshold, rtol=0, atol=1e-6)
    if not close.any():
        raise ValueError(
            f"`fixed_threshold` must be one of cam_thresholds. Received: "
            f"fixed_threshold={fixed_threshold!r}"
        )
    return int(np.argmax(close))


class LocalizationEvaluator:
    """Accumulates per-image records over batches; `compute()` reports (`localization_metrics`).

    Args:
        cam_thresholds: CAM thresholds (fractions of each map's max) the boxes were made at,
            in the order of the boxes' threshold axis.
        iou_thresholds: IoU thresholds for BoxAcc (0.5 is always added: the Loc metrics use
            it); MaxBoxAccV2 averages over those of 0.3, 0.5, 0.7 present (Choe et al.).
        fixed_threshold: the CAM threshold that GT-known / Top-1 / Top-5 Loc are reported at
            (0.2 for AlexNet-GAP, 0.3 for GoogLeNet-GAP in the paper). Must be one of
            `cam_thresholds`; None means `cam_thresholds[0]`.
        top_k: k of Top-k classification and localization (5; capped at the class count).

    Example:
        >>> ev = LocalizationEvaluator(cam_thresholds=(0.2,))
        >>> logits = np.array([[2.0, 1.0], [2.0, 1.0]])  # both images predict class 0
        >>> boxes = np.array([[[0, 0, 9, 9]], [[0, 0, 9, 9]]])  # (B, T=1, 4), GT-class boxes
        >>> ev.accumulate(logits, boxes, labels=[0, 1], gt_boxes=[[0, 0, 9, 9], [0, 0, 9, 9]])
        >>> r = ev.compute(); r["gt_known_loc"], r["top1_loc"]
        (100.0, 50.0)
    """

    def __init__(
        self,
        cam_thresholds: Sequence[float] = (0.2,),
        iou_thresholds: Sequence[float] = IOU_THRESHOLDS,
        fixed_threshold: float | None = None,
        top_k: int = 5,
    ) -> None:
        self.cam_thresholds = _check_thresholds(cam_thresholds, "cam_thresholds")
        self.iou_thresholds = _check_thresholds(iou_thresholds, "iou_thresholds")
        if 0.5 not in self.iou_thresholds:
            self.iou_thresholds = tuple(sorted(self.iou_thresholds + (0.5,)))
        self.fixed_index = _fixed_index(self.cam_thresholds, fixed_threshold)
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
            raise ValueError(f"`top_k` must be an int >= 1. Received: top_k={top_k!r}")
        self.top_k = int(top_k)
        self.reset()

    def reset(self) -> None:
        """Forgets everything accumulated."""
        self.num_images = 0
        self.num_classes = None
        self._ranks: list[np.ndarray] = []
        self._ious: list[np.ndarray] = []
        self._any_ious: list[np.ndarray] = []

    def accumulate(
        self,
        logits: Any,
        boxes_per_threshold: Any,
        labels: Any,
        gt_boxes: Any,
        all_boxes: Any = None,
    ) -> None:
        """Adds one batch.

        Args:
            logits: (B, num_classes) class scores (logits or probabilities).
            boxes_per_threshold: (B, T, 4) boxes of the GROUND-TRUTH class's CAM, one per CAM
                threshold (`cams_to_boxes(..., mode="largest")`). The same boxes serve GT-known,
                Top-1 and Top-k Loc (see the module docstring for why that is exact).
            labels: (B,) ground-truth class ids.
            gt_boxes: ground-truth boxes: (B, G, 4) padded with -1 rows, (B, 4), a
                `tf.RaggedTensor`, or a list of (n_i, 4) arrays.
            all_boxes: optional (B, T, M, 4) boxes of every component of the ground-truth
                class's CAM (`cams_to_boxes(..., mode="all")`), -1 padded; needed for
                MaxBoxAccV2. Give it for every batch or for none.

        Raises:
            ValueError: inconsistent shapes, labels out of range, non-finite logits.
        """
        logits = _numpy(logits).astype(np.float64)
        boxes = _numpy(boxes_per_threshold)
        labels = _numpy(labels).reshape(-1).astype(np.int64)
        if logits.ndim != 2:
            raise ValueError(f"`logits` must be (B, num_classes). Received shape {logits.shape}")
        b, num_classes = logits.shape
        if not np.all(np.isfinite(logits)):
            raise ValueError("`logits` must be finite. Received NaN or Inf.")
        if labels.shape != (b,) or (b and (labels.min() < 0 or labels.max() >= num_classes)):
            raise ValueError(
                f"`labels` must be (B,) = ({b},) ints in [0, {num_classes}). "
                f"Received shape {labels.shape}, values {labels[:8].tolist()}"
            )
        t = len(self.cam_thresholds)
        if boxes.shape != (b, t, 4):
            raise ValueError(
                f"`boxes_per_threshold` must be (B, T, 4) = ({b}, {t}, 4). "
                f"Received shape {boxes.shape}"
            )
        gt = dense_gt_boxes(gt_boxes, b)
        if all_boxes is None and self._any_ious:
            raise ValueError("`all_boxes` was given for earlier batches; give it for every batch.")
        if all_boxes is not None and self.num_images and not self._any_ious:
            raise ValueError("`all_boxes` was not given for earlier batches; give it for none.")
        if all_boxes is not None:
            every = _numpy(all_boxes)
            if every.ndim != 4 or every.shape[:2] != (b, t) or every.shape[-1] != 4:
                raise ValueError(
                    f"`all_boxes` must be (B, T, M, 4) with B, T = {b}, {t}. "
                    f"Received shape {every.shape}"
                )
            self._any_ious.append(best_iou(every, gt).max(axis=-1, initial=0.0))  # (B, T)
        self.num_classes = num_classes
        self._ranks.append(label_ranks(logits, labels))
        self._ious.append(best_iou(boxes, gt))
        self.num_images += b

    def compute(self) -> dict[str, Any]:
        """The metrics so far (percentages), as a JSON-serializable dict.

        Keys: `num_images`; `top1_cls`, `top5_cls` (Top-k with k = `top_k`);
        `cam_threshold` (the fixed one) and, at it with IoU >= 0.5, `gt_known_loc`,
        `top1_loc`, `top5_loc`; `curves` (per CAM threshold: `gt_known_loc`, `top1_loc`,
        `top5_loc` at IoU 0.5, and `box_acc` / `box_acc_v2` per IoU threshold);
        `max_box_acc` and `max_box_acc_threshold` (best CAM threshold at IoU 0.5);
        `max_box_acc_per_iou`; `max_box_acc_v2` (None without `all_boxes`) with
        `max_box_acc_v2_per_iou` and `max_box_acc_v2_thresholds`.

        Raises:
            ValueError: nothing accumulated yet.
        """
        if self.num_images == 0:
            raise ValueError("Nothing accumulated: call `accumulate` before `compute`.")
        return localization_metrics(
            np.concatenate(self._ranks),
            self.num_classes,
            np.concatenate(self._ious),
            np.concatenate(self._any_ious) if self._any_ious else None,
            self.cam_thresholds,
            self.iou_thresholds,
            self.cam_thresholds[self.fixed_index],
            self.top_k,
        )


class FixedBoxBaseline:
    """Scores one fixed box for every image, with the same IoU and counting code: the baseline
    that tells whether a localizer beats "always predict this box" (whole image, or a box
    chosen on training boxes with `choose_fixed_box`).

    Args:
        box: x0, y0, x1, y1 inclusive.
        iou_thresholds: as in `LocalizationEvaluator`.
    """

    def __init__(self, box: Sequence[float], iou_thresholds: Sequence[float] = IOU_THRESHOLDS):
        box_arr = np.asarray(box, dtype=np.float64).reshape(-1)
        if box_arr.shape != (4,) or not valid_boxes(box_arr):
            raise ValueError(f"`box` must be a valid x0, y0, x1, y1 box. Received: box={box!r}")
        self.box = box_arr
        self._evaluator = LocalizationEvaluator(
            cam_thresholds=(0.0,), iou_thresholds=iou_thresholds
        )

    def accumulate(self, gt_boxes: Any, labels: Any = None) -> None:
        """Adds one batch of ground-truth boxes ((B, G, 4) padded, (B, 4), ragged or a list)."""
        gt = dense_gt_boxes(gt_boxes)
        b = gt.shape[0]
        boxes = np.broadcast_to(self.box, (b, 1, 4))
        # Classification is not part of a fixed-box baseline: one class, always "right".
        self._evaluator.accumulate(np.zeros((b, 1)), boxes, np.zeros(b, np.int64), gt)

    def compute(self) -> dict[str, Any]:
        """`{"box", "num_images", "gt_known_loc", "box_acc"}` (percent; box_acc per IoU)."""
        full = self._evaluator.compute()
        return {
            "box": [int(v) if float(v).is_integer() else float(v) for v in self.box],
            "num_images": full["num_images"],
            "gt_known_loc": full["gt_known_loc"],
            "box_acc": {k: v[0] for k, v in full["curves"]["box_acc"].items()},
        }


def choose_fixed_box(
    gt_boxes: Any, image_size: Sequence[int], iou_threshold: float = 0.5, max_rounds: int = 20
) -> list[int]:
    """The single box that localizes the most of the given (training) images at `iou_threshold`.

    Coordinate ascent: start from the per-coordinate median of the images' first boxes, then
    repeatedly set each coordinate (x0, y0, x1, y1 in turn) to the value in the image that
    maximizes the hit count, until nothing improves. Deterministic; ties keep the smaller
    value. Choose it on the training split and report it on the evaluation split.

    Args:
        gt_boxes: boxes of the images to fit ((N, G, 4) padded, (N, 4) or a list).
        image_size: (height, width) of the images.
        iou_threshold: the IoU that counts as a hit.
        max_rounds: cap on the passes over the four coordinates.

    Returns:
        [x0, y0, x1, y1] inclusive.
    """
    gt = dense_gt_boxes(gt_boxes)
    if gt.shape[0] == 0:
        raise ValueError("`gt_boxes` must hold at least one image.")
    height, width = (int(v) for v in image_size)
    first = gt[:, 0]
    box = np.floor(np.median(first[valid_boxes(first)], axis=0)).astype(np.int64)
    box = np.clip(box, 0, [width - 1, height - 1, width - 1, height - 1])
    box[2], box[3] = max(box[2], box[0]), max(box[3], box[1])

    def hits(candidates: np.ndarray) -> np.ndarray:  # (C, 4) -> (C,)
        iou = best_iou(np.broadcast_to(candidates[None], (len(gt),) + candidates.shape), gt)
        return (iou >= iou_threshold).sum(axis=0)

    best = int(hits(box[None])[0])
    for _ in range(max_rounds):
        improved = False
        for coord, limit in zip(range(4), (width, height, width, height), strict=True):
            lo = box[coord - 2] if coord >= 2 else 0  # x1 >= x0, y1 >= y0
            hi = box[coord + 2] + 1 if coord < 2 else limit
            values = np.arange(lo, hi)
            candidates = np.repeat(box[None], len(values), axis=0)
            candidates[:, coord] = values
            counts = hits(candidates)
            i = int(np.argmax(counts))
            if counts[i] > best:
                best, box, improved = int(counts[i]), candidates[i], True
        if not improved:
            break
    return [int(v) for v in box]


# === Box-size bins (the evaluation's size breakdown, the data check's box areas) ===
#: Edges of the ground-truth box area bins, as a fraction of the image: [0, .25), [.25, .5),
#: [.5, .75), [.75, 1] (the last bin is closed).
SIZE_BINS = (0.0, 0.25, 0.5, 0.75, 1.0)


def size_bin(area_fraction: np.ndarray, edges: Sequence[float] = SIZE_BINS) -> np.ndarray:
    """Bin index of each area fraction: [e0, e1) -> 0, ..., [e_{k-1}, e_k] -> k - 1."""
    inner = np.asarray(edges[1:-1], np.float64)
    return np.digitize(np.asarray(area_fraction, np.float64), inner, right=False)


def size_bin_label(value_range: Sequence[float]) -> str:
    """A size bin's range as written in tables: "[0.25, 0.5)", the last bin closed "[0.75, 1]"."""
    lo, hi = value_range
    return f"[{lo:g}, {hi:g}{']' if hi >= 1 else ')'}"

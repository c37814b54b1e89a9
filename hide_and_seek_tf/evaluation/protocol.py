"""The evaluation protocol: score a split, choose the CAM threshold, baselines, occlusion, per-image
results, the breakdown by object size, and paired statistics over seeds.

Everything `evaluate.py`, the Tiny ImageNet study (`benchmarks/reproduce_tiny_imagenet.py`) and the
synthetic evidence script (`benchmarks/synthetic_has_vs_gap.py`) report goes through these functions,
so one rule holds everywhere:

- Threshold choice (Choe et al., CVPR 2020): tau = the CAM threshold that maximises BoxAcc(t, 0.5)
  (largest component's box) on the CHOOSE split, the lowest such t among ties; MaxBoxAccV2 picks,
  per IoU delta in {0.3, 0.5, 0.7}, its own tau_delta maximising BoxAccV2(t, delta) (a box around
  every component). The REPORT split is then read at those thresholds (`report_at_thresholds`).
  Choosing on the reported split itself gives Choe et al.'s threshold-free upper bound, never a
  result. The rule is `LocalizationEvaluator.compute`'s argmax; `choose_thresholds` reads it.
- Fixed-box baselines: one box for every image (the whole image; a box fitted on training boxes
  with `metrics.choose_fixed_box`), scored by `metrics.FixedBoxBaseline`, the same IoU code.
- Occlusion robustness: top-1 accuracy when each `cell` x `cell` cell is hidden with probability f,
  filled with the run's dataset mean; batch b's mask has the stateless seed (seed, b) for every f,
  so every model evaluated with the same batch size sees exactly the same occluded images, and the
  cells hidden at a smaller f are a subset of those hidden at a larger one.
- Per-image results and the size breakdown (issue 15): one row per image (`per_image_table`), bins
  of the ground-truth box area as a fraction of the image (`SIZE_BINS`).
- Paired statistics: differences between two configurations paired by seed (`paired_differences`).

References:
    Singh et al., Hide-and-Seek, https://arxiv.org/abs/1811.02545.
    Choe et al., Evaluating Weakly Supervised Object Localization Methods Right, CVPR 2020,
    https://arxiv.org/abs/2001.07437.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from hide_and_seek_tf.metrics import (
    IOU_THRESHOLDS,
    FixedBoxBaseline,
    best_iou,
    box_iou,
    label_ranks,
    localization_metrics,
    valid_boxes,
)

#: Bin edges of the ground-truth box area as a fraction of the image: [0, .25), [.25, .5),
#: [.5, .75), [.75, 1] (the last bin is closed).
SIZE_BINS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: How an image with several ground-truth boxes is binned (recorded in metrics.json).
BINNED_BY = (
    "the area (inclusive pixels, as a fraction of the image) of the ground-truth box that the "
    "image's box at the fixed CAM threshold is scored against: the ground-truth box with the "
    "highest IoU with it, or, when it overlaps none, the largest ground-truth box. Each image is "
    "in one bin, for every column (the baselines included)."
)
#: Occlusion defaults: 16 px cells (a quarter of a Tiny ImageNet side), fixed seed.
OCCLUSION_CELL = 16
OCCLUSION_SEED = 2017

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


# ----------------------------------------------------------------------------------------------
# Scoring a split
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class SplitScores:
    """What one pass over a split gives.

    Attributes:
        metrics: `LocalizationEvaluator.compute()` of the split.
        per_image: arrays with one row per image: "id" (N,) str, "label" (N,), "top1_class" (N,),
            "top1_score" (N,) softmax probability, "label_rank" (N,) (0 = top-1), "gt" (N, G, 4)
            padded with -1, "boxes" (N, T, 4) largest-component boxes per CAM threshold, "iou"
            (N, T) their best IoU, "any_iou" (N, T) best IoU of any component's box (V2),
            "cam_inside" / "cam_outside" (N,) mean CAM inside / outside the union of the
            ground-truth boxes (NaN where a region is empty), "cam_foreground_fraction" (N,) the
            fraction of pixels with cam >= fixed threshold * max.
        shown: the first images for `plotting.cam_grid_figure`.
        image_size: (H, W).
    """

    metrics: dict[str, Any]
    per_image: dict[str, np.ndarray]
    shown: dict[str, list]
    image_size: tuple[int, int]

    @property
    def cam_thresholds(self) -> list[float]:
        return list(self.metrics["curves"]["cam_thresholds"])


def cam_inside_outside(cams: np.ndarray, gt_boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean CAM value inside and outside the union of each image's ground-truth boxes.

    Args:
        cams: (B, H, W) maps.
        gt_boxes: (B, G, 4) inclusive boxes, padded with -1 rows.

    Returns:
        (inside (B,), outside (B,)) float64; NaN where the region has no pixel (no box, or boxes
        that cover the whole image).
    """
    cams = np.asarray(cams, np.float64)
    gt = np.asarray(gt_boxes, np.float64)
    _, h, w = cams.shape
    ys = np.arange(h)[None, None, :, None]
    xs = np.arange(w)[None, None, None, :]
    x0, y0, x1, y1 = (gt[..., i, None, None] for i in range(4))
    in_box = (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)  # (B, G, H, W)
    inside = (in_box & valid_boxes(gt)[..., None, None]).any(axis=1)
    n_in = inside.sum(axis=(1, 2))
    n_out = h * w - n_in
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_in = np.where(n_in > 0, (cams * inside).sum(axis=(1, 2)) / n_in, np.nan)
        mean_out = np.where(n_out > 0, (cams * ~inside).sum(axis=(1, 2)) / n_out, np.nan)
    return mean_in, mean_out


def paper_box_ious(
    cams: Any, thresholds: Sequence[float], gt_boxes: np.ndarray, max_components: int = 16
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The paper-exact boxes (`cams_to_boxes`: the largest 8-connected component of
    cam >= t * max, and every component for MaxBoxAccV2) of a batch and their best IoUs.

    Returns:
        (largest (B, T, 4) int32, iou (B, T), any_iou (B, T)), as `wsol_box_ious`.
    """
    from hide_and_seek_tf.boxes import cams_to_boxes

    largest = cams_to_boxes(cams, thresholds, mode="largest").numpy()
    every = cams_to_boxes(cams, thresholds, mode="all", max_components=max_components).numpy()
    any_iou = best_iou(every, gt_boxes).max(axis=-1, initial=0.0)
    return largest.astype(np.int32), best_iou(largest, gt_boxes), any_iou


def score_batches(
    model: Any,
    batches: Iterable[Mapping[str, Any]],
    cam_thresholds: Sequence[float],
    fixed_threshold: float,
    *,
    ten_crop: bool = False,
    iou_thresholds: Sequence[float] = IOU_THRESHOLDS,
    max_components: int = 16,
    num_plot: int = 0,
    progress: Any = None,
    preprocessing: str | None = None,
    cam_layer: str | None = None,
    classifier_layer: str | None = None,
    protocol: str = "paper",
    cam_files: Any = None,
    save_cams: Any = None,
    num_classes: int | None = None,
) -> SplitScores:
    """One pass over evaluation batches: class scores, ground-truth-class CAMs, their boxes at every
    CAM threshold (largest and every component or contour), the per-image records and the metrics
    computed from them (`metrics.localization_metrics`).

    Args:
        model: a classifier with a global pooling and a Dense after it (the project's models:
            `cam_features` and `predictions` layers; see `classifier.find_cam_head`); None with
            `cam_files` (no class scores then: the classification metrics are None).
        batches: `make_pipeline(..., training=False)` batches ("image", "label", "boxes", "id";
            with protocol "wsolevaluation" also "source_size" and "source_boxes").
        cam_thresholds: the CAM threshold grid (fractions of each map's max).
        fixed_threshold: the threshold GT-known / Top-1 / Top-5 Loc are reported at (in the grid).
        ten_crop: average scores and CAMs over 10 crops (`cam.ten_crop_cams`).
        iou_thresholds: IoU thresholds of BoxAcc / MaxBoxAccV2.
        max_components: boxes per CAM kept for MaxBoxAccV2 (paper protocol).
        num_plot: how many images to keep in `shown`.
        progress: a `keras.utils.Progbar` (or None).
        preprocessing: None (the model takes raw pixels), or the `keras.applications` convention
            ("tf", "torch", "caffe") applied to the pixels before the model (`shown` keeps them raw).
        cam_layer, classifier_layer: layer names for CAM; default: found (`find_cam_head`).
        protocol: "paper" (boxes by `cams_to_boxes` at the image size) or "wsolevaluation"
            (`hide_and_seek_tf.evaluation.wsolevaluation`: 224 x 224 maps and boxes, OpenCV
            contours).
        cam_files: a `CamFiles` reading each image's CAM instead of the model.
        save_cams: a `CamFiles` each scored CAM is written to.
        num_classes: the class count (needed with `cam_files`, which has no scores).

    Returns:
        A `SplitScores`.

    Raises:
        ValueError: the batches hold no image; a bad `protocol`; a CAM file that is missing or
            malformed (named).
    """
    import tensorflow as tf

    from hide_and_seek_tf.cam import class_activation_maps, ten_crop_cams
    from hide_and_seek_tf.classifier import preprocess
    from hide_and_seek_tf.evaluation import wsolevaluation as wsol

    wsol.check_protocol(protocol)
    heads = dict(cam_layer=cam_layer, classifier_layer=classifier_layer)
    grid = tuple(float(t) for t in cam_thresholds)
    fixed_t = grid[threshold_index(grid, fixed_threshold, "fixed_threshold")]
    if protocol == "wsolevaluation":
        wsol.import_cv2()  # one line before any work when OpenCV is missing
    parts: dict[str, list[np.ndarray]] = {}
    shown: dict[str, list] = {"image": [], "cam": [], "gt": [], "box": [], "label": [], "pred": []}
    image_size = None
    for batch in batches:
        images, labels = batch["image"], batch["label"]
        labels_np = labels.numpy().astype(np.int64)
        ids = (
            np.array([v.decode() for v in batch["id"].numpy()], dtype=object)
            if "id" in batch
            else np.full(len(labels_np), "", dtype=object)
        )
        if cam_files is not None:
            cams_np, logits = cam_files.read(ids), None
        else:
            inputs = preprocess(images, preprocessing)
            if ten_crop:
                scores, cams = ten_crop_cams(model, inputs, labels, **heads)
            else:
                scores, cams = class_activation_maps(model, inputs, class_ids=labels, **heads)
                cams = cams[:, 0]
            cams_np, logits = np.asarray(cams), scores.numpy().astype(np.float64)
        if protocol == "wsolevaluation":
            if cam_files is None:
                cams_np = wsol.normalize_cams(cams_np)
            elif cams_np.shape[1:] != (wsol.WSOL_SIZE,) * 2:  # scored as saved, like theirs
                raise ValueError(
                    f"protocol 'wsolevaluation' scores {wsol.WSOL_SIZE} x {wsol.WSOL_SIZE} CAMs. "
                    f"Received: maps of {list(cams_np.shape[1:])} in {cam_files.folder}"
                )
            gt_np = wsol.rescale_boxes(batch["source_boxes"].numpy(), batch["source_size"].numpy())
            largest_np, iou, any_iou = wsol.wsol_box_ious(cams_np, grid, gt_np)
        else:
            size = tuple(int(v) for v in images.shape[1:3])
            if cams_np.shape[1:] != size:  # CAM files of another size
                cams_np = wsol.normalize_cams(cams_np, size)
            gt_np = batch["boxes"].numpy().astype(np.float64)
            largest_np, iou, any_iou = paper_box_ious(cams_np, grid, gt_np, max_components)
        image_size = tuple(int(v) for v in cams_np.shape[1:3])
        if save_cams is not None:
            save_cams.write(ids, cams_np)
        inside, outside = cam_inside_outside(cams_np, gt_np)
        peak = cams_np.max(axis=(1, 2), keepdims=True)
        n = len(labels_np)
        if logits is not None:
            probs = np.exp(logits - logits.max(axis=1, keepdims=True))
            probs /= probs.sum(axis=1, keepdims=True)
            classes = {
                "top1_class": logits.argmax(axis=1),
                "top1_score": probs.max(axis=1),
                "label_rank": label_ranks(logits, labels_np),
            }
        else:  # CAM files carry no class scores
            classes = {
                "top1_class": np.full(n, -1),
                "top1_score": np.full(n, np.nan),
                "label_rank": np.full(n, -1),
            }
        new = {
            "id": ids,
            "label": labels_np,
            **classes,
            "gt": gt_np,
            "boxes": largest_np,
            "iou": iou,
            "any_iou": any_iou,
            "cam_inside": inside,
            "cam_outside": outside,
            "cam_foreground_fraction": (cams_np >= fixed_t * peak).mean(axis=(1, 2)),
        }
        for key, value in new.items():
            parts.setdefault(key, []).append(value)
        room = num_plot - len(shown["image"])
        if room > 0:
            shown_images = images[:room].numpy()
            if shown_images.shape[1:3] != cams_np.shape[1:3]:  # wsolevaluation: 224 x 224
                shown_images = tf.image.resize(shown_images, cams_np.shape[1:3]).numpy()
            shown["image"] += list(shown_images)
            shown["cam"] += list(cams_np[:room])
            shown["gt"] += list(gt_np[:room])
            shown["box"] += list(largest_np[:room, grid.index(fixed_t)])
            shown["label"] += list(labels_np[:room])
            shown["pred"] += list(new["top1_class"][:room])
        if progress is not None:
            progress.add(int(images.shape[0]))
    if not parts:
        raise ValueError("The split has no images.")
    per_image = {key: _concat(values) for key, values in parts.items()}
    if num_classes is None:
        num_classes = int(logits.shape[1]) if logits is not None else 1
    known = per_image["label_rank"] >= 0
    metrics = localization_metrics(
        per_image["label_rank"] if known.all() else None,
        num_classes,
        per_image["iou"],
        per_image["any_iou"],
        grid,
        iou_thresholds,
        fixed_t,
    )
    return SplitScores(metrics, per_image, shown, image_size)


def _concat(values: list[np.ndarray]) -> np.ndarray:
    if values[0].ndim == 3 and values[0].shape[-1] == 4:  # boxes: pad G (or T) to the largest
        most = max(v.shape[1] for v in values)
        values = [
            np.concatenate([v, np.full((len(v), most - v.shape[1], 4), -1, v.dtype)], axis=1)
            for v in values
        ]
    return np.concatenate(values, axis=0)


# ----------------------------------------------------------------------------------------------
# Threshold choice
# ----------------------------------------------------------------------------------------------


def choose_thresholds(metrics: Mapping[str, Any], chosen_on: str | None = None) -> dict[str, Any]:
    """The CAM thresholds chosen on a split: tau for MaxBoxAcc, one tau per IoU for MaxBoxAccV2.

    The rule is `LocalizationEvaluator.compute`'s: tau maximises BoxAcc(t, 0.5) over the grid
    (the lowest t among ties); for MaxBoxAccV2, each IoU delta's own maximiser of BoxAccV2(t, delta).

    Args:
        metrics: `LocalizationEvaluator.compute()` on the CHOOSE split.
        chosen_on: the choose split's name, recorded.

    Returns:
        {"chosen_on", "tau", "tau_v2" ({delta: t} or None without every-component boxes),
        "chosen_on_num_images", "chosen_on_max_box_acc", "chosen_on_max_box_acc_v2"}.

    Example:
        >>> choice = choose_thresholds(holdout_metrics, "train_holdout")
        >>> report_at_thresholds(val_metrics, choice)["max_box_acc"]
    """
    return {
        "chosen_on": chosen_on,
        "tau": float(metrics["max_box_acc_threshold"]),
        "tau_v2": dict(metrics["max_box_acc_v2_thresholds"])
        if metrics.get("max_box_acc_v2_thresholds")
        else None,
        "chosen_on_num_images": int(metrics["num_images"]),
        "chosen_on_max_box_acc": float(metrics["max_box_acc"]),
        "chosen_on_max_box_acc_v2": metrics.get("max_box_acc_v2"),
    }


def threshold_index(grid: Sequence[float], value: float, name: str = "tau") -> int:
    """Index of `value` in a CAM threshold grid (to 1e-6).

    Raises:
        ValueError: `value` is not in the grid (the two splits were scored on different grids).
    """
    close = np.isclose(np.asarray(grid, np.float64), float(value), rtol=0.0, atol=1e-6)
    if not close.any():
        raise ValueError(
            f"`{name}` must be one of the CAM thresholds the split was scored at. "
            f"Received: {name}={value!r}, thresholds {list(grid)[:5]}..."
        )
    return int(np.argmax(close))


def report_at_thresholds(metrics: Mapping[str, Any], choice: Mapping[str, Any]) -> dict[str, Any]:
    """The REPORT split's localization at thresholds chosen elsewhere (`choose_thresholds`).

    Args:
        metrics: `LocalizationEvaluator.compute()` on the report split (the same grid as the
            choose split's, or at least containing the chosen thresholds).
        choice: `choose_thresholds(...)`.

    Returns:
        {"tau", "max_box_acc" (= BoxAcc(tau, 0.5) = GT-known Loc at tau), "gt_known_loc",
        "top1_loc", "top5_loc" (at tau), "box_acc_per_iou" (BoxAcc(tau, delta)), "max_box_acc_v2"
        (mean over delta of BoxAccV2(tau_delta, delta); None without V2 curves) and
        "max_box_acc_v2_per_iou"}.

    Raises:
        ValueError: a chosen threshold is not in the report split's grid.
    """
    curves = metrics["curves"]
    grid = curves["cam_thresholds"]
    i = threshold_index(grid, choice["tau"])
    out: dict[str, Any] = {
        "tau": grid[i],
        "max_box_acc": curves["box_acc"]["0.5"][i],
        "gt_known_loc": curves["gt_known_loc"][i],
        "top1_loc": curves["top1_loc"][i] if curves["top1_loc"] else None,  # None: no scores
        "top5_loc": curves["top5_loc"][i] if curves["top5_loc"] else None,
        "box_acc_per_iou": {d: values[i] for d, values in curves["box_acc"].items()},
        "max_box_acc_v2": None,
        "max_box_acc_v2_per_iou": None,
    }
    if choice.get("tau_v2") and curves.get("box_acc_v2"):
        per_iou = {
            d: curves["box_acc_v2"][d][threshold_index(grid, t, f"tau_v2[{d}]")]
            for d, t in choice["tau_v2"].items()
        }
        out["max_box_acc_v2_per_iou"] = per_iou
        out["max_box_acc_v2"] = float(np.mean(list(per_iou.values())))
    return out


def threshold_choice(
    report_metrics: Mapping[str, Any],
    reported_on: str,
    choose_metrics: Mapping[str, Any] | None = None,
    chosen_on: str | None = None,
) -> dict[str, Any]:
    """The `threshold_choice` block of metrics.json: thresholds chosen on `chosen_on` and the
    report split read at them; without a choose split, the report split chooses for itself
    (`held_out` False: Choe et al.'s upper bound, not a result).

    Returns:
        `choose_thresholds(...)` | `report_at_thresholds(...)` | {"reported_on", "held_out",
        "upper_bound" (the report split's own MaxBoxAcc / MaxBoxAccV2 when held out)}.
    """
    held_out = choose_metrics is not None and chosen_on != reported_on
    choice = choose_thresholds(
        choose_metrics if held_out else report_metrics, chosen_on if held_out else reported_on
    )
    out = {**choice, **report_at_thresholds(report_metrics, choice)}
    out["reported_on"] = reported_on
    out["held_out"] = held_out
    out["upper_bound"] = (
        {
            "max_box_acc": report_metrics["max_box_acc"],
            "max_box_acc_v2": report_metrics.get("max_box_acc_v2"),
            "note": f"the max over thresholds on {reported_on} itself: an upper bound",
        }
        if held_out
        else None
    )
    return out


# ----------------------------------------------------------------------------------------------
# Baselines and occlusion
# ----------------------------------------------------------------------------------------------


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
    import tensorflow as tf

    from hide_and_seek_tf.classifier import preprocess
    from hide_and_seek_tf.hiding import hide_patches

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


# ----------------------------------------------------------------------------------------------
# Per-image results and the size breakdown
# ----------------------------------------------------------------------------------------------


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


def size_bin(area_fraction: np.ndarray, edges: Sequence[float] = SIZE_BINS) -> np.ndarray:
    """Bin index of each area fraction: [e0, e1) -> 0, ..., [e_{k-1}, e_k] -> k - 1."""
    inner = np.asarray(edges[1:-1], np.float64)
    return np.digitize(np.asarray(area_fraction, np.float64), inner, right=False)


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


def _pct(hits: np.ndarray) -> float | None:
    return float(100.0 * np.count_nonzero(hits) / len(hits)) if len(hits) else None


def _nanmean(values: np.ndarray) -> float | None:
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else None


def localization_summary(table: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The headline metrics computed from per-image rows (any subset of them), percent.

    Keys: count, top1_cls, gt_known_loc and top1_loc (fixed threshold), max_box_acc and
    top1_loc_at_tau (tau), max_box_acc_v2 (None without V2 columns), fixed_box_gt_known_loc,
    whole_image_gt_known_loc, fixed_box_top1_loc (the model's class with the fixed box),
    cam_inside, cam_outside, cam_contrast (means over images where defined). Values are None for
    an empty subset.
    """
    n = len(table["label"])
    top1 = table["label_rank"] == 0
    ranked = not (np.asarray(table["label_rank"]) < 0).any()  # CAM files: no class scores
    hit, tau_hit = table["iou"] >= 0.5, table["tau_iou"] >= 0.5
    # The IoU deltas MaxBoxAccV2 was scored at (a column of NaN: not scored).
    v2 = [
        table[f"v2_iou_{d}"] >= float(d)
        for d in ("0.3", "0.5", "0.7")
        if n and not np.isnan(table[f"v2_iou_{d}"]).all()
    ]
    contrast = table["cam_inside"] - table["cam_outside"]
    return {
        "count": int(n),
        "top1_cls": _pct(top1) if ranked else None,
        "gt_known_loc": _pct(hit),
        "top1_loc": _pct(hit & top1) if ranked else None,
        "max_box_acc": _pct(tau_hit),
        "top1_loc_at_tau": _pct(tau_hit & top1) if ranked else None,
        "max_box_acc_v2": float(np.mean([_pct(h) for h in v2])) if v2 else None,
        "fixed_box_gt_known_loc": _pct(table["fixed_box_iou"] >= 0.5),
        "fixed_box_top1_loc": _pct((table["fixed_box_iou"] >= 0.5) & top1) if ranked else None,
        "whole_image_gt_known_loc": _pct(table["whole_image_iou"] >= 0.5),
        "cam_inside": _nanmean(table["cam_inside"]),
        "cam_outside": _nanmean(table["cam_outside"]),
        "cam_contrast": _nanmean(contrast),
    }


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


# ----------------------------------------------------------------------------------------------
# Statistics over seeds
# ----------------------------------------------------------------------------------------------


def seed_stats(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample standard deviation (None for one value), min, max and n of per-seed values."""
    arr = np.asarray([v for v in values if v is not None], np.float64)
    if arr.size == 0:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    return {
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if arr.size > 1 else None,
        "min": float(arr.min()),
        "max": float(arr.max()),
        "n": int(arr.size),
    }


def paired_differences(
    treatment: Mapping[int, float | None], control: Mapping[int, float | None]
) -> dict[str, Any]:
    """Treatment minus control, paired by seed (the seeds both have a value for).

    Args:
        treatment, control: {seed: value}.

    Returns:
        {"seeds", "per_seed" (differences), **seed_stats(differences)}.

    Example:
        >>> paired_differences({0: 60.0, 1: 50.0}, {0: 55.0, 1: 52.0})["per_seed"]
        [5.0, -2.0]
    """
    seeds = sorted(
        s
        for s in set(treatment) & set(control)
        if treatment[s] is not None and control[s] is not None
    )
    diffs = [float(treatment[s]) - float(control[s]) for s in seeds]
    return {"seeds": seeds, "per_seed": diffs, **seed_stats(diffs)}


__all__ = [
    "BINNED_BY",
    "PER_IMAGE_COLUMNS",
    "SIZE_BINS",
    "SplitScores",
    "cam_inside_outside",
    "choose_thresholds",
    "localization_summary",
    "occlusion_top1",
    "paired_differences",
    "per_image_csv",
    "per_image_table",
    "report_at_thresholds",
    "score_batches",
    "score_fixed_boxes",
    "scored_gt_box",
    "seed_stats",
    "size_bin",
    "size_breakdown",
    "threshold_choice",
    "threshold_index",
    "whole_image_box",
]

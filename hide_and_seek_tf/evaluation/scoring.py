"""Scoring a split: one pass over its batches gives per-image records (class rank, boxes and
IoUs per CAM threshold, CAM statistics) and the metrics counted from them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from hide_and_seek_tf.boxes import cams_to_boxes
from hide_and_seek_tf.cam import class_activation_maps, ten_crop_cams
from hide_and_seek_tf.cam_head import preprocess
from hide_and_seek_tf.evaluation import wsolevaluation as wsol
from hide_and_seek_tf.evaluation.thresholds import threshold_index
from hide_and_seek_tf.metrics import (
    IOU_THRESHOLDS,
    best_iou,
    label_ranks,
    localization_metrics,
    valid_boxes,
)


@dataclasses.dataclass
class SplitScores:
    """What one pass over a split gives.

    Attributes:
        metrics: `metrics.localization_metrics` of the per-image records.
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
    every = cams_to_boxes(cams, thresholds, mode="all", max_components=max_components).numpy()
    largest = every[..., 0, :]  # "all" is ordered as "largest" chooses: one component search
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
            `cam_features` and `predictions` layers; see `cam_head.find_cam_head`); None with
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

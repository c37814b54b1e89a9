"""Figures of evaluations, the demo and the studies: one place for everything drawn.

Every function returns a `matplotlib.figure.Figure` on the Agg canvas (no pyplot, no global
backend), and `save_figure` writes it atomically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from hide_and_seek_tf._io import atomic_path


def save_figure(path: str | os.PathLike, figure: Figure, dpi: int = 100) -> None:
    """Writes `figure` as a PNG atomically (a temporary file, then a rename)."""
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=dpi, bbox_inches="tight")


def threshold_curve_figure(result: dict[str, Any]) -> Figure:
    """GT-known / Top-1 Loc and BoxAccV2 against the CAM threshold, with the baselines (evaluate.py)."""
    metrics = result["metrics"]
    curves = metrics["curves"]
    t = curves["cam_thresholds"]
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    marker = "o" if len(t) < 20 else None
    ax.plot(t, curves["gt_known_loc"], marker=marker, label="GT-known Loc (IoU 0.5)")
    if curves["top1_loc"] is not None:  # None: CAM files, no class scores
        ax.plot(t, curves["top1_loc"], marker=marker, label="Top-1 Loc")
    for delta, values in (curves["box_acc_v2"] or {}).items():
        ax.plot(t, values, linestyle=":", label=f"BoxAccV2 (IoU {delta})")
    for name, base in result["baselines"].items():
        if base["gt_known_loc"] is None:  # a baseline with no split to fit it on
            continue
        ax.axhline(base["gt_known_loc"], color="grey", linestyle="--", linewidth=0.8)
        ax.text(t[0], base["gt_known_loc"], f" {name} box {base['box']}", fontsize=7, va="bottom")
    ax.axvline(metrics["cam_threshold"], color="black", linewidth=0.6)
    choice = result.get("threshold_choice")
    if choice:
        chosen = choice.get("chosen_on_curves")
        if chosen:
            ax.plot(
                chosen["cam_thresholds"],
                chosen["box_acc"]["0.5"],
                color="grey",
                linestyle="--",
                label=f"BoxAcc (IoU 0.5) on {choice['chosen_on']}",
            )
        ax.axvline(choice["tau"], color="grey", linestyle=":", linewidth=0.8)
        ax.text(choice["tau"], 2, f" tau = {choice['tau']:g}", fontsize=7)
    ax.set_xlabel("CAM threshold (fraction of max)")
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.set_title(
        f"{result['model']['name']} on {result['data']['spec']} / {result['data']['split']}"
    )
    ax.legend(fontsize=7, loc="upper right")
    return fig


def cam_grid_figure(shown: dict[str, list], class_names: Sequence[str], threshold: float) -> Figure:
    """Images with their CAM overlaid, ground-truth boxes red, predicted green (evaluate.py).

    `shown` holds equal-length lists "image", "cam", "gt" (boxes per image), "box", "label", "pred".
    """
    n = len(shown["image"])
    cols = min(4, max(n, 1))
    rows = max(1, math.ceil(n / cols))
    fig = Figure(figsize=(3 * cols, 3.2 * rows))
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        image = np.clip(shown["image"][i], 0, 255).astype(np.uint8)
        ax.imshow(image)
        ax.imshow(shown["cam"][i], cmap="jet", alpha=0.45, vmin=0.0, vmax=1.0)
        for box in shown["gt"][i]:
            draw_box(ax, box, "red")
        draw_box(ax, shown["box"][i], "lime")
        label, pred = int(shown["label"][i]), int(shown["pred"][i])
        known = pred >= 0  # -1: CAM files, no prediction
        ax.set_title(
            f"{class_names[label]}" + (f" / pred {class_names[pred]}" if known else ""),
            fontsize=8,
            color="black" if label == pred or not known else "darkred",
        )
        ax.axis("off")
    fig.suptitle(f"ground-truth class CAM; red: ground truth, green: box at t = {threshold:g}")
    return fig


def draw_box(ax: Any, box: Sequence[float], color: str) -> None:
    """Draws an inclusive pixel box on a matplotlib axis; padding or "no box" rows (x1 < 0) are skipped."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if x1 < 0:
        return
    # Inclusive pixel box: its edges are half a pixel outside the pixel centres.
    ax.add_patch(
        Rectangle(
            (x0 - 0.5, y0 - 0.5),
            x1 - x0 + 1,
            y1 - y0 + 1,
            fill=False,
            edgecolor=color,
            linewidth=1.5,
        )
    )


def hidden_samples_figure(images: np.ndarray, hidden: np.ndarray, caption: str) -> Figure:
    """Training images (top row) above the same images after hiding (bottom row)."""
    n = len(images)
    figure = Figure(figsize=(1.4 * n, 3.0))
    axes = figure.subplots(2, n, squeeze=False)
    for column in range(n):
        for row, batch in enumerate((images, hidden)):
            axes[row, column].imshow(np.clip(batch[column], 0, 255).astype(np.uint8))
            axes[row, column].axis("off")
    axes[0, 0].set_title("training images", loc="left", fontsize=9)
    axes[1, 0].set_title(caption, loc="left", fontsize=9)
    return figure


def cams_side_by_side_figure(
    images: np.ndarray,
    gt_boxes: np.ndarray,
    rows: Mapping[str, tuple[np.ndarray, np.ndarray]],
) -> Figure:
    """One row per model: its CAMs (N, H, W) and boxes (N, 4) on the same images (demo)."""
    n = len(images)
    figure = Figure(figsize=(1.4 * n, 1.6 * len(rows)))
    axes = figure.subplots(len(rows), n, squeeze=False)
    for row, (name, (cams, boxes)) in enumerate(rows.items()):
        for column in range(n):
            ax = axes[row, column]
            ax.imshow(np.clip(images[column], 0, 255).astype(np.uint8))
            ax.imshow(cams[column], cmap="jet", alpha=0.45, vmin=0, vmax=1)
            for gt in gt_boxes[column]:
                draw_box(ax, gt, "red")
            draw_box(ax, boxes[column], "lime")
            ax.axis("off")
        axes[row, 0].set_title(name, loc="left", fontsize=9)
    return figure


def gt_known_curves_figure(evaluations: Mapping[str, Mapping[str, Any]]) -> Figure:
    """GT-known Loc against the CAM threshold for several evaluations, with the fixed boxes (demo)."""
    figure = Figure(figsize=(5.5, 3.5))
    ax = figure.add_subplot()
    for name, result in evaluations.items():
        curves = result["metrics"]["curves"]
        ax.plot(curves["cam_thresholds"], curves["gt_known_loc"], label=name)
    baselines = next(iter(evaluations.values()))["baselines"]
    ax.axhline(
        baselines["whole_image"]["gt_known_loc"], color="grey", ls=":", label="whole-image box"
    )
    if baselines["train_box"]["gt_known_loc"] is not None:  # None: no split to fit it on
        ax.axhline(
            baselines["train_box"]["gt_known_loc"],
            color="black",
            ls="--",
            label="fixed box (train)",
        )
    ax.set_xlabel("CAM threshold (fraction of max)")
    ax.set_ylabel("GT-known Loc (%), IoU >= 0.5")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return figure


def cam_contrast_figure(table: Mapping[str, np.ndarray], result: Mapping[str, Any]) -> Figure:
    """Mean CAM inside minus outside the ground-truth boxes (evaluate.py's cam_contrast.png).

    Left: the per-image contrast (inside - outside) as a histogram, with its mean. Right: the mean
    CAM inside and outside the boxes per bin of ground-truth box area (`protocol.SIZE_BINS`).
    `table` is `protocol.per_image_table`, `result` the evaluation's metrics.json dict.
    """
    inside = np.asarray(table["cam_inside"], np.float64)
    outside = np.asarray(table["cam_outside"], np.float64)
    contrast = inside - outside
    contrast = contrast[~np.isnan(contrast)]
    fig = Figure(figsize=(9, 3.4))
    left, right = fig.subplots(1, 2)
    left.hist(contrast, bins=np.linspace(-1, 1, 41), color="C0")
    if len(contrast):
        left.axvline(contrast.mean(), color="black", linewidth=1.0)
        left.text(contrast.mean(), 0, f" mean {contrast.mean():+.3f}", fontsize=8, va="bottom")
    left.axvline(0, color="grey", linestyle=":", linewidth=0.8)
    left.set_xlabel("mean CAM inside - outside the ground-truth boxes")
    left.set_ylabel("images")
    bins = result["size_breakdown"]["bins"]
    x = np.arange(len(bins))
    values = {
        key: [np.nan if b[key] is None else b[key] for b in bins]
        for key in ("cam_inside", "cam_outside")
    }
    right.bar(x - 0.2, values["cam_inside"], width=0.4, label="inside", color="C3")
    right.bar(x + 0.2, values["cam_outside"], width=0.4, label="outside", color="C7")
    right.set_xticks(x, [f"{b['range'][0]:g}-{b['range'][1]:g}\n({b['count']})" for b in bins])
    right.set_xlabel("ground-truth box area / image (images)")
    right.set_ylabel("mean CAM (0..1)")
    right.set_ylim(0, 1)
    right.legend(fontsize=8)
    fig.suptitle(
        f"{result['model']['name']} on {result['data']['split']}: CAM inside vs outside the "
        "ground-truth boxes",
        fontsize=9,
    )
    return fig


def paired_differences_figure(
    budgets: Sequence[int],
    differences: Mapping[str, Mapping[str, Sequence[Mapping[str, Any] | None]]],
    metric_labels: Mapping[str, str],
) -> Figure:
    """Treatment minus control (paired by seed) against the training budget, one panel per metric.

    Args:
        budgets: the x values (epochs).
        differences: {metric: {series label: [protocol.paired_differences(...) or None per
            budget]}}: the mean with sample-std error bars, and every seed's difference as a dot.
        metric_labels: {metric: panel title}.
    """
    metrics = list(differences)
    cols = min(3, len(metrics)) or 1
    rows = max(1, math.ceil(len(metrics) / cols))
    fig = Figure(figsize=(4.0 * cols, 3.0 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).reshape(-1)
    x = np.asarray(budgets, np.float64)
    for ax, metric in zip(axes, metrics, strict=False):
        for k, (label, per_budget) in enumerate(differences[metric].items()):
            if all(p is None for p in per_budget):
                continue  # a configuration without paired runs
            shift = (k - (len(differences[metric]) - 1) / 2) * 0.03 * (x.max() - x.min() or 1)
            mean = [np.nan if p is None or p["mean"] is None else p["mean"] for p in per_budget]
            std = [0.0 if p is None or p["std"] is None else p["std"] for p in per_budget]
            ax.errorbar(x + shift, mean, yerr=std, marker="o", ms=4, capsize=3, label=label)
            for xb, p in zip(x + shift, per_budget, strict=True):
                if p is not None:
                    ax.plot([xb] * len(p["per_seed"]), p["per_seed"], ".", color=f"C{k}", ms=3)
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_xticks(x, [str(b) for b in budgets])
        ax.set_title(metric_labels.get(metric, metric), fontsize=9)
        ax.set_xlabel("epochs")
        ax.set_ylabel("difference (points)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes[len(metrics) :]:
        ax.axis("off")
    fig.suptitle("Hide-and-Seek minus GAP, paired by seed (bars: sample std; dots: seeds)")
    return fig


def temporal_cams_figure(
    shown: Mapping[str, Sequence], class_names: Sequence[str], threshold: float
) -> Figure:
    """1-D CAMs over time with ground-truth (green) and predicted (red) intervals (evaluate.py, temporal).

    `shown` holds equal-length lists "cam" (T,), "gt" and "pred" ((n, 2) start, end in seconds),
    "duration" (seconds), "label" and "id".
    """
    n = max(1, len(shown["cam"]))
    fig = Figure(figsize=(9, 1.6 * n))
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    for i in range(len(shown["cam"])):
        ax = axes[i]
        cam = np.asarray(shown["cam"][i], dtype=np.float64)
        peak = cam.max() if cam.max() > 0 else 1.0
        times = (np.arange(len(cam)) + 0.5) * shown["duration"][i] / len(cam)
        ax.plot(times, cam / peak, color="black", linewidth=1)
        ax.axhline(threshold, color="grey", linestyle="--", linewidth=0.8)
        for start, end in shown["gt"][i]:
            ax.axvspan(start, end, ymin=0.55, ymax=1.0, color="green", alpha=0.3)
        for start, end in shown["pred"][i]:
            ax.axvspan(start, end, ymin=0.0, ymax=0.45, color="red", alpha=0.3)
        ax.set_xlim(0, shown["duration"][i])
        ax.set_ylim(min(-0.1, float(cam.min() / peak)), 1.05)
        ax.set_title(f"{shown['id'][i]}: {class_names[shown['label'][i]]}", fontsize=8, loc="left")
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(
        f"CAM / max of the ground-truth class; green: ground truth, red: runs >= {threshold:g} x max",
        fontsize=9,
    )
    fig.tight_layout()
    return fig

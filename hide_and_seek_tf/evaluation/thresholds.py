"""Choosing the CAM thresholds on one split and reading another at them (Choe et al.'s rule)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def choose_thresholds(metrics: Mapping[str, Any], chosen_on: str | None = None) -> dict[str, Any]:
    """The CAM thresholds chosen on a split: tau for MaxBoxAcc, one tau per IoU for MaxBoxAccV2.

    The rule is `LocalizationEvaluator.compute`'s: tau maximises BoxAcc(t, 0.5) over the grid
    (the lowest t among ties); for MaxBoxAccV2, each IoU delta's own maximiser of BoxAccV2(t, delta).

    Args:
        metrics: the CHOOSE split's `SplitScores.metrics` (`localization_metrics`).
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
        metrics: the report split's `SplitScores.metrics` (the same grid as the
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

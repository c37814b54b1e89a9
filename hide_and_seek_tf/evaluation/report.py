"""The report evaluate.py prints, and the text files of RUN/eval/ besides metrics.json and
per_image.csv (`thresholds.csv`)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hide_and_seek_tf.metrics import size_bin_label

# ----------------------------------------------------------------------------------------------
# Reports
# ----------------------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 1) -> str:
    return number_cell(value, f".{digits}f")


def number_cell(value: float | None, spec: str = ".1f") -> str:
    """`value` formatted with `spec` for a table cell; "-" for a missing value."""
    return "-" if value is None else f"{value:{spec}}"


def mean_std_cell(stats: Mapping[str, Any] | None, digits: int = 1, sign: bool = False) -> str:
    """A `stats.seed_stats` result as "mean ± std" ("mean" for one seed; "-" for none)."""
    if not stats or stats["mean"] is None:
        return "-"
    std = f" ± {stats['std']:.{digits}f}" if stats["std"] is not None else ""
    return f"{stats['mean']:{'+' if sign else ''}.{digits}f}{std}"


_RULE = {"l": "---|", "r": "---:|"}  # the separator cell of a left / right column


def markdown_table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], align: str | None = None
) -> str:
    """A Markdown table; cells are written with `str`.

    Args:
        headers: the column titles.
        rows: one sequence of cells per row, as many as `headers`.
        align: "l" or "r" per column; default: the first column left, the others right.

    Raises:
        ValueError: `align` or a row does not have one entry per column.

    Example:
        >>> print(markdown_table(["model", "top-1"], [["GAP", 58.7]]))
        | model | top-1 |
        |---|---:|
        | GAP | 58.7 |
    """
    align = "l" + "r" * (len(headers) - 1) if align is None else align
    if len(align) != len(headers) or set(align) - {"l", "r"}:
        raise ValueError(
            f"`align` must have one 'l' or 'r' per column ({len(headers)}). Received: align={align!r}"
        )
    lines = ["| " + " | ".join(headers) + " |", "|" + "".join(_RULE[a] for a in align)]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(
                f"Each row must have {len(headers)} cells, one per header. Received: row={row!r}"
            )
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines)


def breakdown_markdown(evaluations: dict[str, dict[str, Any]]) -> str:
    """A Markdown table of the size breakdown of one or more evaluations (by name)."""
    headers = ["model", "GT box area", "images", "GT-known Loc", "Top-1 Loc", "MaxBoxAcc"]
    headers += ["fixed box", "whole image"]
    keys = ("gt_known_loc", "top1_loc", "max_box_acc", "fixed_box_gt_known_loc")
    rows = [
        [name, size_bin_label(row["range"]), row["count"]]
        + [_num(row[k]) for k in (*keys, "whole_image_gt_known_loc")]
        for name, result in evaluations.items()
        for row in result["size_breakdown"]["bins"]
    ]
    return markdown_table(headers, rows, align="llrrrrrr")


def format_report(result: dict[str, Any], out_dir: str | os.PathLike | None = None) -> str:
    """The plain-text report evaluate.py prints for one evaluation."""
    m, choice, base = result["metrics"], result["threshold_choice"], result["baselines"]
    proto = result["protocol"]
    held = choice["held_out"]
    where = (
        f"chosen on {choice['chosen_on']} ({choice['chosen_on_num_images']} images)"
        if held
        else f"chosen on {choice['reported_on']} itself: an upper bound, not a result"
    )
    v2_taus = ", ".join(f"{d}: {t:g}" for d, t in (choice["tau_v2"] or {}).items())
    lines = [
        f"{result['model']['name']} on {result['data']['spec']} / {result['data']['split']} "
        f"({m['num_images']} images{', ten-crop' if proto['ten_crop'] else ''})",
        f"  top-1 / top-5 classification : {_num(m['top1_cls'], 2)} / {_num(m['top5_cls'], 2)}",
        f"  protocol                     : {proto.get('name', 'paper')}"
        + (
            f" (CAM files {result['model']['cam_files']})"
            if result["model"].get("cam_files")
            else ""
        ),
        f"  at CAM threshold {m['cam_threshold']:g}, IoU 0.5:",
        f"    GT-known Loc               : {m['gt_known_loc']:.2f}",
        f"    Top-1 / Top-5 Loc          : {_num(m['top1_loc'], 2)} / {_num(m['top5_loc'], 2)}",
        f"  tau = {choice['tau']:g}, {where}"
        + (f"; MaxBoxAccV2 taus {v2_taus}" if v2_taus else ""),
        f"    MaxBoxAcc                  : {choice['max_box_acc']:.2f}",
        f"    MaxBoxAccV2                : {_num(choice['max_box_acc_v2'], 2)}",
        f"    GT-known / Top-1 Loc @ tau : {choice['gt_known_loc']:.2f} / "
        f"{_num(choice['top1_loc'], 2)}",
    ]
    if held:
        bound = choice["upper_bound"]
        lines.append(
            f"    (max over tau on {choice['reported_on']} itself, an upper bound: MaxBoxAcc "
            f"{bound['max_box_acc']:.2f}, MaxBoxAccV2 {_num(bound['max_box_acc_v2'], 2)})"
        )
    fixed = base["train_box"]
    fixed_text = (
        f"fixed box {fixed['box']} {fixed['gt_known_loc']:.2f} (Top-1 Loc with the model's "
        f"classes {_num(fixed['top1_loc_with_model_classes'], 2)}), {fixed.get('fitted_on', '')}"
        if fixed["box"] is not None
        else f"fixed box {fixed.get('fitted_on', 'unavailable')}"
    )
    lines += [
        f"  baselines, GT-known Loc      : whole image {base['whole_image']['gt_known_loc']:.2f}, "
        + fixed_text,
        f"  CAM inside / outside the GT boxes: {_num(result['cam_contrast']['mean_inside'], 3)} / "
        f"{_num(result['cam_contrast']['mean_outside'], 3)}; boxes at {m['cam_threshold']:g} that "
        f"are the whole image: {result['cam_contrast']['whole_image_boxes']:.1f}%",
    ]
    if result.get("occlusion"):
        occ = result["occlusion"]
        lines.append(
            f"  occlusion top-1 ({occ['cell']} px cells): "
            + ", ".join(
                f"f={f:g} {a:.2f}" for f, a in zip(occ["fractions"], occ["top1_cls"], strict=True)
            )
        )
    lines += [
        f"  by ground-truth box area (fraction of the image; GT-known / Top-1 Loc at "
        f"{m['cam_threshold']:g}, MaxBoxAcc at tau):",
        "    " + breakdown_markdown({result["model"]["name"]: result}).replace("\n", "\n    "),
    ]
    if out_dir is not None:
        lines.append(f"  written to {out_dir}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------


def _curves_csv(metrics: dict[str, Any]) -> str:
    curves = metrics["curves"]
    deltas = list(curves["box_acc"])
    header = ["cam_threshold", "gt_known_loc", "top1_loc", "top5_loc"]
    header += [f"box_acc@{d}" for d in deltas]
    v2 = curves["box_acc_v2"] or {}
    header += [f"box_acc_v2@{d}" for d in v2]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for i, t in enumerate(curves["cam_thresholds"]):
        row = [t, curves["gt_known_loc"][i]]
        row += [curves[k][i] if curves[k] else "" for k in ("top1_loc", "top5_loc")]
        row += [curves["box_acc"][d][i] for d in deltas]
        row += [v2[d][i] for d in v2]
        writer.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])
    return buf.getvalue()

"""The Tiny ImageNet study's summary: numbers per run, statistics over seeds, the Markdown tables
(`hide_and_seek_tf.evaluation.report`'s table writing) and the HaS-minus-GAP plot.

`benchmarks/reproduce_tiny_imagenet.py` trains and evaluates the runs, then calls `write_summary`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hide_and_seek_tf import plotting, protocol
from hide_and_seek_tf._io import write_json_atomic, write_text_atomic
from hide_and_seek_tf.evaluation import METRICS_FILE, SCHEMA_VERSION
from hide_and_seek_tf.evaluation.report import (
    markdown_table,
    mean_std_cell,
    number_cell,
    size_bin_label,
)
from hide_and_seek_tf.training.run_dir import EVAL_DIR, HISTORY_FILE

CONFIGS = {  # name -> (label, hide_patch_sizes)
    "gap": ("GAP", ()),
    "has16": ("HaS-16", (16,)),
    "hasmix": ("HaS-Mixed {8,16,32,none}", (8, 16, 32, 0)),
}
TIMING_FILE = "timing.jsonl"
SUMMARY_JSON, SUMMARY_MD, PLOT_PNG = "summary.json", "summary.md", "has_minus_gap.png"
RUN_NAME = re.compile(r"^(?P<config>[a-z0-9]+)_s(?P<seed>\d+)(?:_(?P<precision>[a-z0-9]+))?$")
# The seed implementation's protocol: the best CAM threshold of 0.2-0.5 by GT-known Loc, on val.
SEED_TAUS = (0.2, 0.5)
SPLICE_START, SPLICE_END = "<!-- tiny-imagenet-study -->\n", "<!-- /tiny-imagenet-study -->"


def read_json(path: Path) -> Any:
    """The JSON in `path`, or None when it is missing or not JSON."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def val_tuned(result: Mapping[str, Any], key: str) -> float | None:
    """`key` ("gt_known_loc" or "top1_loc") on val at the threshold in SEED_TAUS with the best
    GT-known Loc on val: tuned on the split it reports, as the seed did (an upper bound)."""
    curves = result["metrics"].get("curves") or {}
    taus = curves.get("cam_thresholds") or []
    inside = [i for i, t in enumerate(taus) if SEED_TAUS[0] - 1e-9 <= t <= SEED_TAUS[1] + 1e-9]
    if not inside:
        return None
    best = max(inside, key=lambda i: curves["gt_known_loc"][i])
    return curves[key][best]


# Per-run numbers of the tables: key -> (label, path in metrics.json, or a function of it).
METRICS = {
    "top1_cls": ("top-1 cls", ("metrics", "top1_cls")),
    "top5_cls": ("top-5 cls", ("metrics", "top5_cls")),
    "gt_known_loc": ("GT-known Loc @0.2", ("metrics", "gt_known_loc")),
    "top1_loc": ("Top-1 Loc @0.2", ("metrics", "top1_loc")),
    "tau": ("τ (holdout)", ("threshold_choice", "tau")),
    "max_box_acc": ("MaxBoxAcc (holdout τ)", ("threshold_choice", "max_box_acc")),
    "max_box_acc_v2": ("MaxBoxAccV2 (holdout τ)", ("threshold_choice", "max_box_acc_v2")),
    "top1_loc_at_tau": ("Top-1 Loc @τ", ("threshold_choice", "top1_loc")),
    "fixed_box_top1_loc": (
        "Top-1 Loc, own classes + fixed box",
        ("baselines", "train_box", "top1_loc_with_model_classes"),
    ),
    "gt_known_val_tuned": (
        "GT-known Loc, τ tuned on val (seed's way)",
        lambda result: val_tuned(result, "gt_known_loc"),
    ),
    "top1_loc_val_tuned": (
        "Top-1 Loc, τ tuned on val (seed's way)",
        lambda result: val_tuned(result, "top1_loc"),
    ),
}
PAIRED = ("top1_cls", "gt_known_loc", "max_box_acc", "max_box_acc_v2", "top1_loc_at_tau")
# Per size bin: the models' numbers (statistics over seeds), then the baselines' GT-known Loc.
BIN_KEYS = ("count", "gt_known_loc", "top1_loc", "max_box_acc")
BIN_BASELINES = {
    "fixed box (train)": "fixed_box_gt_known_loc",
    "whole image": "whole_image_gt_known_loc",
}


# === Numbers ===
def _get(result: Mapping[str, Any], path: Sequence[str] | Callable) -> Any:
    if callable(path):
        return path(result)
    for key in path:
        result = result[key]
    return result


def _wall_times(root: Path) -> dict[tuple[str, str], float]:
    """{(run, phase): seconds summed over sessions} from ROOT/timing.jsonl."""
    out: dict[tuple[str, str], float] = {}
    path = root / TIMING_FILE
    for line in path.read_text().splitlines() if path.is_file() else []:
        entry = json.loads(line)
        key = (entry["run"], entry.get("phase", "train"))
        out[key] = out.get(key, 0.0) + float(entry["seconds"])
    return out


def collect_runs(root: Path, budget: int, walls: Mapping[tuple[str, str], float]) -> dict:
    """The evaluated runs of one budget: {name: row of numbers}."""
    rows = {}
    for run_dir in sorted((root / f"e{budget}").glob("*/eval/metrics.json")):
        run_dir = run_dir.parents[1]
        match = RUN_NAME.match(run_dir.name)
        result = read_json(run_dir / EVAL_DIR / METRICS_FILE)
        if not match or match["config"] not in CONFIGS:
            continue
        if result.get("schema_version") != SCHEMA_VERSION:
            continue
        history = (run_dir / HISTORY_FILE).read_text().splitlines()
        header, last = history[0].split(","), history[-1].split(",")
        rel, occlusion = f"e{budget}/{run_dir.name}", result.get("occlusion") or {}
        rows[run_dir.name] = {
            "config": match["config"],
            "seed": int(match["seed"]),
            "precision": match["precision"],
            **{key: _get(result, path) for key, (_, path) in METRICS.items()},
            "occlusion": occlusion.get("top1_cls"),
            "occlusion_fractions": occlusion.get("fractions"),
            "bins": result["size_breakdown"]["bins"],
            "cam_contrast": result["cam_contrast"]["mean_contrast"],
            "whole_image_boxes": result["cam_contrast"]["whole_image_boxes"],
            "baselines": result["baselines"],
            "num_val": result["data"]["num_images"],
            "num_holdout": result["threshold_choice"]["chosen_on_num_images"],
            "final_train_accuracy": 100.0 * float(last[header.index("accuracy")]),
            "train_wall_s": walls.get((rel, "train")),
            "eval_wall_s": walls.get((rel, "evaluate")),
        }
    return rows


def summarize_budget(rows: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Per config: seed statistics of every number; Hide-and-Seek minus GAP paired by seed."""
    study = {n: r for n, r in rows.items() if r["precision"] is None}
    configs = {}
    for name in CONFIGS:
        members = [r for r in study.values() if r["config"] == name]
        if not members:
            continue
        stats = {key: protocol.seed_stats([r[key] for r in members]) for key in METRICS}
        occ = [r["occlusion"] for r in members if r["occlusion"]]
        stats["occlusion"] = [protocol.seed_stats(v) for v in zip(*occ, strict=True)] if occ else []
        stats["bins"] = [
            {
                key: protocol.seed_stats([r["bins"][k][key] for r in members])
                for key in (*BIN_KEYS, *BIN_BASELINES.values())
            }
            for k in range(len(members[0]["bins"]))
        ]
        stats["cam_contrast"] = protocol.seed_stats([r["cam_contrast"] for r in members])
        configs[name] = {"seeds": sorted(r["seed"] for r in members), **stats}
    by_seed = {
        c: {key: {r["seed"]: r[key] for r in study.values() if r["config"] == c} for key in PAIRED}
        for c in CONFIGS
    }
    paired = {
        c: {
            key: protocol.paired_differences(by_seed[c][key], by_seed["gap"][key]) for key in PAIRED
        }
        for c in CONFIGS
        if c != "gap" and c in configs and "gap" in configs
    }
    precision = {}
    for name, r in rows.items():
        partner = rows.get(f"{r['config']}_s{r['seed']}")
        if r["precision"] and partner:
            precision[name] = {key: (partner[key], r[key]) for key in PAIRED}
    return {"configs": configs, "paired_minus_gap": paired, "precision_pairs": precision}


# === Tables ===
def _table(caption: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    return f"\n{caption}\n\n{markdown_table(headers, rows)}"


def _minutes(seconds: float | None) -> str:
    return "-" if not seconds else f"{seconds / 60:.1f} min"


def _main_table(configs: Mapping[str, Any], first: Mapping[str, Any]) -> str:
    """Every metric, mean ± std over seeds, and the two fixed boxes in the same columns."""
    table = [
        [CONFIGS[n][0], ",".join(map(str, c["seeds"]))]
        + [
            mean_std_cell(c.get(k), 2 if k == "tau" else 1) for k in METRICS
        ]  # older summaries lack some
        for n, c in configs.items()
    ]
    for name, key in (("whole image", "whole_image"), ("fixed box (train)", "train_box")):
        b = first["baselines"][key]
        one_box_v2 = sum(b["box_acc"][d] for d in ("0.3", "0.5", "0.7")) / 3  # its only box
        gt_known, box_acc = number_cell(b["gt_known_loc"]), number_cell(b["box_acc"]["0.5"])
        cells = {"gt_known_loc": gt_known, "max_box_acc": box_acc, "gt_known_val_tuned": gt_known}
        cells["max_box_acc_v2"] = number_cell(one_box_v2)
        table.append([f"baseline: {name} {b['box']}", "-", *(cells.get(k, "-") for k in METRICS)])
    caption = (
        f"val: {first['num_val']} images; τ chosen on train_holdout ({first['num_holdout']} "
        "images, never trained on). Mean ± sample std over seeds; percentages."
    )
    return _table(caption, ["model", "seeds", *(label for label, _ in METRICS.values())], table)


def _size_table(configs: Mapping[str, Any], first: Mapping[str, Any]) -> str:
    bins = first["bins"]
    heads = [f"{size_bin_label(b['range'])} (n = {b['count']})" for b in bins]
    table = [
        [CONFIGS[n][0]]
        + [" / ".join(number_cell(b[k]["mean"]) for k in BIN_KEYS[1:]) for b in c["bins"]]
        for n, c in configs.items()
    ]
    table += [[name] + [number_cell(b[key]) for b in bins] for name, key in BIN_BASELINES.items()]
    caption = (
        "By ground-truth box area (fraction of the image), means over seeds: GT-known Loc @0.2 / "
        "Top-1 Loc @0.2 / MaxBoxAcc (holdout τ); the baselines' GT-known Loc."
    )
    return _table(caption, ["model", *heads], table)


def budget_markdown(budget: int, rows: Mapping[str, Any], summary: Mapping[str, Any]) -> str:
    """The Markdown tables of one budget."""
    configs = summary["configs"]
    if not configs:
        return f"### {budget} epochs\n\nNo evaluated runs.\n"
    first = next(r for r in rows.values() if r["precision"] is None)
    parts = [f"### {budget} epochs", _main_table(configs, first), _size_table(configs, first)]
    if first["occlusion_fractions"]:
        caption = (
            "Occlusion: val top-1 with each 16 px cell hidden with probability f (filled with the "
            "run's dataset mean; the same masks for every model)."
        )
        heads = ["model", *(f"f = {f:g}" for f in first["occlusion_fractions"])]
        occlusion = [
            [CONFIGS[n][0], *(mean_std_cell(s) for s in c["occlusion"])] for n, c in configs.items()
        ]
        parts.append(_table(caption, heads, occlusion))
    for name, paired in summary["paired_minus_gap"].items():
        caption = (
            f"{CONFIGS[name][0]} minus GAP, paired by seed (points; seeds "
            f"{next(iter(paired.values()))['seeds']}):"
        )
        diffs = [
            [METRICS[k][0], ", ".join(f"{d:+.1f}" for d in p["per_seed"]),
             mean_std_cell(p, sign=True)]
            for k, p in paired.items()
        ]  # fmt: skip
        parts.append(_table(caption, ["metric", "per seed", "mean ± std"], diffs))
    for name, pair in summary["precision_pairs"].items():
        both = [
            [METRICS[k][0], number_cell(a), number_cell(b),
             number_cell(None if None in (a, b) else b - a, "+.1f")]
            for k, (a, b) in pair.items()
        ]  # fmt: skip
        heads = ["metric", "float32", name.rsplit("_", 1)[1], "difference"]
        parts.append(_table(f"Precision pair {name} vs its float32 run:", heads, both))
    heads = ["run", "final train acc", "τ", "CAM inside - outside", "boxes = whole image"]
    runs = [
        [name, number_cell(r["final_train_accuracy"]), number_cell(r["tau"], ".2f"),
         number_cell(r["cam_contrast"], "+.3f"), f"{r['whole_image_boxes']:.0f}%",
         _minutes(r["train_wall_s"]), _minutes(r["eval_wall_s"])]
        for name, r in rows.items()
    ]  # fmt: skip
    caption = "Runs (wall times summed over sessions, from timing.jsonl):"
    parts.append(_table(caption, [*heads, "train wall", "eval wall"], runs))
    return "\n".join(parts) + "\n"


# === Files ===
def write_summary(
    root: Path, budgets: Sequence[int], stored: Mapping | None, figures_dir: str | None
) -> str:
    """Writes ROOT/summary.json, summary.md and has_minus_gap.png; returns the Markdown.

    A budget without evaluated runs under ROOT is taken from `stored` (a summary.json) when
    that holds it: its run directories are gone.
    """
    walls, stored = _wall_times(root), stored or {}
    texts, out = [], {}
    for budget in budgets:
        rows = collect_runs(root, budget, walls)
        if rows or f"e{budget}" not in stored:
            out[f"e{budget}"] = {"runs": rows, **summarize_budget(rows)}
        else:
            out[f"e{budget}"] = stored[f"e{budget}"]
        texts.append(budget_markdown(budget, out[f"e{budget}"]["runs"], out[f"e{budget}"]))
    write_json_atomic(root / SUMMARY_JSON, out)
    text = "\n".join(texts)
    write_text_atomic(root / SUMMARY_MD, text)
    differences = {
        key: {
            CONFIGS[c][0]: [out[f"e{b}"]["paired_minus_gap"].get(c, {}).get(key) for b in budgets]
            for c in CONFIGS
            if c != "gap"
        }
        for key in PAIRED
    }
    if any(p for d in differences.values() for series in d.values() for p in series):
        labels = {key: METRICS[key][0] for key in PAIRED}
        figure = plotting.paired_differences_figure(budgets, differences, labels)
        plotting.save_figure(root / PLOT_PNG, figure, dpi=90)
        if figures_dir:
            plotting.save_figure(Path(figures_dir) / f"tiny_imagenet_{PLOT_PNG}", figure, dpi=90)
    return text


def splice(path: Path, text: str) -> None:
    """Replaces what lies between the study's two markers in `path` by `text`."""
    doc = path.read_text()
    start, end = doc.find(SPLICE_START), doc.find(SPLICE_END)
    if start < 0 or end < start:
        raise ValueError(f"{path} has no {SPLICE_START.strip()} ... {SPLICE_END} markers")
    write_text_atomic(path, doc[: start + len(SPLICE_START)] + text + doc[end:])

#!/usr/bin/env python
"""Tiny ImageNet study: does Hide-and-Seek help on real images, at which training budget?

A thin driver: `train()` trains (and itself resumes) each run, `evaluate_run` evaluates it under
`hide_and_seek_tf.protocol` (what `evaluate.py --choose-on train_holdout --split val --occlusion
0,0.25,0.5,0.75` does: tau chosen on the held-out train images, never on val; the paper's fixed
0.2; fixed-box baselines; occlusion; the size breakdown), and this script tabulates and plots.

Runs: ROOT/e{EPOCHS}/{config}_s{seed} for gap (no hiding), has16 (16 px cells) and hasmix
(N in {8, 16, 32, none} per image and epoch), plus `--precision-runs` (default
e16/gap_s0_bfloat16: gap_s0 in mixed_precision="bfloat16"). Each is `train_config(...)`:
TrainConfig(data="tiny-imagenet:DATA", classes=10, train_split="train_minus_holdout",
model="alexnet_gap_64", pooling="avg", hide_prob=0.5, epochs=EPOCHS, batch_size=64,
schedule="paper", seed=s, augment="flip", validation=False).

Summary: ROOT/summary.md, summary.json and has_minus_gap.png (HaS minus GAP, paired by seed,
against the budget); wall times come from ROOT/timing.jsonl.

    python benchmarks/reproduce_tiny_imagenet.py --root ROOT --epochs 16,32 --status
    python benchmarks/reproduce_tiny_imagenet.py --root ROOT --epochs 16,32   # train, evaluate, sum up
    python benchmarks/reproduce_tiny_imagenet.py --root ROOT --epochs 16,32 --evaluate-only
    python benchmarks/reproduce_tiny_imagenet.py --root ROOT --epochs 16,32 --summary-only

`--splice-into docs/results.md` puts the tables between that file's study markers.
A budget whose run directories are gone (e.g. the 16-epoch runs kept only as
docs/study/tiny_imagenet_summary.json) is taken from `--stored-summary FILE` by `--summary-only`.

Finished runs and evaluations are skipped (an evaluation older than its model, or made with other
settings, is redone); a run directory trained with other settings is refused, never overwritten.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hide_and_seek_tf import plotting, protocol  # noqa: E402
from hide_and_seek_tf._io import write_json_atomic, write_text_atomic  # noqa: E402
from hide_and_seek_tf.evaluation import METRICS_FILE, SCHEMA_VERSION, SWEEP_THRESHOLDS  # noqa: E402
from hide_and_seek_tf.training.config import TrainConfig, config_differences  # noqa: E402
from hide_and_seek_tf.training.precision import fastest_precision  # noqa: E402
from hide_and_seek_tf.training.run_dir import (  # noqa: E402
    CONFIG_FILE,
    EVAL_DIR,
    HISTORY_FILE,
    MODEL_FILE,
)

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/tiny-imagenet-200-subset.zip"
CONFIGS = {  # name -> (label, hide_patch_sizes)
    "gap": ("GAP", ()),
    "has16": ("HaS-16", (16,)),
    "hasmix": ("HaS-Mixed {8,16,32,none}", (8, 16, 32, 0)),
}
PAPER_THRESHOLD = 0.2
TIMING_FILE = "timing.jsonl"
SUMMARY_JSON, SUMMARY_MD, PLOT_PNG = "summary.json", "summary.md", "has_minus_gap.png"
RUN_NAME = re.compile(r"^(?P<config>[a-z0-9]+)_s(?P<seed>\d+)(?:_(?P<precision>[a-z0-9]+))?$")
# The seed implementation's protocol: the best CAM threshold of 0.2-0.5 by GT-known Loc, on val.
SEED_TAUS = (0.2, 0.5)


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


# === Runs ===
def train_config(
    args: argparse.Namespace,
    budget: int,
    config: str,
    seed: int,
    precision: str | bool | None = None,
) -> TrainConfig:
    """The TrainConfig of one run of the study (what the lead's runs were trained with).

    `precision` None: the study's `--mixed-precision` (no suffix); a value: a precision pair run.
    """
    suffix = "" if precision is None else f"_{precision}"
    if precision is None:
        # "auto" is resolved here, not by train(), so that the config matches on resume.
        chosen = getattr(args, "mixed_precision", "float32")
        precision = {"float32": False, "auto": fastest_precision()[0]}.get(chosen, chosen)
    return TrainConfig(
        data=f"tiny-imagenet:{args.data}",
        classes=args.classes,
        train_split="train_minus_holdout",
        model=args.model,
        pooling="avg",
        hide_patch_sizes=CONFIGS[config][1],
        hide_prob=0.5,
        epochs=budget,
        batch_size=args.batch_size,
        schedule="paper",
        seed=seed,
        mixed_precision=precision,
        augment=args.augment,
        validation=False,
        run_dir=str(Path(args.root) / f"e{budget}" / f"{config}_s{seed}{suffix}"),
    )


def planned_runs(args: argparse.Namespace) -> list[TrainConfig]:
    """Every run of the study: budgets x seeds x configs, then the precision pairs."""
    runs = [
        train_config(args, b, c, s) for b in args.epochs for s in args.seeds for c in args.configs
    ]
    for rel in args.precision_runs:
        budget, name = rel.split("/")
        match = RUN_NAME.match(name)
        if int(budget[1:]) in args.epochs:
            runs.append(
                train_config(
                    args, int(budget[1:]), match["config"], int(match["seed"]), match["precision"]
                )
            )
    return runs


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def eval_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The `evaluate_run` arguments of every evaluation of the study."""
    return {
        "choose_on": "train_holdout",
        "split": "val",
        "sweep": True,
        "fixed_threshold": PAPER_THRESHOLD,
        "occlusion": tuple(args.occlusion),
        "batch_size": args.eval_batch_size,
    }


def is_evaluated(run_dir: Path, args: argparse.Namespace) -> bool:
    """RUN/eval/metrics.json exists, is newer than model.keras and has the study's settings."""
    result = _read_json(run_dir / EVAL_DIR / METRICS_FILE)
    if not isinstance(result, dict) or result.get("schema_version") != SCHEMA_VERSION:
        return False
    if (run_dir / EVAL_DIR / METRICS_FILE).stat().st_mtime < (run_dir / MODEL_FILE).stat().st_mtime:
        return False
    settings, proto, occ = eval_settings(args), result["protocol"], result.get("occlusion") or {}
    return (
        proto["choose_on"] == settings["choose_on"]
        and result["data"]["split"] == settings["split"]
        and len(proto["cam_thresholds"]) >= len(SWEEP_THRESHOLDS)
        and proto["fixed_threshold"] == settings["fixed_threshold"]
        and proto["batch_size"] == settings["batch_size"]
        and occ.get("fractions") == list(settings["occlusion"])
    )


def run_state(config: TrainConfig, args: argparse.Namespace) -> str:
    """ "todo", "partial" (resumable), "trained" or "evaluated".

    Raises:
        ValueError: the run directory holds a run trained with other settings.
    """
    run_dir = Path(config.run_dir)
    saved = _read_json(run_dir / CONFIG_FILE)
    if saved is None:
        return "todo"
    # config.json is resolved (lr, image size, steps); compare what the study sets.
    diffs = {k: v for k, v in config_differences(saved, config).items() if v[1] is not None}
    if diffs:
        listed = "; ".join(f"{k}: saved {a!r}, study {b!r}" for k, (a, b) in diffs.items())
        raise ValueError(
            f"{run_dir} was trained with other settings ({listed}). Pass the study's settings "
            "(e.g. `--data` as it was trained), or use another `--root`."
        )
    if not (run_dir / MODEL_FILE).is_file():
        return "partial"
    return "evaluated" if is_evaluated(run_dir, args) else "trained"


def _log_time(root: Path, run_dir: Path, phase: str, seconds: float) -> None:
    entry = {
        "run": str(run_dir.relative_to(root)),
        "seconds": round(seconds, 1),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    if phase != "train":
        entry["phase"] = phase
    with open(root / TIMING_FILE, "a") as f:  # one line per session: appending is safe
        f.write(json.dumps(entry) + "\n")


def train_run(config: TrainConfig, root: Path) -> None:
    """Trains `config`, resuming its run directory when it holds a partial run."""
    import keras

    from hide_and_seek_tf.training import train

    run_dir = Path(config.run_dir)
    start = time.perf_counter()
    train(config.replace(resume=(run_dir / CONFIG_FILE).is_file()), verbose=2)
    _log_time(root, run_dir, "train", time.perf_counter() - start)
    keras.backend.clear_session()


def evaluate(run_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """`evaluate_run` with the study's settings; writes RUN/eval/."""
    import keras

    from hide_and_seek_tf.evaluation import evaluate_run

    start = time.perf_counter()
    result = evaluate_run(run_dir, progress=False, **eval_settings(args))
    _log_time(Path(args.root), run_dir, "evaluate", time.perf_counter() - start)
    keras.backend.clear_session()
    return result


# === Summary ===
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
    lines = path.read_text().splitlines() if path.is_file() else []
    for line in lines:
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
        result = _read_json(run_dir / EVAL_DIR / METRICS_FILE)
        if (
            not match
            or match["config"] not in CONFIGS
            or result.get("schema_version") != SCHEMA_VERSION
        ):
            continue
        history = (run_dir / HISTORY_FILE).read_text().splitlines()
        header, last = history[0].split(","), history[-1].split(",")
        rel = f"e{budget}/{run_dir.name}"
        rows[run_dir.name] = {
            "config": match["config"],
            "seed": int(match["seed"]),
            "precision": match["precision"],
            **{key: _get(result, path) for key, (_, path) in METRICS.items()},
            "occlusion": (result.get("occlusion") or {}).get("top1_cls"),
            "occlusion_fractions": (result.get("occlusion") or {}).get("fractions"),
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
                for key in (
                    "count",
                    "gt_known_loc",
                    "top1_loc",
                    "max_box_acc",
                    "fixed_box_gt_known_loc",
                    "whole_image_gt_known_loc",
                )
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


def _fmt(stats: Mapping[str, Any] | None, digits: int = 1, sign: bool = False) -> str:
    if not stats or stats["mean"] is None:
        return "-"
    spec = f"{'+' if sign else ''}.{digits}f"
    std = f" ± {stats['std']:.{digits}f}" if stats["std"] is not None else ""
    return f"{stats['mean']:{spec}}{std}"


def _table(caption: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A captioned Markdown table; the first column left-aligned, the rest right-aligned."""
    lines = ["", caption, "", "| " + " | ".join(header) + " |"]
    lines.append("|---|" + "---:|" * (len(header) - 1))
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def _pct(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else f"{value:{spec}}"


def budget_markdown(budget: int, rows: Mapping[str, Any], summary: Mapping[str, Any]) -> str:
    """The Markdown tables of one budget."""
    configs = summary["configs"]
    if not configs:
        return f"### {budget} epochs\n\nNo evaluated runs.\n"
    first = next(r for r in rows.values() if r["precision"] is None)
    label = {name: CONFIGS[name][0] for name in configs}
    main = [
        [label[n], ",".join(map(str, c["seeds"]))]
        + [_fmt(c[k], 2 if k == "tau" else 1) for k in METRICS]
        for n, c in configs.items()
    ]
    for name, b in (("whole image", "whole_image"), ("fixed box (train)", "train_box")):
        b = first["baselines"][b]
        one_box_v2 = sum(b["box_acc"][d] for d in ("0.3", "0.5", "0.7")) / 3  # its only box
        main.append([f"baseline: {name} {b['box']}", "-", "-", "-", _pct(b["gt_known_loc"]), "-",
                     "-", _pct(b["box_acc"]["0.5"]), _pct(one_box_v2), "-", "-",
                     _pct(b["gt_known_loc"]), "-"])  # fmt: skip
    lines = [f"### {budget} epochs"] + _table(
        f"val: {first['num_val']} images; τ chosen on train_holdout ({first['num_holdout']} "
        "images, never trained on). Mean ± sample std over seeds; percentages.",
        ["model", "seeds", *(METRICS[k][0] for k in METRICS)],
        main,
    )
    bins = first["bins"]
    heads = [f"[{b['range'][0]:g}, {b['range'][1]:g}{']' if b['range'][1] >= 1 else ')'} "
             f"(n = {b['count']})" for b in bins]  # fmt: skip
    mean = lambda stats: _pct(stats["mean"])  # noqa: E731
    by_size = [
        [label[n]]
        + [f"{mean(b['gt_known_loc'])} / {mean(b['top1_loc'])} / {mean(b['max_box_acc'])}"
           for b in c["bins"]]
        for n, c in configs.items()
    ]  # fmt: skip
    by_size += [
        [name] + [_pct(b[key]) for b in bins]
        for name, key in (("fixed box (train)", "fixed_box_gt_known_loc"),
                          ("whole image", "whole_image_gt_known_loc"))
    ]  # fmt: skip
    lines += _table(
        "By ground-truth box area (fraction of the image), means over seeds: GT-known Loc @0.2 / "
        "Top-1 Loc @0.2 / MaxBoxAcc (holdout τ); the baselines' GT-known Loc.",
        ["model", *heads],
        by_size,
    )
    if first["occlusion_fractions"]:
        lines += _table(
            "Occlusion: val top-1 with each 16 px cell hidden with probability f (filled with the "
            "run's dataset mean; the same masks for every model).",
            ["model", *(f"f = {f:g}" for f in first["occlusion_fractions"])],
            [[label[n]] + [_fmt(s) for s in c["occlusion"]] for n, c in configs.items()],
        )
    for name, paired in summary["paired_minus_gap"].items():
        lines += _table(
            f"{label[name]} minus GAP, paired by seed (points; seeds "
            f"{next(iter(paired.values()))['seeds']}):",
            ["metric", "per seed", "mean ± std"],
            [[METRICS[k][0], ", ".join(f"{d:+.1f}" for d in p["per_seed"]), _fmt(p, sign=True)]
             for k, p in paired.items()],
        )  # fmt: skip
    for name, pair in summary["precision_pairs"].items():
        lines += _table(
            f"Precision pair {name} vs its float32 run:",
            ["metric", "float32", name.rsplit("_", 1)[1], "difference"],
            [[METRICS[k][0], _pct(a), _pct(b), _pct(None if None in (a, b) else b - a, "+.1f")]
             for k, (a, b) in pair.items()],
        )  # fmt: skip
    minutes = lambda s: "-" if not s else f"{s / 60:.1f} min"  # noqa: E731
    lines += _table(
        "Runs (wall times summed over sessions, from timing.jsonl):",
        ["run", "final train acc", "τ", "CAM inside - outside", "boxes = whole image",
         "train wall", "eval wall"],
        [[name, _pct(r["final_train_accuracy"]), _pct(r["tau"], ".2f"),
          _pct(r["cam_contrast"], "+.3f"), f"{r['whole_image_boxes']:.0f}%",
          minutes(r["train_wall_s"]), minutes(r["eval_wall_s"])] for name, r in rows.items()],
    )  # fmt: skip
    return "\n".join(lines) + "\n"


def write_summary(args: argparse.Namespace) -> str:
    """Writes ROOT/summary.json, summary.md and has_minus_gap.png; returns the Markdown."""
    root = Path(args.root)
    walls = _wall_times(root)
    stored = args.stored or {}
    budgets, texts, out = [], [], {}
    for budget in args.epochs:
        rows = collect_runs(root, budget, walls)
        if rows or f"e{budget}" not in stored:
            out[f"e{budget}"] = {"runs": rows, **summarize_budget(rows)}
        else:  # this budget's run directories are gone: keep its recorded summary
            out[f"e{budget}"] = stored[f"e{budget}"]
        texts.append(budget_markdown(budget, out[f"e{budget}"]["runs"], out[f"e{budget}"]))
        budgets.append(budget)
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
        if args.figures_dir:
            target = Path(args.figures_dir) / f"tiny_imagenet_{PLOT_PNG}"
            plotting.save_figure(target, figure, dpi=90)
    return text


SPLICE_START, SPLICE_END = "<!-- tiny-imagenet-study -->\n", "<!-- /tiny-imagenet-study -->"


def splice(path: Path, text: str) -> None:
    """Replaces what lies between the study's two markers in `path` by `text`."""
    doc = path.read_text()
    start, end = doc.find(SPLICE_START), doc.find(SPLICE_END)
    if start < 0 or end < start:
        raise ValueError(f"{path} has no {SPLICE_START.strip()} ... {SPLICE_END} markers")
    write_text_atomic(path, doc[: start + len(SPLICE_START)] + text + doc[end:])


# === Driver ===
def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", default=str(DEFAULT_DATA), help="Tiny ImageNet zip or folder")
    p.add_argument("--root", default="runs/tiny_imagenet", help="study directory")
    p.add_argument("--epochs", type=_ints, default=[16, 32], help="budgets, e.g. 16,32")
    p.add_argument("--configs", type=lambda t: t.split(","), default=list(CONFIGS))
    p.add_argument("--seeds", type=_ints, default=[0, 1, 2])
    p.add_argument(
        "--precision-runs",
        type=lambda t: [v for v in t.split(",") if v],
        default=["e16/gap_s0_bfloat16"],
        help="e{B}/{config}_s{seed}_{precision},...",
    )
    p.add_argument("--classes", type=int, default=10, help="the first K classes")
    p.add_argument(
        "--mixed-precision",
        default="float32",
        choices=("float32", "bfloat16", "auto"),
        help="precision of the study's runs (float32: the 10-class study's; auto: the fastest "
        "this machine runs natively, resolved here so that resumes match)",
    )
    p.add_argument("--model", default="alexnet_gap_64")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--augment", default="flip", choices=("flip", "crop_flip"))
    p.add_argument(
        "--occlusion",
        type=lambda t: [float(v) for v in t.split(",")],
        default=[0.0, 0.25, 0.5, 0.75],
    )
    p.add_argument("--eval-batch-size", type=int, default=100)
    p.add_argument("--figures-dir", help="also write the plot here (e.g. docs/figures)")
    p.add_argument(
        "--splice-into",
        help="a Markdown file whose text between <!-- tiny-imagenet-study --> and "
        "<!-- /tiny-imagenet-study --> is replaced by the summary tables (docs/results.md)",
    )
    p.add_argument(
        "--stored-summary",
        help="a summary.json whose budgets are used where ROOT holds no evaluated runs of them",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--status", action="store_true", help="print each run's state only")
    mode.add_argument("--evaluate-only", action="store_true", help="no training")
    mode.add_argument("--summary-only", action="store_true", help="no training, no evaluation")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.data = str(Path(args.data).expanduser().resolve())
    try:
        unknown = [c for c in args.configs if c not in CONFIGS]
        bad = [
            r for r in args.precision_runs if not re.fullmatch(r"e\d+/[a-z0-9]+_s\d+_[a-z0-9]+", r)
        ]
        if unknown or bad:
            raise ValueError(
                f"`--configs` must be among {list(CONFIGS)} and `--precision-runs` "
                f"like e16/gap_s0_bfloat16. Received: {unknown or bad}"
            )
        if args.splice_into and SPLICE_END not in Path(args.splice_into).read_text():
            raise ValueError(f"`--splice-into` {args.splice_into} has no {SPLICE_END} marker")
        args.stored = _read_json(Path(args.stored_summary)) if args.stored_summary else None
        if args.stored_summary and not isinstance(args.stored, dict):
            raise ValueError(f"`--stored-summary` is not a summary.json: {args.stored_summary}")
        if not Path(args.data).exists():
            raise FileNotFoundError(f"Tiny ImageNet not found at {args.data}: pass `--data`.")
        runs = planned_runs(args)
        states = {config.run_dir: run_state(config, args) for config in runs}
    except (ValueError, TypeError, FileNotFoundError) as e:
        parser.error(str(e))
    root = Path(args.root)
    for config in runs:
        print(f"{Path(config.run_dir).relative_to(root)}: {states[config.run_dir]}", flush=True)
    if args.status:
        return 0
    root.mkdir(parents=True, exist_ok=True)
    if not args.summary_only:
        for config in runs:
            run_dir, state = Path(config.run_dir), states[config.run_dir]
            if state in ("todo", "partial") and not args.evaluate_only:
                print(f"[{run_dir.relative_to(root)}] training ({state})", flush=True)
                train_run(config, root)
                state = "trained"
            if state == "trained":
                print(f"[{run_dir.relative_to(root)}] evaluating", flush=True)
                evaluate(run_dir, args)
    text = write_summary(args)
    print(text)
    if args.splice_into:
        splice(Path(args.splice_into), text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

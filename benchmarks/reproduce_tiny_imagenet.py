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

Summary (`tiny_imagenet_summary.py`, beside this script): ROOT/summary.md, summary.json and
has_minus_gap.png (HaS minus GAP, paired by seed, against the budget); wall times come from
ROOT/timing.jsonl.

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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The package (repository root) and the study's summary module (this folder), when not installed.
sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from tiny_imagenet_summary import (  # noqa: E402
    CONFIGS,
    PLOT_PNG,
    RUN_NAME,
    SPLICE_END,
    SUMMARY_JSON,
    SUMMARY_MD,
    TIMING_FILE,
    read_json,
    splice,
    write_summary,
)

from hide_and_seek_tf.evaluation import METRICS_FILE, SCHEMA_VERSION, SWEEP_THRESHOLDS  # noqa: E402
from hide_and_seek_tf.training.config import TrainConfig, config_differences  # noqa: E402
from hide_and_seek_tf.training.precision import fastest_precision  # noqa: E402
from hide_and_seek_tf.training.run_dir import CONFIG_FILE, EVAL_DIR, MODEL_FILE  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/tiny-imagenet-200-subset.zip"
PAPER_THRESHOLD = 0.2
# The study's file names live with the summary; named here too for callers of the driver.
__all__ = ["PLOT_PNG", "SUMMARY_JSON", "SUMMARY_MD", "TIMING_FILE", "build_parser", "main"]


# === Runs ===
def train_config(
    args: argparse.Namespace, budget: int, config: str, seed: int, precision: str | None = None
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
    for budget, name in (rel.split("/") for rel in args.precision_runs):
        match = RUN_NAME.match(name)
        if int(budget[1:]) in args.epochs:
            runs.append(
                train_config(
                    args, int(budget[1:]), match["config"], int(match["seed"]), match["precision"]
                )
            )
    return runs


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
    result = read_json(run_dir / EVAL_DIR / METRICS_FILE)
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
    saved = read_json(run_dir / CONFIG_FILE)
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


def timed(phase: str, root: Path, run_dir: Path, work: Callable[[], Any]) -> None:
    """Runs `work` (training or evaluating `run_dir`), logs its wall time to ROOT/timing.jsonl."""
    import keras  # deferred, with the training and evaluation modules: `--status` loads no TF

    start = time.perf_counter()
    work()
    entry = {
        "run": str(run_dir.relative_to(root)),
        "seconds": round(time.perf_counter() - start, 1),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    if phase != "train":
        entry["phase"] = phase
    with open(root / TIMING_FILE, "a") as f:  # one line per session: appending is safe
        f.write(json.dumps(entry) + "\n")
    keras.backend.clear_session()


def train_run(config: TrainConfig, root: Path) -> None:
    """Trains `config`, resuming its run directory when it holds a partial run."""
    from hide_and_seek_tf.training import train  # deferred: loads TensorFlow

    resume = (Path(config.run_dir) / CONFIG_FILE).is_file()
    timed(
        "train", root, Path(config.run_dir), lambda: train(config.replace(resume=resume), verbose=2)
    )


def evaluate(run_dir: Path, args: argparse.Namespace) -> None:
    """`evaluate_run` with the study's settings; writes RUN/eval/."""
    from hide_and_seek_tf.evaluation import evaluate_run  # deferred: loads TensorFlow

    work = lambda: evaluate_run(run_dir, progress=False, **eval_settings(args))  # noqa: E731
    timed("evaluate", Path(args.root), run_dir, work)


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
        stored = read_json(Path(args.stored_summary)) if args.stored_summary else None
        if args.stored_summary and not isinstance(stored, dict):
            raise ValueError(f"`--stored-summary` is not a summary.json: {args.stored_summary}")
        if not args.summary_only and not Path(args.data).exists():  # summaries need no data
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
    text = write_summary(root, args.epochs, stored, args.figures_dir)
    print(text)
    if args.splice_into:
        splice(Path(args.splice_into), text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

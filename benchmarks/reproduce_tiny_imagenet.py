#!/usr/bin/env python
"""Reproduction on real data: does Hide-and-Seek help on Tiny ImageNet, and by how much?

Trains the 64 x 64 AlexNet-GAP (`alexnet_gap_64`) plain and with Hide-and-Seek, plus the global-max-
pooling ablation, all with the same data, schedule, budget and seeds, then evaluates each on the
official val images of the chosen classes under two protocols, and writes tables and plots.

Runs (one directory each under ROOT, default runs/tiny_imagenet)::

    gap_s0       plain GAP                         gap_s1, gap_s2     the same, seeds 1 and 2
    has16_s0     Hide-and-Seek, 16 px cells        has16_s1, has16_s2
    hasmix_s0    Hide-and-Seek, N in {8, 16, 32, none} per image and epoch
    gmp_s0       global max pooling (the paper's ablation), no hiding
    gmphas16_s0  global max pooling with 16 px Hide-and-Seek

Protocols (nothing is ever chosen on val):

1. The paper's: CAM threshold fixed at 0.2 of the map's max, box around the largest connected
   component; GT-known Loc, Top-1 Loc and top-1 classification on val (single 64 x 64 crop; the
   paper averages 10 crops).
2. Choe et al. (CVPR 2020): the CAM threshold is chosen on `train_holdout` (the last 10 train images
   of every class, with their boxes, never trained on) by maximising BoxAcc there, then applied
   unchanged to val: MaxBoxAcc (IoU 0.5, largest component) and MaxBoxAccV2 (mean over IoU 0.3, 0.5,
   0.7 of BoxAcc with boxes around every component, each IoU with its own holdout threshold). The
   max over thresholds on val itself (Choe's threshold-free figure) is recorded too, labelled as an
   upper bound, never as the result.

Beside them, on the same images through the same code: the whole-image box, the fixed box of
data/README.md ([8, 12, 58, 58], 57.9% GT-known Loc on the full val split), a fixed box fitted on
this study's training boxes, and each model's classifier paired with that box instead of its CAM;
and the earlier TF1 implementation's numbers from REFERENCE.md (200 classes, thresholds chosen on
val: not comparable).
Occlusion robustness (the paper's second claim): top-1 accuracy on val when each 16 px cell is hidden
with probability f in {0, 0.25, 0.5, 0.75}, filled with the run's dataset mean; the masks come from
fixed stateless seeds, so every model sees exactly the same occluded images.

Scale (the defaults), chosen by measurement. `alexnet_gap_64` (conv1 96 x 7 x 7 stride 2, conv2-5
256/384/384/256, conv6-7 512, BN after every conv, GAP; 7.3 M parameters) trained at 25-45 images/s
(batch 64, through `train()` on the real zip) on this 2-core CPU while other engineers' jobs held
the load average at 5-6; inference ran 4.5 times faster. We plan for 60 images/s with the CPU to
itself. With the first 20 classes x 190 train images (every train image but the 10 per class held
out: 3,800 images; 1,000 val images; 200 holdout images) and 8 epochs (59 steps of 64 each), one
run trains on 30,208 images: about 8.4 min at 60 images/s, plus about 1 min of evaluation (89 s
measured under the same load), so the 9 runs take about 90 min. Twenty classes rather than fewer
keeps 1,000 val images (standard error about 1.6 points on a 50% metric); more classes would have
cut the epochs below what a from-scratch network needs. At 40 images/s the study takes about 2 h;
it resumes where it stopped. `--dry-run` prints the plan and the estimate.

Commands::

    python benchmarks/reproduce_tiny_imagenet.py --dry-run      # the plan and the time estimate
    python benchmarks/reproduce_tiny_imagenet.py                # the whole study (resumable)
    python benchmarks/reproduce_tiny_imagenet.py --only gap_s0,has16_s0
    python benchmarks/reproduce_tiny_imagenet.py --summary-only # tables and plots of what is done

Resumable: a run whose model.keras and evaluation exist is skipped; a run killed mid-training
resumes from its last saved state (`train`'s resume); an evaluation whose settings changed is redone.
Settings that change what is trained are fixed per ROOT (ROOT/study.json): change them with a new
`--root`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hide_and_seek_tf import evaluation, hide_patches  # noqa: E402
from hide_and_seek_tf._checks import positive_int  # noqa: E402
from hide_and_seek_tf._io import write_json_atomic, write_text_atomic  # noqa: E402
from hide_and_seek_tf.data import load_dataset, make_pipeline  # noqa: E402
from hide_and_seek_tf.data.tiny_imagenet import read_tiny_imagenet_index  # noqa: E402
from hide_and_seek_tf.metrics import (  # noqa: E402
    FixedBoxBaseline,
    LocalizationEvaluator,
    choose_fixed_box,
)
from hide_and_seek_tf.training import TrainConfig, config_differences, load_run, train  # noqa: E402
from hide_and_seek_tf.training.run_dir import (  # noqa: E402
    CONFIG_FILE,
    EVAL_DIR,
    HISTORY_FILE,
    MODEL_FILE,
)

DEFAULT_DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "tiny-imagenet-200-subset.zip"
)
DEFAULT_ROOT = "runs/tiny_imagenet"

# Planning figures for --dry-run (see the module docstring for the measurement behind them).
PLANNED_TRAIN_RATE = 60.0  # training images/s of alexnet_gap_64 with the 2-core CPU to itself
INFERENCE_SPEEDUP = 4.0  # inference images/s over training images/s (measured 4.5x)
RUN_OVERHEAD_S = 30.0  # start-up, data indexing, model build and save per run
BOX_SECONDS_PER_IMAGE = 0.02  # CAMs -> boxes at 101 thresholds, both modes, and metrics
EVAL_OVERHEAD_S = 15.0  # evaluation.evaluate_run's train-box fit and figures, two splits

STUDY_FILE = "study.json"
BASELINES_FILE = "baselines.json"
EVAL_FILE = Path(EVAL_DIR) / "reproduce_tiny_imagenet.json"
TIMING_FILE = "study_timing.json"
SUMMARY_JSON, SUMMARY_MD = "summary.json", "summary.md"
OCCLUSION_PNG, THRESHOLDS_PNG = "occlusion.png", "thresholds.png"

# Earlier TF1 implementation on the full 200-class Tiny ImageNet (REFERENCE.md): single crop,
# threshold "best of 0.2-0.5" chosen on val itself. GT-known / Top-1 Loc / Top-1 classification.
TF1_REFERENCE = (
    ("AlexNet-GAP", 54.31, 24.53, 39.27),
    ("AlexNet-HaS-16", 54.70, 26.31, 42.23),
    ("GoogLeNet-GAP", 55.47, 30.22, 47.63),
    ("GoogLeNet-HaS-16", 55.75, 32.24, 51.38),
)
README_FIXED_BOX = (8, 12, 58, 58)  # chosen on the train boxes of all 200 classes (data/README.md)


# === Study design ===
@dataclasses.dataclass(frozen=True)
class StudyRun:
    """One training run of the study.

    Attributes:
        name: run directory name, `<config>_s<seed>`.
        config: the configuration it repeats across seeds ("gap", "has16", ...).
        label: row label in the tables.
        hide_patch_sizes: Hide-and-Seek cell sides (0 = no hiding for that image; () = plain).
        pooling: "avg" (GAP) or "max" (GMP).
        seed: the training seed.
    """

    name: str
    config: str
    label: str
    hide_patch_sizes: tuple[int, ...]
    pooling: str
    seed: int


_CONFIGS = {
    "gap": ("GAP", (), "avg"),
    "has16": ("HaS-16", (16,), "avg"),
    "hasmix": ("HaS-Mixed {8,16,32,none}", (8, 16, 32, 0), "avg"),
    "gmp": ("GMP", (), "max"),
    "gmphas16": ("GMP + HaS-16", (16,), "max"),
}
_PLAN = (
    ("gap", 0), ("has16", 0), ("hasmix", 0), ("gmp", 0), ("gmphas16", 0),
    ("gap", 1), ("has16", 1), ("gap", 2), ("has16", 2),
)  # fmt: skip
STUDY_RUNS: tuple[StudyRun, ...] = tuple(
    StudyRun(f"{c}_s{s}", c, _CONFIGS[c][0], _CONFIGS[c][1], _CONFIGS[c][2], s) for c, s in _PLAN
)
RUNS_BY_NAME = {run.name: run for run in STUDY_RUNS}


@dataclasses.dataclass(frozen=True)
class StudySettings:
    """Everything the study depends on; the training part is fixed per root (study.json).

    Attributes:
        data: path of the Tiny ImageNet zip or folder (stored absolute).
        root: directory holding one directory per run, and the summary.
        classes: the first K classes of wnids.txt.
        max_per_class: training images per class (first N by index; at most 200 - 10 so the
            holdout is never trained on).
        epochs, batch_size, schedule, model, hide_prob: the training recipe, the same for every run.
        jit_compile: XLA-compile the train step (does not change what is trained).
        eval_batch_size: batch size of every evaluation pass (fixes the occlusion masks too).
        threshold_step: spacing of the CAM threshold grid [0, 1) (Choe et al. use 0.01).
        paper_threshold: the paper's fixed CAM threshold for AlexNet-GAP.
        iou_thresholds: the IoU thresholds of MaxBoxAccV2.
        occlusion_fractions: hiding probabilities of the occlusion test.
        occlusion_cell: cell side of the occlusion test, pixels.
        occlusion_seed: first half of every occlusion mask's stateless seed.
    """

    data: str
    root: str
    classes: int = 20
    max_per_class: int = 190
    epochs: int = 8
    batch_size: int = 64
    schedule: str = "paper"
    model: str = "alexnet_gap_64"
    hide_prob: float = 0.5
    jit_compile: bool = False
    eval_batch_size: int = 100
    threshold_step: float = 0.01
    paper_threshold: float = 0.2
    iou_thresholds: tuple[float, ...] = (0.3, 0.5, 0.7)
    occlusion_fractions: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75)
    occlusion_cell: int = 16
    occlusion_seed: int = 2017

    def __post_init__(self) -> None:
        for name in ("classes", "max_per_class", "epochs", "batch_size", "eval_batch_size"):
            positive_int(getattr(self, name), name)
        if not 0.0 < self.threshold_step <= 0.5:
            raise ValueError(
                f"`threshold_step` must be in (0, 0.5]. Received: threshold_step={self.threshold_step!r}"
            )
        if not all(0.0 <= f <= 1.0 for f in self.occlusion_fractions):
            raise ValueError(
                "`occlusion_fractions` must be in [0, 1]. "
                f"Received: occlusion_fractions={self.occlusion_fractions!r}"
            )

    @property
    def spec(self) -> str:
        return f"tiny-imagenet:{self.data}"

    def train_config(self, run: StudyRun) -> TrainConfig:
        """The TrainConfig of `run` (validation off: nothing is looked at on val during training)."""
        return TrainConfig(
            data=self.spec,
            classes=self.classes,
            max_per_class=self.max_per_class,
            model=self.model,
            pooling=run.pooling,
            hide_patch_sizes=run.hide_patch_sizes,
            hide_prob=self.hide_prob,
            epochs=self.epochs,
            batch_size=self.batch_size,
            schedule=self.schedule,
            seed=run.seed,
            jit_compile=self.jit_compile,
            validation=False,
            run_dir=str(Path(self.root) / run.name),
        )

    def training_key(self) -> dict[str, Any]:
        """Settings that change what is trained: fixed for a root."""
        keys = ("data", "classes", "max_per_class", "epochs", "batch_size", "schedule", "model",
                "hide_prob")  # fmt: skip
        return {k: getattr(self, k) for k in keys}

    def eval_key(self) -> dict[str, Any]:
        """Settings an evaluation depends on: a change redoes the evaluations."""
        keys = ("eval_batch_size", "threshold_step", "paper_threshold", "iou_thresholds",
                "occlusion_fractions", "occlusion_cell", "occlusion_seed")  # fmt: skip
        return {k: _jsonable(getattr(self, k)) for k in keys} | {"version": 1}

    def threshold_grid(self) -> np.ndarray:
        """CAM thresholds [0, step, 2 step, ...) below 1, plus the paper's, ascending."""
        n = int(math.floor(1.0 / self.threshold_step - 1e-9)) + 1
        grid = np.round(np.arange(n) * self.threshold_step, 6)
        return np.unique(np.append(grid[grid < 1.0], self.paper_threshold))


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# === Data sizes and the holdout check ===
def data_counts(settings: StudySettings) -> dict[str, Any]:
    """Image counts of the study's splits, and a check that training never sees the holdout.

    Raises:
        FileNotFoundError: the data is missing.
        ValueError: the training images would include held-out images.
    """
    path, k = settings.data, settings.classes
    train_index = read_tiny_imagenet_index(
        path, "train", classes=k, max_per_class=settings.max_per_class
    )
    holdout_index = read_tiny_imagenet_index(path, "train_holdout", classes=k)
    val_index = read_tiny_imagenet_index(path, "val", classes=k)
    overlap = sorted(set(train_index.ids) & set(holdout_index.ids))
    if overlap:
        per_class = len(read_tiny_imagenet_index(path, "train_minus_holdout", classes=k).ids) // k
        raise ValueError(
            f"`max_per_class` must leave the held-out train images out of training (at most "
            f"{per_class} per class here): {len(overlap)} training images, e.g. {overlap[0]!r}, are "
            f"in `train_holdout`, where the CAM threshold is chosen. "
            f"Received: max_per_class={settings.max_per_class}"
        )
    return {
        "num_classes": len(train_index.wnids),
        "wnids": list(train_index.wnids),
        "num_train": len(train_index.ids),
        "num_holdout": len(holdout_index.ids),
        "num_val": len(val_index.ids),
        "holdout_images_in_training": len(overlap),
        # The fixed-box baseline is fitted to the training boxes only.
        "train_fixed_box": choose_fixed_box(train_index.boxes, (64, 64)),
    }


def _batches(settings: StudySettings, split: str) -> tf.data.Dataset:
    ds, _ = load_dataset(settings.spec, split, classes=settings.classes)
    return make_pipeline(
        ds, training=False, batch_size=settings.eval_batch_size, image_size=(64, 64), cache=False
    )


# === Evaluation ===
def occlusion_and_fixed_box(
    model: Any,
    batches: tf.data.Dataset,
    settings: StudySettings,
    fill: Sequence[float],
    fixed_box: Sequence[int],
) -> tuple[list[float], dict[str, Any]]:
    """Top-1 accuracy (%) under test-time occlusion, per f; and this classifier with a fixed box.

    Occlusion: each `occlusion_cell` px cell is hidden with probability f and filled with `fill`.
    The mask of batch b at fraction index i has the stateless seed (occlusion_seed, 64 b + i): the
    same for every model, whatever ran before. Fixed box: Top-1 Loc when the model's class is paired
    with `fixed_box` instead of its CAM's box (does the CAM beat a box that ignores the image?).
    """
    correct = np.zeros(len(settings.occlusion_fractions), np.int64)
    total = 0
    with_box = LocalizationEvaluator(cam_thresholds=(0.0,), iou_thresholds=settings.iou_thresholds)
    for b, batch in enumerate(batches):
        labels = batch["label"].numpy()
        total += len(labels)
        for i, f in enumerate(settings.occlusion_fractions):
            images = batch["image"]
            if f > 0:
                seed = tf.constant([settings.occlusion_seed, 64 * b + i], tf.int64)
                images = hide_patches(images, settings.occlusion_cell, f, fill, seed=seed)
            logits = model(images, training=False)
            correct[i] += int((np.argmax(logits, axis=1) == labels).sum())
            if f == 0:
                boxes = np.broadcast_to(np.asarray(fixed_box, np.float64), (len(labels), 1, 4))
                with_box.accumulate(logits, boxes, labels, batch["boxes"])
    fixed = with_box.compute()
    fixed_result = {"box": list(fixed_box)} | {
        k: fixed[k] for k in ("gt_known_loc", "top1_loc", "top5_loc")
    }
    return (100.0 * correct / max(total, 1)).tolist(), fixed_result


def choose_and_report(
    holdout: Mapping[str, Any], val: Mapping[str, Any], settings: StudySettings
) -> dict[str, Any]:
    """Choe et al.'s protocol: thresholds chosen on the holdout curves, read off the val curves.

    `holdout` and `val` are `LocalizationEvaluator.compute()` results on the same threshold grid.
    The val curves are read only at the holdout's thresholds; their own max (the threshold-free
    figure Choe et al. report) is kept apart, labelled as an upper bound.
    """
    grid = list(holdout["curves"]["cam_thresholds"])
    if list(val["curves"]["cam_thresholds"]) != grid:
        raise ValueError("`holdout` and `val` must be evaluated on the same CAM thresholds.")
    keys = [f"{d:g}" for d in settings.iou_thresholds]
    h_box, v_box = holdout["curves"]["box_acc"], val["curves"]["box_acc"]
    h_any, v_any = holdout["curves"]["box_acc_v2"], val["curves"]["box_acc_v2"]
    tau = int(np.argmax(h_box["0.5"]))  # first max: the lowest threshold among ties
    tau_v2 = {k: int(np.argmax(h_any[k])) for k in keys}
    return {
        "threshold_chosen_on": "train_holdout",
        "tau": grid[tau],
        "tau_v2": {k: grid[i] for k, i in tau_v2.items()},
        "holdout_max_box_acc": h_box["0.5"][tau],
        "holdout_max_box_acc_v2": float(np.mean([h_any[k][i] for k, i in tau_v2.items()])),
        "max_box_acc": v_box["0.5"][tau],
        "max_box_acc_v2": float(np.mean([v_any[k][i] for k, i in tau_v2.items()])),
        "top1_loc_at_tau": val["curves"]["top1_loc"][tau],
        "val_oracle_max_box_acc": float(max(v_box["0.5"])),
        "val_oracle_max_box_acc_v2": float(np.mean([max(v_any[k]) for k in keys])),
    }


def evaluate_run(run: StudyRun, settings: StudySettings, counts: Mapping[str, Any]) -> dict:
    """Evaluates a trained run on holdout and val; returns what goes into its eval file.

    The CAM evaluation of each split is `hide_and_seek_tf.evaluation.evaluate_run` (what
    evaluate.py runs), on the study's threshold grid; it also writes RUN/eval/<split>/.
    """
    run_dir = Path(settings.root) / run.name
    model, config, mean = load_run(run_dir)
    grid = settings.threshold_grid()
    start = time.perf_counter()
    splits = {}
    for split in ("train_holdout", "val"):
        splits[split] = evaluation.evaluate_run(
            run_dir,
            split=split,
            thresholds=grid.tolist(),
            fixed_threshold=settings.paper_threshold,
            batch_size=settings.eval_batch_size,
            out_dir=run_dir / EVAL_DIR / split,
            progress=False,
            load_run=lambda _: (model, config, mean),
        )["metrics"]
    holdout, val = splits["train_holdout"], splits["val"]
    occlusion, fixed_box = occlusion_and_fixed_box(
        model, _batches(settings, "val"), settings, mean.tolist(), counts["train_fixed_box"]
    )
    val["fixed_box"] = fixed_box
    return {
        "run": run.name,
        "config": run.config,
        "seed": run.seed,
        "eval_settings": settings.eval_key(),
        "model_mtime_ns": (run_dir / MODEL_FILE).stat().st_mtime_ns,
        "provenance": {
            "threshold_chosen_on": "train_holdout",
            "reported_on": "val",
            "num_holdout": holdout["num_images"],
            "num_val": val["num_images"],
            "holdout_images_in_training": counts["holdout_images_in_training"],
            "training_images": f"train, first {config['max_per_class']} per class by index",
        },
        "holdout": holdout,
        "val": val,
        "paper": {
            k: val[k] for k in ("cam_threshold", "gt_known_loc", "top1_loc", "top1_cls", "top5_cls")
        },
        "choe": choose_and_report(holdout, val, settings),
        "occlusion": {
            "cell": settings.occlusion_cell,
            "fractions": list(settings.occlusion_fractions),
            "top1_cls": occlusion,
            "fill": mean.tolist(),
        },
        "eval_wall_s": time.perf_counter() - start,
    }


def fixed_box_baselines(settings: StudySettings, counts: Mapping[str, Any]) -> dict[str, Any]:
    """GT-known Loc and BoxAcc of boxes that ignore the image, on holdout and val.

    The whole image; the fixed box of data/README.md (chosen on all 200 classes' train boxes); and
    the fixed box chosen (`choose_fixed_box`) on the training boxes of this study.
    """
    boxes = {
        "whole image": (0, 0, 63, 63),
        "README fixed box": README_FIXED_BOX,
        "fixed box chosen on train": tuple(counts["train_fixed_box"]),
    }
    out: dict[str, Any] = {"eval_settings": settings.eval_key(), "boxes": {}}
    for name, box in boxes.items():
        out["boxes"][name] = {"box": list(box)}
        for split in ("train_holdout", "val"):
            baseline = FixedBoxBaseline(box, settings.iou_thresholds)
            for batch in _batches(settings, split):
                baseline.accumulate(batch["boxes"])
            result = baseline.compute()
            result["box_acc_mean"] = float(
                np.mean([result["box_acc"][f"{d:g}"] for d in settings.iou_thresholds])
            )
            out["boxes"][name][split] = result
    return out


# === Training and the per-run state machine ===
def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def epochs_done(run_dir: Path) -> int:
    """Epochs recorded in history.csv (0 when there is none)."""
    path = run_dir / HISTORY_FILE
    if not path.is_file():
        return 0
    return max(0, len([line for line in path.read_text().splitlines() if line.strip()]) - 1)


def run_status(run: StudyRun, settings: StudySettings) -> str:
    """The run's state: "done", "evaluate" (trained; evaluation missing or stale), "partial", "todo"."""
    run_dir = Path(settings.root) / run.name
    model_file = run_dir / MODEL_FILE
    if model_file.is_file():
        result = _read_json(run_dir / EVAL_FILE)
        fresh = (
            isinstance(result, dict)
            and result.get("eval_settings") == settings.eval_key()
            and result.get("model_mtime_ns") == model_file.stat().st_mtime_ns
        )
        return "done" if fresh else "evaluate"
    return "partial" if (run_dir / CONFIG_FILE).is_file() else "todo"


def _check_saved_config(run: StudyRun, settings: StudySettings) -> None:
    run_dir = Path(settings.root) / run.name
    saved = _read_json(run_dir / CONFIG_FILE)
    if saved is None:
        return
    # The saved config is resolved (lr, image size, steps...); compare what the study sets.
    diffs = {k: v for k, v in config_differences(saved, settings.train_config(run)).items()
             if v[1] is not None}  # fmt: skip
    if diffs:
        listed = "; ".join(f"{k}: saved {old!r}, now {new!r}" for k, (old, new) in diffs.items())
        raise ValueError(
            f"Run {run_dir} was trained with other settings ({listed}). Use another `--root`, or "
            "delete that run directory to retrain it."
        )


def train_run(run: StudyRun, settings: StudySettings) -> None:
    """Trains `run` (resuming a partial run); records the wall time of this session."""
    import keras

    run_dir = Path(settings.root) / run.name
    resume = (run_dir / CONFIG_FILE).is_file()
    config = settings.train_config(run).replace(resume=resume)
    timing_path = run_dir / TIMING_FILE
    timing = _read_json(timing_path) or {"sessions": []}
    before = epochs_done(run_dir)
    start, started_at = time.perf_counter(), datetime.datetime.now().isoformat(timespec="seconds")
    finished = False
    try:
        train(config, verbose=2)
        finished = True
    finally:
        # Only beside a config.json: a directory without one must stay empty for a fresh start.
        if (run_dir / CONFIG_FILE).is_file():
            timing["sessions"].append(
                {
                    "started": started_at,
                    "wall_s": round(time.perf_counter() - start, 1),
                    "epochs_before": before,
                    "epochs_after": epochs_done(run_dir),
                    "finished": finished,
                }
            )
            timing["train_wall_s"] = round(sum(s["wall_s"] for s in timing["sessions"]), 1)
            write_json_atomic(timing_path, timing)
        keras.backend.clear_session()


def ensure_run(run: StudyRun, settings: StudySettings, counts: Mapping[str, Any]) -> str:
    """Brings `run` to "done": trains (or resumes) and evaluates as needed; returns what it did."""
    _check_saved_config(run, settings)
    status = run_status(run, settings)
    if status == "done":
        return "skipped (complete)"
    did = []
    if status in ("todo", "partial"):
        print(f"[{run.name}] {'resuming' if status == 'partial' else 'training'}", flush=True)
        train_run(run, settings)
        did.append("trained" if status == "todo" else "resumed")
    print(f"[{run.name}] evaluating", flush=True)
    result = evaluate_run(run, settings, counts)
    write_json_atomic(Path(settings.root) / run.name / EVAL_FILE, result)
    import keras

    keras.backend.clear_session()
    did.append(f"evaluated in {result['eval_wall_s']:.0f} s")
    return ", ".join(did)


# === Planning ===
def _observed_rate(settings: StudySettings) -> float | None:
    """Training images/s over the finished runs of this root (their whole training wall time,
    start-up included, so the estimate errs long)."""
    images, seconds = 0.0, 0.0
    for run in STUDY_RUNS:
        run_dir = Path(settings.root) / run.name
        timing, config = _read_json(run_dir / TIMING_FILE), _read_json(run_dir / CONFIG_FILE)
        if not timing or not config or not (run_dir / MODEL_FILE).is_file():
            continue
        images += config["total_steps"] * config["batch_size"]
        seconds += timing.get("train_wall_s", 0.0)
    return images / seconds if seconds > 0 else None


def plan(
    settings: StudySettings, runs: Sequence[StudyRun], counts: Mapping[str, Any],
    rate: float | None,
) -> tuple[list[dict[str, Any]], float, str]:  # fmt: skip
    """Per run: status and estimated seconds left; the total; where the rate came from."""
    observed = _observed_rate(settings)
    if rate is not None:
        source = f"{rate:.0f} images/s (--rate)"
    elif observed is not None:
        rate, source = observed, f"{observed:.0f} images/s (observed on the finished runs here)"
    else:
        rate, source = PLANNED_TRAIN_RATE, f"{PLANNED_TRAIN_RATE:.0f} images/s (planned, idle CPU)"
    steps = counts["num_train"] // settings.batch_size
    images_per_epoch = steps * settings.batch_size
    n_occluded = sum(f > 0 for f in settings.occlusion_fractions)
    forwards = counts["num_holdout"] * 2 + counts["num_val"] * (2 + n_occluded)
    boxed = counts["num_holdout"] + counts["num_val"]
    eval_s = EVAL_OVERHEAD_S + forwards / (INFERENCE_SPEEDUP * rate) + boxed * BOX_SECONDS_PER_IMAGE
    rows, total = [], 0.0
    for run in runs:
        status = run_status(run, settings)
        left = 0.0
        if status in ("todo", "partial"):
            epochs_left = settings.epochs - epochs_done(Path(settings.root) / run.name)
            left += RUN_OVERHEAD_S + epochs_left * images_per_epoch / rate
        if status != "done":
            left += eval_s
        total += left
        rows.append({"run": run, "status": status, "seconds": left})
    return rows, total, source


def print_plan(settings: StudySettings, runs: Sequence[StudyRun], counts: Mapping[str, Any],
               rate: float | None) -> float:  # fmt: skip
    rows, total, source = plan(settings, runs, counts, rate)
    print(
        f"Study root {settings.root}: {settings.model}, {counts['num_classes']} classes, "
        f"{counts['num_train']} train / {counts['num_holdout']} holdout / {counts['num_val']} val "
        f"images, {settings.epochs} epochs of batch {settings.batch_size} ({settings.schedule})."
    )
    print(f"{'run':<12} {'hiding':<14} {'pool':<5} {'seed':>4}  {'status':<9} {'est. left':>9}")
    for row in rows:
        run = row["run"]
        hiding = _hiding(run)
        print(
            f"{run.name:<12} {hiding:<14} {run.pooling:<5} {run.seed:>4}  {row['status']:<9} "
            f"{row['seconds'] / 60:>7.1f} m"
        )
    print(f"Estimated time left: {total / 60:.0f} min at {source}.")
    return total


# === Summary: tables and plots ===
def _stats(values: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(values, np.float64)
    return {
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
        "min": float(arr.min()),
        "max": float(arr.max()),
        "n": len(arr),
    }


def _fmt(stats: Mapping[str, float], digits: int = 1) -> str:
    """Mean, with the sample std over seeds when there is more than one seed."""
    if stats["n"] > 1:
        return f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"
    return f"{stats['mean']:.{digits}f}"


BASELINE_ORDER = ("whole image", "README fixed box", "fixed box chosen on train")
# Summary metric -> its path in a run's eval file; every value is a percentage but tau.
METRICS: dict[str, tuple[str, ...]] = {
    "top1_cls": ("paper", "top1_cls"),
    "gt_known_loc": ("paper", "gt_known_loc"),
    "top1_loc": ("paper", "top1_loc"),
    "top1_loc_fixed_box": ("val", "fixed_box", "top1_loc"),
    "tau": ("choe", "tau"),
    "max_box_acc": ("choe", "max_box_acc"),
    "max_box_acc_v2": ("choe", "max_box_acc_v2"),
    "top1_loc_at_tau": ("choe", "top1_loc_at_tau"),
    "holdout_max_box_acc": ("choe", "holdout_max_box_acc"),
    "val_oracle_max_box_acc": ("choe", "val_oracle_max_box_acc"),
    "val_oracle_max_box_acc_v2": ("choe", "val_oracle_max_box_acc_v2"),
}
PAIRED_LABELS = {
    "top1_cls": "top-1 cls (paper protocol)",
    "gt_known_loc": "GT-known Loc @ 0.2",
    "top1_loc": "Top-1 Loc @ 0.2",
    "max_box_acc": "MaxBoxAcc (holdout τ)",
    "max_box_acc_v2": "MaxBoxAccV2 (holdout τ)",
    "top1_loc_at_tau": "Top-1 Loc @ holdout τ",
}


def _get(result: Mapping[str, Any], path: Sequence[str]) -> Any:
    for key in path:
        result = result[key]
    return result


def collect(settings: StudySettings) -> dict[str, Any]:
    """Aggregates the evaluated runs of the root: per config (mean/std over seeds), paired
    HaS-16 - GAP differences per seed, occlusion curves, timings."""
    results = {}
    for run in STUDY_RUNS:
        if run_status(run, settings) != "done":
            continue
        run_dir = Path(settings.root) / run.name
        result = _read_json(run_dir / EVAL_FILE)
        timing = _read_json(run_dir / TIMING_FILE) or {}
        rows = (run_dir / HISTORY_FILE).read_text().splitlines()
        header, last = rows[0].split(","), rows[-1].split(",")
        result["train_wall_s"] = timing.get("train_wall_s")
        result["final_train_accuracy"] = 100.0 * float(last[header.index("accuracy")])
        results[run.name] = result
    configs: dict[str, Any] = {}
    for name, (label, _, _) in _CONFIGS.items():
        members = [r for r in results.values() if r["config"] == name]
        if members:
            configs[name] = {
                "label": label,
                "seeds": [r["seed"] for r in members],
                **{m: _stats([_get(r, path) for r in members]) for m, path in METRICS.items()},
                "occlusion": [
                    _stats([r["occlusion"]["top1_cls"][i] for r in members])
                    for i in range(len(settings.occlusion_fractions))
                ],
            }
    paired = {}
    seeds = sorted({run.seed for run in STUDY_RUNS})
    both = [s for s in seeds if f"has16_s{s}" in results and f"gap_s{s}" in results]
    for metric in PAIRED_LABELS:
        diffs = [
            _get(results[f"has16_s{s}"], METRICS[metric])
            - _get(results[f"gap_s{s}"], METRICS[metric])
            for s in both
        ]
        if diffs:
            paired[metric] = {"seeds": both, "per_seed": diffs, **_stats(diffs)}
    return {"runs": results, "configs": configs, "paired_has16_minus_gap": paired}


def _machine() -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} logical CPUs, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, TensorFlow {tf.__version__}"
    )


def markdown(settings: StudySettings, summary: Mapping[str, Any], baselines: Mapping[str, Any],
             counts: Mapping[str, Any]) -> str:  # fmt: skip
    """The summary tables as Markdown (percentages)."""
    configs, runs = summary["configs"], summary["runs"]
    fixed = baselines["boxes"]
    train_box = fixed["fixed box chosen on train"]["box"]
    lines = [
        f"Tiny ImageNet, first {counts['num_classes']} classes: {counts['num_train']} train images "
        f"({settings.max_per_class}/class), {counts['num_holdout']} held-out train images (CAM "
        f"threshold choice only), {counts['num_val']} val images (every number below). "
        f"{settings.model}, {settings.epochs} epochs, batch {settings.batch_size}, schedule "
        f"'{settings.schedule}', one 64 x 64 crop. Mean ± sample std over seeds where n > 1.",
        "",
        "**Paper protocol** (val; CAM threshold 0.2 of the max, largest component; %)",
        "",
        f"| model | seeds | top-1 cls | GT-known Loc | Top-1 Loc | Top-1 Loc, same classifier + "
        f"fixed box {train_box} |",
        "|---|---|---|---|---|---|",
    ]
    for c in configs.values():
        lines.append(
            f"| {c['label']} | {','.join(map(str, c['seeds']))} | {_fmt(c['top1_cls'])} | "
            f"{_fmt(c['gt_known_loc'])} | {_fmt(c['top1_loc'])} | {_fmt(c['top1_loc_fixed_box'])} |"
        )
    for name in BASELINE_ORDER:
        b = fixed[name]
        lines.append(
            f"| baseline: {name} {b['box']} for every image | - | - | "
            f"{b['val']['gt_known_loc']:.1f} | - | - |"
        )
    for label, gt_known, top1_loc, cls in TF1_REFERENCE:
        lines.append(
            f"| earlier TF1 {label}: 200 classes, threshold chosen on val (not comparable) | - | "
            f"{cls:.2f} | {gt_known:.2f} | {top1_loc:.2f} | - |"
        )
    lines += [
        "",
        "**Choe et al. protocol** (CAM threshold τ chosen on the held-out train images, applied "
        "unchanged to val; %)",
        "",
        "| model | τ (holdout) | MaxBoxAcc | MaxBoxAccV2 | Top-1 Loc @ τ | holdout MaxBoxAcc | "
        "val max over τ, V1 / V2 (upper bound, not a result) |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in configs.values():
        tau = c["tau"]
        spread = f" ({tau['min']:.2f}-{tau['max']:.2f})" if tau["n"] > 1 else ""
        lines.append(
            f"| {c['label']} | {tau['mean']:.2f}{spread} | {_fmt(c['max_box_acc'])} | "
            f"{_fmt(c['max_box_acc_v2'])} | {_fmt(c['top1_loc_at_tau'])} | "
            f"{_fmt(c['holdout_max_box_acc'])} | {_fmt(c['val_oracle_max_box_acc'])} / "
            f"{_fmt(c['val_oracle_max_box_acc_v2'])} |"
        )
    for name in BASELINE_ORDER:
        b = fixed[name]
        lines.append(
            f"| baseline: {name} {b['box']} | - | {b['val']['box_acc']['0.5']:.1f} | "
            f"{b['val']['box_acc_mean']:.1f} (one box) | - | "
            f"{b['train_holdout']['box_acc']['0.5']:.1f} | - |"
        )
    fractions = settings.occlusion_fractions
    lines += [
        "",
        f"**Occlusion** (val top-1 %, each {settings.occlusion_cell} px cell hidden with "
        "probability f and filled with the dataset mean; the same masks for every model)",
        "",
        "| model | " + " | ".join(f"f = {f:g}" for f in fractions) + " |",
        "|---|" + "---|" * len(fractions),
    ]
    for c in configs.values():
        lines.append(f"| {c['label']} | " + " | ".join(_fmt(s) for s in c["occlusion"]) + " |")
    paired = summary["paired_has16_minus_gap"]
    if paired:
        seeds = next(iter(paired.values()))["seeds"]
        lines += [
            "",
            f"**HaS-16 minus GAP, paired by seed** (percentage points; seeds {seeds})",
            "",
            "| metric | per seed | mean ± std |",
            "|---|---|---|",
        ]
        for metric, p in paired.items():
            per_seed = ", ".join(f"{d:+.1f}" for d in p["per_seed"])
            lines.append(
                f"| {PAIRED_LABELS[metric]} | {per_seed} | {p['mean']:+.1f} ± {p['std']:.1f} |"
            )
    lines += [
        "",
        "**Runs**",
        "",
        "| run | hiding | pooling | final train acc (%) | train wall | eval wall |",
        "|---|---|---|---|---|---|",
    ]
    total = 0.0
    for name, r in runs.items():
        run = RUNS_BY_NAME[name]
        wall = r.get("train_wall_s") or 0.0
        total += wall + r["eval_wall_s"]
        lines.append(
            f"| {name} | {_hiding(run)} | {run.pooling} | {r['final_train_accuracy']:.1f} | "
            f"{wall / 60:.1f} min | {r['eval_wall_s'] / 60:.1f} min |"
        )
    lines += ["", f"Total wall time of these runs: {total / 60:.0f} min. Machine: {_machine()}."]
    return "\n".join(lines) + "\n"


def _hiding(run: StudyRun) -> str:
    return ",".join(str(s) if s else "none" for s in run.hide_patch_sizes) or "-"


def plot(settings: StudySettings, summary: Mapping[str, Any], root: Path) -> list[Path]:
    """occlusion.png (top-1 vs f) and thresholds.png (BoxAcc vs CAM threshold); small PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    configs, runs = summary["configs"], summary["runs"]
    if configs:
        fig, ax = plt.subplots(figsize=(4.2, 3.0), dpi=90)
        f = np.asarray(settings.occlusion_fractions)
        for c in configs.values():
            mean = np.array([s["mean"] for s in c["occlusion"]])
            low = mean - np.array([s["min"] for s in c["occlusion"]])
            high = np.array([s["max"] for s in c["occlusion"]]) - mean
            ax.errorbar(f, mean, yerr=[low, high], marker="o", ms=3, capsize=2, label=c["label"])
        ax.set(xlabel=f"probability of hiding each {settings.occlusion_cell} px cell",
               ylabel="val top-1 (%)", title="Occlusion (bars: min-max over seeds)")  # fmt: skip
        ax.title.set_fontsize(8)
        ax.legend(fontsize=6)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(root / OCCLUSION_PNG)
        plt.close(fig)
        written.append(root / OCCLUSION_PNG)
    shown = [name for name in ("gap_s0", "has16_s0", "hasmix_s0") if name in runs]
    if shown:
        fig, ax = plt.subplots(figsize=(4.2, 3.0), dpi=90)
        for i, name in enumerate(shown):
            r = runs[name]
            grid = r["val"]["curves"]["cam_thresholds"]
            color = f"C{i}"
            ax.plot(grid, r["val"]["curves"]["box_acc"]["0.5"], color=color, label=f"{name} val")
            ax.plot(grid, r["holdout"]["curves"]["box_acc"]["0.5"], color=color, ls="--",
                    label=f"{name} holdout")  # fmt: skip
            ax.axvline(r["choe"]["tau"], color=color, lw=0.8, ls=":")
        ax.set(xlabel="CAM threshold (fraction of max)", ylabel="BoxAcc, IoU 0.5 (%)",
               title="dotted: τ chosen on holdout")  # fmt: skip
        ax.title.set_fontsize(8)
        ax.legend(fontsize=6)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(root / THRESHOLDS_PNG)
        plt.close(fig)
        written.append(root / THRESHOLDS_PNG)
    return written


def write_summary(settings: StudySettings, counts: Mapping[str, Any],
                  figures_dir: str | None = None) -> str:  # fmt: skip
    """Writes summary.json, summary.md and the plots into the root; returns the Markdown."""
    root = Path(settings.root)
    baselines = _read_json(root / BASELINES_FILE)
    summary = collect(settings)
    text = markdown(settings, summary, baselines, counts)
    write_json_atomic(
        root / SUMMARY_JSON,
        {"settings": dataclasses.asdict(settings), "counts": dict(counts), "baselines": baselines,
         "machine": _machine(), **summary},
    )  # fmt: skip
    write_text_atomic(root / SUMMARY_MD, text)
    for path in plot(settings, summary, root):
        if figures_dir:
            target = Path(figures_dir) / f"tiny_imagenet_{path.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    return text


# === Driver ===
def _check_study_file(settings: StudySettings) -> None:
    """Pins the training settings of a root; a different setting on a later call is refused."""
    path = Path(settings.root) / STUDY_FILE
    saved = _read_json(path)
    if saved is not None:
        old = saved.get("training", {})
        diffs = {k: (old.get(k), v) for k, v in settings.training_key().items() if old.get(k) != v}
        if diffs:
            listed = "; ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in diffs.items())
            raise ValueError(
                f"The study in {settings.root} was started with other settings ({listed}). "
                "Use the same settings, or another `--root`."
            )
    write_json_atomic(path, {"training": settings.training_key(), "eval": settings.eval_key()})


def _select(only: str | None) -> list[StudyRun]:
    if not only:
        return list(STUDY_RUNS)
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in RUNS_BY_NAME]
    if unknown or not names:
        raise ValueError(
            f"`--only` must list runs among {list(RUNS_BY_NAME)}. Received: --only {only!r}"
        )
    return [run for run in STUDY_RUNS if run.name in names]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="reproduce_tiny_imagenet.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = StudySettings(data="", root="")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="Tiny ImageNet zip or folder")
    p.add_argument("--root", default=DEFAULT_ROOT, help="study directory (one directory per run)")
    p.add_argument("--only", help="comma-separated run names (default: all)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and time estimate only")
    p.add_argument("--summary-only", action="store_true", help="only rewrite tables and plots")
    p.add_argument("--classes", type=int, default=d.classes, help="the first K classes")
    p.add_argument("--max-per-class", type=int, default=d.max_per_class)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--model", default=d.model, help="a build_model name")
    p.add_argument("--schedule", default=d.schedule, choices=("paper", "adam"))
    p.add_argument("--jit-compile", action="store_true", help="XLA-compile the train step")
    p.add_argument("--eval-batch-size", type=int, default=d.eval_batch_size)
    p.add_argument("--threshold-step", type=float, default=d.threshold_step)
    p.add_argument("--rate", type=float, help="training images/s for the estimate")
    p.add_argument("--figures-dir", help="also copy the plots here (e.g. docs/figures)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the study (or its plan); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        runs = _select(args.only)
        settings = StudySettings(
            data=str(Path(args.data).expanduser().resolve()),
            root=str(Path(args.root)),
            classes=args.classes,
            max_per_class=args.max_per_class,
            epochs=args.epochs,
            batch_size=args.batch_size,
            model=args.model,
            schedule=args.schedule,
            jit_compile=args.jit_compile,
            eval_batch_size=args.eval_batch_size,
            threshold_step=args.threshold_step,
        )
        if not Path(settings.data).exists():
            raise FileNotFoundError(
                f"Tiny ImageNet not found at {settings.data}: pass `--data` (the zip or folder)."
            )
        counts = data_counts(settings)
    except (ValueError, TypeError, FileNotFoundError) as e:
        parser.error(str(e))
    if args.dry_run:
        print_plan(settings, runs, counts, args.rate)
        return 0
    try:
        _check_study_file(settings)
    except ValueError as e:
        parser.error(str(e))
    root = Path(settings.root)
    if not args.summary_only:
        print_plan(settings, runs, counts, args.rate)
        study_start = time.perf_counter()
        baselines = _read_json(root / BASELINES_FILE)
        if not baselines or baselines.get("eval_settings") != settings.eval_key():
            write_json_atomic(root / BASELINES_FILE, fixed_box_baselines(settings, counts))
        for run in runs:
            start = time.perf_counter()
            try:
                did = ensure_run(run, settings, counts)
            except (ValueError, FileExistsError, FileNotFoundError) as e:
                print(f"reproduce_tiny_imagenet.py: error: {e}", file=sys.stderr)
                return 1
            print(f"[{run.name}] {did} ({time.perf_counter() - start:.0f} s)", flush=True)
        print(f"Study session: {(time.perf_counter() - study_start) / 60:.1f} min", flush=True)
    if not (root / BASELINES_FILE).is_file():
        write_json_atomic(root / BASELINES_FILE, fixed_box_baselines(settings, counts))
    print(write_summary(settings, counts, args.figures_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())

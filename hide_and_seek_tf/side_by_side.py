"""Plain GAP vs Hide-and-Seek side by side on the built-in synthetic data: the quick-start demo's work.

    hide-and-seek-demo [--out runs/demo] [--seed 0] [--epochs N] [--num-images N]
    python -m hide_and_seek_tf.cli.demo ...   # the same; `make demo`

Trains the same network twice with the same seed (without and with hiding), evaluates both with
`hide_and_seek_tf.evaluation.evaluate_run` (the code behind evaluate.py), and writes `OUT/report.md` with a
side-by-side table and pictures. Re-running reuses finished runs and resumes interrupted ones.

The protocol the kit asks users to follow: MaxBoxAcc's CAM thresholds are chosen on the synthetic
`val` split (a sweep of 0.00, 0.01, ..., 0.99) and the `test` split is scored at them; every column
of the table is measured on `test`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from hide_and_seek_tf import plotting
from hide_and_seek_tf._io import write_json_atomic, write_text_atomic
from hide_and_seek_tf.boxes import cams_to_boxes
from hide_and_seek_tf.cam import class_activation_maps
from hide_and_seek_tf.data import load_dataset, make_pipeline
from hide_and_seek_tf.evaluation import breakdown_markdown, evaluate_run
from hide_and_seek_tf.hiding import hide_patches
from hide_and_seek_tf.models.registry import paper_threshold
from hide_and_seek_tf.training import TrainConfig, load_run, train
from hide_and_seek_tf.training.run_dir import CONFIG_FILE, EVAL_DIR, MODEL_FILE

NUM_SHOWN = 8
#: MaxBoxAcc's thresholds are chosen on THRESHOLD_SPLIT; the table is measured on SCORED_SPLIT.
THRESHOLD_SPLIT = "val"
SCORED_SPLIT = "test"


def _train_or_reuse(config: TrainConfig) -> float:
    """Trains `config` unless its run is finished; resumes an interrupted one. Returns seconds spent."""
    run_dir = Path(config.run_dir)
    if (run_dir / MODEL_FILE).exists():
        print(f"Reusing finished run {run_dir}")
        return 0.0
    resume = (run_dir / CONFIG_FILE).exists()
    start = time.perf_counter()
    train(config.replace(resume=resume))
    return time.perf_counter() - start


def _first_images(config: dict[str, Any], split: str) -> dict[str, tf.Tensor]:
    """The first `NUM_SHOWN` images of a split as one evaluation batch (image, label, boxes)."""
    size = tuple(config["image_size"])
    ds, _ = load_dataset(
        config["data"], split, num_images=NUM_SHOWN, image_size=size, seed=config["seed"]
    )
    batches = make_pipeline(ds, training=False, batch_size=NUM_SHOWN, image_size=size, cache=False)
    return next(iter(batches))


def _hidden_samples_figure(config: dict[str, Any], mean: np.ndarray, out: Path) -> None:
    images = _first_images(config, "train")["image"].numpy()
    hidden = hide_patches(
        images, tuple(config["hide_patch_sizes"]), config["hide_prob"], mean, seed=[0, 1]
    ).numpy()
    caption = (
        f"hidden: cells {tuple(config['hide_patch_sizes'])} px, p={config['hide_prob']}, "
        "fill = dataset mean"
    )
    plotting.save_figure(out, plotting.hidden_samples_figure(images, hidden, caption), dpi=90)


def _evaluate_with_chosen_thresholds(
    run_dir: Path, num_images: int | None, progress: bool, fixed_box: Any = None
) -> dict[str, Any]:
    """Scores SCORED_SPLIT with MaxBoxAcc's thresholds chosen on THRESHOLD_SPLIT (`choose_on`);
    `fixed_box` (box, count): the fixed-box baseline already fitted on the same training data.

    Returns:
        `evaluate_run`'s result: `threshold_choice` holds tau, the accuracies at it on
        SCORED_SPLIT and THRESHOLD_SPLIT's curves (`chosen_on_curves`).
    """
    config = json.loads((run_dir / CONFIG_FILE).read_text())
    return evaluate_run(
        run_dir,
        split=SCORED_SPLIT,
        choose_on=THRESHOLD_SPLIT,
        fixed_threshold=paper_threshold(config["model"]),
        num_images=num_images,
        out_dir=run_dir / EVAL_DIR / SCORED_SPLIT,
        progress=progress,
        fixed_box=fixed_box,
    )


def _cams_figure(loaded: dict[str, tuple], evaluations: dict[str, dict], out: Path) -> None:
    """CAMs and boxes of every model on the same scored images (ground truth red, predicted green)."""
    _, config, _ = next(iter(loaded.values()))
    batch = _first_images(config, SCORED_SPLIT)
    rows = {}
    for name, (model, _, _) in loaded.items():
        threshold = evaluations[name]["metrics"]["cam_threshold"]
        _, cams = class_activation_maps(model, batch["image"], class_ids=batch["label"])
        boxes = cams_to_boxes(cams[:, 0], thresholds=(threshold,))[:, 0]
        rows[name] = (cams[:, 0].numpy(), boxes.numpy())
    figure = plotting.cams_side_by_side_figure(batch["image"].numpy(), batch["boxes"].numpy(), rows)
    plotting.save_figure(out, figure, dpi=90)


def _report(
    evaluations: dict[str, dict],
    seconds: dict[str, float],
    config: dict[str, Any],
) -> str:
    """The report's Markdown: `evaluations` of SCORED_SPLIT (thresholds chosen on
    THRESHOLD_SPLIT), `config` a run's resolved config.json (the settings as trained)."""
    metrics = {name: result["metrics"] for name, result in evaluations.items()}
    choices = {name: result["threshold_choice"] for name, result in evaluations.items()}
    baselines = next(iter(evaluations.values()))["baselines"]
    threshold = next(iter(metrics.values()))["cam_threshold"]
    num_scored = next(iter(evaluations.values()))["data"]["num_images"]
    num_choosing = next(iter(choices.values()))["chosen_on_num_images"]
    lines = [
        "# Demo: plain GAP vs Hide-and-Seek on the built-in synthetic data",
        "",
        f"Same network (`{config['model']}`), same seed ({config['seed']}), same budget "
        f"({config['epochs']} epochs over {config['num_images']} training images of "
        f"{config['image_size'][0]} x {config['image_size'][1]} px, schedule `{config['schedule']}`). "
        f"Hide-and-Seek hides cells of {tuple(config['hide_patch_sizes'])} px with p = "
        f"{config['hide_prob']}, filled with the training-set mean. Every column is measured on "
        f"the {num_scored} `{SCORED_SPLIT}` images with the ground-truth class's CAM; MaxBoxAcc's "
        f"CAM thresholds t are chosen on the {num_choosing} `{THRESHOLD_SPLIT}` images.",
        "",
        f"| model | top-1 cls | GT-known Loc @{threshold:g} | Top-1 Loc @{threshold:g} | "
        f"MaxBoxAcc (t from {THRESHOLD_SPLIT}) | MaxBoxAccV2 (t from {THRESHOLD_SPLIT}) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, m in metrics.items():
        c = choices[name]
        lines.append(
            f"| {name} | {m['top1_cls']:.1f} | {m['gt_known_loc']:.1f} | {m['top1_loc']:.1f} | "
            f"{c['max_box_acc']:.1f} (t={c['tau']:g}) | {c['max_box_acc_v2']:.1f} |"
        )
    for label, key in (
        ("whole-image box", "whole_image"),
        ("fixed box chosen on train boxes", "train_box"),
    ):
        b = baselines[key]
        lines.append(f"| {label} {b['box']} | - | {b['gt_known_loc']:.1f} | - | - | - |")
    lines += [
        "",
        "By ground-truth box area, as a fraction of the image:",
        "",
        breakdown_markdown(evaluations),
        "",
        "GT-known Loc: the box of the ground-truth class has IoU >= 0.5 with the ground-truth box; Top-1 Loc also "
        "needs the top-1 class right. MaxBoxAcc / MaxBoxAccV2 (Choe et al., CVPR 2020): the CAM threshold with "
        f"the best box accuracy on `{THRESHOLD_SPLIT}` (for V2 one per IoU 0.3, 0.5, 0.7, every component "
        f"boxed), applied to `{SCORED_SPLIT}`; the fixed-threshold columns choose nothing.",
        "",
        "Training wall time this invocation: "
        + ", ".join(f"{name} {s:.0f} s" for name, s in seconds.items())
        + " (0 s = reused a finished run).",
        "",
        "## Hide-and-Seek on training images",
        "![hidden](hidden_samples.png)",
        "",
        f"## CAMs and boxes on the same `{SCORED_SPLIT}` images (ground truth red, predicted green)",
        "![cams](cams_side_by_side.png)",
        "",
        f"## GT-known Loc against the CAM threshold on `{THRESHOLD_SPLIT}` (where t is chosen)",
        "![curves](threshold_curves.png)",
        "",
    ]
    return "\n".join(lines)


def run_demo(
    out: str | os.PathLike = "runs/demo",
    seed: int = 0,
    epochs: int | None = None,
    num_images: int | None = None,
    val_images: int | None = None,
    progress: bool = True,
) -> dict[str, dict]:
    """Trains GAP and Hide-and-Seek with the same settings, evaluates both, writes `out/report.md`.

    Args:
        out: demo directory (runs in `out/gap`, `out/hide_and_seek`).
        seed: shared seed.
        epochs, num_images: override the synthetic defaults (e.g. for a quick check).
        val_images: images of each evaluation split, `val` (chooses MaxBoxAcc's thresholds)
            and `test` (scored); default: the dataset's (1,000 each).
        progress: show evaluation progress bars.

    Returns:
        The evaluation of `test` of each model, by name: MaxBoxAcc(V2) at the thresholds chosen
        on `val` in `threshold_choice` (`chosen_on` "val", `reported_on` "test").

    For bitwise reproducible runs call `tf.config.experimental.enable_op_determinism()` first,
    as `make demo` does.
    """
    out = Path(out)
    # float32, not "auto": the table in README.md then holds on CPUs with and without bfloat16 units.
    base = TrainConfig(seed=seed, mixed_precision=False)
    overrides = {k: v for k, v in {"epochs": epochs, "num_images": num_images}.items() if v}
    base = base.replace(**overrides)
    configs = {
        "GAP": base.replace(hide_patch_sizes=(), run_dir=str(out / "gap")),
        "Hide-and-Seek": base.replace(run_dir=str(out / "hide_and_seek")),
    }
    seconds = {}
    for name, config in configs.items():
        print(f"\n=== Training {name} -> {config.run_dir}")
        seconds[name] = _train_or_reuse(config)
    evaluations, fixed_box = {}, None
    for name, config in configs.items():
        print(
            f"\n=== Evaluating {name}: thresholds from {THRESHOLD_SPLIT}, scored on {SCORED_SPLIT}"
        )
        evaluations[name] = _evaluate_with_chosen_thresholds(
            Path(config.run_dir), val_images, progress, fixed_box
        )
        fitted = evaluations[name]["baselines"]["train_box"]  # same training data: fitted once
        fixed_box = (fitted["box"], fitted["fitted_on_train_images"])
    # THRESHOLD_SPLIT's curves, where t is chosen.
    choices = {
        name: {**r, "metrics": {"curves": r["threshold_choice"]["chosen_on_curves"]}}
        for name, r in evaluations.items()
    }
    # (model, resolved config, dataset mean) of each run, loaded once for the figures and the report.
    loaded = {name: load_run(config.run_dir) for name, config in configs.items()}
    _, has_config, has_mean = loaded["Hide-and-Seek"]
    _hidden_samples_figure(has_config, has_mean, out / "hidden_samples.png")
    _cams_figure(loaded, evaluations, out / "cams_side_by_side.png")
    plotting.save_figure(
        out / "threshold_curves.png", plotting.gt_known_curves_figure(choices), dpi=90
    )
    summary = {
        n: {**r["metrics"], "threshold_choice": r["threshold_choice"]}
        for n, r in evaluations.items()
    }
    write_json_atomic(out / "summary.json", summary)
    report = _report(evaluations, seconds, has_config)
    write_text_atomic(out / "report.md", report)
    print("\n" + report.split("## Hide-and-Seek on training images")[0])
    print(f"Report: {out / 'report.md'}")
    return evaluations

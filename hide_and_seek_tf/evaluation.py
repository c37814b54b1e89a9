"""Evaluate a trained run: classification and CAM localization on a split, with baselines.

`evaluate_run(run_dir, ...)` loads the model a training run saved (`training.load_run`), runs the
split through `class_activation_maps` (the ground-truth class's CAM, as GT-known Loc needs) and
`cams_to_boxes`, accumulates a `metrics.LocalizationEvaluator`, scores two fixed-box baselines
through the same code, and writes `RUN/eval/`:

- `metrics.json`: the evaluator's dict, the baselines, the data, the model and the protocol;
- `thresholds.csv`: one row per CAM threshold (the curves);
- `threshold_curve.png`: GT-known / Top-1 Loc and BoxAccV2 against the CAM threshold;
- `cams.png`: a grid of images with the CAM overlaid, ground-truth boxes red, predicted green.

Every file is written atomically. `evaluate.py` is a thin command line over `evaluate_run`.

Protocol notes. A threshold swept on the split that is reported is tuned on the test data
(Choe et al., CVPR 2020): choose it on a held-out split (Tiny ImageNet: "train_holdout") and
report the other split at that fixed threshold; `metrics.json` records which split was swept.
The fixed-box baseline "chosen on training boxes" is `metrics.choose_fixed_box` fitted on up to
`baseline_images` boxes of the TRAIN split (every k-th image), then scored on the evaluated split.
On Tiny ImageNet (all 40,000 train boxes) it picks [6, 12, 58, 57]: 57.9% GT-known Loc on val,
like the [8, 12, 58, 58] of the data notes; the whole image scores 52.1%.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from hide_and_seek_tf import plotting
from hide_and_seek_tf._io import write_json_atomic, write_text_atomic
from hide_and_seek_tf.cam import class_activation_maps, ten_crop_cams
from hide_and_seek_tf.metrics import (
    FixedBoxBaseline,
    LocalizationEvaluator,
    choose_fixed_box,
)
from hide_and_seek_tf.training.run_dir import EVAL_DIR

#: CAM threshold grid of `sweep=True` (wsolevaluation's 0.01 step).
SWEEP_THRESHOLDS = tuple(round(0.01 * i, 2) for i in range(100))
#: The paper's per-network CAM threshold (fraction of the map's max), section 4.1.
PAPER_THRESHOLDS = {"googlenet_gap": 0.3}
DEFAULT_THRESHOLD = 0.2


# ----------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------


def _train_split(config: dict[str, Any]) -> str:
    return config.get("train_split") or "train"


def _check_holdout_unseen(config: dict[str, Any], data: str | None, split: str) -> None:
    """Refuses to score `train_holdout` (where thresholds are chosen) if the model trained on it."""
    spec = data or config["data"]
    if split != "train_holdout" or not spec.startswith("tiny-imagenet:"):
        return
    from hide_and_seek_tf.data.tiny_imagenet import read_tiny_imagenet_index

    path = spec.split(":", 1)[1]
    classes = config.get("classes")
    classes = list(classes) if isinstance(classes, list | tuple) else classes
    trained = read_tiny_imagenet_index(
        path, _train_split(config), classes=classes, max_per_class=config.get("max_per_class")
    )
    holdout = read_tiny_imagenet_index(path, "train_holdout", classes=classes)
    seen = set(trained.ids) & set(holdout.ids)
    if seen:
        raise ValueError(
            f"The model trained on {len(seen)} of the {len(holdout.ids)} `train_holdout` images "
            f"(e.g. {sorted(seen)[0]!r}), so thresholds chosen there would be chosen on training "
            "data. Train with `--train-split train_minus_holdout` (or a `--max-per-class` that "
            f"leaves the last images of each class out). Received: train_split="
            f"{_train_split(config)!r}, max_per_class={config.get('max_per_class')!r}"
        )


def _load_data(config: dict[str, Any], data: str | None, split: str, num_images, image_size):
    from hide_and_seek_tf.data import load_dataset

    classes = config.get("classes")
    return load_dataset(
        data or config["data"],
        split,
        classes=list(classes) if isinstance(classes, list | tuple) else classes,
        max_per_class=config.get("max_per_class") if split == _train_split(config) else None,
        num_images=num_images,
        image_size=image_size,
        seed=int(config.get("seed", 0)),
        data_dir=config.get("data_dir"),
    )


def _check_match(model: keras.Model, config: dict[str, Any], info: Any, run_dir: Path) -> None:
    num_classes = int(model.output_shape[-1])
    if info.num_classes != num_classes:
        raise ValueError(
            f"The data does not match the model in {run_dir}: the data has {info.num_classes} "
            f"classes, the model {num_classes}. Pass the --data (and classes) it was trained on."
        )
    names = config.get("class_names")
    if names and tuple(names) != tuple(info.class_names):
        raise ValueError(
            f"The data's class names differ from the run's config.json in {run_dir} "
            f"(first: data {list(info.class_names[:3])}, run {list(names[:3])})."
        )
    size = config.get("image_size")
    if size and tuple(size) != tuple(model.input_shape[1:3]):
        raise ValueError(
            f"config.json in {run_dir} says image_size={list(size)} but model.keras takes "
            f"{list(model.input_shape[1:3])}: the run directory is inconsistent."
        )


# Fitted fixed boxes, by the data settings they depend on: models trained on the same data (GAP and
# Hide-and-Seek in the demo, every run of a study) share one fit instead of re-reading the images.
_TRAIN_BOXES: dict[str, tuple[list[int], int]] = {}


def _train_box(
    config: dict[str, Any], data: str | None, image_size: tuple[int, int], num: int
) -> tuple[list[int], int]:
    """The fixed box fitted on the boxes of up to `num` training images spread evenly over the
    split (every k-th image, so all classes take part), at the model's input size."""
    key = json.dumps(
        [
            data or config["data"],
            _train_split(config),
            *(
                config.get(k)
                for k in ("classes", "max_per_class", "num_images", "seed", "data_dir")
            ),
            list(image_size),
            num,
        ],
        sort_keys=True,
    )
    if key not in _TRAIN_BOXES:
        _TRAIN_BOXES[key] = _fit_train_box(config, data, image_size, num)
    return _TRAIN_BOXES[key]


def _fit_train_box(
    config: dict[str, Any], data: str | None, image_size: tuple[int, int], num: int
) -> tuple[list[int], int]:
    from hide_and_seek_tf.data import make_pipeline

    ds, info = _load_data(
        config, data, _train_split(config), config.get("num_images"), tuple(image_size)
    )
    if info.num_examples and info.num_examples > num:
        stride = info.num_examples // num
        ds = ds.enumerate().filter(lambda i, _: i % stride == 0).map(lambda _, e: e)
    batches = make_pipeline(
        ds.take(num), training=False, batch_size=256, image_size=image_size, cache=False
    )
    boxes = np.concatenate([b["boxes"].numpy() for b in batches], axis=0)
    return choose_fixed_box(boxes, image_size), len(boxes)


def evaluate_run(
    run_dir: str | os.PathLike,
    *,
    data: str | None = None,
    split: str = "val",
    thresholds: Sequence[float] | None = None,
    sweep: bool = False,
    fixed_threshold: float | None = None,
    ten_crop: bool = False,
    batch_size: int = 64,
    num_images: int | None = None,
    max_components: int = 16,
    baseline_images: int = 10000,
    num_plot: int = 16,
    out_dir: str | os.PathLike | None = None,
    progress: bool = True,
    load_run: Callable | None = None,
) -> dict[str, Any]:
    """Evaluates the model of a training run on a split and writes `RUN/eval/`.

    Args:
        run_dir: a directory written by training (config.json, dataset_mean.json, model.keras).
        data: data spec to evaluate on; default the run's own (`config.json` "data").
        split: the split, e.g. "val", "test", "train_holdout".
        thresholds: CAM thresholds (fractions of the map's max). Default: the paper's for the
            network (0.3 for googlenet_gap, else 0.2).
        sweep: use the 0.00, 0.01, ..., 0.99 grid (MaxBoxAcc / MaxBoxAccV2) instead.
        fixed_threshold: the threshold GT-known / Top-1 / Top-5 Loc are reported at; default
            the single value of `thresholds` when one is given, else the paper's for the network
            (added to the grid when missing).
        ten_crop: average class scores and CAMs over 10 crops (see `ten_crop_cams`).
        batch_size: images per batch.
        num_images: evaluate the first N images only (synthetic data: how many to render).
        max_components: boxes per CAM kept for MaxBoxAccV2.
        baseline_images: training images used to fit the fixed-box baseline.
        num_plot: images in `cams.png`.
        out_dir: where to write; default `run_dir / "eval"`.
        progress: show a progress bar.
        load_run: `(run_dir) -> (model, config, mean)`; default `training.load_run`.

    Returns:
        The content of `metrics.json`.

    Raises:
        FileNotFoundError: the run directory or one of its files is missing.
        ValueError: the data does not match the model (class count or names, image size), or
            the data cannot be loaded (the message says why).
    """
    if load_run is None:
        from hide_and_seek_tf.training import load_run
    run_dir = Path(run_dir)
    model, config, _ = load_run(run_dir)
    image_size = tuple(int(v) for v in model.input_shape[1:3])
    model_name = config.get("model", model.name)
    paper_t = PAPER_THRESHOLDS.get(model_name, DEFAULT_THRESHOLD)
    if fixed_threshold is not None:
        fixed = float(fixed_threshold)
    elif thresholds is not None and len(thresholds) == 1 and not sweep:
        fixed = float(thresholds[0])  # one threshold given: report at it
    else:
        fixed = paper_t
    if sweep:
        grid = SWEEP_THRESHOLDS
    else:
        grid = (paper_t,) if thresholds is None else tuple(float(t) for t in thresholds)
    if not any(math.isclose(t, fixed, abs_tol=1e-6) for t in grid):
        grid = tuple(sorted(grid + (fixed,)))

    _check_holdout_unseen(config, data, split)
    ds, info = _load_data(config, data, split, num_images, image_size)
    _check_match(model, config, info, run_dir)
    from hide_and_seek_tf.data import make_pipeline

    batches = make_pipeline(
        ds, training=False, batch_size=batch_size, image_size=image_size, cache=False
    )
    evaluator = LocalizationEvaluator(cam_thresholds=grid, fixed_threshold=fixed)
    fixed_index = evaluator.fixed_index
    whole = FixedBoxBaseline([0, 0, image_size[1] - 1, image_size[0] - 1])
    train_box, train_count = _train_box(config, data, image_size, baseline_images)
    trained_box = FixedBoxBaseline(train_box)
    total = info.num_examples if num_images is None else num_images
    bar = keras.utils.Progbar(total, unit_name="image") if progress else None
    shown: dict[str, list] = {"image": [], "cam": [], "gt": [], "box": [], "label": [], "pred": []}
    for batch in batches:
        images, labels, gt = batch["image"], batch["label"], batch["boxes"]
        if ten_crop:
            scores, cams = ten_crop_cams(model, images, labels)
        else:
            scores, cams = class_activation_maps(model, images, class_ids=labels)
            cams = cams[:, 0]
        largest = evaluator.accumulate_cams(scores, cams, labels, gt, max_components)
        whole.accumulate(gt)
        trained_box.accumulate(gt)
        room = num_plot - len(shown["image"])
        if room > 0:
            shown["image"] += list(images[:room].numpy())
            shown["cam"] += list(cams[:room].numpy())
            shown["gt"] += list(gt[:room].numpy())
            shown["box"] += list(largest[:room, fixed_index].numpy())
            shown["label"] += list(labels[:room].numpy())
            shown["pred"] += list(tf.argmax(scores[:room], axis=-1).numpy())
        if bar is not None:
            bar.add(int(images.shape[0]))
    if evaluator.num_images == 0:
        raise ValueError(f"The {split!r} split of {data or config['data']!r} has no images.")

    metrics = evaluator.compute()
    result = {
        "metrics": metrics,
        "baselines": {
            "whole_image": whole.compute(),
            "train_box": {**trained_box.compute(), "fitted_on_train_images": train_count},
        },
        "data": {
            "spec": data or config["data"],
            "split": split,
            "num_images": evaluator.num_images,
            "num_classes": info.num_classes,
            "image_size": list(image_size),
        },
        "model": {
            "name": model_name,
            "run_dir": str(run_dir),
            "pooling": config.get("pooling"),
            "hide_patch_sizes": config.get("hide_patch_sizes"),
            "num_classes": int(model.output_shape[-1]),
        },
        "protocol": {
            "cam": "ground-truth class; sum_i W(c, i) F_i, bilinear upsampling, min-max to [0, 1]",
            "box": "largest 8-connected component of cam >= t * max(cam); MaxBoxAccV2: every "
            f"component (up to {max_components})",
            "cam_thresholds": list(grid),
            "fixed_threshold": fixed,
            "iou_thresholds": list(evaluator.iou_thresholds),
            "ten_crop": ten_crop,
            "thresholds_swept_on": split if len(grid) > 1 else None,
            "iou": "inclusive pixel boxes, (x1 - x0 + 1) * (y1 - y0 + 1)",
        },
    }
    out = Path(out_dir) if out_dir is not None else run_dir / EVAL_DIR
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "metrics.json", result)
    write_text_atomic(out / "thresholds.csv", _curves_csv(metrics))
    plotting.save_figure(out / "threshold_curve.png", plotting.threshold_curve_figure(result))
    plotting.save_figure(
        out / "cams.png", plotting.cam_grid_figure(shown, info.class_names, grid[fixed_index])
    )
    return result


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
        row = [t, curves["gt_known_loc"][i], curves["top1_loc"][i], curves["top5_loc"][i]]
        row += [curves["box_acc"][d][i] for d in deltas]
        row += [v2[d][i] for d in v2]
        writer.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])
    return buf.getvalue()

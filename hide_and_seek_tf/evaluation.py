"""Evaluate a trained run: classification and CAM localization on a split, with baselines.

`evaluate_run(run_dir, ...)` loads the model a training run saved (`training.load_run`), scores
the split with `protocol.score_batches` (the ground-truth class's CAM, as GT-known Loc needs, and
`cams_to_boxes` at every CAM threshold), chooses the thresholds with `protocol.threshold_choice`
(on `choose_on`, e.g. "train_holdout", when given), scores two fixed-box baselines through the
same code, optionally the occlusion test, and writes `RUN/eval/`:

- `metrics.json`: the evaluator's dict (`metrics`), `threshold_choice`, `baselines`,
  `size_breakdown`, `cam_contrast`, `occlusion`, the data, the model and the protocol
  (docs/architecture.md lists the keys); written last, so its presence means a finished evaluation;
- `per_image.csv`: one row per image (`protocol.PER_IMAGE_COLUMNS`);
- `thresholds.csv`: one row per CAM threshold (the curves);
- `threshold_curve.png`: GT-known / Top-1 Loc and BoxAccV2 against the CAM threshold (and the
  choose split's BoxAcc with tau);
- `cams.png`: a grid of images with the CAM overlaid, ground-truth boxes red, predicted green;
- `cam_contrast.png`: mean CAM inside minus outside the ground-truth boxes, per image and by size.

Every file is written atomically. `evaluate.py` is a thin command line over `evaluate_run`.

Protocol notes. A threshold swept on the split that is reported is tuned on the test data
(Choe et al., CVPR 2020): choose it on a held-out split (Tiny ImageNet: "train_holdout", never
trained on when training used "train_minus_holdout") with `choose_on`, and report the other split
at it; `metrics.json` records both split names and the thresholds. The fixed-box baseline "chosen
on training boxes" is `metrics.choose_fixed_box` fitted on up to `baseline_images` boxes of the
TRAIN split (every k-th image), then scored on the evaluated split. On Tiny ImageNet (all 40,000
train boxes) it picks [6, 12, 58, 57]: 57.9% GT-known Loc on val, like the [8, 12, 58, 58] of the
data notes; the whole image scores 52.1%.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from hide_and_seek_tf import plotting, protocol
from hide_and_seek_tf._io import replaced_dir, write_json_atomic, write_text_atomic
from hide_and_seek_tf.classifier import check_preprocessing, find_cam_head
from hide_and_seek_tf.metrics import IOU_THRESHOLDS, choose_fixed_box
from hide_and_seek_tf.training.run_dir import EVAL_DIR

#: CAM threshold grid of `sweep=True` (wsolevaluation's 0.01 step).
SWEEP_THRESHOLDS = tuple(round(0.01 * i, 2) for i in range(100))
#: The paper's per-network CAM threshold (fraction of the map's max), section 4.1.
PAPER_THRESHOLDS = {"googlenet_gap": 0.3}
DEFAULT_THRESHOLD = 0.2
METRICS_FILE = "metrics.json"
PER_IMAGE_FILE = "per_image.csv"
#: Version of metrics.json's layout: 2 added threshold_choice, size_breakdown, cam_contrast,
#: occlusion and per_image.csv.
SCHEMA_VERSION = 2


# ----------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------


def _train_split(config: dict[str, Any]) -> str:
    return config.get("train_split") or "train"


def _data_spec(config: dict[str, Any], data: str | None):
    from hide_and_seek_tf.data.spec import DataSpec

    return DataSpec.parse(data or config["data"], data_dir=config.get("data_dir"))


def _classes(config: dict[str, Any]):
    classes = config.get("classes")
    return list(classes) if isinstance(classes, list | tuple) else classes


def _check_holdout_unseen(config: dict[str, Any], data: str | None, split: str) -> bool | None:
    """Refuses to score a holdout split (where thresholds are chosen: Tiny ImageNet, CUB and
    ImageNet "train_holdout", wsolevaluation "val", any other CSV split) that shares an image with
    the images the model trained on (the run's data, split, classes and caps).

    Returns None for a split that is no holdout, True once checked, False when the training images
    are unknown (a model file: `config["train_split"]` is None), which is warned about."""
    spec = _data_spec(config, data)
    if "train_split" in config and config["train_split"] is None:
        if spec.is_holdout(split, "train"):
            logging.getLogger(__name__).warning(
                "`%s` is a holdout split, and a model file does not say which images it trained "
                "on: make sure none of them is in `%s`, or thresholds chosen there are chosen on "
                "training data.",
                split,
                split,
            )
            return False
        return None
    if not spec.is_holdout(split, _train_split(config)):
        return None
    trained_spec = _data_spec(config, None)
    moved = trained_spec.path is not None and not trained_spec.path.exists()
    if moved and trained_spec.kind == spec.kind:  # the data moved since training: read it here
        trained_spec = spec
    trained = trained_spec.image_ids(
        _train_split(config),
        classes=_classes(config),
        max_per_class=config.get("max_per_class"),
        num_images=None if trained_spec.kind == "synthetic" else config.get("num_images"),
    )
    holdout = spec.image_ids(split, classes=_classes(config))
    if trained is None or holdout is None:
        return
    seen = set(trained) & set(holdout)
    if seen:
        raise ValueError(
            f"The model trained on {len(seen)} of the {len(holdout)} `{split}` images "
            f"(e.g. {sorted(seen)[0]!r}), so thresholds chosen there would be chosen on training "
            "data. Train with `--train-split train_minus_holdout` (or a `--max-per-class` that "
            f"leaves the last images of each class out). Received: train_split="
            f"{_train_split(config)!r}, max_per_class={config.get('max_per_class')!r}"
        )
    return True


def _load_data(
    config: dict[str, Any],
    data: str | None,
    split: str,
    num_images,
    image_size,
    require_boxes: bool = True,
):
    """The split as elements; with `require_boxes`, refuses (by name) images without a box."""
    from hide_and_seek_tf.data import load_dataset

    ds, info = load_dataset(
        _data_spec(config, data),
        split,
        classes=_classes(config),
        max_per_class=config.get("max_per_class") if split == _train_split(config) else None,
        num_images=num_images,
        image_size=image_size,
        seed=int(config.get("seed", 0)),
    )
    missing = getattr(info, "num_without_boxes", 0)
    if require_boxes and missing:
        raise ValueError(
            f"{missing} of the {info.num_examples} {split!r} images of {data or config['data']!r} "
            f"have no box (e.g. {list(info.without_boxes)}): localization cannot be scored on "
            "them. Evaluate a split whose images all have boxes."
        )
    return ds, info


def _max_boxes(info: Any) -> int:
    # Pad to the most boxes an image has (ILSVRC val images have up to dozens).
    return max(8, getattr(info, "max_boxes", None) or 0)


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
    import tensorflow as tf  # the data pipeline is tf.data whatever the Keras backend

    from hide_and_seek_tf.data import make_pipeline

    ds, info = _load_data(
        config,
        data,
        _train_split(config),
        config.get("num_images"),
        tuple(image_size),
        require_boxes=False,
    )

    # Named functions: autograph cannot read the source of two lambdas on one line (it warns).
    def every_stride(index, _):
        return index % stride == 0

    def element(_, example):
        return example

    def has_box(example):  # ImageNet: most train images have none
        return tf.shape(example["boxes"])[0] > 0

    if info.num_examples and info.num_examples > num:
        stride = info.num_examples // num
        ds = ds.enumerate().filter(every_stride).map(element)
    ds = ds.filter(has_box)
    batches = make_pipeline(
        ds.take(num),
        training=False,
        batch_size=256,
        image_size=image_size,
        cache=False,
        max_boxes=_max_boxes(info),
    )
    found = [b["boxes"].numpy() for b in batches]
    if not found:
        raise ValueError(
            f"No image of the training split {_train_split(config)!r} has a box: the fixed-box "
            "baseline is fitted on training boxes."
        )
    boxes = np.concatenate(found, axis=0)
    return choose_fixed_box(boxes, image_size), len(boxes)


def _grid(
    thresholds: Sequence[float] | None, sweep: bool, choose: bool, paper_t: float
) -> tuple[float, ...]:
    if sweep or (choose and thresholds is None):
        return SWEEP_THRESHOLDS
    return (paper_t,) if thresholds is None else tuple(float(t) for t in thresholds)


def _parse_fractions(occlusion: Sequence[float] | None) -> tuple[float, ...] | None:
    if occlusion is None:
        return None
    fractions = tuple(float(f) for f in occlusion)
    if not fractions or not all(0.0 <= f <= 1.0 for f in fractions):
        raise ValueError(
            f"`occlusion` must be hiding probabilities in [0, 1]. Received: occlusion={occlusion!r}"
        )
    return fractions


def evaluate_run(
    run_dir: str | os.PathLike,
    *,
    data: str | None = None,
    split: str = "val",
    choose_on: str | None = None,
    thresholds: Sequence[float] | None = None,
    sweep: bool = False,
    fixed_threshold: float | None = None,
    occlusion: Sequence[float] | None = None,
    occlusion_cell: int = protocol.OCCLUSION_CELL,
    occlusion_seed: int = protocol.OCCLUSION_SEED,
    ten_crop: bool = False,
    batch_size: int = 64,
    num_images: int | None = None,
    max_components: int = 16,
    baseline_images: int = 10000,
    num_plot: int = 16,
    out_dir: str | os.PathLike | None = None,
    progress: bool = True,
    load_run: Callable | None = None,
    cam_layer: str | None = None,
    classifier_layer: str | None = None,
    preprocessing: str | None = None,
) -> dict[str, Any]:
    """Evaluates the model of a training run on a split and writes `RUN/eval/`.

    With `choose_on`, the CAM thresholds are chosen on that split (Choe et al.'s rule, see
    `protocol`) and MaxBoxAcc, MaxBoxAccV2, GT-known and Top-1 Loc are reported on `split` at them
    (`threshold_choice` in the result). Without it, `split` chooses for itself: an upper bound.
    GT-known / Top-1 / Top-5 Loc at the fixed threshold (the paper protocol) are in `metrics`.

    Args:
        run_dir: a directory written by training (config.json, dataset_mean.json, model.keras).
        data: data spec to evaluate on; default the run's own (`config.json` "data").
        split: the split reported, e.g. "val", "test".
        choose_on: the split the CAM thresholds are chosen on, e.g. "train_holdout" (refused if
            the model trained on it, like `split`). None: `split` itself.
        thresholds: CAM thresholds (fractions of the map's max). Default: the paper's for the
            network (0.3 for googlenet_gap, else 0.2); with `choose_on`, the sweep grid.
        sweep: use the 0.00, 0.01, ..., 0.99 grid (MaxBoxAcc / MaxBoxAccV2) instead.
        fixed_threshold: the threshold GT-known / Top-1 / Top-5 Loc are reported at; default
            the single value of `thresholds` when one is given, else the paper's for the network
            (added to the grid when missing).
        occlusion: hiding probabilities f of the occlusion test (e.g. (0, 0.25, 0.5, 0.75)):
            top-1 accuracy with each `occlusion_cell` px cell hidden with probability f, filled
            with the run's dataset mean (`protocol.occlusion_top1`). None: no occlusion test.
        occlusion_cell: cell side of the occlusion test, pixels.
        occlusion_seed: first half of every occlusion mask's stateless seed.
        ten_crop: average class scores and CAMs over 10 crops (see `ten_crop_cams`).
        batch_size: images per batch (the occlusion masks depend on it too).
        num_images: evaluate the first N images of each split only (synthetic: how many to render).
        max_components: boxes per CAM kept for MaxBoxAccV2.
        baseline_images: training images used to fit the fixed-box baseline.
        num_plot: images in `cams.png`.
        out_dir: where to write; default `run_dir / "eval"`.
        progress: show a progress bar.
        load_run: `(run_dir) -> (model, config, mean)`; default `training.load_run`.
        cam_layer, classifier_layer: layer names for CAM; default: found
            (`hide_and_seek_tf.classifier.find_cam_head`), so any classifier with a global
            pooling and a Dense after it can be evaluated.
        preprocessing: None (the model takes raw pixels), or the `keras.applications`
            convention ("tf", "torch", "caffe") applied to the pixels before the model.

    Returns:
        The content of `metrics.json` (see docs/architecture.md for its keys).

    Raises:
        FileNotFoundError: the run directory or one of its files is missing.
        ValueError: the data does not match the model (class count or names, image size), a
            split the model trained on would choose or report thresholds, bad `occlusion`, or the
            data cannot be loaded (the message says why).
    """
    if load_run is None:
        from hide_and_seek_tf.training import load_run
    run_dir = Path(run_dir)
    fractions = _parse_fractions(occlusion)
    check_preprocessing(preprocessing)
    model, config, mean = load_run(run_dir)
    heads = dict(cam_layer=cam_layer, classifier_layer=classifier_layer)
    find_cam_head(model, **heads)  # a model CAM cannot read fails before any data is loaded
    if fractions is not None and mean is None:
        raise ValueError(
            "`occlusion` fills the hidden cells with the run's dataset mean, and this model "
            f"has none (a model file, not a run directory). Received: run_dir={str(run_dir)!r}"
        )
    image_size = tuple(int(v) for v in model.input_shape[1:3])
    model_name = config.get("model", model.name)
    paper_t = PAPER_THRESHOLDS.get(model_name, DEFAULT_THRESHOLD)
    if fixed_threshold is not None:
        fixed = float(fixed_threshold)
    elif thresholds is not None and len(thresholds) == 1 and not sweep:
        fixed = float(thresholds[0])  # one threshold given: report at it
    else:
        fixed = paper_t
    grid = _grid(thresholds, sweep, choose_on is not None, paper_t)
    for name, values in (("thresholds", grid), ("fixed_threshold", (fixed,))):
        if not all(0.0 <= t <= 1.0 for t in values):
            raise ValueError(
                f"`{name}` must be fractions of the CAM's max, in [0, 1]. "
                f"Received: {name}={thresholds if name == 'thresholds' else fixed!r}"
            )
    if not any(math.isclose(t, fixed, abs_tol=1e-6) for t in grid):
        grid = tuple(sorted(grid + (fixed,)))
    held_out = choose_on is not None and choose_on != split
    checked = [
        _check_holdout_unseen(config, data, name)
        for name in ((split, choose_on) if held_out else (split,))
    ]
    from hide_and_seek_tf.data import make_pipeline

    def batches_of(name: str) -> tuple[Any, Any]:
        ds, info = _load_data(config, data, name, num_images, image_size)
        _check_match(model, config, info, run_dir)
        pipeline = make_pipeline(
            ds,
            training=False,
            batch_size=batch_size,
            image_size=image_size,
            cache=False,
            max_boxes=_max_boxes(info),
        )
        return pipeline, info

    def score(name: str, plot: int) -> tuple[protocol.SplitScores, Any]:
        pipeline, info = batches_of(name)
        total = info.num_examples if num_images is None else num_images
        bar = keras.utils.Progbar(total, unit_name="image") if progress else None
        try:
            scores = protocol.score_batches(
                model,
                pipeline,
                grid,
                fixed,
                ten_crop=ten_crop,
                max_components=max_components,
                num_plot=plot,
                progress=bar,
                preprocessing=preprocessing,
                **heads,
            )
        except ValueError as err:
            if "has no images" not in str(err):  # any other reason is reported as it is
                raise
            raise ValueError(
                f"The {name!r} split of {data or config['data']!r} has no images."
            ) from err
        return scores, info

    chosen = score(choose_on, 0)[0] if held_out else None
    report, info = score(split, num_plot)
    choice = protocol.threshold_choice(
        report.metrics, split, chosen.metrics if chosen else None, choose_on
    )
    if chosen is not None:
        choice["chosen_on_curves"] = chosen.metrics["curves"]
    train_box, train_count = _train_box(config, data, image_size, baseline_images)
    table = protocol.per_image_table(report, choice["tau"], choice["tau_v2"], train_box)
    overall = protocol.localization_summary(table)
    baselines = protocol.score_fixed_boxes(
        {"whole_image": protocol.whole_image_box(image_size), "train_box": train_box},
        report.per_image["gt"],
    )
    baselines["train_box"]["fitted_on_train_images"] = train_count
    baselines["train_box"]["top1_loc_with_model_classes"] = overall["fixed_box_top1_loc"]
    whole = np.all(table_boxes(table, "box") == protocol.whole_image_box(image_size), axis=1)
    metrics = report.metrics
    result = {
        "schema_version": SCHEMA_VERSION,
        "metrics": metrics,
        "threshold_choice": choice,
        "baselines": baselines,
        "size_breakdown": protocol.size_breakdown(table),
        "cam_contrast": {
            "cam_threshold": metrics["cam_threshold"],
            "mean_inside": overall["cam_inside"],
            "mean_outside": overall["cam_outside"],
            "mean_contrast": overall["cam_contrast"],
            "mean_foreground_fraction": float(np.mean(table["cam_foreground_fraction"])),
            "whole_image_boxes": float(100.0 * np.mean(whole)),
        },
        "occlusion": None,
        "data": {
            "spec": data or config["data"],
            "split": split,
            "num_images": metrics["num_images"],
            "num_classes": info.num_classes,
            "image_size": list(image_size),
        },
        "model": {
            "name": model_name,
            "run_dir": str(run_dir),
            "pooling": config.get("pooling"),
            "hide_patch_sizes": config.get("hide_patch_sizes"),
            "num_classes": int(model.output_shape[-1]),
            "preprocessing": preprocessing,
        },
        "protocol": {
            "cam": "ground-truth class; sum_i W(c, i) F_i, bilinear upsampling, min-max to [0, 1]",
            "box": "largest 8-connected component of cam >= t * max(cam); MaxBoxAccV2: every "
            f"component (up to {max_components})",
            "cam_thresholds": list(grid),
            "fixed_threshold": fixed,
            "iou_thresholds": list(IOU_THRESHOLDS),
            "ten_crop": ten_crop,
            "batch_size": batch_size,
            "choose_on": choice["chosen_on"],
            "thresholds_swept_on": choice["chosen_on"] if len(grid) > 1 else None,
            # None: no holdout split scored; False: a model file, its training images unknown
            "holdout_checked_unseen": None if set(checked) == {None} else False not in checked,
            "iou": "inclusive pixel boxes, (x1 - x0 + 1) * (y1 - y0 + 1)",
        },
    }
    if fractions is not None:
        pipeline, _ = batches_of(split)
        result["occlusion"] = {
            "fractions": list(fractions),
            "top1_cls": protocol.occlusion_top1(
                model,
                pipeline,
                fractions,
                mean.tolist(),
                occlusion_cell,
                occlusion_seed,
                preprocessing=preprocessing,
            ),
            "cell": occlusion_cell,
            "seed": occlusion_seed,
            "batch_size": batch_size,
            "fill": [float(v) for v in mean],
        }
    # The folder is replaced as a whole: an interrupted evaluation leaves the previous one.
    with replaced_dir(Path(out_dir) if out_dir is not None else run_dir / EVAL_DIR) as out:
        write_text_atomic(out / PER_IMAGE_FILE, protocol.per_image_csv(table))
        write_text_atomic(out / "thresholds.csv", _curves_csv(metrics))
        plotting.save_figure(out / "threshold_curve.png", plotting.threshold_curve_figure(result))
        plotting.save_figure(
            out / "cams.png", plotting.cam_grid_figure(report.shown, info.class_names, fixed)
        )
        plotting.save_figure(out / "cam_contrast.png", plotting.cam_contrast_figure(table, result))
        write_json_atomic(out / METRICS_FILE, result)  # last: its presence means a finished one
    return result


def table_boxes(table: dict[str, np.ndarray], prefix: str) -> np.ndarray:
    """(N, 4) boxes of a `protocol.per_image_table` (prefix "box", "tau_box" or "gt")."""
    return np.stack([table[f"{prefix}_{c}"] for c in ("x0", "y0", "x1", "y1")], axis=1)


# ----------------------------------------------------------------------------------------------
# Reports
# ----------------------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def breakdown_markdown(evaluations: dict[str, dict[str, Any]]) -> str:
    """A Markdown table of the size breakdown of one or more evaluations (by name)."""
    lines = [
        "| model | GT box area | images | GT-known Loc | Top-1 Loc | MaxBoxAcc | fixed box | "
        "whole image |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, result in evaluations.items():
        for row in result["size_breakdown"]["bins"]:
            lo, hi = row["range"]
            lines.append(
                f"| {name} | [{lo:g}, {hi:g}{']' if hi >= 1 else ')'} | {row['count']} | "
                f"{_num(row['gt_known_loc'])} | {_num(row['top1_loc'])} | "
                f"{_num(row['max_box_acc'])} | {_num(row['fixed_box_gt_known_loc'])} | "
                f"{_num(row['whole_image_gt_known_loc'])} |"
            )
    return "\n".join(lines)


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
        f"  top-1 / top-5 classification : {m['top1_cls']:.2f} / {m['top5_cls']:.2f}",
        f"  at CAM threshold {m['cam_threshold']:g}, IoU 0.5:",
        f"    GT-known Loc               : {m['gt_known_loc']:.2f}",
        f"    Top-1 / Top-5 Loc          : {m['top1_loc']:.2f} / {m['top5_loc']:.2f}",
        f"  tau = {choice['tau']:g}, {where}"
        + (f"; MaxBoxAccV2 taus {v2_taus}" if v2_taus else ""),
        f"    MaxBoxAcc                  : {choice['max_box_acc']:.2f}",
        f"    MaxBoxAccV2                : {_num(choice['max_box_acc_v2'], 2)}",
        f"    GT-known / Top-1 Loc @ tau : {choice['gt_known_loc']:.2f} / {choice['top1_loc']:.2f}",
    ]
    if held:
        bound = choice["upper_bound"]
        lines.append(
            f"    (max over tau on {choice['reported_on']} itself, an upper bound: MaxBoxAcc "
            f"{bound['max_box_acc']:.2f}, MaxBoxAccV2 {_num(bound['max_box_acc_v2'], 2)})"
        )
    lines += [
        f"  baselines, GT-known Loc      : whole image {base['whole_image']['gt_known_loc']:.2f}, "
        f"train box {base['train_box']['box']} {base['train_box']['gt_known_loc']:.2f} "
        f"(Top-1 Loc with the model's classes {base['train_box']['top1_loc_with_model_classes']:.2f})",
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
        row = [t, curves["gt_known_loc"][i], curves["top1_loc"][i], curves["top5_loc"][i]]
        row += [curves["box_acc"][d][i] for d in deltas]
        row += [v2[d][i] for d in v2]
        writer.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])
    return buf.getvalue()

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

import dataclasses
import logging
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf  # the data pipeline is tf.data whatever the Keras backend

from hide_and_seek_tf import plotting
from hide_and_seek_tf._io import replaced_dir, write_json_atomic, write_text_atomic
from hide_and_seek_tf.cam_head import check_preprocessing, find_cam_head
from hide_and_seek_tf.data import load_dataset, make_pipeline
from hide_and_seek_tf.data.checks import data_checks_record
from hide_and_seek_tf.data.sources import DataSpec
from hide_and_seek_tf.evaluation import wsolevaluation as wsol
from hide_and_seek_tf.evaluation.baselines import fit_fixed_box, fixed_box_scores, whole_image_box
from hide_and_seek_tf.evaluation.breakdown import (
    localization_summary,
    per_image_csv,
    per_image_table,
    size_breakdown,
)
from hide_and_seek_tf.evaluation.cam_files import CamFiles
from hide_and_seek_tf.evaluation.occlusion import OCCLUSION_CELL, OCCLUSION_SEED, occlusion_top1
from hide_and_seek_tf.evaluation.report import _curves_csv
from hide_and_seek_tf.evaluation.scoring import SplitScores, score_batches
from hide_and_seek_tf.evaluation.thresholds import threshold_choice
from hide_and_seek_tf.metrics import IOU_THRESHOLDS
from hide_and_seek_tf.models.registry import paper_threshold
from hide_and_seek_tf.training import run_dir as run_dir_files
from hide_and_seek_tf.training.run_dir import EVAL_DIR

#: CAM threshold grid of `sweep=True` (wsolevaluation's 0.01 step).
SWEEP_THRESHOLDS = tuple(round(0.01 * i, 2) for i in range(100))
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
    ds, info = load_dataset(
        _data_spec(config, data),
        split,
        classes=_classes(config),
        max_per_class=config.get("max_per_class") if split == _train_split(config) else None,
        num_images=num_images,
        image_size=image_size,
        seed=int(config.get("seed", 0)),
        strict_boxes=bool(config.get("strict_boxes")),
        skip_bad_images=bool(config.get("skip_bad_images")),
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


def fixed_box_split(
    config: dict[str, Any], data: str | None, named: str | None
) -> tuple[str | None, str]:
    """Which split the fixed-box baseline is fitted on, and why: the training split when it can be
    read, else `named` (`--baseline-split`), else none (the baseline is reported unavailable).
    ImageNet users scoring a pretrained classifier often have only val on disk (train is 138 GB).

    Returns:
        (split or None, a sentence for the report).
    """
    train = _train_split(config)
    try:  # one image: the listing and the annotations are read, not the whole split's headers
        _load_data({**config, "skip_bad_images": True}, data, train, 1, None, require_boxes=False)
    except (FileNotFoundError, ValueError) as err:
        unavailable = f"the training split {train!r} cannot be read ({err})"
    else:
        return train, f"fitted on the training split {train!r}"
    if named:
        return named, f"fitted on {named!r} (--baseline-split): {unavailable}"
    return None, f"unavailable: {unavailable}; name a split to fit it on with --baseline-split"


def _fit_train_box(
    config: dict[str, Any],
    data: str | None,
    image_size: tuple[int, int],
    num: int,
    protocol: str = "paper",
    load_size: Any = "image_size",
) -> tuple[list[int], int]:
    ds, info = _load_data(
        config,
        data,
        _train_split(config),
        config.get("num_images"),
        tuple(image_size) if load_size == "image_size" else load_size,
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
        source_boxes=protocol == "wsolevaluation",
    )
    wsol_rule = protocol == "wsolevaluation"
    size = (wsol.WSOL_SIZE, wsol.WSOL_SIZE) if wsol_rule else image_size
    box, count = fit_fixed_box(batches, size, wsol.rescale_boxes if wsol_rule else None)
    if box is None:
        raise ValueError(
            f"No image of the training split {_train_split(config)!r} has a box: the fixed-box "
            "baseline is fitted on training boxes."
        )
    return box, count


def _grid(
    thresholds: Sequence[float] | None,
    sweep: bool,
    choose: bool,
    paper_t: float,
    protocol: str = "paper",
) -> tuple[float, ...]:
    if protocol == "wsolevaluation" and (sweep or thresholds is None):
        return wsol.WSOL_THRESHOLDS  # the exact floats: int(t * max) depends on them
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


def _load_size(
    config: dict[str, Any], data: str | None, image_size: tuple[int, int] | None, protocol: str
) -> tuple[int, int] | None:
    """The size images are loaded at: the model's (paper protocol), or as decoded
    (wsolevaluation rescales the decoded image's boxes itself); synthetic images are rendered at
    the size asked for (None: its default), and that render is the decoded image."""
    if protocol == "paper" or _data_spec(config, data).kind == "synthetic":
        return image_size
    return None


def _protocol_rules(protocol: str, max_components: int) -> dict[str, str]:
    """The `protocol` block's description of the CAM, box and IoU rules."""
    if protocol == "wsolevaluation":
        return {
            "cam": "ground-truth class; sum_i W(c, i) F_i, bilinear upsampling to the image, "
            f"then to {wsol.WSOL_SIZE} x {wsol.WSOL_SIZE}, min-max to [0, 1]",
            "box": "clovaai/wsolevaluation BoxEvaluator: uint8 map > int(t * max), OpenCV "
            "contours; the largest by contourArea, MaxBoxAccV2 every contour; x1 = x + w "
            f"clipped to {wsol.WSOL_SIZE - 1}; ground-truth boxes rescaled with int()",
            "iou": "inclusive pixel boxes, (x1 - x0 + 1) * (y1 - y0 + 1)",
        }
    return {
        "cam": "ground-truth class; sum_i W(c, i) F_i, bilinear upsampling, min-max to [0, 1]",
        "box": "largest 8-connected component of cam >= t * max(cam); MaxBoxAccV2: every "
        f"component (up to {max_components})",
        "iou": "inclusive pixel boxes, (x1 - x0 + 1) * (y1 - y0 + 1)",
    }


def _cam_files_config(cam_files: CamFiles, data: str | None) -> tuple[dict[str, Any], Path]:
    """The run config of a folder of CAM files (no model): the data only."""
    if not data:
        raise ValueError(
            "`cams` needs `data` (the split's images, labels and boxes). Received: data=None"
        )
    if not cam_files.folder.is_dir():
        raise FileNotFoundError(f"CAM folder not found: {cam_files.folder} (`cams`).")
    return {"data": data, "train_split": None}, cam_files.folder.parent


def _cam_file_size(
    cam_files: CamFiles, config: dict[str, Any], data: str | None, split: str
) -> tuple[int, int]:
    """The (H, W) of the split's first CAM file: the paper protocol scores boxes at that size."""
    ds, _ = _load_data(config, data, split, 1, None)
    first = next(iter(ds.take(1)))["id"].numpy().decode()
    return tuple(int(v) for v in cam_files.read([first]).shape[1:3])


def evaluate_run(
    run_dir: str | os.PathLike | None,
    *,
    data: str | None = None,
    split: str = "val",
    choose_on: str | None = None,
    thresholds: Sequence[float] | None = None,
    sweep: bool = False,
    fixed_threshold: float | None = None,
    occlusion: Sequence[float] | None = None,
    occlusion_cell: int = OCCLUSION_CELL,
    occlusion_seed: int = OCCLUSION_SEED,
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
    protocol: str = "paper",
    save_cams: str | os.PathLike | None = None,
    cams: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    fixed_box: tuple[Sequence[int], int] | None = None,
    strict_boxes: bool | None = None,
    skip_bad_images: bool | None = None,
    baseline_split: str | None = None,
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
            network (`models.paper_threshold`: 0.3 for googlenet_gap, else 0.2); with `choose_on`, the sweep grid.
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
            (`hide_and_seek_tf.cam_head.find_cam_head`), so any classifier with a global
            pooling and a Dense after it can be evaluated.
        preprocessing: None (the model takes raw pixels), or the `keras.applications`
            convention ("tf", "torch", "caffe") applied to the pixels before the model.
        protocol: "paper" (the default: boxes by `cams_to_boxes` at the image size) or
            "wsolevaluation" (clovaai/wsolevaluation's `BoxEvaluator`, exactly: 224 x 224 maps,
            OpenCV contours, thresholds `np.arange(0, 1, 0.01)` unless `thresholds` is given;
            see `hide_and_seek_tf.evaluation.wsolevaluation` and docs/architecture.md).
        save_cams: a folder to write every scored CAM to as `<image_id>.npy` (float32, in
            [0, 1]; 224 x 224 under "wsolevaluation"), wsolevaluation's format.
        cams: a folder of such CAM files to score instead of a model (`run_dir` None, `data`
            required): localization, baselines and the size breakdown; no class scores, so the
            classification metrics (and Top-1 / Top-5 Loc) are None.
        data_dir: the image root (`wsol:`, `csv:`) or TFDS folder of `data`; default the run's.
        fixed_box: (box, number of images it was fitted on), the fixed-box baseline fitted
            already (e.g. `result["baselines"]["train_box"]` of another run on the same data and
            protocol); None: fitted here on `baseline_images` training boxes.
        strict_boxes, skip_bad_images: the data checks' settings (`data.checks`); None: the
            run's (config.json), else off.
        baseline_split: the split the fixed-box baseline is fitted on when the training split
            cannot be read (`fixed_box_split`); None: the baseline is then reported unavailable.

    Returns:
        The content of `metrics.json` (see docs/architecture.md for its keys).

    Raises:
        FileNotFoundError: the run directory or one of its files is missing.
        ValueError: the data does not match the model (class count or names, image size), a
            split the model trained on would choose or report thresholds, bad `occlusion`, or the
            data cannot be loaded (the message says why).
    """
    fractions = _parse_fractions(occlusion)
    check_preprocessing(preprocessing)
    wsol.check_protocol(protocol)
    if protocol == "wsolevaluation":
        wsol.import_cv2()  # one line when OpenCV is missing, before any work
    heads = dict(cam_layer=cam_layer, classifier_layer=classifier_layer)
    source = _open_source(run_dir, cams, data, data_dir, split, protocol, load_run, heads)
    checks = {"strict_boxes": strict_boxes, "skip_bad_images": skip_bad_images}
    source.config = {**source.config, **{k: v for k, v in checks.items() if v is not None}}
    if fractions is not None and source.mean is None:
        raise ValueError(
            "`occlusion` fills the hidden cells with the run's dataset mean, and this model "
            f"has none (a model file, not a run directory). Received: run_dir={str(run_dir)!r}"
        )
    grid, fixed = _threshold_grid(
        source, thresholds, sweep, fixed_threshold, choose_on is not None, protocol
    )
    held_out = choose_on is not None and choose_on != split
    checked = [
        _check_holdout_unseen(source.config, data, name)
        for name in ((split, choose_on) if held_out else (split,))
    ]
    splits = _SplitReader(source, data, protocol, num_images, batch_size)
    saver = CamFiles(save_cams) if save_cams is not None else None
    score_options = dict(
        ten_crop=ten_crop,
        max_components=max_components,
        preprocessing=preprocessing,
        protocol=protocol,
        cam_files=source.cam_files,
        save_cams=saver,
        **heads,
    )
    chosen = (
        splits.score(choose_on, grid, fixed, 0, progress, score_options)[0] if held_out else None
    )
    report, info = splits.score(split, grid, fixed, num_plot, progress, score_options)
    choice = _choose_thresholds(report, split, chosen, choose_on)
    fit_split, fit_note = None, "given by the caller (`fixed_box`)"
    if fixed_box is None:
        fit_split, fit_note = fixed_box_split(source.config, data, baseline_split)
        fixed_box = (None, 0)
        if fit_split is not None:
            fixed_box = _fit_train_box(
                {**source.config, "train_split": fit_split},
                data,
                source.image_size,
                baseline_images,
                protocol,
                splits.load_size,
            )
    # Without a fixed box the whole image stands in, and its columns are emptied below.
    stand_in = whole_image_box(report.image_size) if fixed_box[0] is None else fixed_box[0]
    table = per_image_table(report, choice["tau"], choice["tau_v2"], stand_in)
    if fixed_box[0] is None:
        table["fixed_box_iou"] = np.full_like(table["fixed_box_iou"], np.nan, dtype=np.float64)
    result = {
        "schema_version": SCHEMA_VERSION,
        "metrics": report.metrics,
        "threshold_choice": choice,
        **_table_summaries(table, report, fixed_box, fit_split, fit_note),
        "occlusion": None,
        "data": {
            "spec": data or source.config["data"],
            "split": split,
            "num_images": report.metrics["num_images"],
            "num_classes": info.num_classes,
            "image_size": list(source.image_size),
            "strict_boxes": bool(source.config.get("strict_boxes")),
            **data_checks_record(info),
        },
        "model": _model_block(source, info, preprocessing, cams),
        "protocol": {
            "name": protocol,
            "map_size": list(report.image_size),
            "cam_files_saved_to": None if save_cams is None else str(save_cams),
            **_protocol_rules(protocol, max_components),
            "cam_thresholds": list(grid),
            "fixed_threshold": fixed,
            "iou_thresholds": list(IOU_THRESHOLDS),
            "ten_crop": ten_crop,
            "batch_size": batch_size,
            "choose_on": choice["chosen_on"],
            "thresholds_swept_on": choice["chosen_on"] if len(grid) > 1 else None,
            # None: no holdout split scored; False: a model file, its training images unknown
            "holdout_checked_unseen": None if set(checked) == {None} else False not in checked,
        },
    }
    if fractions is not None:
        result["occlusion"] = _occlusion(
            source,
            splits.batches(split)[0],
            fractions,
            occlusion_cell,
            occlusion_seed,
            batch_size,
            preprocessing,
        )
    out = Path(out_dir) if out_dir is not None else source.run_dir / EVAL_DIR
    _write_eval_files(out, result, table, report, info.class_names, fixed)
    return result


@dataclasses.dataclass
class _Source:
    """Where the CAMs come from: a model (with its run's config and dataset mean) or CAM files."""

    model: Any
    config: dict[str, Any]
    mean: Any
    run_dir: Path
    image_size: tuple[int, int]
    cam_files: CamFiles | None

    @property
    def name(self) -> str:
        return self.config.get("model", self.model.name if self.model is not None else "cam files")


def _open_source(run_dir, cams, data, data_dir, split, protocol, load_run, heads) -> _Source:
    """Loads the model of `run_dir` (checked for a CAM head), or opens the CAM folder `cams`."""
    if cams is not None:
        cam_files = CamFiles(cams)
        config, run_dir = _cam_files_config(cam_files, data)
        model = mean = None
    else:
        load_run = load_run or run_dir_files.load_run
        cam_files, run_dir = None, Path(run_dir)
        model, config, mean = load_run(run_dir)
        find_cam_head(model, **heads)  # a model CAM cannot read fails before any data is loaded
    if data_dir is not None:
        config = {**config, "data_dir": str(data_dir)}
    if model is not None:
        image_size = tuple(int(v) for v in model.input_shape[1:3])
    elif protocol == "wsolevaluation":
        image_size = (wsol.WSOL_SIZE, wsol.WSOL_SIZE)
    else:
        image_size = _cam_file_size(cam_files, config, data, split)
    return _Source(model, config, mean, run_dir, image_size, cam_files)


def _threshold_grid(
    source: _Source,
    thresholds: Sequence[float] | None,
    sweep: bool,
    fixed_threshold: float | None,
    choose: bool,
    protocol: str,
) -> tuple[tuple[float, ...], float]:
    """The CAM threshold grid and the fixed threshold (added to the grid when missing)."""
    paper_t = paper_threshold(source.name)
    if fixed_threshold is not None:
        fixed = float(fixed_threshold)
    elif thresholds is not None and len(thresholds) == 1 and not sweep:
        fixed = float(thresholds[0])  # one threshold given: report at it
    else:
        fixed = paper_t
    grid = _grid(thresholds, sweep, choose, paper_t, protocol)
    for name, values in (("thresholds", grid), ("fixed_threshold", (fixed,))):
        if not all(0.0 <= t <= 1.0 for t in values):
            raise ValueError(
                f"`{name}` must be fractions of the CAM's max, in [0, 1]. "
                f"Received: {name}={thresholds if name == 'thresholds' else fixed!r}"
            )
    if not any(math.isclose(t, fixed, abs_tol=1e-6) for t in grid):
        grid = tuple(sorted(grid + (fixed,)))
    return grid, fixed


class _SplitReader:
    """Evaluation batches of a split of the data, and the pass over them (`score_batches`)."""

    def __init__(self, source: _Source, data, protocol: str, num_images, batch_size: int):
        self.source, self.data, self.protocol = source, data, protocol
        self.num_images, self.batch_size = num_images, batch_size
        from_files = source.cam_files is not None
        self.load_size = _load_size(
            source.config, data, None if from_files else source.image_size, protocol
        )
        self._loaded: dict[str, tuple[Any, Any]] = {}

    def batches(self, name: str) -> tuple[Any, Any]:
        """(pipeline, info) of split `name`, loaded and checked once (scoring and occlusion)."""
        if name not in self._loaded:
            self._loaded[name] = self._load(name)
        return self._loaded[name]

    def _load(self, name: str) -> tuple[Any, Any]:
        source = self.source
        ds, info = _load_data(source.config, self.data, name, self.num_images, self.load_size)
        if source.model is not None:
            _check_match(source.model, source.config, info, source.run_dir)
        pipeline = make_pipeline(
            ds,
            training=False,
            batch_size=self.batch_size,
            image_size=source.image_size,
            cache=False,
            max_boxes=_max_boxes(info),
            source_boxes=self.protocol == "wsolevaluation",
        )
        return pipeline, info

    def score(self, name, grid, fixed, num_plot, progress, options) -> tuple[SplitScores, Any]:
        pipeline, info = self.batches(name)
        total = info.num_examples if self.num_images is None else self.num_images
        bar = keras.utils.Progbar(total, unit_name="image") if progress else None
        try:
            scores = score_batches(
                self.source.model,
                pipeline,
                grid,
                fixed,
                num_plot=num_plot,
                progress=bar,
                num_classes=info.num_classes,
                **options,
            )
        except ValueError as err:
            if str(err) != "The split has no images.":
                raise
            where = self.data or self.source.config["data"]
            raise ValueError(f"The {name!r} split of {where!r} has no images.") from err
        return scores, info


def _choose_thresholds(
    report: SplitScores, split: str, chosen: SplitScores | None, choose_on: str | None
) -> dict[str, Any]:
    """The `threshold_choice` block: chosen on `choose_on` (with its curves) or on `split`."""
    choice = threshold_choice(report.metrics, split, chosen.metrics if chosen else None, choose_on)
    if chosen is not None:
        choice["chosen_on_curves"] = chosen.metrics["curves"]
    return choice


def _table_summaries(
    table: dict[str, np.ndarray],
    report: SplitScores,
    fixed_box: tuple[Any, int],
    fit_split: str | None,
    fit_note: str,
) -> dict[str, Any]:
    """`baselines`, `size_breakdown` and `cam_contrast`, all from the per-image rows."""
    overall = localization_summary(table)
    whole_box = whole_image_box(report.image_size)  # the maps' size (224 for wsolevaluation)
    available = fixed_box[0] is not None
    baselines = {
        "whole_image": fixed_box_scores(whole_box, table["whole_image_iou"]),
        "train_box": (
            fixed_box_scores(fixed_box[0], table["fixed_box_iou"])
            if available
            else {"box": None, "gt_known_loc": None}
        ),
    }
    baselines["train_box"]["fitted_on_train_images"] = fixed_box[1]
    baselines["train_box"]["fitted_on_split"] = fit_split
    baselines["train_box"]["fitted_on"] = fit_note
    baselines["train_box"]["top1_loc_with_model_classes"] = (
        overall["fixed_box_top1_loc"] if available else None
    )
    breakdown = size_breakdown(table)
    if not available:  # an unavailable fixed box has no numbers (not zeros)
        for row in breakdown["bins"]:
            row["fixed_box_gt_known_loc"] = row["fixed_box_top1_loc"] = None
    whole = np.all(table_boxes(table, "box") == whole_box, axis=1)
    return {
        "baselines": baselines,
        "size_breakdown": breakdown,
        "cam_contrast": {
            "cam_threshold": report.metrics["cam_threshold"],
            "mean_inside": overall["cam_inside"],
            "mean_outside": overall["cam_outside"],
            "mean_contrast": overall["cam_contrast"],
            "mean_foreground_fraction": float(np.mean(table["cam_foreground_fraction"])),
            "whole_image_boxes": float(100.0 * np.mean(whole)),
        },
    }


def _model_block(source: _Source, info: Any, preprocessing, cams) -> dict[str, Any]:
    model, config = source.model, source.config
    return {
        "name": source.name,
        "run_dir": str(source.run_dir),
        "pooling": config.get("pooling"),
        "hide_patch_sizes": config.get("hide_patch_sizes"),
        "num_classes": info.num_classes if model is None else int(model.output_shape[-1]),
        "preprocessing": preprocessing,
        "cam_files": None if cams is None else str(cams),
    }


def _occlusion(source, pipeline, fractions, cell, seed, batch_size, preprocessing) -> dict:
    mean = source.mean
    return {
        "fractions": list(fractions),
        "top1_cls": occlusion_top1(
            source.model,
            pipeline,
            fractions,
            mean.tolist(),
            cell,
            seed,
            preprocessing=preprocessing,
        ),
        "cell": cell,
        "seed": seed,
        "batch_size": batch_size,
        "fill": [float(v) for v in mean],
    }


def _write_eval_files(path: Path, result, table, report: SplitScores, class_names, fixed) -> None:
    """Every file of the eval directory, metrics.json last (a finished run). The folder is
    replaced as a whole (`_io.replaced_dir`): an interrupted evaluation leaves the previous one."""
    with replaced_dir(path) as out:
        write_text_atomic(out / PER_IMAGE_FILE, per_image_csv(table))
        write_text_atomic(out / "thresholds.csv", _curves_csv(result["metrics"]))
        plotting.save_figure(out / "threshold_curve.png", plotting.threshold_curve_figure(result))
        plotting.save_figure(
            out / "cams.png", plotting.cam_grid_figure(report.shown, class_names, fixed)
        )
        plotting.save_figure(out / "cam_contrast.png", plotting.cam_contrast_figure(table, result))
        write_json_atomic(out / METRICS_FILE, result)  # last: its presence means a finished one


def table_boxes(table: dict[str, np.ndarray], prefix: str) -> np.ndarray:
    """(N, 4) boxes of a `protocol.per_image_table` (prefix "box", "tau_box" or "gt")."""
    return np.stack([table[f"{prefix}_{c}"] for c in ("x0", "y0", "x1", "y1")], axis=1)

"""Train and evaluate the temporal task: `train_temporal(config)` and `evaluate_temporal_run(run_dir)`.

The run directory has the same files as an image run (docs/architecture.md)::

    RUN/config.json         the resolved TemporalConfig ("task": "temporal") + classes, feature size
    RUN/dataset_mean.json   {"mean": [D], "std": [D], ...}: the dataset-mean feature, the hiding fill
    RUN/history.csv         one row per epoch
    RUN/model.keras         the classifier (raw features in, logits out; no hiding inside)
    RUN/eval/               metrics.json (mAP at tIoU 0.1-0.5, accuracy, baseline), detections.csv,
                            cams.png (1-D CAMs with predicted and ground-truth intervals)

`train.py --task temporal` and `evaluate.py` (on a temporal run) are thin command lines over these.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import os
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import hide_and_seek_tf
from hide_and_seek_tf import plotting
from hide_and_seek_tf._io import (
    DirectoryInUseError,
    replaced_dir,
    save_model_atomic,
    write_json_atomic,
    write_text_atomic,
)
from hide_and_seek_tf.data.sequences import (
    SequenceInfo,
    batch_sequences,
    load_sequences,
    parse_sequence_spec,
)
from hide_and_seek_tf.dataset_mean import compute_dataset_moments
from hide_and_seek_tf.hiding import hide_segments
from hide_and_seek_tf.temporal.config import TASK, TemporalConfig
from hide_and_seek_tf.temporal.localization import (
    PAPER_CAM_THRESHOLD,
    PAPER_TIOU_THRESHOLDS,
    mean_average_precision,
    threshold_runs,
)
from hide_and_seek_tf.temporal.model import (
    build_temporal_classifier,
    label_accuracy,
    temporal_class_activation_maps,
)
from hide_and_seek_tf.training.records import history_csv
from hide_and_seek_tf.training.run_dir import (
    CONFIG_FILE,
    HISTORY_FILE,
    MEAN_FILE,
    MODEL_FILE,
    is_empty_dir,
    locked_run,
    read_json,
)

logger = logging.getLogger("hide_and_seek_tf.temporal")
EVAL_DIR = "eval"


# === Training ===
def _load(config: TemporalConfig, split: str, num_videos: int | None):
    classes = list(config.classes) if isinstance(config.classes, tuple) else config.classes
    return load_sequences(
        config.data,
        split,
        num_steps=config.num_steps,
        classes=classes,
        num_videos=num_videos,
        seed=config.seed,
    )


def _targets(labels: tf.Tensor) -> tf.Tensor:
    # Softmax over classes: a video of several classes (THUMOS14 CliffDiving + Diving) splits its mass.
    return labels / tf.maximum(tf.reduce_sum(labels, axis=-1, keepdims=True), 1.0)


class _HistoryWriter(keras.callbacks.Callback):
    """Writes history.csv atomically at the end of every epoch."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path, self.rows = path, []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        row = {"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}}
        row["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self.rows.append(row)
        write_text_atomic(self.path, history_csv(self.rows))


def _versions() -> dict[str, str]:
    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "hide_and_seek_tf": hide_and_seek_tf.__version__,
        "python": sys.version.split()[0],
    }


def train_pipeline(
    ds: tf.data.Dataset,
    config: TemporalConfig,
    mean: np.ndarray,
    num_videos: int,
    cache: bool,
) -> tf.data.Dataset:
    """Endless training batches (features, targets): shuffle -> batch -> `hide_segments` -> prefetch.

    One stateless hiding seed per batch, new every epoch and reproducible from `config.seed`.
    """
    if cache:
        ds = ds.cache()
    ds = ds.shuffle(num_videos, seed=config.seed, reshuffle_each_iteration=True)
    ds = ds.map(lambda e: (e["features"], _targets(e["labels"]))).batch(
        config.batch_size, drop_remainder=True
    )
    if config.hides:
        seeds = tf.data.Dataset.random(seed=config.seed, rerandomize_each_iteration=True).batch(2)
        fill = mean.astype(np.float32)
        ds = tf.data.Dataset.zip(ds, seeds).map(
            lambda batch, seed: (
                hide_segments(batch[0], config.segment_length, config.hide_prob, fill, seed=seed),
                batch[1],
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return ds.repeat().prefetch(tf.data.AUTOTUNE)


def train_temporal(config: TemporalConfig, verbose: int | None = None) -> keras.Model:
    """Trains the paper's temporal CAM classifier (Video-full or Video-HaS), writing a run directory.

    Writes config.json and dataset_mean.json before training, history.csv after every epoch and
    model.keras at the end. Hidden segments are filled with the training set's mean feature; the model
    normalizes by the same statistics, so a hidden step enters it as zeros.

    Args:
        config: the settings; `None` fields are resolved and saved in config.json.
        verbose: Keras progress output (0, 1, 2); default 1 on a terminal, else 2.

    Returns:
        The trained `keras.Model`.

    Raises:
        TypeError: `config` is not a `TemporalConfig`.
        FileExistsError: `run_dir` is not empty (nothing is written).
        ValueError / FileNotFoundError: the data cannot be loaded or does not fit the settings.
    """
    if not isinstance(config, TemporalConfig):
        raise TypeError(f"`config` must be a TemporalConfig. Received: config={config!r}")
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    keras.utils.set_random_seed(config.seed)
    train_ds, info = _load(config, config.train_split, config.num_videos)
    config = config.resolve(num_steps=info.num_steps, num_videos=info.num_examples)
    run_dir = Path(config.run_dir)
    if not is_empty_dir(run_dir):
        raise FileExistsError(
            f"Run directory {run_dir} is not empty; choose a new --run-dir. Nothing was changed."
        )

    mean, std, count = compute_dataset_moments(train_ds.map(lambda e: e["features"]))
    steps = config.num_videos // config.batch_size
    write_json_atomic(run_dir / CONFIG_FILE, _run_record(config, info, steps))
    write_json_atomic(
        run_dir / MEAN_FILE,
        {
            "mean": [float(v) for v in mean],
            "std": [float(v) for v in std],
            "num_feature_steps": int(count),
            "data": config.data,
            "split": config.train_split,
            "num_steps": config.num_steps,
        },
    )

    synthetic = parse_sequence_spec(config.data)[0] == "synthetic-sequences"
    batches = train_pipeline(train_ds, config, mean, config.num_videos, cache=synthetic)
    val_batches = None
    if config.validation:
        val_ds, _ = _load(config, config.val_split, None)
        val_batches = (
            val_ds.map(lambda e: (e["features"], _targets(e["labels"])))
            .batch(config.batch_size)
            .cache()
            .prefetch(tf.data.AUTOTUNE)
        )

    model = build_temporal_classifier(
        info.num_classes,
        info.feature_dim,
        num_steps=None,
        filters=config.filters,
        pooling=config.pooling,
        mean=mean,
        std=np.maximum(std, 1e-6),
    )
    schedule = keras.optimizers.schedules.CosineDecay(
        config.lr, decay_steps=config.epochs * steps, alpha=0.01
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule, weight_decay=config.weight_decay or None),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=[label_accuracy],
    )
    logger.info(
        "Training the temporal classifier on %s (%d classes, %d videos of %d steps, D=%d), %s, "
        "for %d epochs of %d steps; run directory: %s",
        config.data, info.num_classes, config.num_videos, config.num_steps, info.feature_dim,
        f"hiding segments of {config.segment_length} steps (p={config.hide_prob})"
        if config.hides else "no hiding",
        config.epochs, steps, run_dir,
    )  # fmt: skip
    model.fit(
        batches,
        epochs=config.epochs,
        steps_per_epoch=steps,
        validation_data=val_batches,
        callbacks=[_HistoryWriter(run_dir / HISTORY_FILE)],
        shuffle=False,  # the pipeline shuffles
        verbose=verbose,
    )
    save_model_atomic(model, run_dir / MODEL_FILE)
    return model


def _run_record(config: TemporalConfig, info: SequenceInfo, steps: int) -> dict[str, Any]:
    return {
        **config.to_dict(),
        "num_classes": info.num_classes,
        "class_names": list(info.class_names),
        "feature_dim": info.feature_dim,
        "dataset": {
            "name": info.name,
            "num_train_examples": info.num_examples,
            "feature_rate": info.feature_rate,
        },
        "steps_per_epoch": steps,
        "total_steps": config.epochs * steps,
        "versions": _versions(),
    }


# === Evaluation ===
def is_temporal_run(run_dir: str | os.PathLike) -> bool:
    """True when `run_dir/config.json` says "task": "temporal" (False when it is missing)."""
    path = Path(run_dir) / CONFIG_FILE
    return path.is_file() and read_json(path, "run config").get("task") == TASK


def _whole_video_detections(pairs: np.ndarray, durations: np.ndarray) -> np.ndarray:
    video, label = pairs
    return np.stack(
        [video, label, np.zeros(len(video)), durations[video], np.ones(len(video))], axis=1
    )


def evaluate_temporal_run(
    run_dir: str | os.PathLike,
    *,
    data: str | None = None,
    split: str = "val",
    cam_threshold: float = PAPER_CAM_THRESHOLD,
    tiou_thresholds: tuple[float, ...] = PAPER_TIOU_THRESHOLDS,
    batch_size: int = 32,
    num_videos: int | None = None,
    num_plot: int = 6,
    out_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Localizes actions with the 1-D CAM of a temporal run and scores them; writes `RUN/eval/`.

    Protocol (paper, 4.1.3 and 4.2.3): the ground-truth classes of each video are known; for each, its
    1-D CAM thresholded at `cam_threshold` of its max gives every continuous run as a detection (scored
    by the run's mean CAM), in seconds (step t covers [t, t + 1) * duration / T). mAP at each tIoU
    threshold as `mean_average_precision` computes it. Also: top-1 classification accuracy (the top class
    is one of the video's), the fraction of ground-truth time the intervals of its class cover, and the
    same mAP for a baseline that predicts the whole video for every ground-truth class.

    Args:
        run_dir: a directory written by `train_temporal`.
        data: data spec to evaluate on (default: the run's).
        split: the split ("val"; synthetic data also "test").
        cam_threshold: fraction of the CAM's max (0.5 in the paper).
        tiou_thresholds: the tIoU thresholds (0.1 ... 0.5 in the paper).
        batch_size: videos per batch.
        num_videos: evaluate the first N videos (synthetic: how many to generate).
        num_plot: videos drawn in cams.png.
        out_dir: where to write (default `run_dir / "eval"`).

    Returns:
        The content of metrics.json (mAP, AP and coverage in percent).

    Raises:
        FileNotFoundError: the run or one of its files is missing.
        ValueError: not a temporal run, or data that does not match the model.
    """
    run_dir = Path(run_dir)
    config = read_json(run_dir / CONFIG_FILE, "run config")
    if config.get("task") != TASK:
        raise ValueError(
            f'{run_dir} is not a temporal run (config.json has no "task": "temporal").'
        )
    model_path = run_dir / MODEL_FILE
    if not model_path.is_file():
        raise FileNotFoundError(f"No trained model at {model_path}.")
    model = keras.models.load_model(model_path, safe_mode=True, compile=False)
    spec = data or config["data"]
    classes = config.get("classes")
    ds, info = load_sequences(
        spec,
        split,
        num_steps=int(config["num_steps"]),
        classes=list(classes) if isinstance(classes, list | tuple) else classes,
        num_videos=num_videos,
        seed=int(config.get("seed", 0)),
    )
    if info.num_classes != int(model.output_shape[-1]) or (
        config.get("class_names") and tuple(config["class_names"]) != info.class_names
    ):
        raise ValueError(
            f"The data does not match the model in {run_dir}: data classes "
            f"{list(info.class_names[:4])} ({info.num_classes}), run classes "
            f"{config.get('class_names', [])[:4]} ({int(model.output_shape[-1])})."
        )

    detections, ground_truth, pairs_all, durations = [], [], [], []
    correct, covered, gt_time = [], 0.0, 0.0
    shown: dict[str, list] = {
        "cam": [],
        "gt": [],
        "pred": [],
        "duration": [],
        "label": [],
        "id": [],
    }
    offset = 0
    for batch in batch_sequences(ds, batch_size):
        features, labels = batch["features"], batch["labels"].numpy()
        duration = batch["duration"].numpy().astype(np.float64)
        logits, cams = temporal_class_activation_maps(model, features)
        logits, cams = logits.numpy(), cams.numpy()
        size, length = features.shape[0], features.shape[1]
        correct.append(labels[np.arange(size), np.argmax(logits, axis=1)] > 0)
        # Ground-truth classes known: one CAM per (video, class of the video).
        video, label = np.nonzero(labels > 0)
        class_cams = cams[video, label]
        step = duration[video] / length  # seconds per step, per pair
        rows, starts, ends, scores = threshold_runs(class_cams, cam_threshold)
        found = np.column_stack(
            [
                video[rows] + offset,
                label[rows],
                starts * step[rows],
                (ends + 1) * step[rows],
                scores,
            ]
        )
        detections.append(found)
        gt = batch["intervals"].numpy().astype(np.float64)
        gt_labels = batch["interval_labels"].numpy()
        gv, gi = np.nonzero(gt_labels >= 0)
        gt_class = gt_labels[gv, gi]
        ground_truth.append(np.column_stack([gv + offset, gt_class, gt[gv, gi]]))
        # Coverage: ground-truth steps (by their centres) inside the thresholded map of their class.
        above = class_cams >= cam_threshold * class_cams.max(axis=1, keepdims=True)
        pair_of = np.full(labels.shape, -1)
        pair_of[video, label] = np.arange(len(video))
        gt_pair = pair_of[gv, gt_class]
        centres = (np.arange(length) + 0.5)[None] * step[gt_pair][:, None]
        inside = (centres >= gt[gv, gi, :1]) & (centres < gt[gv, gi, 1:])
        covered += float(np.sum(inside & above[gt_pair]))
        gt_time += float(np.sum(inside))
        pairs_all.append(np.stack([video + offset, label]))
        durations.append(duration)
        for p in range(min(len(video), num_plot - len(shown["cam"]))):  # a few videos to draw
            v = video[p]
            shown["cam"].append(class_cams[p])
            shown["gt"].append(gt[v][gt_labels[v] == label[p]])
            shown["pred"].append(found[rows == p, 2:4])
            shown["duration"].append(duration[v])
            shown["label"].append(int(label[p]))
            shown["id"].append(batch["id"].numpy()[v].decode())
        offset += size
    if offset == 0:
        raise ValueError(f"The {split!r} split of {spec!r} has no videos.")

    detections = np.concatenate(detections) if detections else np.zeros((0, 5))
    ground_truth = np.concatenate(ground_truth)
    result_map = mean_average_precision(detections, ground_truth, tiou_thresholds)
    baseline = mean_average_precision(
        _whole_video_detections(np.concatenate(pairs_all, axis=1), np.concatenate(durations)),
        ground_truth,
        tiou_thresholds,
    )

    def percent_by_threshold(values):
        return {f"{t:g}": 100.0 * v for t, v in zip(tiou_thresholds, values, strict=True)}

    result = {
        "metrics": {
            "map": percent_by_threshold(result_map["map"]),
            "ap_per_class": {
                info.class_names[c]: percent_by_threshold(ap) for c, ap in result_map["ap"].items()
            },
            "accuracy": 100.0 * float(np.mean(np.concatenate(correct))),
            "gt_coverage": 100.0 * covered / max(gt_time, 1e-12),
            "num_videos": offset,
            "num_ground_truth": len(ground_truth),
            "num_detections": len(detections),
            "detections_per_video": len(detections) / offset,
        },
        "baselines": {"whole_video": {"map": percent_by_threshold(baseline["map"])}},
        "data": {"spec": spec, "split": split, "num_classes": info.num_classes},
        "model": {
            "run_dir": str(run_dir),
            "pooling": config.get("pooling"),
            "segment_length": config.get("segment_length"),
            "hide_prob": config.get("hide_prob"),
            "hides": bool(config.get("segment_length")) and bool(config.get("hide_prob")),
        },
        "protocol": {
            "classes": "ground truth known (each video's own classes)",
            "cam": "sum_i W(c, i) F_i(t), raw; intervals: every maximal run of "
            f"cam >= {cam_threshold:g} * max(cam), scored by the run's mean CAM",
            "cam_threshold": cam_threshold,
            "tiou_thresholds": list(tiou_thresholds),
            "match": "per class, by descending score, to the unmatched ground truth of the video with "
            "the highest tIoU; true positive if tIoU > threshold",
            "ap": "all-point interpolated (ActivityNet's interpolated_prec_rec); mAP over classes with "
            "ground truth; percent",
            "gt_coverage": "percent of ground-truth steps inside the thresholded CAM of their class",
        },
    }
    # Replaced as a whole (see `_io.replaced_dir`), metrics.json last.
    with replaced_dir(Path(out_dir) if out_dir is not None else run_dir / EVAL_DIR) as out:
        write_text_atomic(out / "detections.csv", _detections_csv(detections, info.class_names))
        plotting.save_figure(
            out / "cams.png", plotting.temporal_cams_figure(shown, info.class_names, cam_threshold)
        )
        write_json_atomic(out / "metrics.json", result)
    return result


def _detections_csv(detections: np.ndarray, class_names: tuple[str, ...]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["video_index", "class", "start_s", "end_s", "score"])
    for video, label, start, end, score in detections:
        writer.writerow(
            [int(video), class_names[int(label)], f"{start:.3f}", f"{end:.3f}", f"{score:.6g}"]
        )
    return buf.getvalue()


# === Command lines (train.py --task temporal, evaluate.py on a temporal run) ===
#: train.py options of the image task, refused with --task temporal.
_IMAGE_ONLY_OPTIONS = (
    "data_dir", "max_per_class", "image_size", "model", "hide_patch_sizes", "augment", "schedule",
    "steps_per_epoch", "resume", "backup_every", "strategy", "cpu_devices", "mixed_precision",
    "jit_compile",
)  # fmt: skip


def config_from_args(args: argparse.Namespace) -> TemporalConfig:
    """The TemporalConfig of `train.py --task temporal ...` (shared options keep their meaning;
    `--num-images` is the number of training videos).

    Raises:
        ValueError: an image-only option was given, or a bad value.
    """
    given = [f"--{n.replace('_', '-')}" for n in _IMAGE_ONLY_OPTIONS if getattr(args, n, None)]
    if given:
        raise ValueError(f"{', '.join(given)} do not apply to --task temporal.")
    values: dict[str, Any] = {}
    if args.data is not None:
        values["data"] = ":".join(args.data)  # "video-features PATH" reads as "video-features:PATH"
    if args.classes is not None:
        text = args.classes.strip()
        values["classes"] = int(text) if text.isdigit() else tuple(c for c in text.split(",") if c)
    if args.num_images is not None:
        values["num_videos"] = args.num_images
    for name in (
        "train_split", "pooling", "hide_prob", "epochs", "batch_size", "lr", "weight_decay", "seed",
        "validation", "run_dir", "segment_length", "num_steps", "filters",
    ):  # fmt: skip
        if getattr(args, name, None) is not None:
            values[name] = getattr(args, name)
    return TemporalConfig(**values)


def main_train(args: argparse.Namespace) -> int:
    """`train.py --task temporal`: trains, prints the run directory; returns the exit status."""
    try:
        config = config_from_args(args)
        config = config if config.run_dir else config.replace(run_dir=config.default_run_dir())
        if not is_empty_dir(config.run_dir):
            raise FileExistsError(
                f"Run directory {config.run_dir} is not empty; choose a new --run-dir. "
                "Nothing was changed."
            )
        with locked_run(config.run_dir, "train"):
            train_temporal(config, verbose=args.verbose)
    except (FileExistsError, FileNotFoundError, ValueError, TypeError, DirectoryInUseError) as e:
        print(f"train.py: error: {e}", file=sys.stderr)
        return 1
    print(f"\nRun directory: {config.run_dir}\nModel: {Path(config.run_dir) / MODEL_FILE}")
    return 0


def main_evaluate(args: argparse.Namespace) -> int:
    """`evaluate.py --run-dir RUN` on a temporal run: mAP at tIoU 0.1-0.5; returns the exit status."""
    refused = [
        flag
        for flag, value in (
            ("--sweep", args.sweep),
            ("--ten-crop", args.ten_crop),
            ("--fixed-threshold", args.fixed_threshold),
            ("--choose-on", getattr(args, "choose_on", None)),
            ("--occlusion", getattr(args, "occlusion", None)),
        )
        if value
    ]
    if refused or (args.thresholds is not None and len(args.thresholds) != 1):
        print(
            f"evaluate.py: error: a temporal run takes one CAM threshold (--thresholds T, default "
            f"0.5) and not {', '.join(refused) or 'several thresholds'}.",
            file=sys.stderr,
        )
        return 2
    try:
        result = evaluate_temporal_run(
            args.run_dir,
            data=args.data,
            split=args.split,
            cam_threshold=args.thresholds[0] if args.thresholds else PAPER_CAM_THRESHOLD,
            batch_size=args.batch_size,
            num_videos=args.num_images,
            out_dir=args.out_dir,
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"evaluate.py: error: {err}", file=sys.stderr)
        return 2
    m, base = result["metrics"], result["baselines"]["whole_video"]["map"]
    print(
        f"\ntemporal run {args.run_dir} on {result['data']['spec']} / {result['data']['split']} "
        f"({m['num_videos']} videos)\n"
        f"  tIoU                 : {' / '.join(m['map'])}\n"
        f"  mAP (%)              : {' / '.join(f'{v:.2f}' for v in m['map'].values())}\n"
        f"  whole-video baseline : {' / '.join(f'{v:.2f}' for v in base.values())}\n"
        f"  top-1 accuracy       : {m['accuracy']:.2f}\n"
        f"  ground truth covered : {m['gt_coverage']:.1f}% ({m['detections_per_video']:.2f} "
        "intervals per video and class)\n"
        f"  written to {args.out_dir or os.path.join(args.run_dir, EVAL_DIR)}"
    )
    return 0

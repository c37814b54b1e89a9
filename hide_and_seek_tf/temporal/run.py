"""Train and evaluate the temporal task: `train_temporal(config)` and `evaluate_temporal_run(run_dir)`.

The run directory is an image run's (docs/architecture.md), written by the same machinery (run lock,
`RunRecorder`'s history, checkpoints and resumable state, atomic writes)::

    RUN/config.json         the resolved TemporalConfig ("task": "temporal") + classes, feature size
    RUN/dataset_mean.json   {"mean": [D], "std": [D], ...}: the dataset-mean feature, the hiding fill
    RUN/history.csv         one row per epoch
    RUN/checkpoints/        epoch-NNN.keras, the last few epochs
    RUN/backup/             resumable training state (removed when the run completes)
    RUN/logs/               TensorBoard
    RUN/model.keras         the classifier (raw features in, logits out; no hiding inside)
    RUN/eval/               metrics.json (mAP at tIoU 0.1-0.5, accuracy, baseline), detections.csv,
                            cams.png (1-D CAMs with predicted and ground-truth intervals)
    RUN/serving/<version>/  `hide_and_seek_tf.temporal.export`'s SavedModel

`train.py --task temporal` and `evaluate.py` (on a temporal run) are thin command lines over these
(`hide_and_seek_tf.cli.temporal`).
"""

from __future__ import annotations

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

from hide_and_seek_tf import plotting
from hide_and_seek_tf._io import (
    replaced_dir,
    save_model_atomic,
    write_json_atomic,
    write_text_atomic,
)
from hide_and_seek_tf.data.sequences import (
    SequenceInfo,
    batch_sequences,
    load_sequences,
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
from hide_and_seek_tf.training.callbacks import EpochSummaries, RunRecorder, resumed_seed
from hide_and_seek_tf.training.config import PAPER_FINAL_LR_FACTOR
from hide_and_seek_tf.training.loop import fit_resuming
from hide_and_seek_tf.training.records import _versions, write_run_start
from hide_and_seek_tf.training.run_dir import (
    CONFIG_FILE,
    EVAL_DIR,
    LOGS_DIR,
    MEAN_FILE,
    MODEL_FILE,
    _check_run_dir,
    epochs_done,
    locked_run,
    read_json,
    read_state,
    restore_state,
)

logger = logging.getLogger("hide_and_seek_tf.temporal")


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


def _features_and_targets(element: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
    return element["features"], _targets(element["labels"])


def _targets(labels: tf.Tensor) -> tf.Tensor:
    # Softmax over classes: a video of several classes (THUMOS14 CliffDiving + Diving) splits its mass.
    return labels / tf.maximum(tf.reduce_sum(labels, axis=-1, keepdims=True), 1.0)


def train_pipeline(
    ds: tf.data.Dataset,
    config: TemporalConfig,
    mean: np.ndarray,
    num_videos: int,
    cache: bool,
    seed: int | None = None,
) -> tf.data.Dataset:
    """Endless training batches (features, targets): shuffle -> batch -> `hide_segments` -> prefetch.

    One stateless hiding seed per batch, new every epoch and reproducible from `seed` (default
    `config.seed`; a resumed run passes `resumed_seed`).
    """
    seed = config.seed if seed is None else seed
    if cache:
        ds = ds.cache()
    ds = ds.shuffle(num_videos, seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(_features_and_targets).batch(config.batch_size, drop_remainder=True)
    if config.hides:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
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

    Writes config.json and dataset_mean.json before training; per epoch history.csv, a checkpoint
    and the resumable state (`RunRecorder`, as image runs); model.keras at the end. With
    `config.resume` the run continues from its last saved state (weights, optimizer, step counter;
    the data order after a resume is a new draw). Hidden segments are filled with the training set's
    mean feature; the model normalizes by the same statistics, so a hidden step enters it as zeros.

    Args:
        config: the settings; `None` fields are resolved and saved in config.json.
        verbose: Keras progress output (0, 1, 2); default 1 on a terminal, else 2.

    Returns:
        The trained `keras.Model`.

    Raises:
        TypeError: `config` is not a `TemporalConfig`.
        FileExistsError: a fresh run in a non-empty `run_dir` (nothing is written).
        FileNotFoundError: `resume` in a directory without config.json.
        DirectoryInUseError: another process holds the run directory's lock.
        ValueError: a resume whose settings differ from the saved config.json, or data that cannot
            be loaded or does not fit the settings.
    """
    if not isinstance(config, TemporalConfig):
        raise TypeError(f"`config` must be a TemporalConfig. Received: config={config!r}")
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    keras.utils.set_random_seed(config.seed)
    train_ds, info = _load(config, config.train_split, config.num_videos)
    config = config.resolve(num_steps=info.num_steps, num_videos=info.num_examples)
    run_dir = Path(config.run_dir)
    _check_run_dir(config)  # refused before the lock creates the directory
    with locked_run(run_dir, "train"):
        _check_run_dir(config)  # again, now that no other process can write it
        state = read_state(run_dir) if config.resume else None
        if config.resume and state is None and (run_dir / MODEL_FILE).is_file():
            logger.info("Run %s is already complete; loading its model.", run_dir)
            return keras.models.load_model(run_dir / MODEL_FILE, safe_mode=True)
        return _train_into(config, run_dir, train_ds, info, state, verbose)


def _feature_statistics(config: TemporalConfig, train_ds: tf.data.Dataset) -> dict[str, Any]:
    mean, std, count = compute_dataset_moments(train_ds.map(lambda e: e["features"]))
    return {
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "num_feature_steps": int(count),
        "data": config.data,
        "split": config.train_split,
        "num_steps": config.num_steps,
    }


def _train_into(
    config: TemporalConfig,
    run_dir: Path,
    train_ds: tf.data.Dataset,
    info: SequenceInfo,
    state: dict[str, Any] | None,
    verbose: int,
) -> keras.Model:
    steps = config.num_videos // config.batch_size
    start_epoch, start_step = epochs_done(state, steps)
    global_step = start_epoch * steps + start_step
    history = state["history"] if state else []
    # A resumed run keeps the statistics its model normalizes with.
    stats = read_json(run_dir / MEAN_FILE, "dataset mean") if state else None
    stats = stats or _feature_statistics(config, train_ds)
    mean, std = np.asarray(stats["mean"]), np.asarray(stats["std"])

    synthetic = config.data == "synthetic-sequences"  # generated: cached in memory
    batches = train_pipeline(
        train_ds,
        config,
        mean,
        config.num_videos,
        cache=synthetic,
        seed=resumed_seed(config.seed, global_step),
    )
    val_batches = None
    if config.validation:
        val_ds, _ = _load(config, config.val_split, None)
        val_batches = (
            val_ds.map(_features_and_targets)
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
        config.lr, decay_steps=config.epochs * steps, alpha=PAPER_FINAL_LR_FACTOR
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule, weight_decay=config.weight_decay or None),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=[label_accuracy],
    )
    model.optimizer.build(model.trainable_variables)
    if state:
        restore_state(model, run_dir)
        logger.info(
            "Resuming %s at epoch %d, step %d of %d (global step %d).",
            run_dir, start_epoch + 1, start_step, steps, global_step,
        )  # fmt: skip
    write_run_start(run_dir, _run_record(config, info, steps), stats, history if state else None)
    logger.info(
        "Training the temporal classifier on %s (%d classes, %d videos of %d steps, D=%d), %s, "
        "for %d epochs of %d steps; run directory: %s",
        config.data, info.num_classes, config.num_videos, config.num_steps, info.feature_dim,
        f"hiding segments of {config.segment_length} steps (p={config.hide_prob})"
        if config.hides else "no hiding",
        config.epochs, steps, run_dir,
    )  # fmt: skip
    recorder = RunRecorder(run_dir, steps, config.backup_every, global_step, history)
    fit_resuming(
        model,
        batches,
        start_epoch,
        start_step,
        config.epochs,
        steps,
        callbacks=[recorder, EpochSummaries(run_dir / LOGS_DIR)],
        validation_data=val_batches,
        verbose=verbose,
    )
    # The final model first, then the state it supersedes.
    save_model_atomic(model, run_dir / MODEL_FILE)
    recorder.remove_state()
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

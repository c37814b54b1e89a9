"""Precomputed video features with THUMOS14-style temporal annotations: the `video-features:PATH` source.

Layout of PATH::

    PATH/info.json                          {"feature_rate": 10.0}   features per second (C3D: 10)
    PATH/features/<video>.npy               one (T, D) float array per video, T >= 1, the same D for all
    PATH/annotations/<Class>_<split>.txt    one line per action instance: "<video> <start> <end>", in
                                            seconds (THUMOS14's `<Class>_val.txt` / `<Class>_test.txt`)

The classes of a split are the annotation files' class names, sorted (THUMOS14's 20 detection classes
are then in their usual order); a file named `Ambiguous_<split>.txt` is not a class and is skipped. The
videos are those named in the split's annotation files, sorted; a video's labels are the classes it has
instances of (a THUMOS14 video can have two, e.g. CliffDiving and Diving). Feature files of videos that
no annotation names are ignored. Each video's T features are sampled uniformly to `num_steps` = F_total
steps (`sequence_elements.uniform_sample`; the paper: 2000); its duration is T / feature_rate seconds, and
instances are clipped to it (instances entirely outside it are dropped, with a warning).

Elements follow `hide_and_seek_tf.data.sequences` (ground truth in seconds). Nothing is downloaded:
extract the features yourself (C3D fc7, I3D, ...) and copy THUMOS14's annotation files.

References:
    arXiv:1811.02545, sections 4.1.3 and 4.2.3; THUMOS14, http://crcv.ucf.edu/THUMOS14/.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from hide_and_seek_tf.data.elements import check_count, resolve_classes
from hide_and_seek_tf.data.sequence_elements import SequenceInfo, uniform_sample

logger = logging.getLogger("hide_and_seek_tf.data")

DEFAULT_NUM_STEPS = 2000  # F_total, the paper's
INFO_FILE = "info.json"
FEATURES_DIR = "features"
ANNOTATIONS_DIR = "annotations"
AMBIGUOUS = "Ambiguous"


def _read_feature_rate(root: Path) -> float:
    path = root / INFO_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"No {INFO_FILE} in {root}: write the features' rate there, e.g. "
            '{"feature_rate": 10.0} for 10 features per second (C3D in the paper).'
        )
    try:
        rate = json.loads(path.read_text())["feature_rate"]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f'{path} must be JSON with a "feature_rate" (features per second). ({err})'
        ) from None
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
        raise ValueError(f"`feature_rate` in {path} must be a number > 0. Received: {rate!r}")
    return float(rate)


def _read_annotations(
    root: Path, split: str
) -> tuple[list[str], dict[str, list[tuple[str, float, float]]]]:
    """(sorted class names, {class: [(video, start, end), ...]}) of one split."""
    folder = root / ANNOTATIONS_DIR
    if not folder.is_dir():
        raise FileNotFoundError(f"No {ANNOTATIONS_DIR}/ folder in {root}.")
    suffix = f"_{split}.txt"
    files = sorted(p for p in folder.iterdir() if p.name.endswith(suffix) and p.is_file())
    instances = {}
    for path in files:
        name = path.name[: -len(suffix)]
        if not name or name == AMBIGUOUS:
            continue
        rows = []
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split()
            try:
                if len(parts) != 3:
                    raise ValueError
                start, end = float(parts[1]), float(parts[2])
            except ValueError:
                raise ValueError(
                    f"Malformed annotation at {path}:{number}: expected '<video> <start s> <end s>'. "
                    f"Received: {line!r}"
                ) from None
            if not (math.isfinite(start) and math.isfinite(end)) or end < start:
                raise ValueError(
                    f"Bad interval at {path}:{number}: times must be finite with end >= start. "
                    f"Received: {line!r}"
                )
            rows.append((parts[0], start, end))
        instances[name] = rows
    if not instances:
        found = sorted({p.name.rsplit("_", 1)[-1] for p in folder.glob("*_*.txt")})
        raise ValueError(
            f"No annotation files `<Class>{suffix}` in {folder} for `split`={split!r}. "
            f"Splits found: {[s[:-4] for s in found]}. (THUMOS14's weakly-supervised protocol trains "
            "and evaluates on 'val'.)"
        )
    return sorted(instances), instances


def _feature_shape(path: Path) -> tuple[int, ...]:
    if not path.is_file():
        raise FileNotFoundError(f"No features for an annotated video: {path} is missing.")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"Not a readable .npy array: {path} ({err})") from None
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(
            f"Video features must be a (T, D) array with T, D >= 1. Received: {path} of shape "
            f"{array.shape}"
        )
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"Video features must be numeric. Received: {path} of dtype {array.dtype}")
    return tuple(array.shape)


def _load_npy(path: bytes) -> np.ndarray:
    return np.load(path.decode(), allow_pickle=False).astype(np.float32)


def load_video_features(
    path: str | os.PathLike,
    split: str,
    *,
    num_steps: int = DEFAULT_NUM_STEPS,
    classes: int | Sequence[str] | None = None,
    num_videos: int | None = None,
) -> tuple[tf.data.Dataset, SequenceInfo]:
    """One split of a video-feature folder as unbatched sequence elements (see the module docstring).

    Args:
        path: the folder (info.json, features/, annotations/).
        split: the annotation files' suffix: "val" reads `annotations/<Class>_val.txt`.
        num_steps: F_total, the steps every video is sampled to.
        classes: None (all), K (the first K classes in sorted order) or a list of class names; videos
            with none of them are left out and labels are re-indexed 0 .. K-1.
        num_videos: keep the first N videos (sorted by name).

    Returns:
        (dataset, info); the dataset reads each .npy file when iterated.

    Raises:
        FileNotFoundError: PATH, info.json, annotations/ or an annotated video's .npy file is missing.
        ValueError: a malformed info.json, annotation line or array, feature sizes that differ between
            videos, no annotation file for `split`, or a bad option. Messages name the file.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"Video-feature folder not found: {root}")
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"`num_steps` must be a positive int. Received: num_steps={num_steps!r}")
    num_videos = check_count(num_videos, "num_videos")
    rate = _read_feature_rate(root)
    all_names, instances = _read_annotations(root, split)
    kept = resolve_classes(all_names, classes, where=str(root / ANNOTATIONS_DIR))
    names = [all_names[i] for i in kept]

    per_video: dict[str, list[tuple[int, float, float]]] = {}
    for label, name in enumerate(names):
        for video, start, end in instances[name]:
            per_video.setdefault(video, []).append((label, start, end))
    videos = sorted(per_video)[:num_videos]

    feature_dim, rows, dropped = None, [], 0
    for video in videos:  # file headers only: the arrays are read when the dataset is iterated
        file = root / FEATURES_DIR / f"{video}.npy"
        length, dim = _feature_shape(file)
        if feature_dim is None:
            feature_dim = dim
        elif dim != feature_dim:
            raise ValueError(
                f"Every video must have the same feature size: {file} has D={dim}, earlier videos "
                f"D={feature_dim}."
            )
        duration = length / rate
        clipped = [
            (label, max(0.0, start), min(duration, end))
            for label, start, end in per_video[video]
            if start < duration and end > 0.0
        ]
        dropped += len(per_video[video]) - len(clipped)
        if clipped:
            rows.append((str(file), duration, clipped))
    if dropped:
        logger.warning(
            "%d annotated instances of split %r lie outside their video's features and were dropped.",
            dropped,
            split,
        )
    if not rows:
        raise ValueError(
            f"No video of split {split!r} in {root} has an instance of classes={classes!r}."
        )

    num_classes = len(names)
    most = max(len(r[2]) for r in rows)
    intervals = np.full((len(rows), most, 2), -1.0, np.float32)
    interval_labels = np.full((len(rows), most), -1, np.int32)
    labels = np.zeros((len(rows), num_classes), np.float32)
    for i, (_, _, clipped) in enumerate(rows):
        for j, (label, start, end) in enumerate(clipped):
            intervals[i, j] = (start, end)
            interval_labels[i, j] = label
            labels[i, label] = 1.0
    counts = np.array([len(r[2]) for r in rows], np.int32)
    table = {
        "path": [r[0] for r in rows],
        "id": [Path(r[0]).stem for r in rows],
        "duration": np.array([r[1] for r in rows], np.float32),
        "labels": labels,
        "intervals": intervals,
        "interval_labels": interval_labels,
        "count": counts,
    }

    def read(row):
        features = tf.numpy_function(_load_npy, [row["path"]], tf.float32, stateful=False)
        features.set_shape([None, feature_dim])
        n = row["count"]
        return {
            "features": uniform_sample(features, num_steps),
            "labels": row["labels"],
            "intervals": row["intervals"][:n],
            "interval_labels": row["interval_labels"][:n],
            "duration": row["duration"],
            "id": row["id"],
        }

    ds = tf.data.Dataset.from_tensor_slices(table).map(
        read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    info = SequenceInfo(
        name="video-features",
        num_classes=num_classes,
        class_names=tuple(names),
        num_steps=num_steps,
        feature_dim=int(feature_dim),
        num_examples=len(rows),
        feature_rate=rate,
    )
    return ds, info

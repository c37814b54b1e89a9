"""Feature-sequence (video) data for temporal action localization: the element contract and the sources.

Element (unbatched), yielded by every sequence source::

    {"features": float32 (T, D), "labels": float32 (K,), "intervals": float32 (n, 2),
     "interval_labels": int32 (n,), "duration": float32 (), "id": string ()}

`features` are the video's T steps (per-frame or per-clip features sampled uniformly to T = F_total);
`labels` the video-level classes as a multi-hot vector (weak supervision: all training sees); `intervals`
the ground-truth action instances as continuous `[start, end]` times in seconds, with their classes in
`interval_labels`, n >= 1; `duration` the seconds the T steps span, so step t covers
`[t, t + 1) * duration / T`. Batched for evaluation (`batch_sequences`), `intervals` are padded with rows
of -1 and `interval_labels` with -1.

Specs (`load_sequences`): "synthetic-sequences" (built in, `synthetic_sequences.py`) and
"video-features:PATH" (one .npy per video with THUMOS14-style annotations, `video_features.py`).

References:
    arXiv:1811.02545, sections 3.2 and 4.2.3.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from hide_and_seek_tf.data.elements import check_dict_dataset
from hide_and_seek_tf.data.sequence_elements import SEQUENCE_KEYS, SequenceInfo, uniform_sample
from hide_and_seek_tf.data.sources import DataSpec, spec_forms
from hide_and_seek_tf.data.synthetic_sequences import load_synthetic_sequences
from hide_and_seek_tf.data.video_features import DEFAULT_NUM_STEPS, load_video_features


def _sequence_spec(spec: Any) -> DataSpec:
    """`spec` parsed; TypeError / ValueError naming it unless it is of a feature-sequence kind."""
    parsed = DataSpec.parse(spec, name="data", forms=False)
    if parsed.source.images:
        raise ValueError(f"`data` must be one of {spec_forms(False)}. Received: data={spec!r}")
    return parsed


def parse_sequence_spec(spec: Any) -> tuple[str, str | None]:
    """Splits a sequence data spec into ("synthetic-sequences", None) or ("video-features", PATH).

    Raises:
        TypeError / ValueError: `spec` is neither, naming it.
    """
    parsed = _sequence_spec(spec)
    return parsed.kind, parsed.arg


def load_sequences(
    spec: str | DataSpec,
    split: str,
    *,
    num_steps: int | None = None,
    classes: int | Sequence[str] | None = None,
    num_videos: int | None = None,
    seed: int = 0,
) -> tuple[tf.data.Dataset, SequenceInfo]:
    """Loads one split of a feature-sequence dataset as unbatched element dicts (see module docstring).

    Args:
        spec: "synthetic-sequences" or "video-features:PATH".
        split: synthetic: "train", "val" or "test"; video features: the annotation files' suffix
            (`<Class>_<split>.txt`; THUMOS14's weakly-supervised protocol trains and evaluates on "val").
        num_steps: T = F_total, the steps each video is sampled to (default: 200 synthetic, 2000 video
            features, the paper's).
        classes: None (all), K (the first K classes) or a list of class names.
        num_videos: synthetic: how many videos to generate (default 1000 train / 500 otherwise); video
            features: keep the first N videos (sorted by name).
        seed: synthetic data's seed; video features are deterministic and ignore it.

    Returns:
        (dataset, info).

    Raises:
        ValueError / TypeError: a bad spec or option; FileNotFoundError: missing video-feature files.
    """
    parsed = _sequence_spec(spec)
    if parsed.kind == "synthetic-sequences":
        return load_synthetic_sequences(
            split, num_videos=num_videos, num_steps=num_steps, classes=classes, seed=seed
        )
    return load_video_features(
        parsed.arg,
        split,
        num_steps=DEFAULT_NUM_STEPS if num_steps is None else num_steps,
        classes=classes,
        num_videos=num_videos,
    )


def load_sequence_spec(
    spec: Any, split: str, **options: Any
) -> tuple[tf.data.Dataset, SequenceInfo]:
    """`load_sequences` for a `DataSpec` of a sequence kind (the source of `load_dataset`):
    `num_images` is the number of videos; `image_size` and `max_per_class` are refused."""
    if options.get("image_size") is not None or options.get("max_per_class") is not None:
        raise ValueError(
            f"`image_size` and `max_per_class` do not apply to sequence data. Received: "
            f"spec={str(spec)!r}, image_size={options.get('image_size')!r}, "
            f"max_per_class={options.get('max_per_class')!r}"
        )
    return load_sequences(
        spec,
        split,
        classes=options.get("classes"),
        num_videos=options.get("num_images"),
        seed=options.get("seed", 0),
    )


def batch_sequences(ds: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
    """Batches sequence elements, padding `intervals` with rows of -1 and `interval_labels` with -1."""
    return ds.padded_batch(
        batch_size,
        padding_values={
            "features": 0.0,
            "labels": 0.0,
            "intervals": -1.0,
            "interval_labels": -1,
            "duration": 0.0,
            "id": "",
        },
    )


def check_sequence_spec(ds: Any, name: str = "ds") -> None:
    """Raises TypeError unless `ds` yields unbatched sequence element dicts (see module docstring)."""
    spec = check_dict_dataset(ds, name, SEQUENCE_KEYS, "load_sequences")
    if spec["features"].shape.rank != 2:
        raise TypeError(
            f"`{name}` must be unbatched: 'features' of rank 2 (T, D). "
            f"Received: features spec={spec['features']!r}"
        )


__all__ = [
    "SEQUENCE_KEYS",
    "SequenceInfo",
    "batch_sequences",
    "check_sequence_spec",
    "load_sequence_spec",
    "load_sequences",
    "parse_sequence_spec",
    "uniform_sample",
]

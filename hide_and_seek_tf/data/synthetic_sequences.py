"""Built-in synthetic feature sequences for temporal action localization, generated on the fly.

Design
------
Each video is T steps (default 200; one step is one second) of D = 32 features holding one action of its
class, the ground-truth interval, on a noisy background:

* the **action**: 10-20% of the video (20-40 steps at T = 200) at a random position. Its steps carry a **body** pattern (a fixed
  direction in feature space per class, amplitude 1.2). The body matches the video's class in 90% of the
  videos and is another class's on the other 10%: informative, but not reliable.
* a short **moment** inside the action: 2-4% of the video (4-8 steps at T = 200) at a random position
  within it, where the class's moment pattern (amplitude 1.5) replaces the body. It is in every video of
  its class and in no other: the very discriminative part (the javelin leaving the hand).
* up to two **distractors** outside the action (each present with probability 0.5): bursts of 3-8% of
  the video carrying the body pattern of a random class (the video's own included) at 0.6 of the body's
  amplitude, so the body also shows where there is no action.

All class patterns are orthonormal directions (fixed, the same for every seed and split); body and moment
amplitudes vary by +-15% per video; each video adds a small constant offset (scene) and Gaussian noise
(std 0.2 per feature) that is correlated over 8 steps, as the features of overlapping clips are.

Why: this is the situation of the paper's section 3.2. A classifier with global max pooling gets its
answer fastest from the moment, so its 1-D class activation map peaks there, and the map thresholded at
50% of its max gives an interval around the moment: a small part of the action. With segments of the
video hidden during training (segments of T / 20 steps, p = 0.5), the moment is hidden in about half of
the training videos and the network must also recognize the body; its map, and the interval, should then
spread over more of the action. The distractors are where a network that relies on the body can be
wrong, as in the paper's diving failure case. The constants were tuned on seed 0, watching both
methods (noise level and smoothness, the body's reliability, the moment replacing the body, the action's
share of the video) until Video-full's map covered mostly the moment and the effect showed;
benchmarks/temporal_has_vs_full.py and docs/results.md give what the two methods then measure.

Every video is generated from a stateless seed derived from (`seed`, `split`, index), so the same
arguments give identical values, a video does not depend on `num_videos`, and splits never share videos.
Labels cycle with the index (label = index % K), so every prefix is class-balanced.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import tensorflow as tf

from hide_and_seek_tf.data.elements import resolve_classes
from hide_and_seek_tf.data.sequence_elements import SequenceInfo

SYNTHETIC_SEQUENCE_CLASS_NAMES: tuple[str, ...] = (
    "high_jump",
    "javelin_throw",
    "golf_swing",
    "diving",
    "shotput",
    "pole_vault",
)
FEATURE_DIM = 32
DEFAULT_NUM_STEPS = 200
DEFAULT_NUM_TRAIN = 1000
DEFAULT_NUM_EVAL = 500
MIN_NUM_STEPS = 40

_SPLITS = {"train": 1, "val": 2, "test": 3}
# Pinned: the default algorithm differs under XLA, and a seed must give the same videos everywhere.
_RNG = "philox"
_PATTERN_SEED = (20171022, 7)  # the class patterns are fixed, whatever the dataset's seed
_NOISE_STD = 0.2
_NOISE_SMOOTHING = 8  # steps
_SCENE_STD = 0.2
_BODY_AMPLITUDE = 1.2
_MOMENT_AMPLITUDE = 1.5
_AMPLITUDE_JITTER = (0.85, 1.15)  # per video, on body and moment alike
_BODY_MATCH_PROB = 0.9
_NUM_DISTRACTORS = 2
_DISTRACTOR_PROB = 0.5  # each distractor is present with this probability
_DISTRACTOR_AMPLITUDE = 0.6  # relative to the body's
# Lengths as (low, high) fractions of the video, drawn uniformly per video.
_ACTION_LENGTH = (0.10, 0.20)
_MOMENT_LENGTH = (0.02, 0.04)
_DISTRACTOR_LENGTH = (0.03, 0.08)


def _check_args(split, num_videos, num_steps, seed) -> int:
    if not isinstance(split, str) or split not in _SPLITS:
        raise ValueError(f"`split` must be one of {sorted(_SPLITS)}. Received: split={split!r}")
    for name, value, low in (
        ("num_videos", num_videos, 0),
        ("num_steps", num_steps, MIN_NUM_STEPS),
    ):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"`{name}` must be an int. Received: {name}={value!r}")
        if value < low:
            raise ValueError(f"`{name}` must be >= {low}. Received: {name}={value}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"`seed` must be an int. Received: seed={seed!r}")
    if not 0 <= seed < 2**31:
        raise ValueError(f"`seed` must be in [0, 2**31). Received: seed={seed}")
    return _SPLITS[split]


def class_patterns() -> tuple[tf.Tensor, tf.Tensor]:
    """(body (K, D), moment (K, D)): 2K orthonormal feature directions, fixed for every seed."""
    num_classes = len(SYNTHETIC_SEQUENCE_CLASS_NAMES)
    gaussian = tf.random.stateless_normal(
        [FEATURE_DIM, 2 * num_classes], seed=_PATTERN_SEED, dtype=tf.float64, alg=_RNG
    )
    q, _ = tf.linalg.qr(gaussian)  # orthonormal columns
    patterns = tf.cast(tf.transpose(q), tf.float32)
    return patterns[:num_classes], patterns[num_classes:]


def _length(key, fraction, num_steps, shape=()):
    low = max(1, round(fraction[0] * num_steps))
    high = max(low, round(fraction[1] * num_steps))
    return tf.random.stateless_uniform(shape, key, low, high + 1, dtype=tf.int32, alg=_RNG)


def _randint(key, low, high):
    """Uniform int in [low, high] (tensors)."""
    return (
        tf.random.stateless_uniform([], key, 0, 2**30, dtype=tf.int32, alg=_RNG) % (high - low + 1)
        + low
    )


def _generate(index, base_seed, num_steps, split_name, body, moment):
    """Video `index`: all randomness from stateless ops on one per-video key."""
    num_classes = len(SYNTHETIC_SEQUENCE_CLASS_NAMES)
    key = tf.random.experimental.stateless_fold_in(base_seed, index, alg=_RNG)
    keys = tf.unstack(tf.random.experimental.stateless_split(key, num=12, alg=_RNG))
    label = tf.cast(index % num_classes, tf.int32)
    steps = tf.range(num_steps)

    action_length = _length(keys[0], _ACTION_LENGTH, num_steps)
    start = _randint(keys[1], 0, num_steps - action_length)
    moment_length = tf.minimum(_length(keys[2], _MOMENT_LENGTH, num_steps), action_length)
    moment_start = start + _randint(keys[3], 0, action_length - moment_length)
    in_action = (steps >= start) & (steps < start + action_length)
    in_moment = (steps >= moment_start) & (steps < moment_start + moment_length)

    mismatch = tf.random.stateless_uniform([], keys[4], alg=_RNG) >= _BODY_MATCH_PROB
    other = (label + _randint(keys[5], 1, num_classes - 1)) % num_classes
    body_class = tf.where(mismatch, other, label)
    gain = tf.random.stateless_uniform([2], keys[6], *_AMPLITUDE_JITTER, alg=_RNG)

    # Distractors live in the steps outside the action: an offset into them, shifted past the action.
    lengths = _length(keys[7], _DISTRACTOR_LENGTH, num_steps, [_NUM_DISTRACTORS])
    free = tf.random.stateless_uniform([_NUM_DISTRACTORS], keys[9], alg=_RNG)
    offsets = tf.cast(
        tf.floor(free * tf.cast(num_steps - action_length - lengths + 1, tf.float32)), tf.int32
    )
    offsets = tf.where(offsets >= start, offsets + action_length, offsets)
    distractor_classes = tf.random.stateless_uniform(
        [_NUM_DISTRACTORS], keys[10], 0, num_classes, dtype=tf.int32, alg=_RNG
    )
    present = tf.random.stateless_uniform([_NUM_DISTRACTORS], keys[8], alg=_RNG) < _DISTRACTOR_PROB
    in_distractor = (
        (steps[:, None] >= offsets[None])
        & (steps[:, None] < (offsets + lengths)[None])
        & present[None]
    )

    noise_key, scene_key = tf.unstack(tf.random.experimental.stateless_split(keys[11], 2, alg=_RNG))
    # Noise correlated over a few steps, as features of overlapping clips are (C3D: 16 frames per
    # feature at 10 features/s): a moving average of white noise, rescaled to std _NOISE_STD.
    white = tf.random.stateless_normal(
        [num_steps + _NOISE_SMOOTHING - 1, FEATURE_DIM], noise_key, alg=_RNG
    )
    cumulative = tf.concat([tf.zeros([1, FEATURE_DIM]), tf.cumsum(white, axis=0)], axis=0)
    smooth = (
        cumulative[_NOISE_SMOOTHING:] - cumulative[:-_NOISE_SMOOTHING]
    ) / _NOISE_SMOOTHING**0.5
    features = _NOISE_STD * smooth
    features += _SCENE_STD * tf.random.stateless_normal([1, FEATURE_DIM], scene_key, alg=_RNG)
    body_amplitude = _BODY_AMPLITUDE * gain[0]
    features += (
        body_amplitude
        * tf.cast(in_action & ~in_moment, tf.float32)[:, None]
        * tf.gather(body, body_class)[None]
    )
    features += (
        _MOMENT_AMPLITUDE
        * gain[1]
        * tf.cast(in_moment, tf.float32)[:, None]
        * tf.gather(moment, label)[None]
    )
    features += (
        _DISTRACTOR_AMPLITUDE
        * body_amplitude
        * tf.matmul(tf.cast(in_distractor, tf.float32), tf.gather(body, distractor_classes))
    )
    interval = tf.cast(tf.stack([start, start + action_length]), tf.float32)[None]  # seconds
    return {
        "features": features,
        "labels": tf.one_hot(label, num_classes, dtype=tf.float32),
        "intervals": interval,
        "interval_labels": label[None],
        "duration": tf.constant(float(num_steps), tf.float32),
        "id": tf.strings.join([split_name, tf.strings.as_string(index, width=6, fill="0")], "_"),
    }


def make_synthetic_sequences(
    split: str = "train",
    num_videos: int = DEFAULT_NUM_TRAIN,
    num_steps: int = DEFAULT_NUM_STEPS,
    seed: int = 0,
) -> tf.data.Dataset:
    """The synthetic videos of one split as unbatched sequence elements (see `data.sequences`).

    Args:
        split: "train", "val" or "test" (disjoint videos).
        num_videos: how many videos.
        num_steps: T, steps per video (>= 40); one step is one second, so `duration` is T.
        seed: the dataset's seed, in [0, 2**31).

    Returns:
        A `tf.data.Dataset` of {"features": float32 (T, 32), "labels": float32 (6,) one-hot,
        "intervals": float32 (1, 2), "interval_labels": int32 (1,), "duration": float32 (),
        "id": string ()}.

    Raises:
        TypeError / ValueError: a bad argument, naming it.
    """
    split_id = _check_args(split, num_videos, num_steps, seed)
    base_seed = tf.constant([seed, split_id], tf.int64)
    body, moment = class_patterns()
    num_steps = int(num_steps)
    ds = tf.data.Dataset.range(int(num_videos))
    return ds.map(
        lambda i: _generate(i, base_seed, num_steps, split, body, moment),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )


def select_sequence_classes(
    ds: tf.data.Dataset, class_names: Sequence[str], classes
) -> tuple[tf.data.Dataset, tuple[int, ...]]:
    """Keeps the videos with a class in `classes`, re-indexing labels and intervals to 0 .. K-1.

    Ground-truth intervals of dropped classes are dropped. `classes`: see `elements.resolve_classes`.
    """
    kept = resolve_classes(class_names, classes)
    if kept == tuple(range(len(class_names))):
        return ds, kept
    new_label = [-1] * len(class_names)
    for new, old in enumerate(kept):
        new_label[old] = new
    table = tf.constant(new_label, tf.int32)
    kept_t = tf.constant(kept, tf.int32)

    def relabel(element):
        mapped = tf.gather(table, element["interval_labels"])
        keep = mapped >= 0
        return {
            **element,
            "labels": tf.gather(element["labels"], kept_t),
            "intervals": tf.boolean_mask(element["intervals"], keep),
            "interval_labels": tf.boolean_mask(mapped, keep),
        }

    return ds.map(relabel).filter(lambda e: tf.reduce_any(e["labels"] > 0)), kept


def load_synthetic_sequences(
    split: str,
    *,
    num_videos: int | None = None,
    num_steps: int | None = None,
    classes=None,
    seed: int = 0,
) -> tuple[tf.data.Dataset, SequenceInfo]:
    """`make_synthetic_sequences` with the defaults and class selection of `load_sequences`."""
    if num_videos is None:
        num_videos = DEFAULT_NUM_TRAIN if split == "train" else DEFAULT_NUM_EVAL
    num_steps = DEFAULT_NUM_STEPS if num_steps is None else num_steps
    ds = make_synthetic_sequences(split, num_videos, num_steps, seed)
    ds, kept = select_sequence_classes(ds, SYNTHETIC_SEQUENCE_CLASS_NAMES, classes)
    num_classes = len(SYNTHETIC_SEQUENCE_CLASS_NAMES)
    count = sum(len(range(c, num_videos, num_classes)) for c in kept)
    info = SequenceInfo(
        name="synthetic-sequences",
        num_classes=len(kept),
        class_names=tuple(SYNTHETIC_SEQUENCE_CLASS_NAMES[i] for i in kept),
        num_steps=int(num_steps),
        feature_dim=FEATURE_DIM,
        num_examples=count,
    )
    return ds, info

"""The pieces of the feature-sequence element that every sequence source shares.

The element contract itself is described in `hide_and_seek_tf.data.sequences`, which re-exports
these names; the sources (`synthetic_sequences`, `video_features`) import them from here, below
`sequences`, which imports the sources.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

SEQUENCE_KEYS = ("features", "labels", "intervals", "interval_labels", "duration", "id")


@dataclasses.dataclass(frozen=True)
class SequenceInfo:
    """What a loaded sequence dataset is.

    Attributes:
        name: "synthetic-sequences" or "video-features".
        num_classes: K; `labels` has K entries.
        class_names: one name per class (THUMOS14: the annotation files' class names).
        num_steps: T, the steps of every element's `features` (F_total).
        feature_dim: D.
        num_examples: number of videos.
        feature_rate: the source's features per second (None for synthetic data, whose steps are
            one second each).
    """

    name: str
    num_classes: int
    class_names: tuple[str, ...]
    num_steps: int
    feature_dim: int
    num_examples: int
    feature_rate: float | None = None


def uniform_sample(features: tf.Tensor, num_steps: int) -> tf.Tensor:
    """Samples `num_steps` steps of a (T, D) sequence uniformly (nearest step to each of the centres).

    Step j of the output is input step floor((j + 0.5) * T / num_steps): evenly spread when
    T >= num_steps, repeated steps when T < num_steps. The output spans the same time as the input.
    """
    length = tf.shape(features)[0]
    centres = (
        (tf.range(num_steps, dtype=tf.float64) + 0.5) * tf.cast(length, tf.float64) / num_steps
    )
    index = tf.minimum(tf.cast(tf.floor(centres), tf.int32), length - 1)
    return tf.gather(features, index)


__all__ = ["SEQUENCE_KEYS", "SequenceInfo", "uniform_sample"]

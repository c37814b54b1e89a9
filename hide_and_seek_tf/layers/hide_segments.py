"""`HideSegments`: Hide-and-Seek for feature sequences (videos) as a Keras 3 layer (training only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from hide_and_seek_tf.hiding import (
    hide_segments,
    validate_fill_value,
    validate_hide_prob,
    validate_segment_length,
)
from hide_and_seek_tf.layers._common import AugmentationLayer, TFSeedState


@keras.saving.register_keras_serializable(package="hide_and_seek_tf")
class HideSegments(AugmentationLayer):
    """Hides random temporal segments of each training sequence with `fill_value` (paper, section 3.2).

    Identity unless called with `training=True` (as `fit` does): `predict`, `evaluate` and saved models see
    the full video. Works on one sequence (T, D) or a batch (B, T, D), inside a model or in `tf.data`
    (`ds.batch(b).map(lambda x, y: (layer(x, training=True), y))`, under every Keras backend; the
    hiding itself is TensorFlow's `hide_segments`).

    Keras 3's augmentation dict works too, with the sequences under its "images" key (the key Keras's
    augmentation layers and `keras.layers.Pipeline` pass along; there is no "sequences" key):
    `{"images": sequences, "labels": ..., "segmentation_masks": ...}` comes back as a new dict with
    the sequences hidden, exactly as the tensor alone with the same seed, and every other entry (e.g.
    per-step labels) the very object that came in.

    Args:
        segment_length: F_segment, steps per segment (0 = no hiding).
        hide_prob: probability of hiding each segment.
        fill_value: scalar or one value per feature, in the inputs' units (the dataset-mean feature, per
            the paper).
        seed: int seed for the layer's `keras.random.SeedGenerator` (each call draws the next stateless seed).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    References:
        arXiv:1811.02545, sections 3.2 and 4.2.3.
    """

    def __init__(
        self,
        segment_length: int = 100,
        hide_prob: float = 0.5,
        fill_value: float | Sequence[float] = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.segment_length = validate_segment_length(segment_length)
        self.hide_prob = validate_hide_prob(hide_prob)
        fill = validate_fill_value(fill_value)
        self.fill_value = (
            fill[0] if len(fill) == 1 and not isinstance(fill_value, Sequence) else list(fill)
        )
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._tf_seed = TFSeedState()

    def _call_tf_graph(self, inputs: tf.Tensor, training: bool | None) -> tf.Tensor:
        if not training:
            return inputs
        initial = keras.ops.convert_to_numpy(self.seed_generator.state.value)
        return self._hide(inputs, self._tf_seed.next(initial))

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if not training:
            return inputs
        return self._hide(inputs, tf.cast(self.seed_generator.next(), tf.int64))

    def _hide(self, inputs: Any, seed: Any) -> tf.Tensor:
        return hide_segments(
            inputs, self.segment_length, self.hide_prob, self.fill_value, seed=seed
        )

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "segment_length": self.segment_length,
                "hide_prob": self.hide_prob,
                "fill_value": self.fill_value,
                "seed": self.seed,
            }
        )
        return config

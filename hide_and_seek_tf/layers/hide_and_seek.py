"""`HideAndSeek`: the Hide-and-Seek augmentation as a Keras 3 layer (training only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from hide_and_seek_tf.hiding import (
    hide_patches,
    validate_fill_value,
    validate_hide_prob,
    validate_patch_sizes,
)


@keras.saving.register_keras_serializable(package="hide_and_seek_tf")
class HideAndSeek(keras.layers.Layer):
    """Hides random grid cells of each training image with `fill_value` (Singh & Lee, ICCV 2017).

    Identity unless called with `training=True` (as `fit` does): `predict`, `evaluate` and exported models see
    the full image, as the paper prescribes. Works on one image (H, W, C) or a batch (B, H, W, C), inside a
    model or in `tf.data` (`ds.batch(b).map(lambda x, y: (layer(x, training=True), y))`).

    Args:
        patch_sizes: cell side N in pixels, or a sequence from which each image draws its own (0 = no hiding).
        hide_prob: probability of hiding each cell.
        fill_value: scalar or one value per channel, in the inputs' units (the dataset mean, per the paper).
        seed: int seed for the layer's `keras.random.SeedGenerator` (each call draws the next stateless seed).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    References:
        arXiv:1811.02545, section 3.1.
    """

    def __init__(
        self,
        patch_sizes: int | Sequence[int] = 16,
        hide_prob: float = 0.5,
        fill_value: float | Sequence[float] = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        sizes = validate_patch_sizes(patch_sizes)
        self.patch_sizes = sizes[0] if isinstance(patch_sizes, int) else list(sizes)
        self.hide_prob = validate_hide_prob(hide_prob)
        fill = validate_fill_value(fill_value)
        self.fill_value = (
            fill[0] if len(fill) == 1 and not isinstance(fill_value, Sequence) else list(fill)
        )
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if not training:
            return inputs
        seed = tf.cast(self.seed_generator.next(), tf.int64)
        return hide_patches(inputs, self.patch_sizes, self.hide_prob, self.fill_value, seed=seed)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "patch_sizes": self.patch_sizes,
                "hide_prob": self.hide_prob,
                "fill_value": self.fill_value,
                "seed": self.seed,
            }
        )
        return config

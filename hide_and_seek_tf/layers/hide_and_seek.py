"""`HideAndSeek`: the Hide-and-Seek augmentation as a Keras 3 layer for every backend (training only)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from hide_and_seek_tf.hiding import (
    fill_values,
    grid_geometry,
    grid_mask,
    hide_with_fill,
    validate_fill_value,
    validate_hide_prob,
    validate_patch_sizes,
)
from hide_and_seek_tf.layers._common import AugmentationLayer, TFSeedState

#: `fill_value` that fills with the layer's running per-channel mean of its training inputs.
RUNNING_MEAN = "running_mean"


@keras.saving.register_keras_serializable(package="hide_and_seek_tf")
class HideAndSeek(AugmentationLayer):
    """Hides random grid cells of each training image (or feature map) with a fill value.

    Exactly `hide_patches`'s semantics on every Keras backend (TensorFlow, JAX, PyTorch): each image
    draws its cell side N from `patch_sizes` (0 = nothing hidden), N x N cells from the top-left,
    clipped at the edges, each hidden with `hide_prob`; hidden pixels are exactly the fill, visible
    ones bit-identical; the dtype is kept. The identity unless called with `training=True` (as `fit`
    does): `predict`, `evaluate`, CAMs and exported models see the full image, as the paper says.

    Where it runs: inside a model on any backend (returning that backend's tensors, inside jitted
    or compiled `fit`), and in `tf.data` on any backend:
    `ds.batch(b).map(lambda x, y: (layer(x, training=True), y))` (`tf.data` always runs TensorFlow,
    so there the layer computes with TensorFlow ops, like Keras's own preprocessing layers).

    Inputs: images (H, W, C) or (B, H, W, C), or Keras 3's augmentation dict
    `{"images", "labels", "bounding_boxes": {"boxes", "labels"}, "segmentation_masks"}` (only
    "images" required), as Keras's image preprocessing layers take it: the output is a new dict
    with the images hidden (exactly as the tensor alone, the same draw of the seed sequence) and
    every other entry the very object that came in, since hiding moves no box, label or mask. So
    the layer composes in `keras.layers.Pipeline` after box-aware layers, e.g.
    `keras.layers.Pipeline([keras.layers.RandomFlip("horizontal", bounding_box_format="xyxy"),
    HideAndSeek(16, fill_value=mean)])`.

    What "the same seed" gives. The mask is one definition (`hiding.grid_mask`); only the random
    draws differ by backend. A layer built with `seed=s` draws a new stateless seed on every
    training call from its `keras.random.SeedGenerator`:
    - under the TensorFlow backend, and in `tf.data` on every backend, call k (from 0) gives exactly
      `hide_patches(x, patch_sizes, hide_prob, fill, seed=[s, k])` (TensorFlow's Philox);
    - under JAX and PyTorch (inside a model, or eagerly), the draws are those backends' own
      generators: the same seed and the same sequence of calls give the same masks again on that
      backend, with the same distribution, but not the TensorFlow masks.

    The fill. A number or one per channel, in the inputs' units: the paper's choice for images is
    the training set's per-channel mean (`compute_dataset_mean`; the training pipeline passes it).
    `fill_value="running_mean"` keeps instead a per-channel moving average of the inputs seen in
    training (a non-trainable weight `moving_mean`, saved with the model like BatchNormalization's):
    a plain cumulative mean over the first `1 / (1 - momentum)` batches (so it never starts from 0),
    then `m = momentum * m + (1 - momentum) * batch_mean`, updated before hiding so the fill includes
    the current batch. It is the fill for feature maps (the paper's section 4.3.4 hides conv1 maps,
    whose mean is known to nobody in advance and moves as the network trains). For input pixels,
    prefer the exact precomputed mean: it is fixed from the first step, is the mean over every
    training pixel rather than over recent batches, does not depend on the data order, and is
    recorded in the run directory. Under JAX and PyTorch the running mean is a weight of that
    backend, so it works inside the model, not in `tf.data`.

    Args:
        patch_sizes: cell side N in pixels, or a sequence from which each image draws its own
            (0 = no hiding).
        hide_prob: probability of hiding each cell, in [0, 1].
        fill_value: scalar or one value per channel in the inputs' units, or `"running_mean"`.
        seed: int seed of the layer's `keras.random.SeedGenerator`; None for a random one.
        momentum: of the running mean (only with `fill_value="running_mean"`), in [0, 1).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Raises:
        TypeError / ValueError: bad `patch_sizes`, `hide_prob`, `fill_value` or `momentum` (named
            with the value received); a call on inputs of rank other than 3 or 4, or whose channels
            do not match a per-channel fill.

    Example:
        >>> layer = HideAndSeek((16, 32, 0), fill_value=[122.5, 114.2, 101.3], seed=1)
        >>> hidden = layer(images, training=True)
        >>> features = HideAndSeek((5, 11), fill_value="running_mean")(conv1_maps)

    References:
        Singh et al., Hide-and-Seek, https://arxiv.org/abs/1811.02545, sections 3.1 and 4.3.4.
    """

    def __init__(
        self,
        patch_sizes: int | Sequence[int] = 16,
        hide_prob: float = 0.5,
        fill_value: float | Sequence[float] | str = 0.0,
        seed: int | None = None,
        momentum: float = 0.99,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        sizes = validate_patch_sizes(patch_sizes)
        self._sizes = sizes
        self.patch_sizes = sizes[0] if isinstance(patch_sizes, numbers.Integral) else list(sizes)
        self.hide_prob = validate_hide_prob(hide_prob)
        self.uses_running_mean = isinstance(fill_value, str) and fill_value == RUNNING_MEAN
        if self.uses_running_mean:
            self._fill = None
            self.fill_value = RUNNING_MEAN
        else:
            if isinstance(fill_value, str):
                raise TypeError(
                    f'`fill_value` must be a number, one number per channel, or "{RUNNING_MEAN}". '
                    f"Received: fill_value={fill_value!r}"
                )
            self._fill = validate_fill_value(fill_value)
            single = len(self._fill) == 1 and not isinstance(fill_value, Sequence | np.ndarray)
            self.fill_value = self._fill[0] if single else list(self._fill)
        if (
            isinstance(momentum, bool)
            or not isinstance(momentum, numbers.Real)
            or not 0.0 <= float(momentum) < 1.0
        ):
            raise ValueError(f"`momentum` must be in [0, 1). Received: momentum={momentum!r}")
        self.momentum = float(momentum)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._tf_seed = TFSeedState()

    # === Building ===
    def build(self, input_shape: Any) -> None:
        channels = input_shape[-1]
        if self._fill is not None and channels is not None:
            fill_values(self._fill, int(channels), "float32")  # 1 or C values, else a clear error
        if self.uses_running_mean:
            if channels is None:
                raise ValueError(
                    '`fill_value="running_mean"` needs the channel count. '
                    f"Received: inputs.shape={tuple(input_shape)}"
                )
            # Mean over replicas under tf.distribute; the count is the same on every replica.
            self.moving_mean = self.add_weight(
                shape=(int(channels),),
                name="moving_mean",
                initializer="zeros",
                trainable=False,
                autocast=False,
                aggregation="mean",
            )
            self.moving_mean_count = self.add_weight(
                shape=(),
                name="moving_mean_count",
                initializer="zeros",
                trainable=False,
                autocast=False,
                aggregation="only_first_replica",
            )

    # === Calling ===
    def call(self, inputs: Any, training: bool | None = None) -> Any:
        _check_rank(inputs.shape)
        if not training:
            return inputs
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        if self.uses_running_mean:
            fill = _cast_fill(self._update_running_mean(inputs), dtype)
        else:
            fill = None
        if keras.config.backend() == "tensorflow":
            if fill is None:
                fill = tf.cast(fill_values(self._fill, inputs.shape[-1], dtype), dtype)
            seed = tf.cast(self.seed_generator.next(), tf.int64)
            return hide_with_fill(inputs, self._sizes, self.hide_prob, fill, seed)
        if fill is None:
            fixed = fill_values(self._fill, inputs.shape[-1], dtype).astype(np.float32)
            fill = ops.cast(fixed, dtype)
        return self._hide_with_backend(inputs, fill)

    def _hide_with_backend(self, inputs: Any, fill: Any) -> Any:
        """The mask from `keras.random` draws and `keras.ops` (JAX, PyTorch: static shapes)."""
        single = len(inputs.shape) == 3
        batch = inputs[None] if single else inputs
        batch_size, height, width = (int(d) for d in ops.shape(batch)[:3])
        geometry = grid_geometry(self._sizes, height, width)
        if geometry is None or self.hide_prob == 0.0:
            return inputs
        cell_hidden = (
            keras.random.uniform((batch_size, *geometry), seed=self.seed_generator) < self.hide_prob
        )
        choice = None
        if len(self._sizes) > 1:
            choice = keras.random.randint(
                (batch_size,), 0, len(self._sizes), seed=self.seed_generator
            )
        mask = grid_mask(ops, cell_hidden, choice, height, width, self._sizes)
        hidden = ops.where(mask[..., None], fill, batch)
        return hidden[0] if single else hidden

    def _call_tf_graph(self, inputs: tf.Tensor, training: bool | None) -> tf.Tensor:
        _check_rank(inputs.shape)
        if not training:
            return inputs
        if self.uses_running_mean:
            raise ValueError(
                f'`fill_value="running_mean"` updates a weight that lives on the '
                f"{keras.config.backend()} backend, which a tf.data pipeline cannot update: use "
                "the layer inside the model, or a fixed fill (e.g. `compute_dataset_mean`) in "
                "tf.data."
            )
        dtype = inputs.dtype
        fill = tf.cast(fill_values(self._fill, inputs.shape[-1], dtype), dtype)
        initial = keras.ops.convert_to_numpy(self.seed_generator.state.value)
        seed = self._tf_seed.next(initial)
        return hide_with_fill(inputs, self._sizes, self.hide_prob, fill, seed)

    def _update_running_mean(self, inputs: Any) -> Any:
        """Folds the batch's per-channel mean into `moving_mean`; returns the new mean."""
        values = ops.cast(inputs, "float32")
        axes = tuple(range(len(inputs.shape) - 1))
        pixels = 1
        for d in ops.shape(values)[:-1]:
            pixels = pixels * d
        batch_mean = ops.sum(values, axis=axes) / ops.maximum(ops.cast(pixels, "float32"), 1.0)
        count = self.moving_mean_count.value
        # A cumulative mean until count + 1 > 1 / (1 - momentum), then the exponential average.
        weight = ops.minimum(self.momentum, count / (count + 1.0))
        updated = weight * self.moving_mean.value + (1.0 - weight) * batch_mean
        seen = ops.cast(pixels, "float32") > 0.0  # an empty batch leaves the mean as it was
        updated = ops.where(seen, updated, self.moving_mean.value)
        self.moving_mean.assign(updated)
        self.moving_mean_count.assign(ops.where(seen, count + 1.0, count))
        return updated

    # === Config ===
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
                "momentum": self.momentum,
            }
        )
        return config


def _check_rank(shape: Any) -> None:
    if len(shape) not in (3, 4):
        raise ValueError(
            "`inputs` must be one image (H, W, C) or a batch (B, H, W, C). "
            f"Received: inputs.shape={tuple(shape)}"
        )


def _cast_fill(mean: Any, dtype: str) -> Any:
    """A float32 per-channel mean as a fill in `dtype` (rounded and clipped for integer dtypes)."""
    if "int" in dtype:
        info = np.iinfo(dtype)
        mean = ops.clip(ops.round(mean), float(info.min), float(info.max))
    return ops.cast(mean, dtype)

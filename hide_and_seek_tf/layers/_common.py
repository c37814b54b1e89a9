"""What `HideAndSeek` and `HideSegments` share: Keras 3's augmentation dict, and `tf.data` under
JAX or PyTorch."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

#: The entry of Keras 3's augmentation dict that the layers hide; the others pass through.
IMAGES = "images"


def hide_images_entry(data: Mapping[str, Any], hide: Callable[[Any], Any]) -> dict[str, Any]:
    """Keras 3's augmentation dict `data` with `hide` applied to its "images" entry.

    The dict is `{"images", "labels", "bounding_boxes": {"boxes", "labels"},
    "segmentation_masks"}` (all but "images" optional), as Keras's image preprocessing layers
    take and return. Hiding moves no pixel, so every other entry is returned as it came (the same
    objects, not copies or casts), in a new dict: the caller's is left as it was.

    Raises:
        ValueError: `data` has no "images" entry.
    """
    if IMAGES not in data:
        raise ValueError(
            f'`inputs` must be a tensor or a Keras augmentation dict with an "{IMAGES}" entry. '
            f"Received: a dict with keys {sorted(map(str, data))}"
        )
    return {**data, IMAGES: hide(data[IMAGES])}


def is_tf_graph_tensor(inputs: Any) -> bool:
    """A symbolic TensorFlow tensor (in a `tf.data` map or a `tf.function`)."""
    return isinstance(inputs, tf.Tensor) and not tf.executing_eagerly()


class AugmentationLayer(keras.layers.Layer):
    """A training-only hiding layer's entry point: Keras 3's augmentation dict (its "images" hidden),
    a TF graph tensor under another backend (`tf.data` under JAX or PyTorch: `_call_tf_graph`,
    since Keras's conversion of the inputs to the backend would fail there), else `Layer.__call__`."""

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(inputs, Mapping):
            return hide_images_entry(inputs, lambda images: self(images, *args, **kwargs))
        if keras.config.backend() != "tensorflow" and is_tf_graph_tensor(inputs):
            training = kwargs.get("training", args[0] if args else None)
            return self._call_tf_graph(inputs, training)
        return super().__call__(inputs, *args, **kwargs)

    def _call_tf_graph(self, inputs: tf.Tensor, training: bool | None) -> tf.Tensor:
        raise NotImplementedError


class TFSeedState:
    """A TensorFlow copy of a layer's seed state, for `tf.data` under the JAX or PyTorch backend.

    The layer's own `SeedGenerator` then lives on that backend and cannot run in a TF graph. A plain
    holder (not a Keras variable) so that it is neither tracked nor saved.
    """

    def __init__(self) -> None:
        self.variable: tf.Variable | None = None

    def next(self, initial: np.ndarray) -> tf.Tensor:
        """The current [2] int64 seed, then advances the counter, as `SeedGenerator.next` does."""
        if self.variable is None:
            with tf.init_scope():  # created once, outside the dataset function being traced
                self.variable = tf.Variable(initial.astype(np.int64), trainable=False)
        seed = tf.identity(self.variable)
        self.variable.assign_add(tf.constant([0, 1], tf.int64))
        return seed

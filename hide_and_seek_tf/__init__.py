"""Hide-and-Seek (Singh & Lee, ICCV 2017; arXiv 1811.02545) for TensorFlow 2 / Keras 3."""

from hide_and_seek_tf.dataset_mean import compute_dataset_mean
from hide_and_seek_tf.hiding import hide_patches
from hide_and_seek_tf.layers.hide_and_seek import HideAndSeek

__version__ = "0.1.0"

__all__ = ["HideAndSeek", "compute_dataset_mean", "hide_patches", "__version__"]

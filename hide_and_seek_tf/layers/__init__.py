"""Keras layers."""

from hide_and_seek_tf.layers.hide_and_seek import HideAndSeek
from hide_and_seek_tf.layers.hide_segments import HideSegments

__all__ = ["HideAndSeek", "HideSegments"]

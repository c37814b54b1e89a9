"""Keras layers."""

from hide_and_seek_tf.layers.hide_and_seek import HideAndSeek

__all__ = ["HideAndSeek"]

"""Moved to `hide_and_seek_tf.evaluation.protocol`; this module keeps the old import path."""

from hide_and_seek_tf.evaluation.protocol import *  # noqa: F403
from hide_and_seek_tf.evaluation.protocol import __all__  # noqa: F401

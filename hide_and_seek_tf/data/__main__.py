"""`python -m hide_and_seek_tf.data check SPEC`: the data check command (`hide-and-seek-data`)."""

import sys

from hide_and_seek_tf.cli.data import run

sys.exit(run())

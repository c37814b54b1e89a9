#!/usr/bin/env python
"""`python train.py ...` is `hide-and-seek-train ...`: see hide_and_seek_tf/cli/train.py."""

import sys

from hide_and_seek_tf.cli.train import run

if __name__ == "__main__":
    sys.exit(run())

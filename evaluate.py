#!/usr/bin/env python
"""`python evaluate.py ...` is `hide-and-seek-evaluate ...`: see hide_and_seek_tf/cli/evaluate.py."""

import sys

from hide_and_seek_tf.cli.evaluate import run

if __name__ == "__main__":
    sys.exit(run())

#!/usr/bin/env python
"""`python export.py ...` is `hide-and-seek-export ...`: see hide_and_seek_tf/cli/export.py."""

import sys

from hide_and_seek_tf.cli.export import run

if __name__ == "__main__":
    sys.exit(run())

"""The command-line programs: `hide-and-seek-train`, `-evaluate`, `-export` and `-demo`.

Importing this package sets TensorFlow's C++ log level to 2 (warnings and info hidden) unless the
user set `TF_CPP_MIN_LOG_LEVEL`, so that `--help` and every run start quietly. It must run before
TensorFlow is imported, hence here: `hide_and_seek_tf` itself imports TensorFlow lazily.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

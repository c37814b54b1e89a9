"""The command-line programs: `hide-and-seek-train`, `-evaluate`, `-export` and `-demo`.

Importing this package sets TensorFlow's C++ log level to 2 (warnings and info hidden) unless the
user set `TF_CPP_MIN_LOG_LEVEL`, so that `--help` and every run start quietly. It must run before
TensorFlow is imported, hence here: `hide_and_seek_tf` itself imports TensorFlow lazily.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: Keras backends `--backend` accepts.
BACKENDS = ("tensorflow", "jax", "torch")


def backend_from_argv(argv: list[str]) -> str | None:
    """Sets KERAS_BACKEND from `--backend NAME` (or `--backend=NAME`) in `argv`; returns NAME.

    Keras reads KERAS_BACKEND once, when it is first imported, so a program calls this before it
    imports Keras (or anything that does). An unknown name is left for argparse to reject.
    """
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        name = None
        if arg == "--backend" and i + 1 < len(argv):
            name = argv[i + 1]
        elif arg.startswith("--backend="):
            name = arg.split("=", 1)[1]
        if name in BACKENDS:
            os.environ["KERAS_BACKEND"] = name
            return name
    return None

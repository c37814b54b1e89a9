"""The command-line programs: `hide-and-seek-train`, `-evaluate`, `-export`, `-demo` and `-data`.

A quiet start. Importing this package sets TensorFlow's C++ log level to 2 (info and warnings
hidden) unless the user set `TF_CPP_MIN_LOG_LEVEL`. That is not enough on its own: TensorFlow logs
a few lines (oneDNN, CUDA stubs, a failed `cuInit` without a GPU driver) through absl before absl's
logging is initialized, and those ignore the level. So the commands parse their arguments before
TensorFlow is loaded (`--help` never loads it) and then load it with `import_tensorflow`, which
drops the lines the level hides and passes everything else through.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# absl's C++ log line: severity, MMDD, time, thread id, file:line], e.g. "I0000 00:00:1796185375.77 7645 port.cc:153] "
_LOG_LINE = re.compile(r"([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] ")
_ABSL_PREINIT = "WARNING: All log messages before absl::InitializeLog() is called"
_NO_DRIVER = "Could not find cuda drivers"
# Follows _NO_DRIVER, as an error, at the first device query: no new information.
_CUINIT_WITHOUT_DRIVER = "failed call to cuInit"
_HIDDEN_FROM = {"I": 1, "W": 2, "E": 3, "F": 4}  # TF_CPP_MIN_LOG_LEVEL that hides each severity


def _log_level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def shown_log_lines(text: str, level: int) -> str:
    """The lines of TensorFlow's start-up stderr that `TF_CPP_MIN_LOG_LEVEL=level` should show.

    Log lines of a hidden severity go; anything else (Python warnings, tracebacks, other
    programs' output) stays.
    """
    no_driver = _NO_DRIVER in text
    kept = []
    for line in text.splitlines(keepends=True):
        match = _LOG_LINE.match(line)
        if match and level >= _HIDDEN_FROM[match.group(1)]:
            continue
        if level >= 1 and line.startswith(_ABSL_PREINIT):  # a header: shown with every line
            continue
        if level >= 2 and no_driver and _CUINIT_WITHOUT_DRIVER in line:
            continue
        kept.append(line)
    return "".join(kept)


def import_tensorflow() -> None:
    """Imports TensorFlow and lists its devices with the start-up lines its log level hides dropped.

    A no-op when TensorFlow is already imported; filters nothing at `TF_CPP_MIN_LOG_LEVEL=0`.
    Listing the devices (the first thing a run does anyway) leaves them configurable.
    """
    level = _log_level()
    if "tensorflow" in sys.modules or level <= 0:
        import tensorflow as tf

        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to filter
        import tensorflow as tf

        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            shown = shown_log_lines(capture.read().decode(errors="replace"), level)
            if shown:
                sys.stderr.write(shown)
                sys.stderr.flush()


def parse_classes(text: str) -> int | tuple[str, ...]:
    """`--classes`: "K" (the first K classes) or a comma-separated list of class ids."""
    text = text.strip()
    return int(text) if text.isdigit() else tuple(c for c in text.split(",") if c)


#: Keras backends `--backend` accepts.
BACKENDS = ("tensorflow", "jax", "torch")

"""Evaluation of CAM localizers: score a split, choose thresholds, baselines, reports and files.

`hide_and_seek_tf.evaluation` is a package; its public names (those of the former
`evaluation.py` module) are imported on first use, so importing it does not import TensorFlow.
See `hide_and_seek_tf.evaluation.run` for `evaluate_run`, the sequence of steps behind
evaluate.py.
"""

from hide_and_seek_tf._lazy import lazy_attributes

_RUN = "hide_and_seek_tf.evaluation.run"
_PUBLIC = {
    name: _RUN
    for name in (
        "DEFAULT_THRESHOLD",
        "METRICS_FILE",
        "PAPER_THRESHOLDS",
        "PER_IMAGE_FILE",
        "SCHEMA_VERSION",
        "SWEEP_THRESHOLDS",
        "breakdown_markdown",
        "evaluate_run",
        "format_report",
        "table_boxes",
        # private, imported by tests
        "_check_holdout_unseen",
        "_load_data",
    )
}

__all__ = [name for name in _PUBLIC if not name.startswith("_")]

__getattr__, __dir__ = lazy_attributes(__name__, _PUBLIC)

"""Evaluation of CAM localizers: score a split, choose thresholds, baselines, reports and files.

One concept per module:

- `scoring`: one pass over a split -> per-image records and the metrics counted from them;
- `thresholds`: the CAM thresholds chosen on one split, another read at them;
- `baselines`: fixed boxes (the whole image; a box fitted on a named split's boxes);
- `occlusion`: top-1 accuracy with cells hidden;
- `breakdown`: per-image rows, their summary, the size breakdown;
- `wsolevaluation`: clovaai/wsolevaluation's box rules (protocol "wsolevaluation");
- `cam_files`: `<image_id>.npy` CAM folders;
- `report`: the printed report and thresholds.csv; `stats`: statistics over seeds;
- `run`: `evaluate_run`, the sequence of steps behind evaluate.py;
- `protocol`: gathers the protocol's functions (the old `hide_and_seek_tf.protocol`).

The public names of the former `evaluation.py` module are imported on first use, so importing
the package does not import TensorFlow.
"""

from hide_and_seek_tf._lazy import lazy_attributes

_RUN = "hide_and_seek_tf.evaluation.run"
_PUBLIC = {
    "CamFiles": "hide_and_seek_tf.evaluation.cam_files",
    "breakdown_markdown": "hide_and_seek_tf.evaluation.report",
    "format_report": "hide_and_seek_tf.evaluation.report",
    "DEFAULT_THRESHOLD": "hide_and_seek_tf.models.registry",
    "PAPER_THRESHOLDS": "hide_and_seek_tf.models.registry",
} | {
    name: _RUN
    for name in (
        "METRICS_FILE",
        "PER_IMAGE_FILE",
        "SCHEMA_VERSION",
        "SWEEP_THRESHOLDS",
        "evaluate_run",
        "table_boxes",
        # private, imported by tests
        "_check_holdout_unseen",
        "_load_data",
    )
}

__all__ = [name for name in _PUBLIC if not name.startswith("_")]

__getattr__, __dir__ = lazy_attributes(__name__, _PUBLIC)

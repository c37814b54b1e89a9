"""Hide-and-Seek for videos: weakly-supervised temporal action localization (paper, 3.2, 4.2.3, 4.5).

- `build_temporal_classifier`: two 1x1 convolutions of 500 kernels over (B, T, D) features, global max
  pooling (GAP optional), softmax; `temporal_class_activation_maps` its 1-D CAM.
- `cams_to_intervals`, `interval_iou`, `mean_average_precision`: CAM -> scored intervals -> mAP at tIoU.
- `TemporalConfig`, `train_temporal`, `evaluate_temporal_run`: the run directory behind
  `train.py --task temporal` and `evaluate.py` (resumable, as image runs).
- `export_temporal_run`: a TF Serving SavedModel returning class scores, the 1-D CAM and intervals
  (`hide-and-seek-export --run-dir RUN`).

Hiding itself is `hide_and_seek_tf.hide_segments` (or the `HideSegments` layer); data sources are in
`hide_and_seek_tf.data.sequences` ("synthetic-sequences", "video-features:PATH").

The names are imported on first use, so that registering the model's serializables (`temporal.model`)
does not load the training code.
"""

from hide_and_seek_tf._lazy import lazy_attributes

_PUBLIC = {
    "TemporalConfig": "hide_and_seek_tf.temporal.config",
    "PAPER_CAM_THRESHOLD": "hide_and_seek_tf.temporal.localization",
    "PAPER_TIOU_THRESHOLDS": "hide_and_seek_tf.temporal.localization",
    "average_precision": "hide_and_seek_tf.temporal.localization",
    "cams_to_intervals": "hide_and_seek_tf.temporal.localization",
    "interval_iou": "hide_and_seek_tf.temporal.localization",
    "mean_average_precision": "hide_and_seek_tf.temporal.localization",
    "threshold_runs": "hide_and_seek_tf.temporal.localization",
    "build_temporal_classifier": "hide_and_seek_tf.temporal.model",
    "label_accuracy": "hide_and_seek_tf.temporal.model",
    "temporal_class_activation_maps": "hide_and_seek_tf.temporal.model",
    "TemporalServer": "hide_and_seek_tf.temporal.export",
    "export_temporal": "hide_and_seek_tf.temporal.export",
    "export_temporal_run": "hide_and_seek_tf.temporal.export",
    "evaluate_temporal_run": "hide_and_seek_tf.temporal.run",
    "is_temporal_run": "hide_and_seek_tf.temporal.config",
    "train_temporal": "hide_and_seek_tf.temporal.run",
}

__all__ = sorted(_PUBLIC)

__getattr__, __dir__ = lazy_attributes(__name__, _PUBLIC)

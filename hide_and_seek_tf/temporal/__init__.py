"""Hide-and-Seek for videos: weakly-supervised temporal action localization (paper, 3.2, 4.2.3, 4.5).

- `build_temporal_classifier`: two 1x1 convolutions of 500 kernels over (B, T, D) features, global max
  pooling (GAP optional), softmax; `temporal_class_activation_maps` its 1-D CAM.
- `cams_to_intervals`, `interval_iou`, `mean_average_precision`: CAM -> scored intervals -> mAP at tIoU.
- `TemporalConfig`, `train_temporal`, `evaluate_temporal_run`: the run directory behind
  `train.py --task temporal` and `evaluate.py`.

Hiding itself is `hide_and_seek_tf.hide_segments` (or the `HideSegments` layer); data sources are in
`hide_and_seek_tf.data.sequences` ("synthetic-sequences", "video-features:PATH").
"""

from hide_and_seek_tf.temporal.config import TemporalConfig
from hide_and_seek_tf.temporal.localization import (
    PAPER_CAM_THRESHOLD,
    PAPER_TIOU_THRESHOLDS,
    average_precision,
    cams_to_intervals,
    interval_iou,
    mean_average_precision,
    threshold_runs,
)
from hide_and_seek_tf.temporal.model import (
    build_temporal_classifier,
    temporal_class_activation_maps,
)
from hide_and_seek_tf.temporal.run import evaluate_temporal_run, is_temporal_run, train_temporal

__all__ = [
    "PAPER_CAM_THRESHOLD",
    "PAPER_TIOU_THRESHOLDS",
    "TemporalConfig",
    "average_precision",
    "build_temporal_classifier",
    "cams_to_intervals",
    "evaluate_temporal_run",
    "interval_iou",
    "is_temporal_run",
    "mean_average_precision",
    "temporal_class_activation_maps",
    "threshold_runs",
    "train_temporal",
]

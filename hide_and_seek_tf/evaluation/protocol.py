"""The evaluation protocol: score a split, choose the CAM threshold, baselines, occlusion, per-image
results, the breakdown by object size, and paired statistics over seeds.

Everything `evaluate.py`, the Tiny ImageNet study (`benchmarks/reproduce_tiny_imagenet.py`) and the
synthetic evidence script (`benchmarks/synthetic_has_vs_gap.py`) report goes through these functions,
so one rule holds everywhere:

- Threshold choice (Choe et al., CVPR 2020): tau = the CAM threshold that maximises BoxAcc(t, 0.5)
  (largest component's box) on the CHOOSE split, the lowest such t among ties; MaxBoxAccV2 picks,
  per IoU delta in {0.3, 0.5, 0.7}, its own tau_delta maximising BoxAccV2(t, delta) (a box around
  every component). The REPORT split is then read at those thresholds (`report_at_thresholds`).
  Choosing on the reported split itself gives Choe et al.'s threshold-free upper bound, never a
  result. The rule is `LocalizationEvaluator.compute`'s argmax; `choose_thresholds` reads it.
- Fixed-box baselines: one box for every image (the whole image; a box fitted on training boxes
  with `metrics.choose_fixed_box`), scored by `metrics.FixedBoxBaseline`, the same IoU code.
- Occlusion robustness: top-1 accuracy when each `cell` x `cell` cell is hidden with probability f,
  filled with the run's dataset mean; batch b's mask has the stateless seed (seed, b) for every f,
  so every model evaluated with the same batch size sees exactly the same occluded images, and the
  cells hidden at a smaller f are a subset of those hidden at a larger one.
- Per-image results and the size breakdown (issue 15): one row per image (`per_image_table`), bins
  of the ground-truth box area as a fraction of the image (`SIZE_BINS`).
- Paired statistics: differences between two configurations paired by seed (`paired_differences`).

References:
    Singh et al., Hide-and-Seek, https://arxiv.org/abs/1811.02545.
    Choe et al., Evaluating Weakly Supervised Object Localization Methods Right, CVPR 2020,
    https://arxiv.org/abs/2001.07437.
"""

from __future__ import annotations

# The protocol's pieces, one module each; this module gathers them (the old import path).
from hide_and_seek_tf.evaluation.baselines import score_fixed_boxes, whole_image_box
from hide_and_seek_tf.evaluation.breakdown import (
    BINNED_BY,
    PER_IMAGE_COLUMNS,
    SIZE_BINS,
    box_area,
    localization_summary,
    per_image_csv,
    per_image_table,
    scored_gt_box,
    size_bin,
    size_breakdown,
)
from hide_and_seek_tf.evaluation.occlusion import OCCLUSION_CELL, OCCLUSION_SEED, occlusion_top1
from hide_and_seek_tf.evaluation.scoring import (
    SplitScores,
    cam_inside_outside,
    paper_box_ious,
    score_batches,
)
from hide_and_seek_tf.evaluation.stats import paired_differences, seed_stats
from hide_and_seek_tf.evaluation.thresholds import (
    choose_thresholds,
    report_at_thresholds,
    threshold_choice,
    threshold_index,
)

__all__ = [
    "BINNED_BY",
    "OCCLUSION_CELL",
    "OCCLUSION_SEED",
    "PER_IMAGE_COLUMNS",
    "SIZE_BINS",
    "SplitScores",
    "box_area",
    "cam_inside_outside",
    "choose_thresholds",
    "localization_summary",
    "occlusion_top1",
    "paired_differences",
    "paper_box_ious",
    "per_image_csv",
    "per_image_table",
    "report_at_thresholds",
    "score_batches",
    "score_fixed_boxes",
    "scored_gt_box",
    "seed_stats",
    "size_bin",
    "size_breakdown",
    "threshold_choice",
    "threshold_index",
    "whole_image_box",
]

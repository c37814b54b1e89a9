"""The temporal task's command lines: `train.py --task temporal` and `evaluate.py` on a temporal run.

`cli/train.py` and `cli/evaluate.py` parse the arguments and dispatch here; the work is
`hide_and_seek_tf.temporal.run`'s. This module loads no TensorFlow until a command runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from hide_and_seek_tf._io import DirectoryInUseError
from hide_and_seek_tf.cli import import_tensorflow, parse_classes
from hide_and_seek_tf.temporal.config import TemporalConfig
from hide_and_seek_tf.temporal.localization import PAPER_CAM_THRESHOLD
from hide_and_seek_tf.training.run_dir import EVAL_DIR, MODEL_FILE

#: train.py options of the image task, refused with --task temporal.
IMAGE_ONLY_OPTIONS = (
    "data_dir", "max_per_class", "image_size", "model", "hide_patch_sizes", "augment", "schedule",
    "steps_per_epoch", "strategy", "cpu_devices", "mixed_precision", "jit_compile",
)  # fmt: skip


def temporal_config_from_args(args: argparse.Namespace, saved: dict[str, Any]) -> TemporalConfig:
    """The TemporalConfig of `train.py --task temporal ...` (shared options keep their meaning;
    `--num-images` is the number of training videos).

    Args:
        args: train.py's parsed arguments.
        saved: the settings of the run being resumed (its config.json; {} for a new run); the
            options given override them.

    Raises:
        ValueError: an image-only option was given, or a bad value.
    """
    given = [f"--{n.replace('_', '-')}" for n in IMAGE_ONLY_OPTIONS if getattr(args, n, None)]
    if given:
        raise ValueError(f"{', '.join(given)} do not apply to --task temporal.")
    values: dict[str, Any] = {}
    if args.data is not None:
        values["data"] = ":".join(args.data)  # "video-features PATH" reads as "video-features:PATH"
    if args.classes is not None:
        values["classes"] = parse_classes(args.classes)
    if args.num_images is not None:
        values["num_videos"] = args.num_images
    for name in (
        "train_split", "pooling", "hide_prob", "epochs", "batch_size", "lr", "weight_decay", "seed",
        "validation", "run_dir", "resume", "backup_every", "segment_length", "num_steps", "filters",
    ):  # fmt: skip
        if getattr(args, name, None) is not None:
            values[name] = getattr(args, name)
    return TemporalConfig.from_dict({**saved, **values}, ignore_unknown=True)


def train(args: argparse.Namespace, saved: dict[str, Any]) -> int:
    """`train.py --task temporal`: trains (or resumes), prints the run directory; the exit status.

    `saved`: as in `temporal_config_from_args`.
    """
    try:
        config = temporal_config_from_args(args, saved)
    except (ValueError, TypeError) as e:
        print(f"train.py: error: {e}", file=sys.stderr)
        return 1
    config = config if config.run_dir else config.replace(run_dir=config.default_run_dir())
    import_tensorflow()
    # deferred: loads TensorFlow, once the arguments are checked (see hide_and_seek_tf.cli)
    from hide_and_seek_tf.temporal.run import train_temporal

    try:
        train_temporal(config, verbose=args.verbose)
    except (FileExistsError, FileNotFoundError, ValueError, TypeError, DirectoryInUseError) as e:
        print(f"train.py: error: {e}", file=sys.stderr)
        return 1
    print(f"\nRun directory: {config.run_dir}\nModel: {Path(config.run_dir) / MODEL_FILE}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """`evaluate.py --run-dir RUN` on a temporal run: mAP at tIoU 0.1-0.5; the exit status."""
    refused = [
        flag
        for flag, value in (
            ("--sweep", args.sweep),
            ("--ten-crop", args.ten_crop),
            ("--fixed-threshold", args.fixed_threshold),
            ("--choose-on", getattr(args, "choose_on", None)),
            ("--occlusion", getattr(args, "occlusion", None)),
        )
        if value
    ]
    if refused or (args.thresholds is not None and len(args.thresholds) != 1):
        print(
            f"evaluate.py: error: a temporal run takes one CAM threshold (--thresholds T, default "
            f"0.5) and not {', '.join(refused) or 'several thresholds'}.",
            file=sys.stderr,
        )
        return 2
    import_tensorflow()
    # deferred: loads TensorFlow, once the arguments are checked (see hide_and_seek_tf.cli)
    from hide_and_seek_tf.temporal.run import evaluate_temporal_run

    try:
        result = evaluate_temporal_run(
            args.run_dir,
            data=args.data,
            split=args.split,
            cam_threshold=args.thresholds[0] if args.thresholds else PAPER_CAM_THRESHOLD,
            batch_size=args.batch_size,
            num_videos=args.num_images,
            out_dir=args.out_dir,
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"evaluate.py: error: {err}", file=sys.stderr)
        return 2
    m, base = result["metrics"], result["baselines"]["whole_video"]["map"]
    print(
        f"\ntemporal run {args.run_dir} on {result['data']['spec']} / {result['data']['split']} "
        f"({m['num_videos']} videos)\n"
        f"  tIoU                 : {' / '.join(m['map'])}\n"
        f"  mAP (%)              : {' / '.join(f'{v:.2f}' for v in m['map'].values())}\n"
        f"  whole-video baseline : {' / '.join(f'{v:.2f}' for v in base.values())}\n"
        f"  top-1 accuracy       : {m['accuracy']:.2f}\n"
        f"  ground truth covered : {m['gt_coverage']:.1f}% ({m['detections_per_video']:.2f} "
        "intervals per video and class)\n"
        f"  written to {args.out_dir or os.path.join(args.run_dir, EVAL_DIR)}"
    )
    return 0

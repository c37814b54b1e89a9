#!/usr/bin/env python
"""Evaluate a trained run: classification, GT-known / Top-1 / Top-5 Loc, MaxBoxAcc(V2), baselines.

    python evaluate.py --run-dir runs/demo                          # val split, paper threshold
    python evaluate.py --run-dir runs/tiny-has16 --split train_holdout --sweep   # choose a threshold
    python evaluate.py --run-dir runs/tiny-has16 --thresholds 0.25 --ten-crop    # report at it

Writes RUN/eval/: metrics.json, thresholds.csv, threshold_curve.png, cams.png (atomically).
A temporal run (train.py --task temporal) gets mAP at tIoU 0.1-0.5 instead, see
`hide_and_seek_tf.temporal.run.evaluate_temporal_run`.
A threshold swept on the reported split is tuned on test data (Choe et al., CVPR 2020): sweep on a
held-out split, then report the other split at the chosen threshold. The work is done by
`hide_and_seek_tf.evaluation.evaluate_run`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

import hide_and_seek_tf.cli  # noqa: F401  (quiet TensorFlow start, before it is imported)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    parser.add_argument("--run-dir", required=True, help="run directory written by train.py")
    parser.add_argument("--data", help="data spec to evaluate on (default: the run's)")
    parser.add_argument("--split", default="val", help="split to evaluate (default: val)")
    grid = parser.add_mutually_exclusive_group()
    grid.add_argument(
        "--thresholds",
        type=float,
        nargs="+",
        help="CAM thresholds, fractions of the map's max (default: 0.3 for googlenet_gap, else 0.2)",
    )
    grid.add_argument("--sweep", action="store_true", help="the 0.00, 0.01, ..., 0.99 grid")
    parser.add_argument(
        "--fixed-threshold",
        type=float,
        help="threshold GT-known / Top-1 / Top-5 Loc are reported at (default: the paper's)",
    )
    parser.add_argument("--ten-crop", action="store_true", help="average over 10 crops")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-images", type=int, help="evaluate the first N images only")
    parser.add_argument("--out-dir", help="output directory (default: RUN/eval)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from hide_and_seek_tf.temporal.run import is_temporal_run, main_evaluate

    if is_temporal_run(args.run_dir):  # train.py --task temporal: mAP at tIoU 0.1-0.5
        return main_evaluate(args)
    from hide_and_seek_tf.evaluation import evaluate_run

    try:
        result = evaluate_run(
            args.run_dir,
            data=args.data,
            split=args.split,
            thresholds=args.thresholds,
            sweep=args.sweep,
            fixed_threshold=args.fixed_threshold,
            ten_crop=args.ten_crop,
            batch_size=args.batch_size,
            num_images=args.num_images,
            out_dir=args.out_dir,
            progress=not args.no_progress,
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"evaluate.py: error: {err}", file=sys.stderr)
        return 2
    m = result["metrics"]
    base = result["baselines"]
    print(
        f"\n{result['model']['name']} on {result['data']['spec']} / {result['data']['split']} "
        f"({m['num_images']} images{', ten-crop' if args.ten_crop else ''})\n"
        f"  top-1 / top-5 classification : {m['top1_cls']:.2f} / {m['top5_cls']:.2f}\n"
        f"  at CAM threshold {m['cam_threshold']:g}, IoU 0.5:\n"
        f"    GT-known Loc               : {m['gt_known_loc']:.2f}\n"
        f"    Top-1 / Top-5 Loc          : {m['top1_loc']:.2f} / {m['top5_loc']:.2f}\n"
        f"  MaxBoxAcc                    : {m['max_box_acc']:.2f} "
        f"(t = {m['max_box_acc_threshold']:g})\n"
        f"  MaxBoxAccV2                  : {m['max_box_acc_v2']:.2f}\n"
        f"  baselines, GT-known Loc      : whole image {base['whole_image']['gt_known_loc']:.2f}, "
        f"train box {base['train_box']['box']} {base['train_box']['gt_known_loc']:.2f}\n"
        f"  written to {args.out_dir or os.path.join(args.run_dir, 'eval')}"
    )
    return 0


def run() -> int:
    """The console script `hide-and-seek-evaluate`."""
    return main()


if __name__ == "__main__":
    sys.exit(run())

#!/usr/bin/env python
"""Evaluate a trained run: classification, GT-known / Top-1 / Top-5 Loc, MaxBoxAcc(V2), baselines.

    python evaluate.py --run-dir runs/demo                          # val split, paper threshold
    python evaluate.py --run-dir runs/tiny-has16 --choose-on train_holdout --split val \\
        --occlusion 0,0.25,0.5,0.75                                 # Choe et al.'s protocol
    python evaluate.py --run-dir runs/tiny-has16 --thresholds 0.25 --ten-crop    # report at 0.25
    python evaluate.py --model resnet.keras --data tfds:caltech_birds2011 --split test \\
        --preprocessing caffe                                   # any Keras GAP/GMP classifier
    python evaluate.py --run-dir runs/cub --data wsol:metadata/CUB --data-dir CUB/images \\
        --split test --protocol wsolevaluation --save-cams cams/   # wsolevaluation's numbers
    python evaluate.py --cams cams/ --data wsol:metadata/CUB --data-dir CUB/images --split test \\
        --protocol wsolevaluation                   # CAMs another tool saved (<image_id>.npy)

Writes RUN/eval/ (with --model: eval/ beside the file): metrics.json, per_image.csv,
thresholds.csv, threshold_curve.png, cams.png, cam_contrast.png (atomically). --choose-on SPLIT
chooses the CAM thresholds on SPLIT (the tau that maximises BoxAcc, one per IoU for MaxBoxAccV2;
refused if the model trained on SPLIT) and reports MaxBoxAcc, MaxBoxAccV2, GT-known and Top-1 Loc
at them on --split; without it the reported split chooses for itself, an upper bound (Choe et al.,
CVPR 2020). `--model` takes any Keras classifier whose global pooling feeds a Dense (the CAM layers
are found in the graph unless named by --cam-layer / --classifier-layer).
A temporal run (train.py --task temporal) gets mAP at tIoU 0.1-0.5 instead (`cli/temporal.py`,
`hide_and_seek_tf.temporal.run.evaluate_temporal_run`). The work is done by
`hide_and_seek_tf.evaluation.evaluate_run`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from hide_and_seek_tf._io import DirectoryInUseError
from hide_and_seek_tf.cli import import_tensorflow
from hide_and_seek_tf.cli import temporal as temporal_cli
from hide_and_seek_tf.temporal.config import is_temporal_run
from hide_and_seek_tf.training.run_dir import EVAL_DIR, locked_run


def _fractions(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or not all(0.0 <= v <= 1.0 for v in values):
        raise argparse.ArgumentTypeError(
            f"`--occlusion` must be comma-separated fractions in [0, 1]. Received: {text!r}"
        )
    return values


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run-dir", help="run directory written by train.py")
    source.add_argument(
        "--model",
        help="any Keras classifier saved as .keras (global pooling -> Dense); needs --data",
    )
    source.add_argument(
        "--cams",
        metavar="DIR",
        help="score CAM files DIR/<image_id>.npy (wsolevaluation's format) instead of a model; "
        "needs --data; no class scores",
    )
    parser.add_argument("--data", help="data spec to evaluate on (default: the run's)")
    parser.add_argument("--split", default="val", help="split to report (default: val)")
    parser.add_argument(
        "--choose-on",
        metavar="SPLIT",
        help="split the CAM thresholds are chosen on, e.g. train_holdout (default: --split "
        "itself, an upper bound); sweeps 0.00..0.99 unless --thresholds is given",
    )
    grid = parser.add_mutually_exclusive_group()
    grid.add_argument(
        "--thresholds",
        type=float,
        nargs="+",
        help="CAM thresholds, fractions of the map's max (default: the model's paper threshold, "
        "its registration's `paper_threshold`: 0.2 unless the paper says otherwise)",
    )
    grid.add_argument("--sweep", action="store_true", help="the 0.00, 0.01, ..., 0.99 grid")
    parser.add_argument(
        "--fixed-threshold",
        type=float,
        help="threshold GT-known / Top-1 / Top-5 Loc are reported at (default: the paper's)",
    )
    parser.add_argument(
        "--occlusion",
        type=_fractions,
        metavar="F,F,...",
        help="occlusion test: top-1 with each cell hidden with probability f, e.g. 0,0.25,0.5,0.75",
    )
    parser.add_argument("--occlusion-cell", type=int, default=16, help="cell side (default 16 px)")
    parser.add_argument("--occlusion-seed", type=int, default=2017, help="mask seed")
    parser.add_argument("--ten-crop", action="store_true", help="average over 10 crops")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-images", type=int, help="evaluate the first N images only")
    parser.add_argument("--out-dir", help="output directory (default: RUN/eval)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--preprocessing",
        choices=("none", "tf", "torch", "caffe"),
        default="none",
        help="keras.applications input convention applied to raw pixels before the model",
    )
    parser.add_argument(
        "--strict-boxes",
        action="store_true",
        default=None,
        help="refuse a box that extends past its image instead of clipping it (default: the "
        "run's setting)",
    )
    parser.add_argument(
        "--skip-bad-images",
        action="store_true",
        default=None,
        help="leave unreadable images out (counted in metrics.json) instead of stopping "
        "(default: the run's setting)",
    )
    parser.add_argument(
        "--baseline-split",
        help="split the fixed-box baseline is fitted on when the training split's boxes are not "
        "on disk (default: none, the baseline is then reported as unavailable)",
    )
    parser.add_argument("--cam-layer", help="layer whose output the CAM weighs (default: found)")
    parser.add_argument("--classifier-layer", help="the classifier Dense (default: found)")
    parser.add_argument(
        "--protocol",
        choices=("paper", "wsolevaluation"),
        default="paper",
        help="box rules: paper (default; largest 8-connected component at the image size) or "
        "wsolevaluation (clovaai/wsolevaluation's BoxEvaluator exactly: 224 x 224, OpenCV "
        "contours, thresholds 0.00..0.99; needs opencv-python-headless)",
    )
    parser.add_argument(
        "--save-cams",
        metavar="DIR",
        help="write each scored CAM as DIR/<image_id>.npy (float32 in [0, 1])",
    )
    parser.add_argument("--data-dir", help="image root of --data (e.g. wsol: metadata's images)")
    args = parser.parse_args(argv)
    if (args.model or args.cams) and not args.data:
        parser.error(
            f"{'--model' if args.model else '--cams'} needs --data (a run directory knows its "
            "data, a model file or CAM folder does not)"
        )
    if args.run_dir and args.preprocessing != "none":
        parser.error(
            "--preprocessing goes with --model: a run's model normalizes inside itself, so it "
            f"would be normalized twice. Received: --preprocessing {args.preprocessing}"
        )
    for flag, values in (
        ("--thresholds", args.thresholds),
        ("--fixed-threshold", [args.fixed_threshold]),
    ):
        if any(v is not None and not 0.0 <= v <= 1.0 for v in values or ()):
            shown = " ".join(f"{v:g}" for v in values)
            parser.error(
                f"{flag} must be fractions of the CAM's max, in [0, 1]. Received: {flag} {shown}"
            )
    if args.save_cams and Path(args.save_cams).exists() and not Path(args.save_cams).is_dir():
        parser.error(
            f"--save-cams must be a directory; it is a file. Received: --save-cams {args.save_cams}"
        )
    if args.out_dir:
        out = Path(args.out_dir)
        if out.exists() and not out.is_dir():
            parser.error(f"--out-dir must be a directory; it is a file. Received: --out-dir {out}")
        if out.is_dir() and any(out.iterdir()) and not (out / "metrics.json").is_file():
            # The output folder is replaced as a whole: never a folder of other files.
            parser.error(
                "--out-dir must be a new or empty directory, or an earlier evaluation's (it is "
                f"replaced as a whole); it holds other files. Received: --out-dir {out}"
            )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.run_dir:
        return _evaluate(args)
    if not Path(args.run_dir).is_dir():
        print(f"evaluate.py: error: Run directory not found: {args.run_dir}", file=sys.stderr)
        return 2
    try:
        with locked_run(args.run_dir, "evaluate"):  # no other process writes the run meanwhile
            return _evaluate(args)
    except DirectoryInUseError as err:
        print(f"evaluate.py: error: {err}", file=sys.stderr)
        return 2


def _evaluate(args: argparse.Namespace) -> int:
    if args.run_dir and is_temporal_run(args.run_dir):  # train.py --task temporal: mAP at tIoU
        return temporal_cli.evaluate(args)
    import_tensorflow()
    # deferred: loads TensorFlow, once the arguments are checked (see hide_and_seek_tf.cli)
    from hide_and_seek_tf.cam_head import load_classifier
    from hide_and_seek_tf.evaluation import evaluate_run, format_report

    run_dir, out_dir, load_run = args.run_dir, args.out_dir, None
    if args.cams:
        out_dir = out_dir or Path(args.cams).parent / EVAL_DIR
    if args.model:
        run_dir = Path(args.model)
        out_dir = out_dir or run_dir.parent / EVAL_DIR

        def load_run(_):
            # train_split None: which images it trained on is unknown (holdouts are warned about)
            return load_classifier(args.model), {"data": args.data, "train_split": None}, None

    try:
        result = evaluate_run(
            run_dir,
            data=args.data,
            split=args.split,
            choose_on=args.choose_on,
            thresholds=args.thresholds,
            sweep=args.sweep,
            fixed_threshold=args.fixed_threshold,
            occlusion=args.occlusion,
            occlusion_cell=args.occlusion_cell,
            occlusion_seed=args.occlusion_seed,
            ten_crop=args.ten_crop,
            batch_size=args.batch_size,
            num_images=args.num_images,
            out_dir=out_dir,
            progress=not args.no_progress,
            load_run=load_run,
            cam_layer=args.cam_layer,
            classifier_layer=args.classifier_layer,
            preprocessing=None if args.preprocessing == "none" else args.preprocessing,
            protocol=args.protocol,
            save_cams=args.save_cams,
            cams=args.cams,
            data_dir=args.data_dir,
            strict_boxes=args.strict_boxes,
            skip_bad_images=args.skip_bad_images,
            baseline_split=args.baseline_split,
        )
    except (FileNotFoundError, ValueError, ImportError) as err:
        print(f"evaluate.py: error: {err}", file=sys.stderr)
        return 2
    out_dir = out_dir or os.path.join(run_dir, EVAL_DIR)
    print("\n" + format_report(result, out_dir))
    return 0


def run() -> int:
    """The console script `hide-and-seek-evaluate`."""
    return main()


if __name__ == "__main__":
    sys.exit(run())

"""Export a classifier as a TF Serving SavedModel returning class, score, label, CAM and box.

    python export.py --run-dir runs/demo/hide_and_seek [--out RUN/serving] [--version N] \
        [--threshold T] [--top-k K] [--cam-size S] [--max-batch-size 64] [--max-image-pixels N]
    python export.py --model my_classifier.keras --class-names names.txt --out serving \
        [--preprocessing caffe] [--cam-layer NAME --classifier-layer NAME]

`--model` takes any Keras classifier whose global pooling (average or max) feeds a Dense; the layers
are found in the graph unless named. Its preprocessing layers stay in the graph; `--preprocessing`
adds a keras.applications input convention ("tf", "torch", "caffe") for models without them.
Writes OUT/<version>/ (TF Serving layout, with assets.extra/tf_serving_warmup_requests) atomically
and never overwrites an existing version. See hide_and_seek_tf/export.py for the signatures; a
temporal run (train.py --task temporal) exports class scores, the 1-D CAM of the top class and its
intervals instead (hide_and_seek_tf/temporal/export.py; --threshold default 0.5).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hide_and_seek_tf._io import DirectoryInUseError
from hide_and_seek_tf.cli import import_tensorflow
from hide_and_seek_tf.temporal.config import is_temporal_run
from hide_and_seek_tf.training.run_dir import SERVING_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run-dir", help="training run directory (has model.keras)")
    source.add_argument("--model", help="any Keras classifier saved as .keras")
    parser.add_argument(
        "--class-names",
        help="with --model: a file of class names, one per line (or a .json list); "
        'default "0", "1", ...',
    )
    parser.add_argument(
        "--out",
        default=None,
        help="model base path (default: RUN/serving, or serving/ beside --model)",
    )
    parser.add_argument("--version", type=int, default=None, help="default: latest + 1")
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="CAM threshold, fraction of the map's max (default: the model's paper threshold, "
        "its registration's `paper_threshold`: 0.2 unless the paper says otherwise)",
    )
    parser.add_argument(
        "--top-k", type=int, default=None, help="classes returned (default: min(5, classes))"
    )
    parser.add_argument(
        "--cam-size",
        type=int,
        default=None,
        help="side of the returned CAM (default: that of the maps the CAM weighs)",
    )
    parser.add_argument(
        "--max-batch-size",
        type=int,
        help="batches are padded to a power of two up to this (default 64); larger ones run in "
        "chunks",
    )
    parser.add_argument(
        "--max-image-pixels",
        type=int,
        default=None,
        help="serving_default refuses, before decoding, an image whose header declares more "
        "pixels (height x width) than this (default 64000000: 48-61 MP camera photos pass, "
        "decompression bombs do not); it bounds the memory an image takes",
    )
    parser.add_argument(
        "--no-warmup", action="store_true", help="do not write the TF Serving warm-up requests"
    )
    parser.add_argument(
        "--preprocessing",
        choices=("none", "tf", "torch", "caffe"),
        default="none",
        help="keras.applications input convention applied to raw pixels before the model",
    )
    parser.add_argument("--cam-layer", help="layer whose output the CAM weighs (default: found)")
    parser.add_argument("--classifier-layer", help="the classifier Dense (default: found)")
    parser.add_argument(
        "--no-xla",
        action="store_true",
        help="do not XLA-compile the box search (for a serving runtime built without XLA)",
    )
    args = parser.parse_args(argv)
    if args.class_names and not args.model:
        parser.error("--class-names goes with --model (a run directory has its own)")
    if args.run_dir and args.preprocessing != "none":
        parser.error(
            "--preprocessing goes with --model: a run's model normalizes inside itself, so it "
            f"would be normalized twice. Received: --preprocessing {args.preprocessing}"
        )
    temporal = bool(args.run_dir) and is_temporal_run(args.run_dir)
    if temporal:
        image_only = [
            flag
            for flag, value in (
                ("--cam-size", args.cam_size),
                ("--max-batch-size", args.max_batch_size),
                ("--max-image-pixels", args.max_image_pixels),
                ("--cam-layer", args.cam_layer),
                ("--classifier-layer", args.classifier_layer),
                ("--no-xla", args.no_xla),
            )
            if value is not None and value is not False
        ]
        if image_only:
            parser.error(
                f"{', '.join(image_only)} do not apply to a temporal run (it serves feature "
                f"sequences). Received: --run-dir {args.run_dir}"
            )
    import_tensorflow()
    # deferred: loads TensorFlow, once the arguments are checked (see hide_and_seek_tf.cli)
    from hide_and_seek_tf.export import export_model, export_run
    from hide_and_seek_tf.temporal.export import export_temporal_run

    options = dict(
        warmup=not args.no_warmup,
        preprocessing=None if args.preprocessing == "none" else args.preprocessing,
        cam_layer=args.cam_layer,
        classifier_layer=args.classifier_layer,
    )
    if args.max_image_pixels is not None:
        options["max_image_pixels"] = args.max_image_pixels
    if args.max_batch_size is not None:
        options["max_batch_size"] = args.max_batch_size
    common = (args.version, args.threshold, args.top_k, args.cam_size, not args.no_xla)
    try:
        if temporal:
            path = export_temporal_run(
                args.run_dir, args.out, args.version, args.threshold, args.top_k,
                warmup=not args.no_warmup,
            )  # fmt: skip
        elif args.model:
            out = args.out or Path(args.model).parent / SERVING_DIR
            path = export_model(args.model, args.class_names, out, *common, **options)
        else:
            path = export_run(args.run_dir, args.out, *common, **options)
    except (FileNotFoundError, FileExistsError, ValueError, DirectoryInUseError) as error:
        print(f"export.py: error: {error}", file=sys.stderr)
        return 2
    print(f"Exported SavedModel to {path}")
    print(f"Inspect it with: saved_model_cli show --dir {path} --all")
    return 0


def run() -> int:
    """The console script `hide-and-seek-export`."""
    return main()


if __name__ == "__main__":
    sys.exit(run())

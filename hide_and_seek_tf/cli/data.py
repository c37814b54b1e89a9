#!/usr/bin/env python
"""Check a dataset before training on it: `hide-and-seek-data check SPEC [--split ...]`.

    hide-and-seek-data check tiny-imagenet:~/data/tiny-imagenet-200.zip
    hide-and-seek-data check cub:~/data/CUB_200_2011 --split test
    hide-and-seek-data check imagenet:~/data/imagenet --split val
    hide-and-seek-data check wsol:wsolevaluation/metadata/CUB --data-dir ~/data/CUB_200_2011/images
    python -m hide_and_seek_tf.data check csv:boxes.csv

Prints per split: images, classes, boxes per image, box areas in the evaluation's size bins,
clipped boxes, grayscale / CMYK / PNG counts, unreadable files and the largest image. Exits 1 when
a split cannot be loaded or holds an unreadable image. The work is done by
`hide_and_seek_tf.data.check_report.run_check`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hide_and_seek_tf.cli import import_tensorflow, parse_classes
from hide_and_seek_tf.data.sources import DataSpec


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hide-and-seek-data",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="scan a data spec's splits and report")
    check.add_argument("spec", help="a data spec, e.g. cub:PATH (docs/data.md)")
    check.add_argument(
        "--split", nargs="+", help="splits to check (default: the source's own splits)"
    )
    check.add_argument("--data-dir", help="wsol:/csv: the image root; tfds: the data directory")
    check.add_argument("--classes", help="K (the first K classes) or comma-separated class ids")
    check.add_argument(
        "--strict-boxes",
        action="store_true",
        help="count a box past its image as an error (as train.py --strict-boxes would)",
    )
    check.add_argument(
        "--max-image-pixels",
        type=int,
        help="refuse images whose header declares more pixels (default 100,000,000 or "
        "$HIDE_AND_SEEK_MAX_IMAGE_PIXELS)",
    )
    check.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command; returns the exit status."""
    args = parse_args(argv)
    try:
        spec = DataSpec.parse(args.spec, data_dir=args.data_dir, name="spec")
    except (TypeError, ValueError) as err:
        print(f"hide-and-seek-data: error: {err}", file=sys.stderr)
        return 2
    classes = parse_classes(args.classes) if args.classes else None
    import_tensorflow()
    # deferred: loads TensorFlow, once the arguments are checked (see hide_and_seek_tf.cli)
    from hide_and_seek_tf.data.check_report import run_check

    return run_check(
        spec,
        args.split,
        classes=classes,
        strict_boxes=args.strict_boxes,
        max_image_pixels=args.max_image_pixels,
        progress=args.progress,
    )


def run() -> int:
    """The console script `hide-and-seek-data`."""
    return main()


if __name__ == "__main__":
    sys.exit(run())

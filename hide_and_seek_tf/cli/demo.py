"""The quick-start demo: plain GAP vs Hide-and-Seek on the built-in synthetic data, end to end.

    hide-and-seek-demo [--out runs/demo] [--seed 0] [--epochs N] [--num-images N]
    python -m hide_and_seek_tf.cli.demo ...   # the same; `make demo`

The work is done by `hide_and_seek_tf.side_by_side.run_demo`.
"""

from __future__ import annotations

import argparse
import sys

from hide_and_seek_tf.cli import import_tensorflow


def main(argv: list[str] | None = None) -> int:
    """Runs the demo; returns the exit status."""
    parser = argparse.ArgumentParser(prog="hide-and-seek-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/demo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="default: the synthetic demo's")
    parser.add_argument("--num-images", type=int, default=None, help="training images")
    parser.add_argument(
        "--val-images",
        type=int,
        default=None,
        help="images of each evaluation split: val (chooses the CAM thresholds) and test (scored)",
    )
    args = parser.parse_args(argv)
    import_tensorflow()
    import tensorflow as tf

    # deferred: TensorFlow loads after the arguments are parsed (see hide_and_seek_tf.cli)
    from hide_and_seek_tf.side_by_side import run_demo

    tf.get_logger().setLevel("ERROR")
    # Same machine, same numbers: deterministic kernels and tf.data (and an error, not a silent
    # difference, from any op that cannot be deterministic or any unseeded random op).
    tf.config.experimental.enable_op_determinism()
    run_demo(args.out, args.seed, args.epochs, args.num_images, args.val_images)
    return 0


def run() -> int:
    """The console script `hide-and-seek-demo`."""
    return main()


if __name__ == "__main__":
    sys.exit(run())

"""Export a training run's model as a TF Serving SavedModel returning class, score, label, CAM and box.

    python export.py --run-dir runs/demo/hide_and_seek [--out RUN/serving] [--version N] [--threshold T] \
        [--top-k 5] [--cam-size 14]

Writes OUT/<version>/ (TF Serving layout) atomically and never overwrites an existing version.
See hide_and_seek_tf/export.py for the signatures.
"""

from __future__ import annotations

import argparse
import sys

from hide_and_seek_tf.cli import import_tensorflow


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", required=True, help="training run directory (has model.keras)")
    parser.add_argument("--out", default=None, help="model base path (default: RUN/serving)")
    parser.add_argument("--version", type=int, default=None, help="default: latest + 1")
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="CAM threshold, fraction of the map's max (default: the paper's: 0.3 for "
        "googlenet_gap, else 0.2)",
    )
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--cam-size", type=int, default=14)
    parser.add_argument(
        "--no-xla",
        action="store_true",
        help="do not XLA-compile the box search (for a serving runtime built without XLA)",
    )
    args = parser.parse_args(argv)
    import_tensorflow()
    from hide_and_seek_tf.export import export_run

    try:
        path = export_run(
            args.run_dir,
            args.out,
            args.version,
            args.threshold,
            args.top_k,
            args.cam_size,
            jit_compile=not args.no_xla,
        )
    except (FileNotFoundError, FileExistsError, ValueError) as error:
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

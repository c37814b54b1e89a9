#!/usr/bin/env python
"""Evidence: on the built-in synthetic sequences, Video-HaS vs Video-full (paper, section 4.5, Table 7).

The synthetic videos (`hide_and_seek_tf.data.synthetic_sequences`) hold one action whose short moment
names the class and whose longer body agrees with it 90% of the time. Protocol, identical for both
methods on every seed (0, 1, 2 by default):

- Data: `synthetic-sequences` with the run's seed: 1,000 training videos of 200 steps (D = 32), 500 test
  videos. Input statistics and the hiding fill: the training set's mean (and std) feature.
- Training: `train_temporal`, the paper's classifier (two 1x1 convs of 500 kernels, GMP, softmax),
  Adam 1e-3 with a cosine decay to 1e-5, batch 32, 10 epochs, no validation. Video-HaS hides segments
  of 10 steps (20 per video, the paper's count) with p = 0.5; Video-full hides nothing.
- Localization: the paper's: ground-truth class known, its 1-D CAM thresholded at 50% of its max, every
  run a detection scored by its mean CAM; mAP at tIoU 0.1-0.5 (`evaluate_temporal_run`). Also top-1
  accuracy, the share of ground-truth time covered, and a whole-video baseline.

Commands::

    python benchmarks/temporal_has_vs_full.py                   # 3 seeds, ~5 min on 2 cores
    python benchmarks/temporal_has_vs_full.py --seeds 0 --epochs 3

It prints Markdown tables (the ones in docs/results.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hide_and_seek_tf.temporal import (  # noqa: E402
    TemporalConfig,
    evaluate_temporal_run,
    train_temporal,
)

METHODS = {"Video-full": 0, "Video-HaS": 10}  # segment length (0 = no hiding)


def run(seed: int, segment_length: int, args: argparse.Namespace, root: Path) -> dict:
    run_dir = root / f"seed{seed}-seg{segment_length}"
    config = TemporalConfig(
        num_videos=args.num_videos,
        num_steps=200,
        segment_length=segment_length,
        epochs=args.epochs,
        seed=seed,
        run_dir=str(run_dir),
        validation=False,
    )
    start = time.perf_counter()
    train_temporal(config, verbose=0)
    seconds = time.perf_counter() - start
    result = evaluate_temporal_run(run_dir, split="test", num_videos=args.test_videos)
    return {**result, "train_seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--num-videos", type=int, default=1000)
    parser.add_argument("--test-videos", type=int, default=500)
    parser.add_argument("--out", help="keep the run directories here (default: a temporary folder)")
    args = parser.parse_args()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        results = {
            (name, seed): run(seed, segment, args, root)
            for seed in args.seeds
            for name, segment in METHODS.items()
        }
    minutes = (time.perf_counter() - began) / 60
    print(
        f"# {platform.machine()}, {os.cpu_count()} cores, TF {tf.__version__}, Keras "
        f"{keras.__version__}; seeds {args.seeds}; {minutes:.1f} min in all\n"
    )
    tious = list(next(iter(results.values()))["metrics"]["map"])
    print(
        "| method | seed | "
        + " | ".join(f"mAP@{t}" for t in tious)
        + " | top-1 acc | GT covered | intervals / video | train time |"
    )
    print("|---|---|" + "---:|" * (len(tious) + 4))
    for name in METHODS:
        rows = [results[(name, seed)] for seed in args.seeds]
        for seed, r in zip(args.seeds, rows, strict=True):
            m = r["metrics"]
            print(
                f"| {name} | {seed} | "
                + " | ".join(f"{v:.1f}" for v in m["map"].values())
                + f" | {m['accuracy']:.1f} | {m['gt_coverage']:.1f} | "
                f"{m['detections_per_video']:.2f} | {r['train_seconds']:.0f} s |"
            )
        mean = {t: statistics.mean(r["metrics"]["map"][t] for r in rows) for t in tious}
        print(
            f"| **{name} mean** | | "
            + " | ".join(f"**{v:.1f}**" for v in mean.values())
            + f" | {statistics.mean(r['metrics']['accuracy'] for r in rows):.1f}"
            + f" | {statistics.mean(r['metrics']['gt_coverage'] for r in rows):.1f}"
            + f" | {statistics.mean(r['metrics']['detections_per_video'] for r in rows):.2f} | |"
        )
    base = results[("Video-full", args.seeds[0])]["baselines"]["whole_video"]["map"]
    print(
        "| whole video as the interval (seed "
        + str(args.seeds[0])
        + ") | | "
        + " | ".join(f"{v:.1f}" for v in base.values())
        + " | | | | |"
    )
    print("\nVideo-HaS minus Video-full, mAP per seed:")
    for seed in args.seeds:
        full = results[("Video-full", seed)]["metrics"]["map"]
        has = results[("Video-HaS", seed)]["metrics"]["map"]
        print(f"- seed {seed}: " + ", ".join(f"{t}: {has[t] - full[t]:+.1f}" for t in tious))


if __name__ == "__main__":
    main()

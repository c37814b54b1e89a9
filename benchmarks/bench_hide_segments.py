"""Benchmark: `hide_segments` (video Hide-and-Seek) against one elementwise `tf.where` over the batch.

Prints median milliseconds per batch, all rows measured in one run and interleaved (round-robin) so
that the noise of a shared machine hits every row alike. Target (issue 13): within 1.25x the floor.

    python benchmarks/bench_hide_segments.py [--repeats 30] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hide_and_seek_tf import hide_segments  # noqa: E402

# (B, T, D, F_segment): the paper's C3D setting (2000 steps of fc7, segments of 100) at batch 8,
# and the built-in synthetic sequences at batch 32.
SHAPES = ((8, 2000, 4096, 100), (32, 200, 32, 10))


def build_cases(features: tf.Tensor, segment: int) -> dict[str, Callable[[], object]]:
    fill = tf.reduce_mean(features, axis=(0, 1))  # a per-feature mean, as training uses
    const = tf.constant(1.0)

    @tf.function
    def floor(x):
        return tf.where(x >= 0.0, x, const)

    def make(jit):
        @tf.function(jit_compile=jit)
        def run(x, seed):
            return hide_segments(x, segment, 0.5, fill, seed=seed)

        return run

    # The select alone, its (B, T, 1) mask made beforehand: what is left once the mask costs nothing.
    mask = tf.random.uniform(features.shape[:2], seed=1) < 0.5

    @tf.function
    def select_only(x, m):
        return tf.where(m[..., None], fill, x)

    seeds = tf.constant([3, 4], tf.int64)
    eager, xla = make(False), make(True)
    return {
        "floor: tf.where(x >= 0, x, c)": lambda: floor(features),
        "tf.where(mask[..., None], fill, x), mask given": lambda: select_only(features, mask),
        f"hide_segments F_segment={segment} (tf.function)": lambda: eager(features, seeds),
        f"hide_segments F_segment={segment} (XLA)": lambda: xla(features, seeds),
    }


def measure(cases: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    for fn in cases.values():  # trace and warm up
        for _ in range(3):
            fn().numpy()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn().numpy()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = parser.parse_args()
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"TF {tf.__version__}, Keras {keras.__version__}, {args.repeats} repeats, median ms/batch"
    )
    rng = np.random.default_rng(0)
    for batch, length, dim, segment in SHAPES:
        features = tf.constant(rng.normal(size=(batch, length, dim)), tf.float32)
        results = measure(build_cases(features, segment), args.repeats)
        floor_ms = results["floor: tf.where(x >= 0, x, c)"]
        title = f"{batch}x{length}x{dim} float32"
        print(
            f"\n| {title} | ms/batch | x floor |\n|---|---:|---:|"
            if args.markdown
            else f"\n{title}"
        )
        for name, ms in results.items():
            if args.markdown:
                print(f"| {name} | {ms:.2f} | {ms / floor_ms:.2f} |")
            else:
                print(f"  {name:<45} {ms:9.2f} ms  {ms / floor_ms:5.2f}x floor")


if __name__ == "__main__":
    main()

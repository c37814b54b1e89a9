"""Benchmark: Hide-and-Seek masking speed against the elementwise floor and common alternatives.

Prints a table of median milliseconds per batch, every row measured in one run, interleaved (round-robin) so that
the noise of a shared machine hits all rows alike.

    python benchmarks/bench_hide_patches.py [--repeats 30] [--markdown]
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
from hide_and_seek_tf import hide_patches  # noqa: E402

MIXED = (16, 32, 44, 56, 0)
FILL = (124.0, 116.0, 104.0)


def _albumentations_grid_dropout(size: int) -> Callable | None:
    try:
        import albumentations as A  # noqa: N812
    except ImportError:
        return None
    # unit_size_range is [low, high) here: (size, size + 1) pins the cell side.
    transform = A.GridDropout(ratio=0.5, unit_size_range=(size, size + 1), fill=FILL[0], p=1.0)

    def run(batch: np.ndarray) -> np.ndarray:
        return np.stack([transform(image=image)["image"] for image in batch])

    return run


def build_cases(images: tf.Tensor) -> dict[str, Callable[[], object]]:
    dtype = images.dtype
    const = tf.cast(tf.constant(FILL[0]), dtype)

    @tf.function
    def floor(x):
        return tf.where(x >= tf.zeros([], dtype), x, const)

    seeds = tf.random.uniform([2], maxval=2**30, dtype=tf.int32)

    def make(sizes, jit):
        @tf.function(jit_compile=jit)
        def run(x, seed):
            return hide_patches(x, sizes, 0.5, FILL, seed=seed)

        return run

    one_eager, one_xla = make(16, False), make(16, True)
    mixed_eager, mixed_xla = make(MIXED, False), make(MIXED, True)
    erasing = keras.layers.RandomErasing(factor=1.0, scale=(0.02, 0.33), fill_value=FILL[0], seed=1)

    @tf.function
    def random_erasing(x):
        return erasing(x, training=True)

    cases = {
        "floor: tf.where(x >= 0, x, c)": lambda: floor(images),
        "hide_patches N=16 (tf.function)": lambda: one_eager(images, seeds),
        "hide_patches N=16 (XLA)": lambda: one_xla(images, seeds),
        "hide_patches mixed {16,32,44,56,0} (tf.function)": lambda: mixed_eager(images, seeds),
        "hide_patches mixed {16,32,44,56,0} (XLA)": lambda: mixed_xla(images, seeds),
    }
    if dtype == tf.float32:
        cases["keras.layers.RandomErasing"] = lambda: random_erasing(images)
    grid = _albumentations_grid_dropout(16)
    if grid is not None:
        array = images.numpy()
        cases["albumentations GridDropout, per image"] = lambda: grid(array)
    return cases


def measure(cases: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    def sync(out):
        # Force the computation to finish (tensors are async on some devices).
        return out.numpy() if hasattr(out, "numpy") else out

    for fn in cases.values():  # trace and warm up
        for _ in range(3):
            sync(fn())
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            start = time.perf_counter()
            sync(fn())
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
    for shape in [(256, 64, 64, 3), (64, 224, 224, 3)]:
        for dtype in (tf.float32, tf.uint8):
            images = tf.constant(rng.integers(0, 256, size=shape), dtype=dtype)
            results = measure(build_cases(images), args.repeats)
            floor_ms = results["floor: tf.where(x >= 0, x, c)"]
            title = f"{'x'.join(map(str, shape))} {dtype.name}"
            if args.markdown:
                print(f"\n| {title} | ms/batch | x floor |\n|---|---:|---:|")
            else:
                print(f"\n{title}")
            for name, ms in results.items():
                if args.markdown:
                    print(f"| {name} | {ms:.2f} | {ms / floor_ms:.2f} |")
                else:
                    print(f"  {name:<50} {ms:9.2f} ms  {ms / floor_ms:5.2f}x floor")


if __name__ == "__main__":
    main()

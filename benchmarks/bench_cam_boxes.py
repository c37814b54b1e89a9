"""Benchmark: CAM -> box for a grid of thresholds, `cams_to_boxes` vs per-map, per-threshold loops.

Compares, on the same CAM-like maps and a grid of 100 thresholds (0.00, 0.01, ..., 0.99):

- `cams_to_boxes` (TensorFlow ops, batched over maps and thresholds, XLA for the dense part);
- a SciPy loop: for each map and threshold, `ndimage.label` (8-connectivity), `np.bincount`,
  largest component, `ndimage.find_objects` (what the parity tests check against);
- an OpenCV loop with `cv2.connectedComponentsWithStats` (8-connectivity, Wu's algorithm so
  that ties go to the same component);
- the OpenCV `findContours` loop public WSOL code uses (largest contour by `cv2.contourArea`,
  `cv2.boundingRect`). Its "largest" is by polygon area, not pixel count, so its boxes may
  differ; the table gives how often they match ours.

The first three must give identical boxes; the script checks it and fails otherwise. OpenCV is
optional (not a project dependency): without it those rows are skipped.

Maps: per map, up to three Gaussian blobs plus noise at low resolution (8 x 8 for 64 px,
14 x 14 for 224 px, like CAMs of a GAP network), upsampled bilinearly and min-max normalized.

    python benchmarks/bench_cam_boxes.py            # the table in docs/benchmarks.md
    python benchmarks/bench_cam_boxes.py --quick    # a small run
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from scipy import ndimage  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hide_and_seek_tf.boxes import cams_to_boxes  # noqa: E402

try:
    import cv2
except ImportError:  # optional
    cv2 = None

EIGHT = np.ones((3, 3), bool)


def cam_like_maps(n: int, size: int, low: int, seed: int) -> np.ndarray:
    """CAM-like maps (n, size, size) in [0, 1]: low-res blobs + noise, upsampled bilinearly."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:low, 0:low].astype(np.float32)
    k = rng.integers(1, 4, n)
    maps = np.zeros((n, low, low), np.float32)
    for j in range(3):
        cy, cx = rng.uniform(0, low, (2, n, 1, 1))
        s = rng.uniform(0.5, low / 3, (n, 1, 1))
        a = rng.uniform(0.2, 1.0, (n, 1, 1)) * (j < k)[:, None, None]
        maps += a * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    maps += 0.1 * rng.standard_normal((n, low, low)).astype(np.float32)
    up = tf.image.resize(maps[..., None], (size, size), method="bilinear").numpy()[..., 0]
    low_v = up.min(axis=(1, 2), keepdims=True)
    return ((up - low_v) / (up.max(axis=(1, 2), keepdims=True) - low_v)).astype(np.float32)


def scipy_loop(cams: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    # ndimage.label numbers components in raster order of their first pixel, so argmax (first
    # maximum) applies the tie rule of cams_to_boxes (earliest first pixel wins).
    out = np.full((len(cams), len(thresholds), 4), -1, np.int32)
    for i, cam in enumerate(cams):
        peak = cam.max()
        for j, t in enumerate(thresholds):
            labels, count = ndimage.label(cam >= t * peak, EIGHT)
            if count == 0:
                continue
            k = int(np.argmax(np.bincount(labels.ravel())[1:]))
            sy, sx = ndimage.find_objects(labels, max_label=k + 1)[k]
            out[i, j] = sx.start, sy.start, sx.stop - 1, sy.stop - 1
    return out


def opencv_components_loop(cams: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    # Wu's algorithm (SAUF) numbers components in raster order, as ndimage.label does.
    out = np.full((len(cams), len(thresholds), 4), -1, np.int32)
    for i, cam in enumerate(cams):
        peak = cam.max()
        for j, t in enumerate(thresholds):
            mask = (cam >= t * peak).astype(np.uint8)
            count, _, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
                mask, 8, cv2.CV_32S, cv2.CCL_WU
            )
            if count <= 1:
                continue
            k = int(np.argmax(stats[1:, cv2.CC_STAT_AREA])) + 1
            x, y, w, h = stats[k, :4]
            out[i, j] = x, y, x + w - 1, y + h - 1
    return out


def opencv_contours_loop(cams: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The WSOL route: largest contour by polygon area (not pixel count)."""
    out = np.full((len(cams), len(thresholds), 4), -1, np.int32)
    for i, cam in enumerate(cams):
        peak = cam.max()
        for j, t in enumerate(thresholds):
            mask = (cam >= t * peak).astype(np.uint8)
            contours, _ = cv2.findContours(mask, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
            if not contours:
                continue
            c = max(contours, key=cv2.contourArea)
            x, y, w, h = cv2.boundingRect(c)
            out[i, j] = x, y, x + w - 1, y + h - 1
    return out


def timed(fn, repeats: int):
    """((best wall seconds, best process CPU seconds) over `repeats`, result). CPU time counts
    every thread of this process, so it is less sensitive to other load on the machine."""
    wall, cpu, result = float("inf"), float("inf"), None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return (wall, cpu), result


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} logical cores, Python {platform.python_version()}, "
        f"TensorFlow {tf.__version__}, NumPy {np.__version__}, "
        f"SciPy {__import__('scipy').__version__}, "
        f"OpenCV {cv2.__version__ if cv2 else 'not installed'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 / 32 maps instead of 2048 / 256")
    parser.add_argument("--repeats", type=int, default=3, help="best of N for cams_to_boxes")
    args = parser.parse_args()
    thresholds = np.arange(100, dtype=np.float32) / np.float32(100)
    cases = [(2048, 64, 8), (256, 224, 14)]
    if args.quick:
        cases = [(256, 64, 8), (32, 224, 14)]
    print(f"machine: {machine()}")
    print(f"thresholds: {len(thresholds)} (0.00 .. 0.99)")
    print(f"load average before the run: {os.getloadavg()[0]:.1f}\n")
    print(
        "| maps | method | wall s | CPU s | maps / s (wall) | vs SciPy, wall | vs SciPy, CPU "
        "| boxes identical to ours |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for n, size, low in cases:
        cams = cam_like_maps(n, size, low, seed=size)
        cams_to_boxes(cams[:8], thresholds)  # trace once; XLA compiles per shape below
        cams_to_boxes(cams, thresholds)
        t_ours, ours = timed(lambda c=cams: cams_to_boxes(c, thresholds).numpy(), args.repeats)
        t_scipy, ref = timed(lambda c=cams: scipy_loop(c, thresholds), 1)
        if not np.array_equal(ours, ref):
            raise SystemExit(f"cams_to_boxes and the SciPy loop disagree at {size} px")
        rows = [("`cams_to_boxes`", t_ours, "yes"), ("SciPy `ndimage.label` loop", t_scipy, "yes")]
        if cv2 is not None:
            cv2.setNumThreads(1)  # faster than OpenCV's threads on maps this small
            t_cc, cc = timed(lambda c=cams: opencv_components_loop(c, thresholds), 1)
            if not np.array_equal(cc, ref):
                raise SystemExit(f"OpenCV connectedComponentsWithStats disagrees at {size} px")
            rows.append(("OpenCV `connectedComponentsWithStats` loop", t_cc, "yes"))
            t_fc, fc = timed(lambda c=cams: opencv_contours_loop(c, thresholds), 1)
            same = 100.0 * np.all(fc == ref, axis=-1).mean()
            rows.append(("OpenCV `findContours` loop (WSOL route)", t_fc, f"{same:.1f}% of boxes"))
        for name, (wall, cpu), identical in rows:
            print(
                f"| {n} x {size}x{size} | {name} | {wall:.2f} | {cpu:.2f} | {n / wall:,.0f} | "
                f"{t_scipy[0] / wall:.1f}x | {t_scipy[1] / cpu:.1f}x | {identical} |"
            )


if __name__ == "__main__":
    main()

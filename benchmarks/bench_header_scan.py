"""Benchmark: what the data checks cost (header scan, `hide_and_seek_tf.data.checks`) next to decoding.

Rows: image headers read per second by `checks.scan_headers` (the scan every file source runs when
it loads a split), and, for scale, full decodes per second (`tf.io.decode_image`, one Python
thread, the same files). Sources: JPEG files in a folder at a CUB-like size (generated, with an
ICC profile segment as many real JPEGs carry) and, when it is present, the shared Tiny ImageNet
subset zip (real files, read in place). Median of `--repeats`; the OS file cache is warm.

    python benchmarks/bench_header_scan.py [--num-images 2000] [--repeats 3]
        [--zip /work/shared/data/tiny-imagenet-200-subset.zip]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hide_and_seek_tf.data import checks  # noqa: E402

ICC = b"\xff\xe2" + (2 + 14 + 3072).to_bytes(2, "big") + b"ICC_PROFILE\x00\x01\x01" + bytes(3072)


def _jpegs(folder: Path, num: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for k in range(num):
        width, height = int(rng.integers(300, 501)), int(rng.integers(250, 376))
        ramp = np.linspace(0, 120, width)[None, :, None] + np.linspace(0, 80, height)[:, None, None]
        pixels = np.clip(ramp + rng.normal(0, 12, (height, width, 3)) + 40, 0, 255).astype(np.uint8)
        data = tf.io.encode_jpeg(pixels, quality=90).numpy()
        path = folder / f"{k:05d}.jpg"
        path.write_bytes(data[:2] + ICC + data[2:])
        paths.append(path)
    return paths


def _median_rate(count: int, run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return count / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--zip", default="/work/shared/data/tiny-imagenet-200-subset.zip")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = _jpegs(Path(tmp), args.num_images)
        n = len(paths)
        scan = _median_rate(
            n, lambda: checks.scan_headers(paths, checks.header_of_file), args.repeats
        )
        decode = _median_rate(
            n,
            lambda: [tf.io.decode_image(p.read_bytes(), channels=3) for p in paths],
            args.repeats,
        )
        rows.append((f"folder, {n} JPEGs 300-500 x 250-375 px", scan, decode))
    if Path(args.zip).is_file():
        with zipfile.ZipFile(args.zip) as zf:
            names = [m for m in zf.namelist() if m.endswith(".JPEG")][: max(args.num_images, 10000)]

            def scan_zip():
                checks.scan_headers(names, lambda m: checks.header_of_bytes(zf.read(m)))

            def decode_zip():
                for m in names:
                    tf.io.decode_image(zf.read(m), channels=3)

            rows.append(
                (
                    f"Tiny ImageNet subset zip, {len(names)} JPEGs 64 x 64",
                    _median_rate(len(names), scan_zip, args.repeats),
                    _median_rate(len(names), decode_zip, args.repeats),
                )
            )
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, TF {tf.__version__}"
    )
    print("| images | header scan (images/s) | full decode (images/s) | scan / decode time |")
    print("|---|---:|---:|---:|")
    for name, scan, decode in rows:
        print(f"| {name} | {scan:,.0f} | {decode:,.0f} | {decode / scan:.2f} |")


if __name__ == "__main__":
    main()

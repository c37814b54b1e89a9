"""Benchmark: time and peak memory of normal, large and hostile requests to the exported model.

One SavedModel (small_gap, 64 x 64, random weights) is exported with the default
`max_image_pixels` (64 MP) and once more with the limit off (10**12), to show what the limit saves.
Every case runs in a fresh process: it loads the model, sends one small request (so loading and
the first call are in the baseline), then sends the case's request once and reports its wall time
and the growth of the process's resident memory (sampled every millisecond) over that baseline.

Cases:
  - normal: one 640 x 480 JPEG; normal x 16: sixteen of them in one request;
  - large: one 8000 x 6000 (48 MP) JPEG, the size of a modern phone photo (under the limit);
  - bomb: a 20,000 x 20,000 grayscale PNG of zeros (about 390 KB, 400 MP once decoded), alone and
    three in one request beside a normal image;
  - truncated: a normal JPEG cut in half, beside a normal one.

    python benchmarks/bench_hostile_images.py [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
BOMB_SIDE = 20_000


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data).to_bytes(4, "big")
    return len(data).to_bytes(4, "big") + kind + data + crc


def png_bomb(side: int = BOMB_SIDE) -> bytes:
    """A valid grayscale PNG of side x side zeros, compressed row by row."""
    header = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    compressor = zlib.compressobj(9)
    row = bytes(side + 1)  # filter byte 0, then the pixels
    parts = [compressor.compress(row) for _ in range(side)]
    data = b"".join(parts) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )


def _photo_like(height: int, width: int):
    """Smooth gradients with a little noise: compresses like a photo, unlike pure noise."""
    import numpy as np

    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / width, y / height, (x + y) / (width + height)], axis=-1) * 200
    noise = np.random.default_rng(0).integers(0, 40, (height, width, 1))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def make_images(folder: Path) -> dict[str, Path]:
    import tensorflow as tf

    normal = tf.io.encode_jpeg(_photo_like(480, 640), quality=90).numpy()
    files = {
        "normal": normal,
        "large": tf.io.encode_jpeg(_photo_like(6000, 8000), quality=90).numpy(),
        "bomb": png_bomb(),
        "truncated": normal[: len(normal) // 2],
    }
    paths = {}
    for name, data in files.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths


# name -> (export, images in the request)
CASES = {
    "normal": ("limit", ["normal"]),
    "normal x 16": ("limit", ["normal"] * 16),
    "large (48 MP JPEG)": ("limit", ["large"]),
    "large (48 MP JPEG), no limit": ("nolimit", ["large"]),
    "bomb (20,000^2 PNG)": ("limit", ["bomb"]),
    "3 bombs + normal": ("limit", ["normal", "bomb", "bomb", "bomb"]),
    "bomb, no limit": ("nolimit", ["bomb"]),
    "truncated JPEG + normal": ("limit", ["normal", "truncated"]),
}


def _resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakMemory:
    """The largest resident set size seen while the block runs, sampled every millisecond
    (`ru_maxrss` cannot show it: loading the model has a higher transient peak)."""

    def __enter__(self) -> PeakMemory:
        self.before = self.peak = _resident_mb()
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while self._running:
            self.peak = max(self.peak, _resident_mb())
            time.sleep(0.001)

    def __exit__(self, *exc) -> None:
        self._running = False
        self._thread.join()
        self.peak = max(self.peak, _resident_mb())


def child(model_dir: str, images: list[str]) -> dict:
    """Runs in a fresh process: a baseline request of as many normal images, then the measured one."""
    import tensorflow as tf

    serve = tf.saved_model.load(model_dir).signatures["serving_default"]
    normal = Path(images[0]).with_name("normal").read_bytes()
    # Loading, the first call and this batch size's first call belong to the baseline.
    serve(images=tf.constant([normal] * len(images)))
    batch = tf.constant([Path(p).read_bytes() for p in images])
    with PeakMemory() as memory:
        start = time.perf_counter()
        try:
            serve(images=batch)
            outcome = "served"
        except tf.errors.InvalidArgumentError as err:
            found = re.search(r"batch indices are (.*?):\]? (\[[\d ]+\])", err.message)
            outcome = "refused: " + (" ".join(found.groups()) if found else err.message[:80])
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mb": memory.peak - memory.before, "outcome": outcome}


def _header_check_ms(images: dict[str, Path]) -> dict[str, float]:
    """Median time of reading the headers alone: 16 normal JPEGs, and the 48 MP one."""
    import tensorflow as tf

    from hide_and_seek_tf.export import MAX_IMAGE_PIXELS, image_headers

    check = tf.function(lambda batch: image_headers(batch, MAX_IMAGE_PIXELS))
    result = {}
    for name, count in (("normal", 16), ("large", 1)):
        batch = tf.constant([images[name].read_bytes()] * count)
        check(batch)
        times = []
        for _ in range(20):
            start = time.perf_counter()
            check(batch)[0].numpy()
            times.append(1000 * (time.perf_counter() - start))
        result[f"{count} x {name}"] = statistics.median(times)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1:])))
        return

    import keras

    sys.path.insert(0, str(REPO))
    from hide_and_seek_tf.export import MAX_IMAGE_PIXELS, export_serving
    from hide_and_seek_tf.models import build_model

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        keras.utils.set_random_seed(0)
        model = build_model("small_gap", 10, input_shape=(64, 64, 3))
        names = [str(i) for i in range(10)]
        exports = {
            "limit": export_serving(model, names, tmp / "limit", warmup=False),
            "nolimit": export_serving(
                model, names, tmp / "nolimit", warmup=False, max_image_pixels=10**12
            ),
        }
        images = make_images(tmp)
        sizes = {name: path.stat().st_size for name, path in images.items()}
        header_ms = _header_check_ms(images)
        rows = []
        for case, (export, names_in) in CASES.items():
            command = [sys.executable, __file__, "--child", str(exports[export])]
            command += [str(images[n]) for n in names_in]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            rows.append((case, json.loads(done.stdout.strip().splitlines()[-1])))

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; default "
          f"max_image_pixels={MAX_IMAGE_PIXELS}; file sizes (bytes): {sizes}")  # fmt: skip
    print("header check alone (image_headers in a tf.function, median): " + ", ".join(
        f"{name} {ms:.2f} ms" for name, ms in header_ms.items()
    ))  # fmt: skip
    if args.markdown:
        print("| request | wall s | peak memory growth MB | outcome |")
        print("|---|---:|---:|---|")
        for case, r in rows:
            print(f"| {case} | {r['seconds']:.3f} | {r['peak_mb']:.0f} | {r['outcome']} |")
    else:
        for case, r in rows:
            print(f"{case:32s} {r['seconds']:8.3f} s {r['peak_mb']:8.0f} MB  {r['outcome']}")


if __name__ == "__main__":
    main()

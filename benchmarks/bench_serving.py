"""Benchmark: serving latency and throughput of the exported SavedModel, and what CAM + box cost.

For batch 1 and 64 at 64 x 64 (alexnet_gap_64) and 224 x 224 (alexnet_gap), all rows measured in one run,
interleaved, median of `--repeats`:
  - classifier: the Keras model's own forward pass (a tf.function over `model(x, training=False)`);
  - keras predict: `model.predict` on decoded pixels (what most users call);
  - predict_pixels: the exported signature on pixels (classifier + CAM + box + top-k);
  - serving_default: the exported signature on JPEG strings (decode + resize + all of the above).
The CAM + box share is (predict_pixels - classifier) / classifier. Weights are random (untrained); CAMs of random
weights are smooth blobs, so the component search does typical work.

    python benchmarks/bench_serving.py [--repeats 10] [--markdown]
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
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hide_and_seek_tf.export import export_serving  # noqa: E402
from hide_and_seek_tf.models import build_model  # noqa: E402

CASES = [("alexnet_gap_64", 64, 200), ("alexnet_gap", 224, 1000)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    print(
        f"# {platform.machine()}, {os.cpu_count()} cores, TF {tf.__version__}, "
        f"Keras {keras.__version__}, median of {args.repeats}"
    )
    header = "| model | batch | row | ms/batch | images/s |"
    rng = np.random.default_rng(0)
    rows = []
    for name, size, num_classes in CASES:
        keras.utils.set_random_seed(0)
        model = build_model(name, num_classes, input_shape=(size, size, 3))
        with tempfile.TemporaryDirectory() as out:
            path = export_serving(model, [str(i) for i in range(num_classes)], out)
            served = tf.saved_model.load(str(path))
            classifier = tf.function(lambda x, m=model: m(x, training=False))
            for batch in (1, 64):
                pixels = rng.integers(0, 256, size=(batch, size, size, 3)).astype(np.uint8)
                floats = tf.constant(pixels, tf.float32)
                jpegs = tf.constant([tf.io.encode_jpeg(p, quality=95).numpy() for p in pixels])
                fns = {
                    "classifier": lambda f=floats, c=classifier: c(f).numpy(),
                    "keras predict": lambda p=pixels, m=model: m.predict(
                        p, batch_size=64, verbose=0
                    ),
                    "predict_pixels": lambda f=floats, s=served: s.signatures["predict_pixels"](
                        images=f
                    )["boxes"].numpy(),
                    "serving_default": lambda j=jpegs, s=served: s.signatures["serving_default"](
                        images=j
                    )["boxes"].numpy(),
                }
                results = {k: [] for k in fns}
                for fn in fns.values():
                    fn()
                for _ in range(args.repeats):  # interleaved so noise hits all rows alike
                    for key, fn in fns.items():
                        start = time.perf_counter()
                        fn()
                        results[key].append((time.perf_counter() - start) * 1e3)
                med = {k: statistics.median(v) for k, v in results.items()}
                for key, ms in med.items():
                    rows.append((name, size, batch, key, ms, batch / ms * 1e3))
                share = (med["predict_pixels"] - med["classifier"]) / med["classifier"]
                rows.append((name, size, batch, "CAM + box share of classifier time", share, None))
    if args.markdown:
        print(header + "\n|---|---:|---|---:|---:|")
    for name, size, batch, key, value, throughput in rows:
        label = f"{name} ({size} px)"
        if throughput is None:
            text = f"{100 * value:+.1f}%"
            print(
                f"| {label} | {batch} | {key} | {text} | |"
                if args.markdown
                else f"{label:<24} b={batch:<3} {key:<36} {text}"
            )
        else:
            print(
                f"| {label} | {batch} | {key} | {value:.1f} | {throughput:.0f} |"
                if args.markdown
                else f"{label:<24} b={batch:<3} {key:<36} {value:9.1f} ms {throughput:8.0f} img/s"
            )


if __name__ == "__main__":
    main()

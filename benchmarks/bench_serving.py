"""Benchmark: serving latency and throughput of the exported SavedModel, what CAM + box cost, and
the first call of every batch size after the warm-up.

Part 1, for batch 1 and 64 at 64 x 64 (alexnet_gap_64) and 224 x 224 (alexnet_gap), all rows measured
in one run, interleaved, median of `--repeats`:
  - classifier: the Keras model's own forward pass (a tf.function over `model(x, training=False)`);
  - keras predict: `model.predict` on decoded pixels (what most users call);
  - predict_pixels: the exported signature on pixels (classifier + CAM + box + top-k);
  - predict_pixels, level route: the same model exported with the general (multi-threshold) box
    search instead of the one-threshold route, to compare the two side by side;
  - serving_default: the exported signature on JPEG strings (decode + resize + all of the above).
The CAM + box share is (predict_pixels - classifier) / classifier, in wall time and in CPU time (all
threads of the process; less swayed by other jobs on a shared machine). Weights are random (untrained); CAMs of random
weights are smooth blobs, so the component search does typical work.

Part 2 (alexnet_gap_64): a fresh load of the SavedModel replays its TF Serving warm-up file (one
request per bucket), then every batch size 1..64 is called once on new JPEGs (the first call of
that size) and `--first-repeats` more times (its steady state, median). Reported: the slowest
first call against the steady state of the same size (target: at most 2x); without buckets a new
size compiled a new box search (420-460 ms against 4-20 ms, the issue's measurement).

    python benchmarks/bench_serving.py [--repeats 10] [--first-repeats 3] [--markdown] \
        [--models alexnet_gap] [--batches 64] [--no-first-call]
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
import hide_and_seek_tf.boxes as boxes_module  # noqa: E402
from hide_and_seek_tf.export import WARMUP_FILE, batch_buckets, export_serving  # noqa: E402
from hide_and_seek_tf.models import build_model  # noqa: E402

CASES = [("alexnet_gap_64", 64, 200), ("alexnet_gap", 224, 1000)]


def _export(model, num_classes, out, level_route=False):
    boxes_module._ONE_THRESHOLD_ROUTE = not level_route
    try:
        path = export_serving(model, [str(i) for i in range(num_classes)], out)
    finally:
        boxes_module._ONE_THRESHOLD_ROUTE = True
    return tf.saved_model.load(str(path)), path


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def _timed_cpu(fn) -> tuple[float, float]:
    """(wall ms, CPU ms of every thread of this process): CPU time is what the work costs, less
    swayed than wall time by other jobs on a shared machine."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - wall) * 1e3, (time.process_time() - cpu) * 1e3


def overhead_rows(repeats: int, rng, models: list[str], batches: list[int]) -> list:
    rows = []
    for name, size, num_classes in CASES:
        if name not in models:
            continue
        keras.utils.set_random_seed(0)
        model = build_model(name, num_classes, input_shape=(size, size, 3))
        with tempfile.TemporaryDirectory() as out:
            served, _ = _export(model, num_classes, out)
            level, _ = _export(model, num_classes, out, level_route=True)
            classifier = tf.function(lambda x, m=model: m(x, training=False))
            for batch in batches:
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
                    "predict_pixels, level route": lambda f=floats, s=level: s.signatures[
                        "predict_pixels"
                    ](images=f)["boxes"].numpy(),
                    "serving_default": lambda j=jpegs, s=served: s.signatures["serving_default"](
                        images=j
                    )["boxes"].numpy(),
                }
                walls = {k: [] for k in fns}
                cpus = {k: [] for k in fns}
                for fn in fns.values():
                    fn()
                for _ in range(repeats):  # interleaved so noise hits all rows alike
                    for key, fn in fns.items():
                        wall, cpu = _timed_cpu(fn)
                        walls[key].append(wall)
                        cpus[key].append(cpu)
                med = {k: statistics.median(v) for k, v in walls.items()}
                med_cpu = {k: statistics.median(v) for k, v in cpus.items()}
                for key, ms in med.items():
                    rows.append((name, size, batch, key, ms, med_cpu[key], batch / ms * 1e3))
                for key in ("predict_pixels", "predict_pixels, level route"):
                    share = (med[key] - med["classifier"]) / med["classifier"]
                    cpu = med_cpu["classifier"]
                    share_cpu = (med_cpu[key] - cpu) / cpu
                    rows.append(
                        (name, size, batch, f"CAM + box share ({key})", share, share_cpu, None)
                    )
    return rows


def first_call_rows(repeats: int, rng) -> tuple[list, dict]:
    name, size, num_classes = CASES[0]
    keras.utils.set_random_seed(0)
    model = build_model(name, num_classes, input_shape=(size, size, 3))
    with tempfile.TemporaryDirectory() as out:
        _, path = _export(model, num_classes, out)
        served = tf.saved_model.load(str(path))
        start = time.perf_counter()
        from tensorflow_serving.apis.prediction_log_pb2 import PredictionLog

        for record in tf.data.TFRecordDataset(str(path / WARMUP_FILE)):
            request = PredictionLog.FromString(record.numpy()).predict_log.request
            images = tf.constant(tf.make_ndarray(request.inputs["images"]))
            served.signatures[request.model_spec.signature_name](images=images)
        warm_s = time.perf_counter() - start
        serve = served.signatures["serving_default"]
        rows = []
        for batch in range(1, 65):
            pixels = rng.integers(0, 256, size=(batch, size, size, 3)).astype(np.uint8)
            jpegs = tf.constant([tf.io.encode_jpeg(p, quality=95).numpy() for p in pixels])
            first = _timed(lambda j=jpegs: serve(images=j)["boxes"].numpy())
            steady = statistics.median(
                _timed(lambda j=jpegs: serve(images=j)["boxes"].numpy()) for _ in range(repeats)
            )
            rows.append((batch, first, steady))
    buckets = batch_buckets(64)
    return rows, {"warm_s": warm_s, "buckets": buckets}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--first-repeats", type=int, default=3)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--models", nargs="+", default=[c[0] for c in CASES], help="part 1 models")
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 64], help="part 1 batches")
    parser.add_argument("--no-first-call", action="store_true", help="skip part 2")
    args = parser.parse_args()
    load = os.getloadavg()
    print(
        f"# {platform.machine()}, {os.cpu_count()} cores, TF {tf.__version__}, "
        f"Keras {keras.__version__}, median of {args.repeats}; load average at start "
        f"{load[0]:.1f}"
    )
    rng = np.random.default_rng(0)
    rows = overhead_rows(args.repeats, rng, args.models, args.batches)
    if args.markdown:
        print(
            "| model | batch | row | wall ms/batch | CPU ms/batch | images/s (wall) |\n"
            "|---|---:|---|---:|---:|---:|"
        )
    for name, size, batch, key, value, cpu, throughput in rows:
        label = f"{name} ({size} px)"
        if throughput is None:
            text, text_cpu = f"{100 * value:+.1f}%", f"{100 * cpu:+.1f}%"
            print(
                f"| {label} | {batch} | {key} | {text} | {text_cpu} | |"
                if args.markdown
                else f"{label:<24} b={batch:<3} {key:<48} wall {text}  CPU {text_cpu}"
            )
        else:
            print(
                f"| {label} | {batch} | {key} | {value:.1f} | {cpu:.1f} | {throughput:.0f} |"
                if args.markdown
                else f"{label:<24} b={batch:<3} {key:<48} {value:9.1f} ms {cpu:9.1f} CPU ms "
                f"{throughput:8.0f} img/s"
            )

    if args.no_first_call:
        end = os.getloadavg()
        print(f"# load average at end {end[0]:.1f} (1 min), {end[1]:.1f} (5 min)")
        return
    first, info = first_call_rows(args.first_repeats, rng)
    ratios = [(f / s, b, f, s) for b, f, s in first]
    worst_ratio, worst_b, worst_first, worst_steady = max(ratios)
    slow_first, slow_b, slow_steady = max((f, b, s) for b, f, s in first)
    print(
        f"\n# {CASES[0][0]}, serving_default on JPEGs, after replaying the warm-up file "
        f"(buckets {list(info['buckets'])}, {info['warm_s']:.1f} s): first call of each batch "
        f"size 1..64 vs its steady state (median of {args.first_repeats})"
    )
    if args.markdown:
        print("| batch | first call ms | steady ms | first / steady |\n|---:|---:|---:|---:|")
    for batch, f, s in first:
        print(
            f"| {batch} | {f:.1f} | {s:.1f} | {f / s:.2f} |"
            if args.markdown
            else f"b={batch:<3} first {f:8.1f} ms  steady {s:8.1f} ms  x{f / s:.2f}"
        )
    print(
        f"\nworst first / steady: x{worst_ratio:.2f} at batch {worst_b} "
        f"({worst_first:.1f} vs {worst_steady:.1f} ms); slowest first call: {slow_first:.1f} ms "
        f"at batch {slow_b} (steady {slow_steady:.1f} ms, x{slow_first / slow_steady:.2f})"
    )
    end = os.getloadavg()
    print(f"# load average at end {end[0]:.1f} (1 min), {end[1]:.1f} (5 min)")


if __name__ == "__main__":
    main()

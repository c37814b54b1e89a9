#!/usr/bin/env python
"""Training throughput: `train()` end to end against the pure training step and the CPU's GEMM peak.

Measured side by side in one process, round by round, so that load from other jobs on a shared
machine falls on every setting alike:
- GEMM peak: a 2048 x 2048 matmul in float32 and bfloat16 (GFLOP/s), and the physical ceiling it
  puts on training (peak / (3 x the model's forward FLOPs per image)).
- Pure step: `fit` over batches already in memory (made once by the training pipeline), float32 and
  mixed bfloat16: the model step alone, nothing else to wait for.
- End to end: `train(TrainConfig(...))` as `train.py` runs it with its defaults (precision "auto"),
  the real Tiny ImageNet subset (decoded from the zip, cached in memory after the first epoch),
  per-epoch validation, history, checkpoints and the resumable state; once with hiding in the
  `tf.data` map (`hide_in="data"`) and once inside the train step (`hide_in="model"`). Epoch 1
  (which also decodes the zip and traces) is reported apart from the steady epochs 2+.

    python benchmarks/bench_train_throughput.py --rounds 3 --epochs 4

Prints a Markdown table: images/s per round and the median, each relative to the best pure-step round.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hide_and_seek_tf.data import load_dataset, make_pipeline  # noqa: E402
from hide_and_seek_tf.models import build_model  # noqa: E402
from hide_and_seek_tf.training import TrainConfig, train  # noqa: E402
from hide_and_seek_tf.training.precision import fastest_precision  # noqa: E402
from hide_and_seek_tf.training.run_dir import HISTORY_FILE  # noqa: E402

DEFAULT_DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "tiny-imagenet-200-subset.zip"
)
PURE = {"pure step float32": "float32", "pure step bfloat16": "mixed_bfloat16"}


def gemm_gflops(dtype: tf.DType, size: int = 2048, repeats: int = 10) -> float:
    a = tf.cast(tf.random.stateless_normal((size, size), seed=[0, 0]), dtype)
    matmul = tf.function(lambda x: tf.matmul(x, x))
    matmul(a).numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        out = matmul(a)
    out.numpy()
    return repeats * 2 * size**3 / (time.perf_counter() - start) / 1e9


def forward_flops(model: keras.Model) -> float:
    """Multiply-adds x 2 of the convolutions and dense layers for one image."""
    total = 0.0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            k_h, k_w, c_in, _ = layer.kernel.shape
            total += 2.0 * h * w * c_out * k_h * k_w * c_in
        elif isinstance(layer, keras.layers.Dense):
            total += 2.0 * layer.kernel.shape[0] * layer.kernel.shape[1]
    return total


def pure_step_model(policy: str, num_classes: int, model_name: str, size: int) -> keras.Model:
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = build_model(model_name, num_classes, input_shape=(size, size, 3))
        model.compile(
            optimizer=keras.optimizers.SGD(0.01, momentum=0.9, weight_decay=5e-4),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return model


def end_to_end(args: argparse.Namespace, hide_in: str, root: Path, round_index: int) -> list[float]:
    """Images/s of each epoch of one `train()` run with train.py's defaults."""
    config = TrainConfig(
        data=f"tiny-imagenet:{args.data}",
        classes=args.classes,
        train_split="train_minus_holdout",
        model=args.model,
        hide_patch_sizes=(16,),
        schedule="paper",
        epochs=args.epochs,
        batch_size=args.batch_size,
        hide_in=hide_in,
        run_dir=str(root / f"{hide_in}-{round_index}"),
    )
    train(config, verbose=0)
    with open(Path(config.run_dir) / HISTORY_FILE) as f:
        rows = [line.split(",") for line in f.read().splitlines()]
    header, rows = rows[0], rows[1:]
    seconds = [float(r[header.index("epoch_seconds")]) for r in rows]
    steps = int(rows[0][header.index("global_step")])
    return [steps * args.batch_size / s for s in seconds]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--model", default="alexnet_gap_64")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=30, help="timed pure steps per setting and round")
    p.add_argument("--epochs", type=int, default=4, help="epochs of each end-to-end run")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    logging.getLogger("hide_and_seek_tf").setLevel(logging.WARNING)

    ds, info = load_dataset(
        f"tiny-imagenet:{args.data}", "train_minus_holdout", classes=args.classes
    )
    batches = make_pipeline(
        ds,
        training=True,
        batch_size=args.batch_size,
        image_size=(64, 64),
        hide_patch_sizes=(16,),
        fill_value=(120.0, 113.0, 100.0),
        seed=0,
        drop_remainder=True,
    )
    in_memory = list(batches.take(16))  # the pure step reads these tensors and nothing else
    memory = tf.data.Dataset.from_tensor_slices(
        (tf.stack([b[0] for b in in_memory]), tf.stack([b[1] for b in in_memory]))
    )
    memory = memory.cache().repeat().prefetch(2)
    models = {
        name: pure_step_model(policy, info.num_classes, args.model, 64)
        for name, policy in PURE.items()
    }
    for model in models.values():
        model.fit(memory, epochs=1, steps_per_epoch=5, verbose=0)
    flops = forward_flops(models["pure step float32"])
    chosen, reason = fastest_precision()

    rates: dict[str, list[float]] = {}
    epoch_one: dict[str, list[float]] = {}
    gemm: dict[str, list[float]] = {"float32": [], "bfloat16": []}
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        for r in range(args.rounds):
            for name, model in models.items():
                start = time.perf_counter()
                model.fit(memory, epochs=1, steps_per_epoch=args.steps, verbose=0)
                rate = args.steps * args.batch_size / (time.perf_counter() - start)
                rates.setdefault(name, []).append(rate)
            for hide_in in ("data", "model"):
                per_epoch = end_to_end(args, hide_in, Path(tmp), r)
                name = f"train() end to end, hide_in={hide_in}, epochs 2+"
                rates.setdefault(name, []).append(statistics.median(per_epoch[1:]))
                epoch_one.setdefault(name, []).append(per_epoch[0])
            gemm["float32"].append(gemm_gflops(tf.float32))
            gemm["bfloat16"].append(gemm_gflops(tf.bfloat16))
            print(f"round {r + 1}: " + ", ".join(f"{n} {v[-1]:.1f}" for n, v in rates.items()))

    # The yardstick: the best pure-step round measured beside the end-to-end runs.
    best = max(v for n, values in rates.items() if n.startswith("pure") for v in values)
    print(
        f"\n{args.model}, batch {args.batch_size}, 64 x 64, {args.classes} classes, "
        f"{args.rounds} rounds; pure: {args.steps} steps; end to end: {args.epochs} epochs. "
        f"auto precision here: {chosen} ({reason})\n"
    )

    def row(label: str, values: list[float], last: str) -> str:
        per_round = " / ".join(f"{v:.1f}" for v in values)
        return f"| {label} | {per_round} | {statistics.median(values):.1f} | {last} |"

    print(f"| setting | images/s per round | median | median vs the best pure round ({best:.1f}) |")
    print("|---|---|---|---|")
    for name, values in rates.items():
        print(row(name, values, f"{statistics.median(values) / best:.2f}"))
        if name in epoch_one:
            first = epoch_one[name]
            print(
                row(
                    "... its epoch 1 (decode + trace)",
                    first,
                    f"{statistics.median(first) / best:.2f}",
                )
            )
    print("\n| GEMM 2048^3 | GFLOP/s per round | median | ceiling images/s (3 x forward) |")
    print("|---|---|---|---|")
    for dtype, values in gemm.items():
        print(row(dtype, values, f"{statistics.median(values) * 1e9 / (3 * flops):.0f}"))
    print(f"\nforward pass: {flops / 1e9:.3f} GFLOP per image")
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())

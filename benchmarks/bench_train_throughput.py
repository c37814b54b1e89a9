#!/usr/bin/env python
"""Training throughput of a CAM network under float32, bfloat16 mixed precision, XLA, and both.

Every setting trains the same model on the same input pipeline (the real Tiny ImageNet subset,
64 px, the study's 10 classes, Hide-and-Seek 16 px cells, paper SGD). Settings are interleaved
round by round so that load from other jobs on this shared machine falls on all of them alike;
each round times `--steps` optimizer steps after a warm-up that absorbs tracing and compilation.

    python benchmarks/bench_train_throughput.py --rounds 4 --steps 20

Prints images/s per setting and round, the median, and each median relative to float32.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hide_and_seek_tf.data import load_dataset, make_pipeline  # noqa: E402
from hide_and_seek_tf.models import build_model  # noqa: E402
from hide_and_seek_tf.training.config import MIXED_PRECISION  # noqa: E402

DEFAULT_DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "tiny-imagenet-200-subset.zip"
)
SETTINGS = {  # name: (mixed_precision, jit_compile)
    "float32": (False, False),
    "bfloat16": ("bfloat16", False),
    "float32 + XLA": (False, True),
    "bfloat16 + XLA": ("bfloat16", True),
}


def _compiled_model(mixed_precision, jit: bool, num_classes: int, model_name: str) -> keras.Model:
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(MIXED_PRECISION[mixed_precision])
    try:
        model = build_model(model_name, num_classes, input_shape=(64, 64, 3))
        model.compile(
            optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=jit,
        )
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return model


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--model", default="alexnet_gap_64")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=20, help="timed steps per setting and round")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per setting first")
    p.add_argument("--rounds", type=int, default=4)
    args = p.parse_args(argv)

    ds, info = load_dataset(f"tiny-imagenet:{args.data}", "train", classes=args.classes)
    # Decode once into memory: a `fit` of a few steps never completes the pipeline's own cache,
    # and re-reading the zip each round would time the reader, not the training step.
    ds = ds.cache()
    for _ in ds:
        pass
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
    batches = batches.repeat()
    models = {
        name: _compiled_model(mp, jit, info.num_classes, args.model)
        for name, (mp, jit) in SETTINGS.items()
    }
    for model in models.values():
        model.fit(batches, epochs=1, steps_per_epoch=args.warmup, verbose=0)

    rates: dict[str, list[float]] = {name: [] for name in SETTINGS}
    for r in range(args.rounds):
        for name, model in models.items():
            start = time.perf_counter()
            model.fit(batches, epochs=1, steps_per_epoch=args.steps, verbose=0)
            rates[name].append(args.steps * args.batch_size / (time.perf_counter() - start))
        print(f"round {r + 1}: " + ", ".join(f"{n} {v[-1]:.1f}" for n, v in rates.items()))

    base = statistics.median(rates["float32"])
    print(
        f"\n{args.model}, batch {args.batch_size}, 64 x 64, {args.rounds} rounds x {args.steps} steps"
    )
    print("| setting | images/s per round | median | vs float32 |")
    print("|---|---|---|---|")
    for name, values in rates.items():
        median = statistics.median(values)
        per_round = " / ".join(f"{v:.1f}" for v in values)
        print(f"| {name} | {per_round} | {median:.1f} | {median / base:.2f}x |")
    print(f"\nTensorFlow {tf.__version__}, Keras {keras.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

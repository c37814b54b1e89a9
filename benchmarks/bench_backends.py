"""Benchmark: the `HideAndSeek` layer under each Keras backend against one elementwise `where`.

Each backend runs in its own process (Keras picks its backend at import). In each, the layer's
training call and the floor, one full-size `where(x >= 0, x, c)` on that backend (the same bytes in
and out), are compiled the backend's way and timed interleaved (round-robin), so the ratio of a
row to its floor is measured side by side:

- tensorflow: `tf.function(jit_compile=True)` (XLA), the layer's `SeedGenerator` a TF variable;
- jax: `jax.jit` of `layer.stateless_call` (the seed state passed in and out);
- torch: eager (Keras's default for PyTorch) and `torch.compile` (compile time excluded).

    python benchmarks/bench_backends.py [--repeats 20] [--backends tensorflow,jax,torch] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHAPES = ((256, 64, 64, 3), (64, 224, 224, 3))
FILL = (124.0, 116.0, 104.0)
MIXED = (16, 32, 44, 56, 0)


def _cases(shape):
    """name -> (run(x) -> result, sync(result)) for the active backend."""
    import keras
    import numpy as np

    from hide_and_seek_tf import HideAndSeek

    backend = keras.config.backend()
    fill = np.asarray(FILL, "float32")
    layers = {
        "HideAndSeek N=16": HideAndSeek(16, 0.5, list(FILL), seed=1),
        "HideAndSeek mixed {16,32,44,56,0}": HideAndSeek(MIXED, 0.5, list(FILL), seed=1),
    }
    for layer in layers.values():
        layer.build(shape)
    cases = {}
    if backend == "tensorflow":
        import tensorflow as tf

        c = tf.constant(fill)
        cases["floor: where(x >= 0, x, c) (XLA)"] = tf.function(
            lambda x: tf.where(x >= 0.0, x, c), jit_compile=True
        )
        for name, layer in layers.items():
            cases[f"{name} (XLA)"] = tf.function(
                lambda x, layer=layer: layer(x, training=True), jit_compile=True
            )
        return cases, lambda out: out.numpy()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        c = jnp.asarray(fill)
        cases["floor: where(x >= 0, x, c) (jit)"] = jax.jit(lambda x: jnp.where(x >= 0.0, x, c))
        for name, layer in layers.items():
            step = jax.jit(
                lambda state, x, layer=layer: layer.stateless_call([], state, x, training=True)
            )
            holder = {"state": [v.value for v in layer.non_trainable_variables]}

            def run(x, step=step, holder=holder):
                out, holder["state"] = step(holder["state"], x)
                return out

            cases[f"{name} (jit)"] = run
        return cases, lambda out: out.block_until_ready()
    import torch

    c = torch.as_tensor(fill)
    floor = lambda x: torch.where(x >= 0.0, x, c)  # noqa: E731
    cases["floor: where(x >= 0, x, c) (eager)"] = floor
    cases["floor: where(x >= 0, x, c) (torch.compile)"] = torch.compile(floor)
    for name, layer in layers.items():
        cases[f"{name} (eager)"] = lambda x, layer=layer: layer(x, training=True)
        cases[f"{name} (torch.compile)"] = torch.compile(
            lambda x, layer=layer: layer(x, training=True)
        )
    return cases, lambda out: out


def worker(repeats: int) -> None:
    """Times every case of the active backend; prints one JSON line per shape."""
    import keras
    import numpy as np

    for shape in SHAPES:
        images = np.random.default_rng(0).uniform(0, 255, shape).astype("float32")
        x = keras.ops.convert_to_tensor(images)
        cases, sync = _cases(shape)
        times = {name: [] for name in cases}
        for run in cases.values():  # compile / warm up
            sync(run(x))
            sync(run(x))
        for _ in range(repeats):
            for name, run in cases.items():
                start = time.perf_counter()
                sync(run(x))
                times[name].append(1000 * (time.perf_counter() - start))
        medians = {name: statistics.median(t) for name, t in times.items()}
        print(json.dumps({"shape": shape, "ms": medians}), flush=True)


def _versions(backend: str) -> str:
    code = (
        "import keras, importlib; m = importlib.import_module(keras.config.backend()); "
        "print(keras.config.backend(), m.__version__)"
    )
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return out.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.repeats)
        return
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    results = {}
    for backend in args.backends.split(","):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        command = [sys.executable, __file__, "--worker", "--repeats", str(args.repeats)]
        out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if out.returncode:
            print(f"{backend}: failed\n{out.stderr[-3000:]}")
            continue
        print(_versions(backend))
        for line in out.stdout.splitlines():
            if line.startswith("{"):
                row = json.loads(line)
                results[(backend, tuple(row["shape"]))] = row["ms"]
    for shape in SHAPES:
        label = "x".join(map(str, shape)) + " float32"
        if args.markdown:
            print(f"\n| {label} | backend | ms/batch | x floor |\n|---|---|---:|---:|")
        else:
            print(f"\n{label}")
        for backend in args.backends.split(","):
            ms = results.get((backend, shape))
            if not ms:
                continue
            floors = {k.split("(")[-1]: v for k, v in ms.items() if k.startswith("floor")}
            for name, value in ms.items():
                floor = floors.get(name.split("(")[-1], next(iter(floors.values())))
                if args.markdown:
                    print(f"| {name} | {backend} | {value:.2f} | {value / floor:.2f} |")
                else:
                    print(f"  {backend:10s} {name:50s} {value:9.2f} ms  {value / floor:5.2f}x")


if __name__ == "__main__":
    main()

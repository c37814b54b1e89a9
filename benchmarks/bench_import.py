"""Import time of `hide_and_seek_tf`, side by side for two checkouts (e.g. before and after a change).

Each statement runs in a fresh Python process (`python -c CODE`, cwd and PYTHONPATH = the checkout),
the checkouts and statements interleaved round by round so that load on the machine hits them
alike. Reports the median and the minimum wall time per statement and checkout; "python -c pass"
is the interpreter's own start.

    python benchmarks/bench_import.py --checkout before=/path/to/main --checkout after=. --rounds 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

STATEMENTS = [
    ("python -c pass", "pass", "tensorflow"),
    ("import hide_and_seek_tf", "import hide_and_seek_tf", "tensorflow"),
    ("import keras (TF backend)", "import keras", "tensorflow"),
    ("import hide_and_seek_tf, keras (TF backend)", "import hide_and_seek_tf, keras", "tensorflow"),
    ("import keras (JAX backend)", "import keras", "jax"),
    ("import hide_and_seek_tf, keras (JAX backend)", "import hide_and_seek_tf, keras", "jax"),
]


def seconds(code: str, checkout: str, backend: str) -> float:
    env = dict(os.environ, PYTHONPATH=checkout, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=checkout, env=env, check=True,
                   capture_output=True)  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", action="append", required=True, help="NAME=PATH")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    checkouts = dict(item.split("=", 1) for item in args.checkout)
    times = {(label, name): [] for label, _, _ in STATEMENTS for name in checkouts}
    for _ in range(args.rounds):
        for label, code, backend in STATEMENTS:
            for name, path in checkouts.items():
                times[label, name].append(seconds(code, os.path.abspath(path), backend))
    names = list(checkouts)
    print("| statement | " + " | ".join(f"{n}: median / min (s)" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for label, _, _ in STATEMENTS:
        cells = [
            f"{statistics.median(times[label, n]):.3f} / {min(times[label, n]):.3f}" for n in names
        ]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

"""Fault injection: SIGKILL training, evaluation and export at random moments, then check that every
run directory still loads, resumes, evaluates and exports.

For each of `--runs` run directories (built-in synthetic data, tiny settings):
  1. train.py is started and killed after a random delay `--train-kills` times (each restart uses
     --resume once config.json exists, as a user would), then run to the end;
  2. evaluate.py is killed `--eval-kills` times while it replaces eval/ (a complete 16-image
     evaluation is there first; the killed ones evaluate 8 images); after every kill eval/ must
     be one complete evaluation (metrics.json present and per_image.csv's row count equal to
     its num_images), never a mix; then one runs to the end;
  3. export.py is killed `--export-kills` times; after every kill serving/ must hold only complete
     versions (saved_model.pb present, mode 0755); then one runs to the end.
Finally each run directory must load (`load_run`), resume (train.py --resume says it is complete),
evaluate, and its last export must serve a JPEG.

Each kill is aimed at a stage drawn at random: the start-up (a delay drawn from [0, --max-delay]),
or, once the process reaches it, a later stage plus a delay drawn from [0, 1.5 s]: training after
config.json or after a saved state, evaluation while eval/ is written, export while the version
is written. A kill only counts when the process was still running, and counts as "while writing"
when it left a partial write (training's run directory without model.keras, an evaluation's or an
export's staging folder). Draws come from a seeded NumPy Generator.

    python benchmarks/fault_injection.py [--runs 2] [--train-kills 5] [--eval-kills 3] \
        [--export-kills 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TRAIN = ["--num-images", "64", "--image-size", "32", "--batch-size", "16", "--epochs", "3",
         "--backup-every", "1", "--no-validation", "--verbose", "0"]  # fmt: skip
EVAL = ["--no-progress", "--batch-size", "8"]


def _env(cache: Path) -> dict[str, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", HIDE_AND_SEEK_CACHE=str(cache))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _run(
    script: str, args: list[str], env: dict, kill: tuple[Callable[[], bool], float] | None
) -> tuple[bool, int, str]:
    """(killed, return code, output) of `python script args`; with `kill` = (moment, delay), SIGKILLed
    `delay` seconds after `moment()` first holds (polled every 10 ms) unless it ended before."""
    proc = subprocess.Popen(
        [sys.executable, str(REPO / script), *args],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    if kill is not None:
        moment, delay = kill
        deadline = time.monotonic() + 300
        while proc.poll() is None and not moment() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(delay)
        if proc.poll() is None:
            proc.kill()  # SIGKILL
            out, _ = proc.communicate()
            return True, proc.returncode, out
    out, _ = proc.communicate()
    return False, proc.returncode, out


def _moments(run: Path, phase: str) -> dict[str, Callable[[], bool]]:
    """The stages a kill is aimed at (then delayed by a random fraction of a second or two)."""
    stages = {"start-up": lambda: True}
    if phase == "train":
        stages["after config.json"] = lambda: (run / "config.json").is_file()
        stages["after a saved state"] = lambda: (run / "backup" / "state.json").is_file()
    elif phase == "evaluate":
        stages["while eval/ is written"] = lambda: any(run.glob(".eval.*.tmp"))
    else:
        stages["while the version is written"] = lambda: any((run / "serving").glob(".tmp-*"))
    return stages


def _eval_problem(run: Path) -> str | None:
    """Why eval/ is not one complete evaluation (None when it is, or is absent)."""
    out = run / "eval"
    if not out.exists():
        return None
    metrics = out / "metrics.json"
    if not metrics.is_file():
        return f"eval/ without metrics.json: {sorted(p.name for p in out.iterdir())}"
    expected = json.loads(metrics.read_text())["metrics"]["num_images"]
    with (out / "per_image.csv").open() as f:
        rows = sum(1 for _ in csv.DictReader(f))
    if rows != expected:
        return f"eval/ mixes evaluations: metrics.json {expected} images, per_image.csv {rows}"
    return None


def _serving_problem(run: Path) -> str | None:
    serving = run / "serving"
    for version in serving.glob("[0-9]*") if serving.exists() else []:
        if not (version / "saved_model.pb").is_file():
            return f"incomplete version {version.name}"
        if version.stat().st_mode & 0o777 != 0o755:
            return f"version {version.name} has mode {oct(version.stat().st_mode & 0o777)}"
    return None


def _was_writing(run: Path, phase: str) -> bool:
    """Whether a just-killed process had started writing: training's config.json or saved state
    without the final model, an evaluation's staging folder, an export's staging folder."""
    if phase == "train":
        started = (run / "config.json").is_file() or (run / "backup").exists()
        return started and not (run / "model.keras").is_file()
    if phase == "evaluate":
        return any(run.glob(".eval.*.tmp"))
    return any((run / "serving").glob(".tmp-*"))


def _launchers(run: Path, env: dict):
    """train, evaluate, export: each `(kill) -> (killed, return code, output)` on `run` (see `_run`)."""

    def train(kill):
        resume = ["--resume"] if (run / "config.json").is_file() else []
        return _run("train.py", [*TRAIN, "--run-dir", str(run), *resume], env, kill)

    def evaluate(kill):  # the killed ones evaluate fewer images than the complete ones
        images = ["--num-images", "8" if kill else "16"]
        return _run("evaluate.py", ["--run-dir", str(run), *EVAL, *images], env, kill)

    def export(kill):
        return _run("export.py", ["--run-dir", str(run)], env, kill)

    return train, evaluate, export


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--train-kills", type=int, default=5)
    parser.add_argument("--eval-kills", type=int, default=3)
    parser.add_argument("--export-kills", type=int, default=3)
    parser.add_argument("--max-delay", type=float, nargs=3, default=(12.0, 10.0, 10.0),
                        metavar=("TRAIN", "EVAL", "EXPORT"), help="seconds, for kills aimed at the start-up")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    os.umask(0o022)
    kills = {"train": 0, "evaluate": 0, "export": 0}
    mid_write = dict.fromkeys(kills, 0)  # kills that left a partial write behind
    aimed: dict[str, int] = {}  # kills per aimed stage
    failures: list[str] = []
    start = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        env = _env(Path(tmp) / "cache")
        for index in range(args.runs):
            run = Path(tmp) / f"run{index}"

            train, evaluate, export = _launchers(run, env)
            phases = (
                ("train", args.train_kills, args.max_delay[0], train, None),
                ("evaluate", args.eval_kills, args.max_delay[1], evaluate, _eval_problem),
                ("export", args.export_kills, args.max_delay[2], export, _serving_problem),
            )
            for phase, wanted, max_delay, launch, check in phases:
                if phase == "evaluate":  # a complete evaluation first, for the kills to endanger
                    killed, code, out = launch(None)
                    if code:
                        failures.append(f"run{index} first evaluate: rc {code}: {out[-300:]}")
                done = 0
                while done < wanted:
                    stages = _moments(run, phase)
                    stage = list(stages)[int(rng.integers(len(stages)))]
                    delay = float(rng.uniform(0.0, max_delay if stage == "start-up" else 1.5))
                    killed, code, out = launch((stages[stage], delay))
                    aimed[f"{phase}: {stage}"] = aimed.get(f"{phase}: {stage}", 0) + killed
                    done += killed
                    mid_write[phase] += killed and _was_writing(run, phase)
                    if not killed and code:
                        failures.append(f"run{index} {phase} after a kill: rc {code}: {out[-300:]}")
                    problem = check(run) if check else None
                    if problem:
                        failures.append(f"run{index} {phase}: {problem}")
                kills[phase] += done
                killed, code, out = launch(None)
                if code:
                    failures.append(f"run{index} {phase} to the end: rc {code}: {out[-300:]}")
                print(f"run{index} {phase}: {done} kills, then rc {code}", flush=True)

            # The run directory, after all that, is a normal finished run.
            _, code, out = train(None)
            if code or "already complete" not in out:
                failures.append(f"run{index} final resume: rc {code}: {out[-300:]}")
            _, code, out = evaluate(None)
            problem = _eval_problem(run)
            if code or problem:
                failures.append(f"run{index} final evaluate: rc {code} {problem}: {out[-300:]}")
            check = (
                "import sys, tensorflow as tf; from hide_and_seek_tf.training import load_run;"
                "load_run(sys.argv[1]); v = max(int(p.name) for p in __import__('pathlib')"
                ".Path(sys.argv[1], 'serving').glob('[0-9]*'));"
                "s = tf.saved_model.load(f'{sys.argv[1]}/serving/{v}').signatures['serving_default'];"
                "j = tf.io.encode_jpeg(tf.zeros([40, 50, 3], tf.uint8));"
                "print(s(images=tf.stack([j]))['classes'].shape)"
            )
            done = subprocess.run(
                [sys.executable, "-c", check, str(run)],
                cwd=REPO, env=env, capture_output=True, text=True,
            )  # fmt: skip
            if done.returncode or "(1, 5)" not in done.stdout:
                failures.append(f"run{index} load/serve: {done.stdout[-200:]} {done.stderr[-300:]}")
            leftovers = [p.name for p in run.rglob(".*") if p.name != ".lock"]
            print(f"run{index}: leftovers after the final runs: {leftovers}", flush=True)

    total = sum(kills.values())
    print(f"\nkills: {kills} = {total}, of which while writing: {mid_write}; run directories: "
          f"{args.runs}; failures: {len(failures)}; "
          f"wall {time.perf_counter() - start:.0f} s")  # fmt: skip
    print("kills by the stage they were aimed at:", aimed)
    for failure in failures:
        print("FAILED:", failure)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

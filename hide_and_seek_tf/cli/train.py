#!/usr/bin/env python
"""Train a CAM network with Hide-and-Seek and write a run directory.

    python train.py                                   # quick demo on built-in synthetic data
    python train.py --data tiny-imagenet ~/data/tiny-imagenet-200.zip --model alexnet_gap_64 \
        --schedule paper --epochs 55 --hide-patch-sizes 16 --train-split train_minus_holdout \
        --run-dir runs/tiny-has16
    python train.py --run-dir runs/tiny-has16 --resume   # continue a killed run
    python train.py --hide-patch-sizes none           # the plain GAP baseline
    python train.py --task temporal --segment-length 10   # Video-HaS on synthetic sequences

Distribution: `--strategy mirrored` replicates over the local GPUs (or over `--cpu-devices N`
logical CPU devices); `--strategy multi-worker` runs one process per worker, the cluster given in
TF_CONFIG, e.g. for worker 0 of two on one machine:

    TF_CONFIG='{"cluster": {"worker": ["127.0.0.1:12345", "127.0.0.1:12346"]},
                "task": {"type": "worker", "index": 0}}' python train.py --strategy multi-worker ...

and the same with "index": 1 in a second process. Worker 0 writes the run directory; the others
write to a temporary one. `--batch-size` is the global batch, split across all replicas; resuming a
multi-worker run needs the run directory on a filesystem every worker can read.

See `python train.py --help`; every setting is a `hide_and_seek_tf.training.TrainConfig` field.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from hide_and_seek_tf._io import DirectoryInUseError
from hide_and_seek_tf.cli import BACKENDS, import_tensorflow, parse_classes
from hide_and_seek_tf.cli import temporal as temporal_cli
from hide_and_seek_tf.data.sources import SOURCES, spec_forms
from hide_and_seek_tf.models.contract import POOLINGS
from hide_and_seek_tf.training.config import (  # no TensorFlow: `--help` starts fast and quietly
    AUGMENTS,
    DEMO_BATCH_SIZE,
    DEMO_EPOCHS,
    DEMO_HIDE_PATCH_SIZES,
    DEMO_IMAGE_SIZE,
    DEMO_NUM_IMAGES,
    HIDE_IN,
    RECIPES,
    STRATEGIES,
    TrainConfig,
    sequence_of_ints,
)
from hide_and_seek_tf.training.run_dir import CONFIG_FILE, HISTORY_FILE, MODEL_FILE


def _data_spec(values: list[str]) -> str:
    """`--data synthetic`, `--data cub PATH` (= `cub:PATH`), `--data wsol:DIR` -> one spec string."""
    if len(values) == 1:
        return values[0]
    if len(values) == 2 and values[0].lower().replace("_", "-") in SOURCES:
        return f"{values[0]}:{values[1]}"
    raise ValueError(
        f"`--data` must be one of {spec_forms()} (or KIND PATH). Received: --data {' '.join(values)}"
    )


def _image_size(text: str) -> tuple[int, int]:
    parts = text.lower().replace("x", ",").split(",")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise ValueError(
            f"`--image-size` must be S or HxW. Received: --image-size {text}"
        ) from None
    return (sizes[0], sizes[0]) if len(sizes) == 1 else tuple(sizes)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface; every option defaults to "not given" (None)."""
    p = argparse.ArgumentParser(
        prog="hide-and-seek-train",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    data = p.add_argument_group("data")
    data.add_argument(
        "--data",
        nargs="+",
        metavar="SPEC",
        help="synthetic (default) | tiny-imagenet:PATH | tfds:NAME | cub:PATH | imagenet:PATH | "
        "wsol:METADATA_DIR | csv:FILE (docs/data.md)",
    )
    data.add_argument("--data-dir", help="wsol:/csv: the image root; tfds: the TFDS data directory")
    data.add_argument(
        "--classes", help="K (the first K classes) or a comma-separated list of class ids"
    )
    data.add_argument("--max-per-class", type=int, help="cap on training images per class")
    data.add_argument(
        "--train-split",
        help="split to train on (default train; Tiny ImageNet: train_minus_holdout keeps "
        "train_holdout unseen for choosing CAM thresholds)",
    )
    data.add_argument(
        "--num-images",
        type=int,
        help=f"training images (synthetic: rendered; default {DEMO_NUM_IMAGES})",
    )
    data.add_argument(
        "--image-size",
        help=f"S or HxW the model trains on (default: the data's own; synthetic {DEMO_IMAGE_SIZE})",
    )
    data.add_argument(
        "--strict-boxes",
        action="store_true",
        default=None,
        help="refuse a box that extends past its image instead of clipping it (clipped boxes are "
        "counted in config.json)",
    )
    data.add_argument(
        "--skip-bad-images",
        action="store_true",
        default=None,
        help="leave unreadable images (truncated, empty, not an image, over the pixel limit) out, "
        "counted in config.json, instead of stopping",
    )
    model = p.add_argument_group("model and Hide-and-Seek")
    model.add_argument("--model", help="build_model name (default small_gap)")
    model.add_argument(
        "--weights",
        help="pretrained backbone (vgg16_gap, resnet50_gap, inception_v3_gap): imagenet or a "
        "weights file",
    )
    model.add_argument("--pooling", choices=POOLINGS, help="global pooling (default avg)")
    model.add_argument(
        "--hide-patch-sizes",
        help="comma-separated cell sides in pixels, 0 = show the whole image; 'none' = no hiding "
        "(the GAP baseline). Default " + ",".join(map(str, DEMO_HIDE_PATCH_SIZES)),
    )
    model.add_argument("--hide-prob", type=float, help="probability of hiding a cell (default 0.5)")
    model.add_argument("--augment", choices=AUGMENTS, help="training augmentation (default flip)")
    opt = p.add_argument_group("optimisation")
    opt.add_argument("--epochs", type=int, help=f"default {DEMO_EPOCHS}")
    opt.add_argument(
        "--batch-size", type=int, help=f"global batch size (default {DEMO_BATCH_SIZE})"
    )
    opt.add_argument(
        "--schedule",
        choices=sorted(RECIPES),
        help="adam (default): Adam, cosine decay to lr/100; paper: SGD momentum 0.9, lr decayed "
        "exponentially from 0.01 to 0.0001 over the run; finetune (with --weights): SGD, new "
        "layers at 10x the backbone's lr, lr/10 at 30/60/90%% of the run",
    )
    opt.add_argument("--lr", type=float, help="initial learning rate (default: the schedule's)")
    opt.add_argument("--weight-decay", type=float, help="default: the schedule's")
    opt.add_argument("--seed", type=int, help="default 0")
    opt.add_argument("--steps-per-epoch", type=int, help="cap on steps per epoch")
    opt.add_argument(
        "--validation",
        action=argparse.BooleanOptionalAction,
        help="evaluate on the validation split every epoch (default on)",
    )
    temporal = p.add_argument_group("temporal task (videos; hide_and_seek_tf.temporal)")
    temporal.add_argument(
        "--task",
        choices=("image", "temporal"),
        default="image",
        help="temporal: action localization on feature sequences, --data synthetic-sequences "
        "(default) | video-features:PATH; see `hide_and_seek_tf.temporal.run` (--resume works "
        "as for images)",
    )
    temporal.add_argument("--segment-length", type=int, help="F_segment (0: Video-full)")
    temporal.add_argument("--num-steps", type=int, help="F_total, steps per video")
    temporal.add_argument("--filters", type=int, help="kernels per 1x1 conv (default 500)")
    run = p.add_argument_group("run and hardware")
    run.add_argument(
        "--run-dir", help="output directory (default runs/<data>-<model>-<has|gap>-<time>)"
    )
    run.add_argument(
        "--resume",
        action="store_true",
        default=None,
        help="continue the run in --run-dir from its last saved state; unspecified settings are "
        "taken from its config.json",
    )
    run.add_argument("--backup-every", type=int, help="steps between saves of the resumable state")
    run.add_argument(
        "--backend",
        choices=BACKENDS,
        help="Keras backend to train with (default: KERAS_BACKEND, else tensorflow); the same "
        "tf.data pipeline feeds every backend, and the run directory loads under any of them",
    )
    run.add_argument(
        "--strategy", choices=STRATEGIES, help="tf.distribute strategy (default: none)"
    )
    run.add_argument(
        "--cpu-devices",
        type=int,
        help="split the CPU into N logical devices (to run --strategy mirrored without GPUs)",
    )
    run.add_argument(
        "--mixed-precision",
        nargs="?",
        const=True,
        choices=("auto", "float32", "float16", "bfloat16"),
        help="auto (default): the fastest precision this machine runs natively (bfloat16 on CPUs "
        "with AMX/AVX512-BF16 and GPUs from compute capability 8.0, float16 on 7.x, else "
        "float32; the log says which); float32; float16 (GPUs; the value when none is given); "
        "bfloat16",
    )
    run.add_argument(
        "--hide-in",
        choices=HIDE_IN,
        help="where hiding runs: data (default: the tf.data map, on the CPU) or model (a "
        "training-only HideAndSeek layer inside the train step, on the GPU where there is one)",
    )
    run.add_argument(
        "--jit-compile", action=argparse.BooleanOptionalAction, help="XLA-compile steps"
    )
    run.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        help="1 = progress bars (default on a terminal), 2 = a line per epoch",
    )
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig the arguments describe.

    With --resume and an existing RUN/config.json, unspecified settings come from that file.

    Raises:
        ValueError / TypeError: a malformed or invalid setting (names it).
    """
    given: dict[str, Any] = {}
    if args.data is not None:
        given["data"] = _data_spec(args.data)
    if args.classes is not None:
        given["classes"] = parse_classes(args.classes)
    if args.image_size is not None:
        given["image_size"] = _image_size(args.image_size)
    if args.hide_patch_sizes is not None:
        given["hide_patch_sizes"] = sequence_of_ints(args.hide_patch_sizes, "--hide-patch-sizes")
    for name in (
        "data_dir", "max_per_class", "train_split", "num_images", "model", "weights", "pooling", "hide_prob", "augment", "epochs",
        "batch_size", "schedule", "lr", "weight_decay", "seed", "steps_per_epoch", "validation",
        "run_dir", "resume", "backup_every", "strategy", "mixed_precision", "jit_compile",
        "hide_in", "strict_boxes", "skip_bad_images",
    ):  # fmt: skip
        value = getattr(args, name)
        if value is not None:
            given[name] = value
    if given.get("mixed_precision") == "float32":
        given["mixed_precision"] = False
    return TrainConfig.from_dict({**saved_settings(args), **given}, ignore_unknown=True)


def saved_settings(args: argparse.Namespace) -> dict[str, Any]:
    """With --resume and an existing RUN/config.json, the settings saved there; else {}."""
    saved = Path(args.run_dir or "", CONFIG_FILE)
    if not (args.resume and args.run_dir and saved.is_file()):
        return {}
    try:
        settings = json.loads(saved.read_text())
    except ValueError as err:
        raise ValueError(f"{saved} is not valid JSON ({err}); it cannot be resumed") from None
    if not isinstance(settings, dict):
        raise ValueError(f"{saved} is not a run config (a JSON object); it cannot be resumed")
    return settings


def _use_backend(parser: argparse.ArgumentParser, name: str) -> None:
    """Sets KERAS_BACKEND before Keras is imported (Keras reads it once, at import)."""
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = name
        return
    import keras  # deferred: already loaded here; only its backend is read

    if keras.config.backend() != name:
        parser.error(
            f"--backend {name}: Keras was already imported with the {keras.config.backend()} "
            "backend; pass --backend on the command line or set KERAS_BACKEND before Python starts"
        )


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.backend:
        _use_backend(parser, args.backend)
    if args.task == "temporal":
        try:
            saved = saved_settings(args)
        except ValueError as e:
            parser.error(str(e))
        return temporal_cli.train(args, saved)
    if any(getattr(args, n) is not None for n in ("segment_length", "num_steps", "filters")):
        parser.error("--segment-length, --num-steps and --filters need --task temporal")
    try:
        config = config_from_args(args)
    except (ValueError, TypeError) as e:
        parser.error(str(e))
    import_tensorflow()
    # deferred: loads TensorFlow, once the arguments are checked (see hide_and_seek_tf.cli)
    from hide_and_seek_tf.training.loop import train
    from hide_and_seek_tf.training.setup import configure_cpu_devices

    if args.cpu_devices:
        configure_cpu_devices(args.cpu_devices)

    if config.run_dir is None:
        config = config.replace(run_dir=config.default_run_dir())
    try:
        train(config, verbose=args.verbose)
    except (FileExistsError, FileNotFoundError, ValueError, DirectoryInUseError) as e:
        print(f"train.py: error: {e}", file=sys.stderr)
        return 1
    _print_summary(Path(config.run_dir))
    return 0


def _print_summary(run_dir: Path) -> None:
    with (run_dir / HISTORY_FILE).open() as f:
        rows = list(csv.DictReader(f))
    print(f"\nRun directory: {run_dir}")
    if rows:
        last = rows[-1]
        shown = [f"epoch={int(float(last.pop('epoch'))) + 1}"]
        shown += [f"{k}={float(v):.4g}" for k, v in last.items() if v and k != "learning_rate"]
        print(f"Final: {', '.join(shown)}")
    print(f"Model: {run_dir / MODEL_FILE}")


def _log_to_stdout() -> None:
    logger = logging.getLogger("hide_and_seek_tf")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def run() -> int:
    """The console script `hide-and-seek-train`: progress logged to stdout."""
    _log_to_stdout()
    return main()


if __name__ == "__main__":
    sys.exit(run())

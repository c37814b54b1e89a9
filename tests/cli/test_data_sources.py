"""train.py + evaluate.py end to end on each file source (one step of small_gap at 32 px), and the
the protocol they support: train on the training split, choose CAM thresholds on the held-out
split (the holdout guard itself is tested in tests/test_evaluation.py)."""

from __future__ import annotations

import json

import pytest

from hide_and_seek_tf.cli import evaluate as evaluate_cli
from hide_and_seek_tf.cli import train as train_cli
from tests.data.layouts import (
    csv_files,
    cub_files,
    imagenet_files,
    write_cub,
    write_files,
    wsol_files,
)

FAST = ["--model", "small_gap", "--image-size", "32", "--epochs", "1", "--batch-size", "2",
        "--steps-per-epoch", "1", "--hide-patch-sizes", "8", "--verbose", "0", "--no-validation"]  # fmt: skip


def _data(kind, root):
    if kind == "cub":
        return ["--data", "cub", str(write_cub(cub_files()[0], root, as_tgz=True))]
    if kind == "imagenet":
        return ["--data", f"imagenet:{write_files(imagenet_files()[0], root / 'ilsvrc')}"]
    if kind == "wsol":
        meta, images, _ = wsol_files()
        metadata, image_root = write_files(meta, root / "meta"), write_files(images, root / "img")
        return ["--data", f"wsol:{metadata}", "--data-dir", str(image_root)]
    return ["--data", f"csv:{write_files(csv_files()[0], root / 'mine') / 'data.csv'}"]


# source: (train split, split thresholds are chosen on, split reported)
PROTOCOL = {
    "cub": ("train_minus_holdout", "train_holdout", "test"),
    "imagenet": ("train_minus_holdout", "train_holdout", "val"),
    "wsol": ("train", "val", "test"),
    "csv": ("train_minus_holdout", "train_holdout", "test"),
}


@pytest.mark.parametrize("kind", sorted(PROTOCOL))
def test_train_then_evaluate_from_the_command_line(tmp_path, kind):
    train_split, choose_on, report_on = PROTOCOL[kind]
    run = tmp_path / "run"
    argv = _data(kind, tmp_path) + FAST + ["--train-split", train_split, "--run-dir", str(run)]
    assert train_cli.main(argv) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["train_split"] == train_split and config["image_size"] == [32, 32]
    # Choose a threshold on the held-out split (one batch: one trace of the box search)...
    common = ["--run-dir", str(run), "--no-progress", "--batch-size", "32"]
    out = tmp_path / "chosen"
    grid = ["--thresholds", "0.1", "0.3", "0.5"]
    assert evaluate_cli.main(common + ["--split", choose_on, *grid, "--out-dir", str(out)]) == 0
    chosen = json.loads((out / "metrics.json").read_text())
    assert chosen["protocol"]["thresholds_swept_on"] == choose_on
    assert chosen["metrics"]["num_images"] == chosen["data"]["num_images"] > 0
    if kind != "cub":
        return
    # ... and report the test split at it (CUB: the commands in docs/training.md).
    threshold = str(chosen["metrics"]["max_box_acc_threshold"])
    report = tmp_path / "report"
    argv = common + ["--split", report_on, "--thresholds", threshold, "--out-dir", str(report)]
    assert evaluate_cli.main(argv) == 0
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["data"]["split"] == report_on and metrics["protocol"]["cam_thresholds"] == [
        float(threshold)
    ]

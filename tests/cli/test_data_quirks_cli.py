"""The data quirks from the command lines: train.py and evaluate.py stop in one line naming the
file before they write anything (or skip / clip and record it), `hide-and-seek-data check`
reports, and evaluate.py works with only the evaluated ImageNet split on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from hide_and_seek_tf.cli import data as data_cli
from hide_and_seek_tf.cli import evaluate as evaluate_cli
from hide_and_seek_tf.cli import train as train_cli
from tests.data.layouts import cub_files, imagenet_files, write_cub, write_files
from tests.data.quirks import DAMAGES, write_form

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--model", "small_gap", "--image-size", "32", "--epochs", "1", "--batch-size", "2",
        "--steps-per-epoch", "1", "--hide-patch-sizes", "8", "--verbose", "0"]  # fmt: skip


def _one_line_error(err: str, program: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{program}: error: ")
    return lines[0]


@pytest.mark.parametrize("damage", ["truncated", "pixel-bomb"])
def test_train_stops_in_one_line_before_the_run_directory_exists(tmp_path, capsys, damage):
    # The damaged image is in the validation split: it is checked before anything is written.
    spec, _, split, victim = write_form("csv", tmp_path / "data", DAMAGES[damage])
    assert split == "val"
    run = tmp_path / "run"
    assert train_cli.main(["--data", spec, *FAST, "--run-dir", str(run)]) == 1
    line = _one_line_error(capsys.readouterr().err, "train.py")
    assert victim in line and "--skip-bad-images" in line
    assert not run.exists()
    # Skipped instead when asked, and recorded in the run.
    assert train_cli.main(["--data", spec, *FAST, "--run-dir", str(run), "--skip-bad-images"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["skip_bad_images"] is True


def test_train_records_clipped_boxes_and_strict_refuses(tmp_path, capsys):
    files, truth = cub_files()
    lines = files["bounding_boxes.txt"].decode().splitlines()
    width = truth[1]["pixels"].shape[1]
    lines[0] = f"1 3.0 4.0 {width - 3.0 + 2} 10.0"  # 2 px past the right edge, as CUB has
    files["bounding_boxes.txt"] = ("\n".join(lines) + "\n").encode()
    path = write_cub(files, tmp_path, as_tgz=False)
    run = tmp_path / "run"
    argv = ["--data", f"cub:{path}", *FAST, "--no-validation", "--run-dir", str(run)]
    assert train_cli.main([*argv, "--strict-boxes"]) == 1
    line = _one_line_error(capsys.readouterr().err, "train.py")
    assert "bounding_boxes.txt line 1 extends past" in line and not run.exists()
    assert train_cli.main(argv) == 0
    dataset = json.loads((run / "config.json").read_text())["dataset"]
    assert (
        dataset["clipped_boxes"] == 1
        and "bounding_boxes.txt line 1" in dataset["clipped_examples"][0]
    )


def _classifier(path: Path, num_classes: int) -> Path:
    inputs = keras.Input((32, 32, 3))
    maps = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(maps)
    keras.Model(inputs, keras.layers.Dense(num_classes)(pooled)).save(path)
    return path


def test_evaluate_with_only_imagenet_val_on_disk(tmp_path, capsys):
    files, _ = imagenet_files(xml=False)
    files = {k: v for k, v in files.items() if "/train/" not in k}  # train is 138 GB
    root = write_files(files, tmp_path / "imagenet")
    model = _classifier(tmp_path / "net.keras", 3)
    argv = ["--model", str(model), "--data", f"imagenet:{root}", "--split", "val"]
    argv += ["--no-progress", "--batch-size", "8"]
    assert evaluate_cli.main(argv + ["--out-dir", str(tmp_path / "a")]) == 0
    base = json.loads((tmp_path / "a" / "metrics.json").read_text())["baselines"]["train_box"]
    assert base["box"] is None and base["gt_known_loc"] is None
    assert base["fitted_on"].startswith("unavailable: the training split 'train' cannot be read")
    assert "fixed box unavailable" in capsys.readouterr().out
    assert (
        evaluate_cli.main(argv + ["--out-dir", str(tmp_path / "b"), "--baseline-split", "val"]) == 0
    )
    base = json.loads((tmp_path / "b" / "metrics.json").read_text())["baselines"]["train_box"]
    assert base["fitted_on_split"] == "val" and len(base["box"]) == 4
    assert 0 <= base["gt_known_loc"] <= 100
    assert "fitted on 'val' (--baseline-split)" in capsys.readouterr().out


def test_evaluate_stops_in_one_line_on_a_bad_image(tmp_path, capsys):
    spec, _, split, victim = write_form("imagenet", tmp_path / "data", DAMAGES["zero-bytes"])
    model = _classifier(tmp_path / "net.keras", 3)
    out = tmp_path / "eval"
    argv = ["--model", str(model), "--data", spec, "--split", split, "--no-progress"]
    assert evaluate_cli.main(argv + ["--out-dir", str(out)]) == 2
    line = _one_line_error(capsys.readouterr().err, "evaluate.py")
    assert victim in line and "empty file" in line and not out.exists()
    assert evaluate_cli.main(argv + ["--out-dir", str(out), "--skip-bad-images"]) == 0
    data = json.loads((out / "metrics.json").read_text())["data"]
    assert data["skipped_images"] == 1 and data["num_images"] == 5


def test_evaluate_strict_boxes_refuses_a_box_past_the_image(tmp_path, capsys):
    files, _ = imagenet_files(xml=False)
    lines = files["LOC_val_solution.csv"].decode().splitlines()
    name, prediction = lines[1].split(",")
    wnid, x0, y0, x1, y1, *rest = prediction.split()
    lines[1] = f"{name},{wnid} {x0} {y0} {int(x1) + 2} {y1} " + " ".join(rest)
    files["LOC_val_solution.csv"] = ("\n".join(lines) + "\n").encode()
    root = write_files(files, tmp_path / "imagenet")
    model = _classifier(tmp_path / "net.keras", 3)
    argv = ["--model", str(model), "--data", f"imagenet:{root}", "--split", "val", "--no-progress"]
    argv += ["--baseline-split", "val"]
    assert evaluate_cli.main(argv + ["--out-dir", str(tmp_path / "a"), "--strict-boxes"]) == 2
    line = _one_line_error(capsys.readouterr().err, "evaluate.py")
    assert "LOC_val_solution.csv line 2 extends past" in line and not (tmp_path / "a").exists()
    assert evaluate_cli.main(argv + ["--out-dir", str(tmp_path / "b")]) == 0
    data = json.loads((tmp_path / "b" / "metrics.json").read_text())["data"]
    assert data["clipped_boxes"] == 1 and data["strict_boxes"] is False


def test_check_command_exit_status(tmp_path, capsys):
    spec, _, split, victim = write_form("cub", tmp_path / "bad", DAMAGES["not-an-image"])
    assert data_cli.main(["check", spec, "--split", split, "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "unreadable: 1" in out and victim.split("/")[-1] in out
    spec, _, _, _ = write_form("cub", tmp_path / "good")
    assert data_cli.main(["check", spec, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == spec and "\ntrain: " in out and "\ntest: " in out
    assert data_cli.main(["check", "nosuchkind:x"]) == 2


def test_python_m_hide_and_seek_tf_data(tmp_path):
    spec, _, _, _ = write_form("tiny-zip", tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-m", "hide_and_seek_tf.data", "check", spec, "--split", "val"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "val: 6 images, 3 classes" in done.stdout

"""The temporal task end to end: TemporalConfig, train_temporal's run directory, evaluate_temporal_run's
protocol (checked with oracle CAMs), and the train.py / evaluate.py command lines."""

import csv
import json

import numpy as np
import pytest
import tensorflow as tf

from hide_and_seek_tf.cli import evaluate as evaluate_cli
from hide_and_seek_tf.cli import train as train_cli
from hide_and_seek_tf.data.sequences import load_sequences
from hide_and_seek_tf.temporal import TemporalConfig, evaluate_temporal_run, train_temporal
from hide_and_seek_tf.temporal import run as temporal_run

TINY = {"num_videos": 24, "num_steps": 60, "filters": 8, "epochs": 2, "batch_size": 12}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "has"
    train_temporal(TemporalConfig(**TINY, run_dir=str(run_dir)), verbose=0)
    return run_dir


def test_config_defaults_resolution_round_trip_and_errors():
    config = TemporalConfig()
    assert (config.pooling, config.filters, config.hide_prob) == ("max", 500, 0.5)
    resolved = config.resolve(num_steps=2000, num_videos=100)
    assert resolved.segment_length == 100  # the paper's 20 segments of F_total = 2000
    assert "temporal-has" in resolved.run_dir
    assert "temporal-full" in config.replace(segment_length=0).default_run_dir()
    assert TemporalConfig.from_dict(resolved.to_dict()) == resolved
    for bad, message in [
        ({"data": "synthetic"}, "data='synthetic'"),
        ({"segment_length": -1}, "segment_length=-1"),
        ({"pooling": "sum"}, "pooling='sum'"),
        ({"task": "image"}, "task='image'"),
        ({"hide_prob": 2}, "hide_prob=2"),
    ]:
        with pytest.raises(ValueError, match=message):
            TemporalConfig(**bad)
    with pytest.raises(ValueError, match="batch_size"):
        TemporalConfig(batch_size=64).resolve(num_steps=10, num_videos=20)


def test_training_pipeline_hides_whole_segments_with_the_mean_feature():
    ds, _ = load_sequences("synthetic-sequences", "train", num_videos=16, num_steps=60)
    mean = np.full(32, 7.0)
    config = TemporalConfig(segment_length=6, batch_size=8).resolve(num_steps=60, num_videos=16)
    features, targets = next(iter(temporal_run.train_pipeline(ds, config, mean, 16, cache=False)))
    hidden = np.all(features.numpy() == 7.0, axis=2)  # (8, 60)
    per_segment = hidden.reshape(8, 10, 6)
    assert np.all(per_segment.min(axis=2) == per_segment.max(axis=2))
    assert 0 < hidden.mean() < 1
    np.testing.assert_allclose(targets.numpy().sum(axis=1), 1.0)
    full = config.replace(segment_length=0)
    features, _ = next(iter(temporal_run.train_pipeline(ds, full, mean, 16, cache=False)))
    assert not np.any(np.all(features.numpy() == 7.0, axis=2))


def test_train_writes_the_run_directory(trained_run):
    config = json.loads((trained_run / "config.json").read_text())
    assert config["task"] == "temporal" and config["segment_length"] == 3
    assert config["num_classes"] == 6 and config["feature_dim"] == 32
    stats = json.loads((trained_run / "dataset_mean.json").read_text())
    assert len(stats["mean"]) == 32 and stats["num_feature_steps"] == 24 * 60
    with (trained_run / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and {"loss", "label_accuracy", "val_loss"} <= set(rows[0])
    assert (trained_run / "model.keras").is_file()


def test_train_refuses_a_non_empty_run_dir(trained_run):
    before = sorted(p.name for p in trained_run.iterdir())
    with pytest.raises(FileExistsError, match="not empty"):
        train_temporal(TemporalConfig(**TINY, run_dir=str(trained_run)), verbose=0)
    assert sorted(p.name for p in trained_run.iterdir()) == before


def test_evaluate_writes_metrics_detections_and_figure(trained_run, tmp_path):
    result = evaluate_temporal_run(trained_run, split="test", num_videos=12, out_dir=tmp_path)
    metrics = result["metrics"]
    assert list(metrics["map"]) == ["0.1", "0.2", "0.3", "0.4", "0.5"]
    assert all(0.0 <= v <= 100.0 for v in metrics["map"].values())
    assert metrics["num_videos"] == 12 and metrics["num_ground_truth"] == 12
    assert 0.0 <= metrics["accuracy"] <= 100.0
    assert json.loads((tmp_path / "metrics.json").read_text()) == json.loads(json.dumps(result))
    with (tmp_path / "detections.csv").open() as f:
        assert len(list(csv.DictReader(f))) == metrics["num_detections"]
    assert (tmp_path / "cams.png").stat().st_size > 0


def _oracle_cams(value_inside, value_outside):
    """A stand-in for the model's CAMs: one value inside each video's ground truth, another outside."""

    def cams(model, features):
        ds, _ = load_sequences("synthetic-sequences", "test", num_videos=12, num_steps=60)
        batch = next(iter(ds.batch(12)))
        start, end = batch["intervals"].numpy()[:, 0].T  # seconds = steps here
        steps = np.arange(60)
        inside = (steps[None] >= start[:, None]) & (steps[None] < end[:, None])
        maps = np.where(inside, value_inside, value_outside)[:, None].repeat(6, axis=1)
        logits = tf.one_hot(batch["labels"].numpy().argmax(1), 6)
        return logits, tf.constant(maps[: features.shape[0]], tf.float32)

    return cams


def test_evaluation_protocol_with_oracle_cams(trained_run, tmp_path, monkeypatch):
    monkeypatch.setattr(temporal_run, "temporal_class_activation_maps", _oracle_cams(1.0, 0.0))
    result = evaluate_temporal_run(
        trained_run, split="test", num_videos=12, batch_size=12, out_dir=tmp_path
    )
    # A map exactly on the ground truth: every interval is found, at every tIoU.
    assert all(v == pytest.approx(100.0) for v in result["metrics"]["map"].values())
    assert result["metrics"]["gt_coverage"] == pytest.approx(100.0)
    assert result["metrics"]["accuracy"] == 100.0
    # A flat map gives one interval, the whole video: the whole-video baseline.
    monkeypatch.setattr(temporal_run, "temporal_class_activation_maps", _oracle_cams(1.0, 1.0))
    flat = evaluate_temporal_run(
        trained_run, split="test", num_videos=12, batch_size=12, out_dir=tmp_path
    )
    assert flat["metrics"]["map"] == pytest.approx(flat["baselines"]["whole_video"]["map"])
    assert flat["metrics"]["map"]["0.5"] == 0.0  # actions are 10-20% of the video


def test_evaluate_refuses_an_image_run_and_a_missing_model(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"data": "synthetic"}))
    with pytest.raises(ValueError, match="not a temporal run"):
        evaluate_temporal_run(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"task": "temporal"}))
    with pytest.raises(FileNotFoundError, match="model.keras"):
        evaluate_temporal_run(tmp_path)


def test_command_lines(tmp_path, capsys):
    run_dir = tmp_path / "cli"
    argv = ["--task", "temporal", "--num-images", "24", "--num-steps", "60", "--filters", "8"]
    argv += ["--epochs", "1", "--batch-size", "12", "--segment-length", "0", "--verbose", "0"]
    assert train_cli.main([*argv, "--run-dir", str(run_dir)]) == 0
    assert json.loads((run_dir / "config.json").read_text())["segment_length"] == 0
    assert evaluate_cli.main(["--run-dir", str(run_dir), "--num-images", "12"]) == 0
    out = capsys.readouterr().out
    assert "mAP (%)" in out and "whole-video baseline" in out
    assert (run_dir / "eval" / "metrics.json").is_file()
    # Options of the other task are refused, naming them.
    assert train_cli.main([*argv, "--model", "small_gap", "--run-dir", str(tmp_path / "x")]) == 1
    assert "--model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_cli.main(["--segment-length", "10"])
    assert evaluate_cli.main(["--run-dir", str(run_dir), "--sweep"]) == 2

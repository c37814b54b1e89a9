"""`train` in process: the run directory it writes, its refusals, and `load_run`."""

import csv
import json

import keras
import numpy as np
import pytest

from hide_and_seek_tf import compute_dataset_mean
from hide_and_seek_tf.data import load_dataset
from hide_and_seek_tf.training import (
    TrainConfig,
    load_run,
    make_lr_schedule,
    make_optimizer,
    train,
)

SMALL = {"num_images": 64, "image_size": 32, "batch_size": 16, "backup_every": 3, "seed": 3}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("cache")
        mp.setenv("HIDE_AND_SEEK_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, cache_dir):
    run_dir = tmp_path_factory.mktemp("runs") / "run"
    config = TrainConfig(run_dir=str(run_dir), epochs=2, **SMALL)
    model = train(config, verbose=0)
    return run_dir, config, model


def _snapshot(folder):
    return {str(p): p.stat().st_mtime_ns for p in sorted(folder.rglob("*"))}


def test_run_directory_holds_every_promised_file(finished_run):
    run_dir, _, _ = finished_run
    for name in ("config.json", "dataset_mean.json", "model.keras", "history.csv"):
        assert (run_dir / name).is_file(), name
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        "epoch-001.keras",
        "epoch-002.keras",
    ]
    assert list((run_dir / "logs" / "train").glob("events.out.tfevents.*"))
    assert list((run_dir / "logs" / "validation").glob("events.out.tfevents.*"))
    assert not (run_dir / "backup").exists()  # removed once model.keras is in place
    assert not list(run_dir.rglob(".*"))  # no temporary file left


def test_config_json_records_the_resolved_settings(finished_run):
    run_dir, config, _ = finished_run
    saved = json.loads((run_dir / "config.json").read_text())
    resolved = TrainConfig.from_dict(saved, ignore_unknown=True)
    assert resolved.resume is False and resolved.run_dir == str(run_dir)
    default_sizes = TrainConfig().hide_patch_sizes
    assert (resolved.epochs, resolved.hide_patch_sizes, resolved.image_size) == (
        2,
        default_sizes,
        (32, 32),
    )
    assert resolved.lr == 1e-3 and resolved.steps_per_epoch == 64 // 16
    assert saved["num_classes"] == len(saved["class_names"]) == 8
    assert saved["class_names"][0] == "red"
    assert {"tensorflow", "keras", "hide_and_seek_tf"} <= set(saved["versions"])
    assert saved["dataset"]["num_train_examples"] == 64


def test_dataset_mean_is_the_training_images_mean(finished_run):
    run_dir, config, _ = finished_run
    stats = json.loads((run_dir / "dataset_mean.json").read_text())
    images, _ = load_dataset("synthetic", "train", num_images=64, image_size=32, seed=3)
    np.testing.assert_allclose(stats["mean"], compute_dataset_mean(images), rtol=1e-12)
    assert stats["num_pixels"] == 64 * 32 * 32
    assert len(stats["std"]) == 3 and min(stats["std"]) > 0


def test_history_has_one_row_per_epoch(finished_run):
    run_dir, _, _ = finished_run
    with (run_dir / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert [int(float(r["global_step"])) for r in rows] == [4, 8]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(rows[0])


def test_load_run_returns_the_model_config_and_mean(finished_run):
    run_dir, _, model = finished_run
    loaded, config, mean = load_run(run_dir)
    assert config["num_classes"] == 8
    np.testing.assert_array_equal(
        mean, json.loads((run_dir / "dataset_mean.json").read_text())["mean"]
    )
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5
    )
    # No hiding inside the saved model: inference is deterministic.
    np.testing.assert_array_equal(loaded(images, training=False), loaded(images, training=False))


def test_fresh_run_refuses_a_non_empty_directory_and_leaves_it_alone(finished_run):
    run_dir, config, _ = finished_run
    before = _snapshot(run_dir)
    with pytest.raises(FileExistsError, match="not empty.*--resume"):
        train(config, verbose=0)
    assert _snapshot(run_dir) == before


def test_resume_with_different_settings_lists_them_and_changes_nothing(finished_run):
    run_dir, config, _ = finished_run
    before = _snapshot(run_dir)
    changed = config.replace(resume=True, epochs=3, hide_prob=0.25, strategy="default")
    with pytest.raises(ValueError, match="settings differ") as info:
        train(changed, verbose=0)
    assert "epochs: saved 2, now 3" in str(info.value)
    assert "hide_prob: saved 0.5, now 0.25" in str(info.value)
    assert "strategy" not in str(info.value)
    assert _snapshot(run_dir) == before


def test_resume_of_a_finished_run_returns_its_model_without_training(finished_run):
    run_dir, config, _ = finished_run
    before = _snapshot(run_dir)
    model = train(config.replace(resume=True), verbose=0)
    assert int(model.optimizer.iterations) == 8
    assert _snapshot(run_dir) == before


def test_baseline_with_paper_schedule_and_mixed_precision(tmp_path, cache_dir):
    config = TrainConfig(
        run_dir=str(tmp_path / "run"), epochs=1, hide_patch_sizes=(), schedule="paper",
        mixed_precision=True, validation=False, steps_per_epoch=2, **SMALL,
    )  # fmt: skip
    policy = keras.mixed_precision.global_policy().name
    model = train(config, verbose=0)
    assert keras.mixed_precision.global_policy().name == policy  # restored
    assert model.output.dtype == "float32"  # logits
    with (tmp_path / "run" / "history.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert "val_loss" not in row
    assert float(row["learning_rate"]) == pytest.approx(1e-4, rel=1e-4)  # decayed to lr / 100


def test_paper_schedule_decays_from_lr_to_lr_over_100():
    config = TrainConfig(schedule="paper")
    schedule = make_lr_schedule(config, total_steps=500)
    assert float(schedule(0)) == pytest.approx(0.01)
    assert float(schedule(250)) == pytest.approx(0.001, rel=1e-5)
    assert float(schedule(500)) == pytest.approx(0.0001, rel=1e-5)
    optimizer = make_optimizer(config, total_steps=500)
    assert isinstance(optimizer, keras.optimizers.SGD) and optimizer.momentum == 0.9
    adam = make_lr_schedule(TrainConfig(schedule="adam"), total_steps=500)
    assert float(adam(0)) == pytest.approx(1e-3) and float(adam(500)) == pytest.approx(1e-5)


def test_tiny_imagenet_run_takes_size_and_names_from_the_data(
    tiny_imagenet_subset, tmp_path, cache_dir
):
    config = TrainConfig(
        data=f"tiny-imagenet:{tiny_imagenet_subset}", classes=2, max_per_class=16, batch_size=16,
        epochs=1, run_dir=str(tmp_path / "run"),
    )  # fmt: skip
    model = train(config, verbose=0)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["image_size"] == [64, 64]  # the native size
    assert saved["num_classes"] == 2 and len(saved["dataset"]["wnids"]) == 2
    assert saved["steps_per_epoch"] == 2  # 32 images / 16
    assert model.output.shape == (None, 2)


def test_train_split_is_the_split_trained_on(tiny_imagenet_subset, tmp_path, cache_dir):
    config = TrainConfig(
        data=f"tiny-imagenet:{tiny_imagenet_subset}", classes=2, train_split="train_holdout",
        batch_size=10, epochs=1, validation=False, run_dir=str(tmp_path / "run"),
    )  # fmt: skip
    train(config, verbose=0)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["train_split"] == "train_holdout"
    assert saved["steps_per_epoch"] == 2  # 2 classes x 10 held-out images / 10
    mean = json.loads((tmp_path / "run" / "dataset_mean.json").read_text())
    assert mean["split"] == "train_holdout" and mean["num_pixels"] == 20 * 64 * 64

"""Training speed settings: the precision `auto` picks, where the hiding runs, epoch wall times."""

import csv
import json
import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

from hide_and_seek_tf.data import make_pipeline
from hide_and_seek_tf.evaluation import evaluate_run
from hide_and_seek_tf.export import export_run
from hide_and_seek_tf.training import TrainConfig, load_run, train
from hide_and_seek_tf.training.loop import _behind_hiding_layer, cache_fits
from hide_and_seek_tf.training.precision import choose_precision, cpu_flags, fastest_precision

SMALL = {"num_images": 64, "image_size": 32, "batch_size": 16, "seed": 3, "epochs": 1}


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("cache")
        mp.setenv("HIDE_AND_SEEK_CACHE", str(path))
        yield path


@pytest.mark.parametrize(
    ("gpus", "flags", "backend", "expected"),
    [
        ([(9, 0)], frozenset(), "tensorflow", "bfloat16"),  # H100
        ([(8, 0), (7, 5)], frozenset(), "jax", "float16"),  # the slowest GPU decides
        ([(7, 0)], frozenset(), "tensorflow", "float16"),  # V100
        ([(6, 1)], frozenset({"amx_bf16"}), "tensorflow", False),  # a GPU trains, not the CPU
        ([], frozenset({"avx512f", "amx_bf16", "amx_tile"}), "tensorflow", "bfloat16"),
        ([], frozenset({"avx512f", "avx512_bf16"}), "tensorflow", "bfloat16"),
        ([], frozenset({"avx512_bf16"}), "torch", False),  # only TF's oneDNN kernels use it
        ([], frozenset({"avx2", "avx512f"}), "tensorflow", False),
    ],
)
def test_auto_precision_follows_the_hardware(gpus, flags, backend, expected):
    chosen, reason = choose_precision(gpus, flags, backend)
    assert chosen == expected
    assert reason


def test_cpu_flags_reads_the_first_flags_line(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx512f amx_bf16\n\nflags\t: other\n")
    assert cpu_flags(info) == {"fpu", "avx512f", "amx_bf16"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_auto_is_resolved_logged_and_recorded(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="hide_and_seek_tf.training")
    run_dir = tmp_path / "run"
    train(TrainConfig(run_dir=str(run_dir), validation=False, **SMALL), verbose=0)
    chosen, reason = fastest_precision()
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["mixed_precision"] == chosen
    assert any(f"(auto: {reason})" in r.getMessage() for r in caplog.records)
    with open(run_dir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[0]["epoch_seconds"]) > 0


def test_resume_keeps_the_precision_the_run_started_with(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    config = TrainConfig(
        run_dir=str(run_dir), mixed_precision=False, validation=False, **{**SMALL, "epochs": 2}
    )
    config = config.replace(steps_per_epoch=2)
    # Stop after the first epoch: a run that was interrupted.
    train(config.replace(epochs=1), verbose=0)
    saved = json.loads((run_dir / "config.json").read_text())
    saved["epochs"] = 2  # as if it had been started for 2 epochs and killed after 1
    (run_dir / "config.json").write_text(json.dumps(saved))
    (run_dir / "model.keras").unlink()
    resumed = config.replace(mixed_precision="auto", resume=True)
    train(resumed, verbose=0)  # refused if "auto" chose another precision than the saved one
    assert json.loads((run_dir / "config.json").read_text())["mixed_precision"] is False


def _cell_statistics(hidden: np.ndarray, mean: list[float]) -> np.ndarray:
    """Per-cell hidden flags of 16 px cells, after checking pixels are the mean or the image's 7."""
    is_fill = np.all(hidden == np.float32(mean), axis=-1)
    is_image = np.all(hidden == 7.0, axis=-1)
    assert np.all(is_fill | is_image)  # hidden pixels are exactly the mean, the rest untouched
    cells = is_fill[:, ::16, ::16]
    # Whole 16 px cells: every pixel of a cell agrees with its top-left pixel.
    np.testing.assert_array_equal(is_fill, np.repeat(np.repeat(cells, 16, 1), 16, 2))
    return cells


def test_both_hiding_places_hide_cells_with_the_configured_probability_and_fill():
    mean = [120.0, 110.0, 100.0]
    images = tf.fill([300, 64, 64, 3], 7.0)
    trainer = _behind_hiding_layer(
        keras.Sequential([keras.Input((64, 64, 3)), keras.layers.Identity()]),
        TrainConfig(hide_patch_sizes=(16,), hide_prob=0.5),
        mean,
        seed=5,
    )
    in_model = keras.ops.convert_to_numpy(trainer(images, training=True))
    elements = tf.data.Dataset.from_tensor_slices(
        {
            "image": tf.cast(images, tf.uint8),
            "label": tf.zeros([300], tf.int32),
            "boxes": tf.zeros([300, 1, 4]),
            "id": tf.strings.as_string(tf.range(300)),
        }
    )
    batches = make_pipeline(
        elements, training=True, batch_size=100, image_size=64, hide_patch_sizes=(16,),
        hide_prob=0.5, fill_value=mean, seed=5, augment="none",
    )  # fmt: skip
    in_data = np.concatenate([images.numpy() for images, _ in batches])
    for hidden in (in_model, in_data):
        cells = _cell_statistics(hidden, mean)
        assert abs(cells.mean() - 0.5) < 5 * np.sqrt(0.25 / cells.size)


def test_hiding_layer_in_front_never_hides_outside_training():
    model = keras.Sequential([keras.Input((64, 64, 3)), keras.layers.Identity()])
    config = TrainConfig(hide_patch_sizes=(16,), hide_prob=0.5)
    trainer = _behind_hiding_layer(model, config, [120.0, 110.0, 100.0], seed=5)
    images = tf.fill([8, 64, 64, 3], 7.0)
    np.testing.assert_array_equal(trainer(images, training=False), images)
    np.testing.assert_array_equal(trainer.predict(images, verbose=0), images)


def test_a_run_trained_with_hiding_in_the_model_saves_evaluates_and_exports(tmp_path):
    run_dir = tmp_path / "run"
    config = TrainConfig(run_dir=str(run_dir), hide_in="model", validation=False, **SMALL)
    returned = train(config, verbose=0)
    model, saved, _ = load_run(run_dir)
    assert saved["hide_in"] == "model"
    names = [layer.name for layer in model._flatten_layers()]
    assert "hide_and_seek" not in names  # the saved model never hides
    assert [w.shape for w in model.weights] == [w.shape for w in returned.weights]
    checkpoint = keras.saving.load_model(run_dir / "checkpoints" / "epoch-001.keras")
    assert "hide_and_seek" not in [layer.name for layer in checkpoint._flatten_layers()]
    result = evaluate_run(run_dir, split="val", num_images=32, num_plot=0, progress=False)
    assert 0.0 <= result["metrics"]["top1_cls"] <= 100.0
    assert (export_run(run_dir) / "saved_model.pb").is_file()


def test_decoded_images_are_cached_only_when_they_fit_in_memory():
    assert cache_fits(38_000, (64, 64))  # Tiny ImageNet: 0.5 GB
    assert not cache_fits(10**12, (224, 224))  # far beyond any machine's memory

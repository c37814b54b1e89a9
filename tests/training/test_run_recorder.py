"""The resumable state, history and checkpoints a run directory gets."""

import csv
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from hide_and_seek_tf.training import load_run
from hide_and_seek_tf.training.callbacks import EpochSummaries, RunRecorder
from hide_and_seek_tf.training.run_dir import epochs_done, read_state, restore_state


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def _data():
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8).repeat()


def _fit(model, run_dir, epochs, steps, backup_every, **kwargs):
    recorder = RunRecorder(run_dir, steps, backup_every, **kwargs)
    model.fit(
        _data(),
        shuffle=False,
        epochs=epochs,
        steps_per_epoch=steps,
        callbacks=[recorder],
        verbose=0,
    )
    return recorder


def test_recorder_writes_history_checkpoints_and_a_consistent_state(tmp_path):
    model = _model()
    _fit(model, tmp_path, epochs=3, steps=4, backup_every=3)
    rows = list(csv.DictReader((tmp_path / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert [int(float(r["global_step"])) for r in rows] == [4, 8, 12]
    assert {"loss", "accuracy", "learning_rate"} <= set(rows[0])
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "epoch-001.keras", "epoch-002.keras", "epoch-003.keras",
    ]  # fmt: skip
    state = read_state(tmp_path)
    assert (state["global_step"], state["epoch"], state["step"]) == (12, 3, 0)
    assert [r["epoch"] for r in state["history"]] == [0, 1, 2]
    # One weights file, no temporary file left behind anywhere.
    backup = sorted(p.name for p in (tmp_path / "backup").iterdir())
    assert backup == sorted(["state.json", state["weights"]])
    assert not [p for p in tmp_path.rglob(".*")]


class _Crash(keras.callbacks.Callback):
    """Snapshots every variable after step `snapshot`, then fails at step `crash` (a killed run)."""

    def __init__(self, snapshot, crash):
        super().__init__()
        self.snapshot, self.crash, self.values = snapshot, crash, None

    def on_train_batch_end(self, batch, logs=None):
        if batch + 1 == self.snapshot:
            variables = self.model.weights + self.model.optimizer.variables
            self.values = [np.array(v) for v in variables]
        if batch + 1 == self.crash:
            raise RuntimeError("killed")


def test_mid_epoch_state_restores_weights_and_optimizer_exactly(tmp_path):
    model = _model()
    crash = _Crash(snapshot=6, crash=8)
    recorder = RunRecorder(tmp_path, steps_per_epoch=10, backup_every=3)
    with pytest.raises(RuntimeError, match="killed"):
        model.fit(
            _data(),
            shuffle=False,
            epochs=1,
            steps_per_epoch=10,
            callbacks=[recorder, crash],
            verbose=0,
        )
    state = read_state(tmp_path)
    assert (state["global_step"], state["epoch"], state["step"]) == (6, 0, 6)
    fresh = _model(seed=1)
    restore_state(fresh, tmp_path)
    restored = [np.array(v) for v in fresh.weights + fresh.optimizer.variables]
    assert len(restored) == len(crash.values)
    for a, b in zip(crash.values, restored, strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(fresh.optimizer.iterations) == 6


def test_resumed_recorder_continues_the_step_count_and_history(tmp_path):
    model = _model()
    _fit(model, tmp_path, epochs=2, steps=4, backup_every=100)
    state = read_state(tmp_path)
    model2 = _model(seed=3)
    restore_state(model2, tmp_path)
    epoch, step = epochs_done(state, 4)
    recorder = RunRecorder(
        tmp_path, 4, 100, global_step=state["global_step"], history=state["history"]
    )
    model2.fit(
        _data(),
        shuffle=False,
        initial_epoch=epoch,
        epochs=3,
        steps_per_epoch=4,
        callbacks=[recorder],
        verbose=0,
    )
    rows = list(csv.DictReader((tmp_path / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert int(model2.optimizer.iterations) == 12
    assert read_state(tmp_path)["global_step"] == 12


def test_state_with_other_steps_per_epoch_is_refused():
    with pytest.raises(ValueError, match="steps_per_epoch"):
        epochs_done({"global_step": 8, "steps_per_epoch": 4}, 5)
    assert epochs_done({"global_step": 9, "steps_per_epoch": 4}, 4) == (2, 1)
    assert epochs_done(None, 4) == (0, 0)


def test_state_naming_a_missing_weights_file_is_reported(tmp_path):
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "state.json").write_text(json.dumps({"weights": "gone.weights.h5"}))
    with pytest.raises(FileNotFoundError, match="gone.weights.h5"):
        read_state(tmp_path)


def _scalars(folder):
    values = {}
    for path in folder.glob("events.out.tfevents.*"):
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                number = float(tf.make_ndarray(value.tensor))
                values.setdefault(value.tag, []).append((event.step, number))
    return values


def test_epoch_summaries_are_tensorboard_scalars_per_split(tmp_path):
    model = _model()
    x = np.random.default_rng(1).normal(size=(16, 4)).astype("float32")
    y = np.zeros(16, "int32")
    history = model.fit(
        x, y, validation_data=(x, y), epochs=2, verbose=0, callbacks=[EpochSummaries(tmp_path)]
    )
    train, val = _scalars(tmp_path / "train"), _scalars(tmp_path / "validation")
    assert [step for step, _ in train["epoch_loss"]] == [0, 1]
    np.testing.assert_allclose(
        [v for _, v in train["epoch_loss"]], history.history["loss"], rtol=1e-6
    )
    np.testing.assert_allclose(
        [v for _, v in val["epoch_accuracy"]], history.history["val_accuracy"], rtol=1e-6
    )
    assert [v for _, v in train["epoch_learning_rate"]] == pytest.approx([0.1, 0.1])


def test_load_run_names_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_run(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_run(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="dataset_mean.json"):
        load_run(tmp_path)
    (tmp_path / "dataset_mean.json").write_text(json.dumps({"mean": [1, 2, 3]}))
    (tmp_path / "backup").mkdir()
    with pytest.raises(FileNotFoundError, match="model.keras.*--resume"):
        load_run(tmp_path)

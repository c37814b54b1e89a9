"""LayerwiseSGD and the finetune schedule: new layers at 10x the backbone's rate, saved with runs."""

import keras
import numpy as np
import pytest

from hide_and_seek_tf.models import model_spec
from hide_and_seek_tf.training import TrainConfig
from hide_and_seek_tf.training.optimizers import LayerwiseSGD, make_lr_schedule, make_optimizer

X = np.random.default_rng(1).normal(size=(8, 3)).astype("float32")
Y = np.random.default_rng(2).normal(size=(8, 2)).astype("float32")


def _toy_model(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((3,))
    x = keras.layers.Dense(4, name="conv1_backbone")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, name="predictions")(x))


def _first_update(optimizer):
    model = _toy_model()
    model.compile(optimizer=optimizer, loss="mse")
    start = {w.path: w.numpy().copy() for w in model.weights}
    model.train_on_batch(X, Y)
    return model, {w.path: w.numpy() - start[w.path] for w in model.weights}


def test_matching_layers_step_factor_times_as_far_the_others_as_plain_sgd():
    _, plain = _first_update(keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True))
    _, scaled = _first_update(
        LayerwiseSGD(0.01, momentum=0.9, nesterov=True, lr_multipliers={"pred": 10.0})
    )
    for path, delta in plain.items():
        factor = 10.0 if path.startswith("predictions") else 1.0
        assert np.abs(delta).max() > 0
        # Differences of float32 weights: absolute precision about 1e-7 of weights near 1.
        np.testing.assert_allclose(scaled[path], factor * delta, rtol=1e-4, atol=1e-6)


def test_the_optimizer_saves_and_reloads_with_the_model(tmp_path):
    model, _ = _first_update(LayerwiseSGD(0.01, momentum=0.9, lr_multipliers={"pred": 10.0}))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    assert isinstance(loaded.optimizer, LayerwiseSGD)
    assert loaded.optimizer.lr_multipliers == {"pred": 10.0}
    with pytest.raises(ValueError, match="`lr_multipliers`"):
        LayerwiseSGD(0.01, lr_multipliers={"pred": 0})


def test_finetune_recipe_new_layers_and_step_decay():
    config = TrainConfig(model="resnet50_gap", weights="imagenet", schedule="finetune")
    optimizer = make_optimizer(config, total_steps=100)
    assert isinstance(optimizer, LayerwiseSGD) and optimizer.nesterov
    assert optimizer.momentum == 0.9 and optimizer.weight_decay == pytest.approx(1e-4)
    assert optimizer.lr_multipliers == {p: 10.0 for p in model_spec("resnet50_gap").new_layers}
    schedule = make_lr_schedule(config, total_steps=100)
    rates = [float(schedule(step)) for step in (0, 30, 31, 60, 61, 90, 91, 100)]
    np.testing.assert_allclose(rates, [1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5, 1e-6, 1e-6], rtol=1e-5)
    with pytest.raises(ValueError, match="`schedule`='finetune'.*small_gap"):
        make_optimizer(TrainConfig(weights="x.h5", schedule="finetune"), total_steps=10)

"""The model registry: a model is one `ModelSpec` registration, and every reader (the train
command's model check, export, evaluation, the finetune schedule) takes its facts from there."""

import json

import keras
import pytest

from hide_and_seek_tf import evaluation, export, models
from hide_and_seek_tf.cam_head import find_cam_head
from hide_and_seek_tf.cli import train as train_cli
from hide_and_seek_tf.evaluation import evaluate_run
from hide_and_seek_tf.models import (
    MODEL_SPECS,
    ModelSpec,
    build_model,
    check_model_choice,
    model_spec,
    paper_threshold,
    register_model,
)
from hide_and_seek_tf.models._common import classification_head
from hide_and_seek_tf.models.contract import CAM_FEATURES, PREDICTIONS
from hide_and_seek_tf.training import TrainConfig
from hide_and_seek_tf.training.optimizers import make_optimizer

TINY = "tiny_test_gap"
# Not any built-in model's threshold, so that a reader ignoring the spec is caught.
TINY_THRESHOLD = 0.35


def _tiny_gap(inputs, x, num_classes, pooling, name=TINY):
    x = keras.layers.Conv2D(8, 3, strides=4, padding="same", name="tiny_conv")(x)
    features = keras.layers.Activation("relu", name=CAM_FEATURES)(x)
    return keras.Model(inputs, classification_head(features, num_classes, pooling), name=name)


@pytest.fixture
def tiny_model():
    spec = register_model(
        ModelSpec(
            name=TINY,
            builder=_tiny_gap,
            input_shape=(32, 32, 3),
            paper_threshold=TINY_THRESHOLD,
            new_layers=("tiny_conv", PREDICTIONS),
        )
    )
    yield spec
    del MODEL_SPECS[TINY]


def test_a_registered_model_is_trained_exported_evaluated_and_finetuned_from_its_spec(
    tiny_model, tmp_path, monkeypatch
):
    # The train command's model check accepts it, and the run builds it.
    run = tmp_path / "run"
    argv = ["--model", TINY, "--num-images", "32", "--image-size", "32", "--batch-size", "16",
            "--epochs", "1", "--no-validation", "--verbose", "0", "--run-dir", str(run)]  # fmt: skip
    assert train_cli.main(argv) == 0
    assert json.loads((run / "config.json").read_text())["model"] == TINY
    model = keras.models.load_model(run / "model.keras", safe_mode=True)
    assert model.get_layer("tiny_conv").kernel.shape == (3, 3, 3, 8)

    # Export serves at its paper threshold, from a model and from a run directory.
    assert export.serving_options(model, find_cam_head(model))[0] == TINY_THRESHOLD
    exported = {}
    monkeypatch.setattr(
        export, "export_serving", lambda *args, **kwargs: exported.setdefault("args", args)
    )
    export.export_run(run)
    assert exported["args"][4] == TINY_THRESHOLD  # (model, class_names, out, version, threshold)

    # Evaluation reports at it.
    result = evaluate_run(run, num_images=8, batch_size=8, baseline_images=16, progress=False)
    assert result["protocol"]["cam_thresholds"] == [TINY_THRESHOLD]

    # The finetune schedule trains its new layers at 10x the rate.
    config = TrainConfig(model=TINY, weights="x.weights.h5", schedule="finetune")
    optimizer = make_optimizer(config, total_steps=10)
    assert optimizer.lr_multipliers == {"tiny_conv": 10.0, PREDICTIONS: 10.0}


def test_an_unregistered_model_is_refused_in_one_line_naming_the_known_ones(tiny_model, tmp_path):
    del MODEL_SPECS[TINY]
    with pytest.raises(ValueError) as raised:
        model_spec(TINY, arg="model")
    message = str(raised.value)
    assert message.startswith("`model` must be one of ") and "\n" not in message
    assert message.endswith(f"Received: model={TINY!r}")
    assert all(name in message for name in MODEL_SPECS)
    with pytest.raises(ValueError, match=f"`name` must be one of .*Received: name='{TINY}'"):
        build_model(TINY, 3)
    # Any other name (a user's model) is served and evaluated at the default threshold.
    assert paper_threshold(TINY) == paper_threshold(None) == model_spec("small_gap").paper_threshold
    register_model(tiny_model)  # for the fixture to remove


def test_weights_are_refused_for_a_spec_without_pretrained_weights(tiny_model):
    with pytest.raises(ValueError, match=f"`weights` is for .*vgg16_gap.*; '{TINY}' trains"):
        check_model_choice(TINY, "imagenet")


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"name": ""}, "`name`"),
        ({"input_shape": (32, 32)}, "`input_shape`"),
        ({"paper_threshold": 1.5}, r"`paper_threshold` must be in \[0, 1\]"),
        ({"paper_threshold": "0.3"}, "`paper_threshold`"),
        ({"new_layers": "tiny_conv"}, "`new_layers`"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_field(fields, match):
    with pytest.raises(ValueError, match=match):
        ModelSpec(**{"name": TINY, "builder": _tiny_gap, "input_shape": (32, 32, 3), **fields})
    with pytest.raises(TypeError, match="`spec` must be a ModelSpec"):
        register_model({"name": TINY})
    assert TINY not in MODEL_SPECS


def test_the_earlier_per_model_tables_are_live_views_of_the_registrations(tiny_model):
    assert dict(models.PAPER_THRESHOLDS)[TINY] == TINY_THRESHOLD
    assert evaluation.PAPER_THRESHOLDS is models.PAPER_THRESHOLDS
    assert models.PAPER_THRESHOLDS["googlenet_gap"] == 0.3
    assert "alexnet_gap" not in models.PAPER_THRESHOLDS  # at the default threshold
    assert models.NEW_LAYERS[TINY] == ("tiny_conv", PREDICTIONS)
    assert models.NEW_LAYERS["vgg16_gap"] == ("cam_conv", PREDICTIONS)
    assert "small_gap" not in models.NEW_LAYERS  # trains from scratch
    assert models.MODELS[TINY] == (_tiny_gap, (32, 32, 3))
    assert list(models.PRETRAINED_MODELS) == ["vgg16_gap", "resnet50_gap", "inception_v3_gap"]
    del MODEL_SPECS[TINY]
    assert TINY not in models.MODELS and TINY not in models.PAPER_THRESHOLDS
    register_model(tiny_model)  # for the fixture to remove

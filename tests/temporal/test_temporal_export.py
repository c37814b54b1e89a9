"""`hide-and-seek-export` on a temporal run: a SavedModel whose serving signature returns class
scores, the top class's 1-D CAM and its intervals, as the Keras model and `localization` give them."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from hide_and_seek_tf.cli import export as export_cli
from hide_and_seek_tf.data.sequences import load_sequences
from hide_and_seek_tf.export import export_run
from hide_and_seek_tf.temporal import (
    TemporalConfig,
    cams_to_intervals,
    export_temporal_run,
    temporal_class_activation_maps,
    train_temporal,
)

TINY = {"num_videos": 24, "num_steps": 60, "filters": 8, "epochs": 1, "batch_size": 12}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "temporal"
    train_temporal(TemporalConfig(**TINY, run_dir=str(run), validation=False), verbose=0)
    return run


def _features(num_steps):
    ds, _ = load_sequences("synthetic-sequences", "test", num_videos=6, num_steps=num_steps)
    return next(iter(ds.batch(6)))["features"].numpy()


def _check_against_the_model(outputs, model, features, threshold, class_names, top_k):
    logits, cams = temporal_class_activation_maps(model, features)
    logits, cams = logits.numpy(), cams.numpy()
    top = np.argsort(-logits, axis=1)[:, :top_k]
    np.testing.assert_array_equal(outputs["classes"], top)
    probs = tf.nn.softmax(logits).numpy()
    np.testing.assert_allclose(outputs["scores"], np.take_along_axis(probs, top, 1), rtol=1e-5)
    assert outputs["labels"].tolist() == [[class_names[c].encode() for c in row] for row in top]
    top_cam = cams[np.arange(len(features)), top[:, 0]]
    np.testing.assert_allclose(outputs["cams"], top_cam, rtol=1e-4, atol=1e-4)
    expected = cams_to_intervals(top_cam, threshold)
    assert outputs["num_intervals"].tolist() == [len(iv) for iv, _ in expected]
    for row, (intervals, scores) in enumerate(expected):
        n = len(intervals)
        np.testing.assert_array_equal(outputs["intervals"][row, :n], intervals)
        np.testing.assert_allclose(
            outputs["interval_scores"][row, :n], scores, rtol=1e-4, atol=1e-4
        )
        assert np.all(outputs["intervals"][row, n:] == -1)
        assert np.all(outputs["interval_scores"][row, n:] == 0)


def test_export_cli_writes_a_saved_model_that_returns_scores_cam_and_intervals(run_dir, capsys):
    assert export_cli.main(["--run-dir", str(run_dir), "--top-k", "3"]) == 0
    path = run_dir / "serving" / "1"
    assert str(path) in capsys.readouterr().out
    assert (path / "assets.extra" / "tf_serving_warmup_requests").stat().st_size > 0
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    model = keras.models.load_model(run_dir / "model.keras", safe_mode=True)
    class_names = json.loads((run_dir / "config.json").read_text())["class_names"]
    for num_steps in (60, 45):  # the run's length and another one
        features = _features(num_steps)
        outputs = {k: v.numpy() for k, v in serve(features=tf.constant(features)).items()}
        assert outputs["cams"].shape == (6, num_steps)
        _check_against_the_model(outputs, model, features, 0.5, class_names, top_k=3)
        assert outputs["num_intervals"].min() >= 1  # every map has a maximum
    empty = serve(features=tf.zeros((0, 60, features.shape[-1])))
    assert empty["cams"].shape == (0, 60) and empty["intervals"].shape == (0, 0, 2)


def test_export_takes_the_threshold_and_refuses_image_only_options(run_dir, tmp_path, capsys):
    path = export_temporal_run(run_dir, tmp_path / "serving", threshold=0.2, warmup=False)
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    model = keras.models.load_model(run_dir / "model.keras", safe_mode=True)
    features = _features(60)
    outputs = {k: v.numpy() for k, v in serve(features=tf.constant(features)).items()}
    class_names = json.loads((run_dir / "config.json").read_text())["class_names"]
    _check_against_the_model(outputs, model, features, 0.2, class_names, top_k=5)
    with pytest.raises(SystemExit):
        export_cli.main(["--run-dir", str(run_dir), "--cam-size", "7", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert "--cam-size" in err and "temporal" in err and "Traceback" not in err
    with pytest.raises(ValueError, match="threshold"):
        export_temporal_run(run_dir, tmp_path / "bad", threshold=1.5)
    assert not (tmp_path / "bad").exists()
    # The image exporter points to this one.
    with pytest.raises(ValueError, match="export_temporal_run"):
        export_run(run_dir, tmp_path / "image")

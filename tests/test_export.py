"""Serving export: a SavedModel that needs only TensorFlow and gives the Keras model's answers."""

import base64
import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib

import keras
import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

from hide_and_seek_tf.boxes import cams_to_boxes
from hide_and_seek_tf.cam import class_activation_maps
from hide_and_seek_tf.cam_head import find_cam_head, preprocess
from hide_and_seek_tf.cli import export as export_cli
from hide_and_seek_tf.export import (
    WARMUP_FILE,
    CamServer,
    batch_buckets,
    export_serving,
    serving_options,
)
from hide_and_seek_tf.models import build_model

SIZE = 32
NUM_CLASSES = 5
CLASS_NAMES = [f"class_{i}" for i in range(NUM_CLASSES)]


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return build_model("small_gap", NUM_CLASSES, input_shape=(SIZE, SIZE, 3))


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    out = tmp_path_factory.mktemp("serving")
    path = export_serving(model, CLASS_NAMES, out, threshold=0.3, top_k=3, cam_size=7)
    return out, path


def _pixels(count, seed=0, size=SIZE):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(count, size, size, 3)).astype(np.uint8)


def _png(image):
    return tf.io.encode_png(image).numpy()


def _reference(model, pixels, threshold=0.3, top_k=3):
    logits, cams = class_activation_maps(model, tf.constant(pixels, tf.float32), top_k=1)
    scores, classes = tf.math.top_k(tf.nn.softmax(logits), k=top_k)
    boxes = cams_to_boxes(cams[:, 0], thresholds=(threshold,))[:, 0]
    return scores.numpy(), classes.numpy(), boxes.numpy()


def test_layout_is_versioned_and_never_overwritten(model, exported):
    out, path = exported
    assert path == out / "1" and (path / "saved_model.pb").exists()
    assert export_serving(model, CLASS_NAMES, out) == out / "2"
    with pytest.raises(FileExistsError, match="exists already"):
        export_serving(model, CLASS_NAMES, out, version=1)
    assert sorted(p.name for p in out.iterdir()) == ["1", "2"]  # no temp directories left behind


def test_fresh_process_with_only_tensorflow_matches_keras(model, exported, tmp_path):
    _, path = exported
    pixels = _pixels(6)
    np.save(tmp_path / "pixels.npy", pixels)
    # A separate interpreter, run where the project is not even importable.
    script = textwrap.dedent(
        f"""
        import json, sys
        import numpy as np, tensorflow as tf
        served = tf.saved_model.load({str(path)!r})
        pixels = np.load({str(tmp_path / "pixels.npy")!r})
        encoded = tf.constant([tf.io.encode_png(p).numpy() for p in pixels])
        a = served.signatures["predict_pixels"](images=tf.constant(pixels, tf.float32))
        b = served.signatures["serving_default"](images=encoded)
        c = served.signatures["predict_pixels_uint8"](images=tf.constant(pixels))
        assert not any(m.startswith("hide_and_seek_tf") for m in sys.modules), "project imported"
        print(json.dumps({{name: {{k: v.numpy().tolist() if v.dtype != tf.string else
            [[s.decode() for s in row] for row in v.numpy()] for k, v in out.items()}}
            for name, out in (("pixels", a), ("encoded", b), ("uint8", c))}}))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = json.loads(result.stdout.strip().splitlines()[-1])
    scores, classes, boxes = _reference(model, pixels)
    for name in ("pixels", "encoded", "uint8"):
        out = outputs[name]
        np.testing.assert_array_equal(out["classes"], classes)
        np.testing.assert_allclose(out["scores"], scores, atol=1e-5)
        np.testing.assert_array_equal(out["boxes"], boxes)
        assert out["labels"] == [[CLASS_NAMES[c] for c in row] for row in classes]
        cams = np.array(out["cams"])
        assert cams.shape == (6, 7, 7) and cams.min() >= 0 and cams.max() <= 1


def test_boxes_are_mapped_to_original_image_coordinates(model, exported):
    _, path = exported
    served = tf.saved_model.load(str(path))
    small = _pixels(1, seed=3)[0]
    # Upscale by exactly 2 x 3 with nearest neighbour: the model sees (nearly) the same pixels.
    big = np.repeat(np.repeat(small, 2, axis=0), 3, axis=1)
    at_size = served.signatures["serving_default"](images=tf.constant([_png(small)]))
    scaled = served.signatures["serving_default"](images=tf.constant([_png(big)]))
    x0, y0, x1, y1 = at_size["boxes"].numpy()[0]
    bx0, by0, bx1, by1 = scaled["boxes"].numpy()[0]
    assert 0 <= bx0 <= bx1 < SIZE * 3 and 0 <= by0 <= by1 < SIZE * 2
    if np.array_equal(at_size["classes"].numpy(), scaled["classes"].numpy()):
        # Edges scale with the image: [x0, x1 + 1) -> [3 x0, 3 (x1 + 1)).
        assert abs(bx0 - 3 * x0) <= 3 and abs(bx1 + 1 - 3 * (x1 + 1)) <= 3
        assert abs(by0 - 2 * y0) <= 2 and abs(by1 + 1 - 2 * (y1 + 1)) <= 2


def test_rest_request_body_round_trip(model, exported):
    """The JSON a TF Serving REST client sends: {"instances": [{"b64": ...}]}, decoded as the server does."""
    _, path = exported
    served = tf.saved_model.load(str(path))
    pixels = _pixels(2, seed=5)
    body = json.dumps(
        {"instances": [{"b64": base64.b64encode(_png(p)).decode("ascii")} for p in pixels]}
    )
    request = json.loads(body)
    images = tf.constant([base64.b64decode(item["b64"]) for item in request["instances"]])
    out = served.signatures["serving_default"](images=images)
    scores, classes, boxes = _reference(model, pixels)
    np.testing.assert_array_equal(out["classes"].numpy(), classes)
    np.testing.assert_array_equal(out["boxes"].numpy(), boxes)
    # The response TF Serving builds: one dict per instance.
    response = {
        "predictions": [
            {
                k: (
                    v.numpy()[i].tolist()
                    if v.dtype != tf.string
                    else [s.decode() for s in v.numpy()[i]]
                )
                for k, v in out.items()
            }
            for i in range(2)
        ]
    }
    assert set(response["predictions"][0]) == {"classes", "scores", "labels", "boxes", "cams"}
    json.dumps(response)  # serializable


def test_corrupt_input_is_a_request_error_and_empty_batch_is_empty(exported):
    _, path = exported
    served = tf.saved_model.load(str(path))
    serve = served.signatures["serving_default"]
    good = _png(_pixels(1)[0])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"JPEG or PNG(.|\n)*\[1\]"):
        serve(images=tf.constant([good, b"not an image"]))  # names the bad index
    truncated = tf.io.encode_jpeg(_pixels(1)[0]).numpy()[:40]
    with pytest.raises(tf.errors.InvalidArgumentError):
        serve(images=tf.constant([truncated]))
    # The process (and the loaded model) still serve after the bad requests.
    assert serve(images=tf.constant([good]))["classes"].shape == (1, 3)
    empty = serve(images=tf.constant([], tf.string))
    assert empty["classes"].shape == (0, 3) and empty["boxes"].shape == (0, 4)
    assert empty["cams"].shape == (0, 7, 7)


def test_saved_model_cli_lists_both_signatures(exported):
    _, path = exported
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    if not os.path.exists(cli):
        pytest.skip("saved_model_cli is not installed beside this Python")
    result = subprocess.run(
        [cli, "show", "--dir", str(path), "--all"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for expected in (
        "serving_default",
        "predict_pixels",
        "inputs['images']",
        "outputs['boxes']",
        "outputs['cams']",
        "outputs['labels']",
        "outputs['scores']",
    ):
        assert expected in result.stdout


def test_bad_arguments(model, tmp_path):
    with pytest.raises(ValueError, match="class_names"):
        export_serving(model, ["a"], tmp_path)
    with pytest.raises(ValueError, match="top_k"):
        export_serving(model, CLASS_NAMES, tmp_path, top_k=99)
    with pytest.raises(ValueError, match="threshold"):
        export_serving(model, CLASS_NAMES, tmp_path, threshold=2.0)
    assert list(tmp_path.iterdir()) == []


def test_export_without_xla_gives_the_same_boxes(model, tmp_path):
    path = export_serving(model, CLASS_NAMES, tmp_path, threshold=0.3, top_k=3, jit_compile=False)
    served = tf.saved_model.load(str(path))
    pixels = _pixels(4, seed=7)
    out = served.signatures["predict_pixels_uint8"](images=tf.constant(pixels))
    _, classes, boxes = _reference(model, pixels)
    np.testing.assert_array_equal(out["classes"].numpy(), classes)
    np.testing.assert_array_equal(out["boxes"].numpy(), boxes)


def _warmup_requests(path):
    from tensorflow_serving.apis import prediction_log_pb2

    records = tf.data.TFRecordDataset(str(path / WARMUP_FILE))
    logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in records]
    return [
        (
            log.predict_log.request.model_spec.signature_name or "serving_default",
            tf.make_ndarray(log.predict_log.request.inputs["images"]),
        )
        for log in logs
    ]


def test_batch_buckets():
    assert batch_buckets(64) == (1, 2, 4, 8, 16, 32, 64)
    assert batch_buckets(48) == (1, 2, 4, 8, 16, 32, 48)
    assert batch_buckets(1) == (1,)
    for bad in (0, -4, 2.0, True):
        with pytest.raises(ValueError, match="`max_batch_size`"):
            batch_buckets(bad)


def test_warmup_file_is_prediction_logs_tf_serving_can_replay(exported):
    _, path = exported
    requests = _warmup_requests(path)
    encoded = [images for name, images in requests if name == "serving_default"]
    # One request per bucket, of the bucket's size, then one per pixel signature.
    assert [len(images) for images in encoded] == list(batch_buckets(64))
    assert [(name, images.dtype, images.shape) for name, images in requests[len(encoded) :]] == [
        ("predict_pixels", np.float32, (1, SIZE, SIZE, 3)),
        ("predict_pixels_uint8", np.uint8, (1, SIZE, SIZE, 3)),
    ]
    served = tf.saved_model.load(str(path))
    for name, images in requests[:2] + requests[-2:]:  # replayed as TF Serving does at load
        out = served.signatures[name](images=tf.constant(images))
        assert out["boxes"].shape == (len(images), 4) and out["classes"].shape == (len(images), 3)


def test_after_warmup_no_batch_size_compiles_anything(model, tmp_path):
    """In a fresh process (XLA dumps every program it compiles: the hook counted here), replaying
    the warm-up file compiles one box search per bucket (1, 2, 4); then batch sizes 1..11 (chunks
    of 4 beyond 4), on new images and through both signatures, compile nothing more."""
    path = export_serving(
        model, CLASS_NAMES, tmp_path / "out", threshold=0.3, top_k=3, max_batch_size=4
    )
    pixels = _pixels(11, seed=11)
    np.save(tmp_path / "pixels.npy", pixels)
    dump = tmp_path / "xla_dump"
    script = textwrap.dedent(
        f"""
        import glob, json
        import numpy as np, tensorflow as tf
        from tensorflow_serving.apis.prediction_log_pb2 import PredictionLog
        def compiled():
            return len(glob.glob({str(dump)!r} + "/*before_optimizations.txt"))
        served = tf.saved_model.load({str(path)!r})
        # Replay the warm-up file as TF Serving does at load.
        for record in tf.data.TFRecordDataset({str(path / WARMUP_FILE)!r}):
            request = PredictionLog.FromString(record.numpy()).predict_log.request
            images = tf.constant(tf.make_ndarray(request.inputs["images"]))
            served.signatures[request.model_spec.signature_name](images=images)
        counts = {{"warm": compiled()}}
        pixels = np.load({str(tmp_path / "pixels.npy")!r})
        boxes = {{}}
        for size in range(1, 12):
            batch = pixels[:size]
            encoded = tf.constant([tf.io.encode_png(p).numpy() for p in batch])
            a = served.signatures["serving_default"](images=encoded)
            b = served.signatures["predict_pixels_uint8"](images=tf.constant(batch))
            assert a["boxes"].shape == (size, 4), a["boxes"].shape
            boxes[size] = [a["boxes"].numpy().tolist(), b["boxes"].numpy().tolist()]
        counts["after"] = compiled()
        print(json.dumps({{"counts": counts, "boxes": boxes}}))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", XLA_FLAGS=f"--xla_dump_to={dump}")
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["counts"] == {"warm": 3, "after": 3}
    # Padding and chunks are dropped: every size gives the unpadded reference's boxes.
    _, _, want = _reference(model, pixels)
    for size, (encoded, uint8) in report["boxes"].items():
        np.testing.assert_array_equal(encoded, want[: int(size)])
        np.testing.assert_array_equal(uint8, want[: int(size)])


def _four_class_applications_model():
    keras.utils.set_random_seed(3)
    return keras.applications.MobileNetV2(
        weights=None, alpha=0.35, input_shape=(64, 64, 3), classes=4
    )


def test_keras_applications_classifier_exports_class_cam_and_box(tmp_path, capsys):
    """export.py --model: a 4-class keras.applications MobileNetV2 (its top, softmax head, [-1, 1]
    input) served from raw PNG bytes, the "tf" preprocessing inside the graph; with the defaults,
    which fit the model: its 4 classes (not 5) and its 2 x 2 CAM."""
    net = _four_class_applications_model()
    net.save(tmp_path / "net.keras")
    (tmp_path / "names.txt").write_text("ant\nbee\ncat\ndog\n")
    argv = ["--model", str(tmp_path / "net.keras"), "--class-names", str(tmp_path / "names.txt")]
    argv += ["--out", str(tmp_path / "out"), "--preprocessing", "tf"]
    # Refused, naming the value, before anything is written.
    assert export_cli.main(argv + ["--top-k", "5"]) == 2
    error = capsys.readouterr().err
    assert error == (
        "export.py: error: `top_k` must be in [1, 4] for this 4-class model. Received: top_k=5\n"
    )
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    assert export_cli.main(argv + ["--max-batch-size", "4"]) == 0
    served = tf.saved_model.load(str(tmp_path / "out" / "1"))
    pixels = _pixels(3, seed=9, size=64)
    out = served.signatures["serving_default"](images=tf.constant([_png(p) for p in pixels]))
    inputs = preprocess(tf.constant(pixels, tf.float32), "tf")
    probs = net(inputs).numpy()  # the model's own softmax output
    _, cams = class_activation_maps(net, inputs, top_k=1)
    want_boxes = cams_to_boxes(cams[:, 0], (0.2,))[:, 0].numpy()
    np.testing.assert_array_equal(out["classes"][:, 0], probs.argmax(-1))
    np.testing.assert_allclose(out["scores"], np.sort(probs, -1)[:, ::-1], atol=1e-5)  # all 4
    np.testing.assert_array_equal(out["boxes"], want_boxes)
    names = np.array(["ant", "bee", "cat", "dog"])
    assert out["labels"].numpy().astype(str).tolist() == names[out["classes"].numpy()].tolist()
    assert out["cams"].shape == (3, 2, 2)  # its maps before the pooling are 2 x 2
    # A model CAM cannot read is refused with the candidate layers named, and nothing written.
    plain = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(2)]
    )
    plain.save(tmp_path / "plain.keras")
    bad = ["--model", str(tmp_path / "plain.keras"), "--out", str(tmp_path / "plain_out")]
    assert export_cli.main(bad) == 2
    assert f"'{plain.layers[-1].name}' (Dense)" in capsys.readouterr().err
    assert not (tmp_path / "plain_out").exists() or not list((tmp_path / "plain_out").iterdir())


def test_model_with_its_own_preprocessing_layers_keeps_them(tmp_path):
    # Transfer-learning layout: Rescaling, a nested backbone, GAP, Dropout, a softmax Dense.
    keras.utils.set_random_seed(4)
    features = keras.Input((SIZE, SIZE, 3))
    y = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(features)
    base = keras.Model(features, keras.layers.Conv2D(16, 3, activation="relu")(y), name="base")
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Dropout(0.2)(keras.layers.GlobalAveragePooling2D()(base(x)))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    path = export_serving(model, ["a", "b", "c"], tmp_path, top_k=3, max_batch_size=2)
    served = tf.saved_model.load(str(path))
    pixels = _pixels(3, seed=10)  # 3 > max_batch_size: two chunks
    out = served.signatures["predict_pixels_uint8"](images=tf.constant(pixels))
    probs = model(pixels.astype(np.float32)).numpy()  # raw pixels: its Rescaling is in the graph
    np.testing.assert_allclose(out["scores"], np.sort(probs, -1)[:, ::-1], atol=1e-5)
    _, cams = class_activation_maps(model, pixels, top_k=1)
    np.testing.assert_array_equal(out["boxes"], cams_to_boxes(cams[:, 0], (0.2,))[:, 0])


def test_versions_are_readable_by_other_users_and_no_staging_folder_survives(model, tmp_path):
    previous = os.umask(0o022)  # the usual umask: a plain mkdir gives 0755, a file 0644
    try:
        out = tmp_path / "serving"
        out.mkdir()
        killed = out / ".tmp-1-abc123"  # the staging folder of a killed export
        (killed / "variables").mkdir(parents=True)
        path = export_serving(model, CLASS_NAMES, out, top_k=3)
    finally:
        os.umask(previous)
    assert not killed.exists() and not list(out.glob(".tmp-*"))
    modes = {}
    for folder, _dirs, files in os.walk(path):
        modes[folder] = os.stat(folder).st_mode & 0o777
        for name in files:
            modes[os.path.join(folder, name)] = os.stat(os.path.join(folder, name)).st_mode & 0o777
    assert modes[str(path)] == 0o755
    assert all(mode == (0o755 if os.path.isdir(p) else 0o644) for p, mode in modes.items()), modes


def test_export_cli_user_errors_are_one_line(tmp_path, capsys):
    # (A temporal run exports its own signature: tests/temporal/test_temporal_export.py.)
    run = tmp_path / "run"
    run.mkdir()
    # A run's model normalizes itself: another convention in front would normalize twice.
    with pytest.raises(SystemExit):
        export_cli.main(["--run-dir", str(run), "--preprocessing", "caffe"])
    err = capsys.readouterr().err
    assert "--preprocessing" in err and "caffe" in err and "Traceback" not in err
    # A run directory without a trained model: one line naming it, nothing written.
    assert export_cli.main(["--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(run) in err and "Traceback" not in err
    assert list(run.iterdir()) == []


def _png_declaring(width, height):
    """A PNG whose header declares width x height, with a few bytes of (invalid) image data:
    decoding it would fail with the decoder's own error, so a refusal that names the size was
    decided from the header alone."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"\x78\x9c" + b"\0" * 64)
        + chunk(b"IEND", b"")
    )  # fmt: skip


def _jpeg_frame(jpeg, marker=0xC0, precision=8):
    """`jpeg` with its frame header (SOF0) changed to another SOF marker or sample precision."""
    at = jpeg.index(b"\xff\xc0")
    return (
        jpeg[:at]
        + bytes([0xFF, marker])
        + jpeg[at + 2 : at + 4]
        + bytes([precision])
        + jpeg[at + 5 :]
    )


def test_undecodable_and_oversized_images_fail_the_request_naming_their_index(exported):
    _, path = exported
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    image = _pixels(1)[0]
    good, jpeg = _png(image), tf.io.encode_jpeg(image).numpy()
    bmp = io.BytesIO()
    PIL.Image.fromarray(image).convert("1").save(bmp, "BMP")  # 1 bit per pixel: not decodable
    for batch, index, reason in (
        ([good, jpeg[: len(jpeg) // 2]], 1, "truncated"),
        ([jpeg, good, _png(image)[:-20]], 2, "truncated"),
        ([good, good, bmp.getvalue()], 2, "unsupported"),
        ([good, _jpeg_frame(jpeg, marker=0xC3)], 1, "unsupported"),  # lossless JPEG
        ([_jpeg_frame(jpeg, precision=12), good], 0, "unsupported"),  # 12-bit JPEG
        ([b"GIF89a" + b"\0" * 10], 0, "truncated"),
        ([good, _png_declaring(20_000, 20_000)], 1, "larger than max_image_pixels=64000000"),
    ):
        with pytest.raises(tf.errors.InvalidArgumentError, match=rf"{reason}(.|\n)*\[{index}\]"):
            serve(images=tf.constant(batch))
    assert serve(images=tf.constant([good, jpeg]))["classes"].shape == (2, 3)


def test_the_pixel_limit_is_fixed_at_export(model):
    image = _png(_pixels(1)[0])  # 32 x 32 = 1024 pixels
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"max_image_pixels=1023(.|\n)*\[0\]"):
        tf.function(CamServer(model, CLASS_NAMES, max_image_pixels=1023).decode)(
            tf.constant([image])
        )
    _, shape = tf.function(CamServer(model, CLASS_NAMES, max_image_pixels=1024).decode)(
        tf.constant([image])
    )
    assert shape.numpy().tolist() == [[SIZE, SIZE]]
    with pytest.raises(ValueError, match="max_image_pixels"):
        CamServer(model, CLASS_NAMES, max_image_pixels=0)


def test_serving_defaults_follow_the_model_and_bad_values_are_refused_naming_them():
    net = _four_class_applications_model()  # 64 x 64 input, 2 x 2 maps before its pooling
    assert serving_options(net, find_cam_head(net)) == (0.2, 4, 2)
    ten = build_model("small_gap", 10, input_shape=(SIZE, SIZE, 3))
    maps = find_cam_head(ten).features.shape[1]
    assert serving_options(ten, find_cam_head(ten)) == (0.2, 5, maps)
    # The paper's threshold for the network the model is (by name), as evaluate.py uses.
    googlenet = build_model("googlenet_gap", 4, input_shape=(64, 64, 3))
    assert serving_options(googlenet, find_cam_head(googlenet))[0] == 0.3
    assert serving_options(net, find_cam_head(net), 0.5, 3, 64) == (0.5, 3, 64)  # given: kept
    head = find_cam_head(net)
    refusals = {
        "`top_k` must be in [1, 4] for this 4-class model. Received: top_k=5": {"top_k": 5},
        "`top_k` must be in [1, 4] for this 4-class model. Received: top_k=0": {"top_k": 0},
        "`top_k` must be in [1, 4] for this 4-class model. Received: top_k=2.0": {"top_k": 2.0},
        "`cam_size` must be in [1, 64] for this 64x64-input model. Received: cam_size=65": {
            "cam_size": 65
        },
        "`threshold` must be in [0, 1]. Received: threshold=1.5": {"threshold": 1.5},
    }
    for message, given in refusals.items():
        with pytest.raises(ValueError) as raised:
            serving_options(net, head, **given)
        assert str(raised.value) == message

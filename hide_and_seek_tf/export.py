"""Export a trained CAM classifier as a TF Serving SavedModel that returns class, score, CAM and box.

The SavedModel needs nothing but TensorFlow to load: the Keras model, CAM and the connected-component box are all
traced into the graph (no `tf.py_function`, no project import). Hide-and-Seek is training-only and is not in it.

Signatures:
    serving_default(images: string [None]): JPEG/PNG (also GIF/BMP) bytes, any size. Each image is decoded to RGB,
        resized to the model's input exactly as the data pipeline resizes (bilinear, antialiased, rounded to
        uint8), and boxes are mapped back to the ORIGINAL image's inclusive pixel coordinates.
    predict_pixels(images: float32 [None, H, W, 3]): raw pixels (0..255) at the model's size.
    predict_pixels_uint8(images: uint8 [None, H, W, 3]): the same for uint8 pixels.

Outputs (all signatures):
    classes int32 (B, k): top-k class indices; scores float32 (B, k): their softmax probabilities;
    labels string (B, k): their class names; boxes int32 (B, 4): x0, y0, x1, y1 inclusive, for the top-1 class;
    cams float32 (B, cam_size, cam_size): the top-1 class's CAM in [0, 1].
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import keras
import tensorflow as tf

from hide_and_seek_tf.boxes import cams_to_boxes
from hide_and_seek_tf.cam import class_activation_maps
from hide_and_seek_tf.data.common import affine_boxes, resize_image

# Leading bytes of the formats tf.io.decode_image reads.
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")


class CamServer:
    """The traced computations behind the exported signatures (also usable in Python directly).

    Args:
        model: a CAM classifier (last conv layer `cam_features`, Dense `predictions`), raw pixels in.
        class_names: one name per class.
        threshold: CAM threshold as a fraction of the map's max (0.2 in the paper for AlexNet-GAP).
        top_k: how many classes to return.
        cam_size: side of the returned CAM.
        jit_compile: XLA-compile the connected-component box search inside the graph (2-3x faster on CPU;
            stock TensorFlow and TF Serving builds include XLA). False for a runtime without XLA.
    """

    def __init__(
        self,
        model: keras.Model,
        class_names: Sequence[str],
        threshold: float = 0.2,
        top_k: int = 5,
        cam_size: int = 14,
        jit_compile: bool = True,
    ) -> None:
        num_classes = int(model.output_shape[-1])
        height, width = model.input_shape[1:3]
        if height is None or width is None:
            raise ValueError(
                f"The model must have a fixed input size to be exported. Received: "
                f"model.input_shape={model.input_shape}"
            )
        if len(class_names) != num_classes:
            raise ValueError(
                f"`class_names` must have one name per class ({num_classes}). "
                f"Received: {len(class_names)} names"
            )
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"`threshold` must be in [0, 1]. Received: threshold={threshold}")
        if not 1 <= top_k <= num_classes:
            raise ValueError(
                f"`top_k` must be in [1, num_classes={num_classes}]. Received: top_k={top_k}"
            )
        if cam_size < 1:
            raise ValueError(f"`cam_size` must be >= 1. Received: cam_size={cam_size}")
        self.model = model
        self.size = (int(height), int(width))
        self.class_names = tf.constant(list(class_names))
        self.threshold = float(threshold)
        self.top_k = int(top_k)
        self.cam_size = int(cam_size)
        self.jit_compile = bool(jit_compile)

    def predict_pixels(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """Class, score, label, box and CAM from raw pixels at the model's size."""
        images = tf.cast(images, tf.float32)
        # An empty batch never reaches the convolutions: oneDNN mis-shapes their output at batch 0.
        return tf.cond(tf.shape(images)[0] > 0, lambda: self._predict(images), self._empty_outputs)

    def _empty_outputs(self) -> dict[str, tf.Tensor]:
        return {
            "classes": tf.zeros([0, self.top_k], tf.int32),
            "scores": tf.zeros([0, self.top_k], tf.float32),
            "labels": tf.zeros([0, self.top_k], tf.string),
            "boxes": tf.zeros([0, 4], tf.int32),
            "cams": tf.zeros([0, self.cam_size, self.cam_size], tf.float32),
        }

    def _predict(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        logits, cams = class_activation_maps(self.model, images, top_k=1)
        scores, classes = tf.math.top_k(tf.nn.softmax(logits), k=self.top_k)
        cam = cams[:, 0]
        boxes = cams_to_boxes(
            cam, thresholds=(self.threshold,), mode="largest", jit_compile=self.jit_compile
        )[:, 0]
        small = tf.image.resize(cam[..., None], (self.cam_size, self.cam_size), method="bilinear")
        return {
            "classes": tf.cast(classes, tf.int32),
            "scores": scores,
            "labels": tf.gather(self.class_names, classes),
            "boxes": tf.cast(boxes, tf.int32),
            "cams": tf.clip_by_value(small[..., 0], 0.0, 1.0),
        }

    def decode(self, images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Encoded strings -> (pixels float32 (B, H, W, 3) at model size, original (height, width) (B, 2))."""
        known = tf.zeros(tf.shape(images), tf.bool)
        for magic in _MAGIC:
            known |= tf.strings.substr(images, 0, len(magic)) == magic
        bad = tf.cast(tf.where(~known)[:, 0], tf.int32)
        check = tf.debugging.Assert(
            tf.size(bad) == 0,
            [
                "`images` must be JPEG or PNG (or GIF/BMP) encoded strings; these batch indices are not:",
                bad,
            ],
            summarize=16,
        )
        # Decoding must wait for the check, or a traced graph may hit the decoder's own error first.
        with tf.control_dependencies([check]):
            images = tf.identity(images)
        height, width = self.size

        def decode_one(encoded: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
            pixels = tf.cast(resize_image(image, (height, width)), tf.float32)
            return tf.ensure_shape(pixels, [height, width, 3]), tf.shape(image)[:2]

        return tf.map_fn(
            decode_one,
            images,
            fn_output_signature=(
                tf.TensorSpec([height, width, 3], tf.float32),
                tf.TensorSpec([2], tf.int32),
            ),
        )

    def serve_encoded(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """The `serving_default` computation: encoded images -> outputs, boxes in original pixels."""
        pixels, original = self.decode(images)
        outputs = self.predict_pixels(pixels)
        height, width = self.size
        orig_h = tf.cast(original[:, 0], tf.float32)
        orig_w = tf.cast(original[:, 1], tf.float32)
        boxes = affine_boxes(
            tf.cast(outputs["boxes"], tf.float32),
            orig_w / width,
            0.0,
            orig_h / height,
            0.0,
            orig_w,
            orig_h,
        )
        return {**outputs, "boxes": tf.cast(boxes, tf.int32)}


def _next_version(out: Path) -> int:
    versions = [int(p.name) for p in out.iterdir() if p.is_dir() and re.fullmatch(r"\d+", p.name)]
    return max(versions, default=0) + 1


def export_serving(
    model: keras.Model,
    class_names: Sequence[str],
    out: str | os.PathLike,
    version: int | None = None,
    threshold: float = 0.2,
    top_k: int = 5,
    cam_size: int = 14,
    jit_compile: bool = True,
) -> Path:
    """Writes a TF Serving SavedModel to `out/<version>/`, never overwriting an existing version.

    The archive is written to a temporary directory inside `out` and renamed into place, so TF Serving (which
    watches `out`) never sees a half-written version.

    Args:
        model: a CAM classifier taking raw pixels.
        class_names: one name per class (returned as `labels`).
        out: the model base path TF Serving watches.
        version: version number; default: one more than the largest existing.
        threshold, top_k, cam_size, jit_compile: see `CamServer`.

    Returns:
        The version directory written.

    Raises:
        FileExistsError: `out/<version>` exists already.
        ValueError: bad arguments (see `CamServer`).
    """
    server = CamServer(model, class_names, threshold, top_k, cam_size, jit_compile)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if version is None:
        version = _next_version(out)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(f"`version` must be a non-negative int. Received: version={version!r}")
    target = out / str(version)
    if target.exists():
        raise FileExistsError(
            f"Version directory {target} exists already; choose another --version."
        )

    height, width = server.size
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default",
        server.serve_encoded,
        input_signature=[tf.TensorSpec([None], tf.string, name="images")],
    )
    archive.add_endpoint(
        "predict_pixels",
        server.predict_pixels,
        input_signature=[tf.TensorSpec([None, height, width, 3], tf.float32, name="images")],
    )
    archive.add_endpoint(
        "predict_pixels_uint8",
        server.predict_pixels,
        input_signature=[tf.TensorSpec([None, height, width, 3], tf.uint8, name="images")],
    )
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=out))
    try:
        archive.write_out(str(staging), verbose=False)
        os.rename(staging, target)  # fails rather than merge if the version appeared meanwhile
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


def export_run(
    run_dir: str | os.PathLike,
    out: str | os.PathLike | None = None,
    version: int | None = None,
    threshold: float | None = None,
    top_k: int = 5,
    cam_size: int = 14,
    jit_compile: bool = True,
) -> Path:
    """Exports the model of a training run directory (default destination: `RUN/serving/<version>/`).

    `threshold` None: the paper's for the network (0.3 for googlenet_gap, else 0.2), as evaluate.py uses.
    """
    from hide_and_seek_tf.evaluation import DEFAULT_THRESHOLD, PAPER_THRESHOLDS
    from hide_and_seek_tf.training.run_dir import SERVING_DIR, load_run

    model, config, _ = load_run(run_dir)
    if threshold is None:
        threshold = PAPER_THRESHOLDS.get(config.get("model"), DEFAULT_THRESHOLD)
    class_names = config.get("class_names") or [str(i) for i in range(model.output_shape[-1])]
    out = Path(run_dir) / SERVING_DIR if out is None else Path(out)
    return export_serving(model, class_names, out, version, threshold, top_k, cam_size, jit_compile)

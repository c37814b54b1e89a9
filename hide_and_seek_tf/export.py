"""Export a trained CAM classifier as a TF Serving SavedModel that returns class, score, CAM and box.

The SavedModel needs nothing but TensorFlow to load: the Keras model, CAM and the connected-component box are all
traced into the graph (no `tf.py_function`, no project import). Hide-and-Seek is training-only and is not in it.

Signatures:
    serving_default(images: string [None]): JPEG/PNG (also GIF/BMP) bytes, any size. Each image is decoded to RGB,
        resized to the model's input exactly as the data pipeline resizes (bilinear, antialiased, rounded to
        uint8), and boxes are mapped back to the ORIGINAL image's inclusive pixel coordinates. Before anything
        is decoded, every image's header is read in the graph (`image_headers`): a request holding an image
        that is not one, is truncated, is of a variant the decoders refuse, or declares more than
        `max_image_pixels` pixels (a decompression bomb) fails with an InvalidArgument error naming the
        batch indices.
    predict_pixels(images: float32 [None, H, W, 3]): raw pixels (0..255) at the model's size.
    predict_pixels_uint8(images: uint8 [None, H, W, 3]): the same for uint8 pixels.

Outputs (all signatures):
    classes int32 (B, k): top-k class indices; scores float32 (B, k): their softmax probabilities;
    labels string (B, k): their class names; boxes int32 (B, 4): x0, y0, x1, y1 inclusive, for the top-1 class;
    cams float32 (B, cam_size, cam_size): the top-1 class's CAM in [0, 1].

Batch sizes. Every compiled program (the XLA box search; on GPU also cuDNN's autotuned kernels) is
specialized to a shape, so each request batch is padded to a bucket, a power of two up to
`max_batch_size` (1, 2, 4, ..., 64 by default), and a larger batch runs in chunks of
`max_batch_size`; the padding is dropped from the outputs. Once each bucket has run, no batch size
compiles anything new. `assets.extra/tf_serving_warmup_requests` (TF Serving's warm-up file, a
TFRecord of `PredictionLog` protos) holds one `serving_default` request per bucket and one
single-image request per pixel signature (the signatures share the compiled programs), so TF
Serving runs every bucket at load, before it takes traffic.

Any Keras classifier with a global pooling and a Dense after it can be exported (see
`hide_and_seek_tf.cam_head.find_cam_head`); its own preprocessing layers stay in the graph, and
`preprocessing=` adds a `keras.applications` input convention in front of it.
"""

from __future__ import annotations

import numbers
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from hide_and_seek_tf._checks import is_int, positive_int
from hide_and_seek_tf._io import locked_dir, make_dir_mode_normal
from hide_and_seek_tf.boxes import cams_to_boxes
from hide_and_seek_tf.cam import class_activation_maps
from hide_and_seek_tf.cam_head import (
    CamHead,
    check_preprocessing,
    find_cam_head,
    load_classifier,
    preprocess,
    read_class_names,
)
from hide_and_seek_tf.data.elements import affine_boxes, resize_image
from hide_and_seek_tf.models.registry import paper_threshold
from hide_and_seek_tf.temporal.config import is_temporal_run
from hide_and_seek_tf.training.run_dir import SERVING_DIR, load_run, locked_run

# Leading bytes of the formats tf.io.decode_image reads: JPEG, PNG, GIF (two versions), BMP.
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")
#: Default `max_image_pixels`: 64 megapixels, above the 48-61 MP of today's phone and full-frame
#: camera photos (the largest ILSVRC val image has 21.5 MP), far below a decompression bomb.
MAX_IMAGE_PIXELS = 64_000_000
# What `image_headers` finds wrong with an image (0: nothing), and how the refusal says it.
_PROBLEMS = (
    (1, "not JPEG or PNG (or GIF/BMP) encoded images, or their headers are corrupt"),
    (2, "truncated"),
    (3, "unsupported variants of their format (e.g. 12-bit JPEG, 1-bit BMP)"),
    (4, "larger than max_image_pixels={limit} (height * width, from their headers)"),
)
_NOT_AN_IMAGE, _TRUNCATED, _UNSUPPORTED, _TOO_LARGE = 1, 2, 3, 4
# JPEG markers: start of frame (SOFn; DHT, JPG and DAC share the range), start of scan, end of image.
_SOF_DECODED = (0xC0, 0xC1, 0xC2)  # baseline, extended, progressive Huffman: what libjpeg decodes
_SOS, _EOI = 0xDA, 0xD9
_MAX_JPEG_SEGMENTS = 4096  # before the first scan; real files have a few dozen at most


def _bytes_at(data: tf.Tensor, index: tf.Tensor, count: int, big_endian: bool) -> tf.Tensor:
    """The unsigned integer in `count` bytes of `data` (uint8) at `index` (-1 past the end)."""
    n = tf.size(data)
    value = tf.constant(0, tf.int64)
    for k in range(count):
        byte = tf.gather(data, tf.clip_by_value(index + k, 0, n - 1))
        shift = 8 * (count - 1 - k if big_endian else k)
        value += tf.bitwise.left_shift(tf.cast(byte, tf.int64), shift)
    return tf.where(index + count <= n, value, tf.constant(-1, tf.int64))


def _jpeg_header(data: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(problem, height, width) of a JPEG from its bytes: walks the marker segments to the frame
    header and the first scan, then looks for the end-of-image marker after it (inside the
    compressed data 0xFF is always followed by 0x00 or a restart marker, so 0xFFD9 there is the
    end of the image; one before the scan may be an embedded thumbnail's)."""

    def step(pos, segments, problem, sof, height, width, scan):
        positions = pos + tf.range(9)
        window = tf.gather(data, tf.clip_by_value(positions, 0, tf.size(data) - 1))
        window = tf.where(positions < tf.size(data), tf.cast(window, tf.int32), -1)
        lead, marker, *rest = tf.unstack(window, num=9)  # -1: past the end

        def big_endian(high, low):
            return tf.where(low < 0, -1, high * 256 + low)

        length = big_endian(rest[0], rest[1])
        precision, frame_height, frame_width = (
            rest[2],
            big_endian(*rest[3:5]),
            big_endian(*rest[5:7]),
        )
        is_sof = (marker >= 0xC0) & (marker <= 0xCF)
        is_sof &= (
            tf.not_equal(marker, 0xC4) & tf.not_equal(marker, 0xC8) & tf.not_equal(marker, 0xCC)
        )
        standalone = tf.equal(marker, 0x01) | ((marker >= 0xD0) & (marker <= 0xD7))
        fill = tf.equal(marker, 0xFF)
        segment = ~fill & ~standalone
        is_scan = tf.equal(marker, _SOS)
        supported = tf.equal(precision, 8) & (marker <= _SOF_DECODED[-1])
        past_end = (marker < 0) | (segment & (length < 0)) | (is_sof & (frame_width < 0))
        corrupt = tf.not_equal(lead, 0xFF) | tf.equal(marker, _EOI) | (is_scan & (sof < 0))
        corrupt |= segment & (length < 2)
        problem = tf.where(
            past_end,
            _TRUNCATED,
            tf.where(corrupt, _NOT_AN_IMAGE, tf.where(is_sof & ~supported, _UNSUPPORTED, problem)),
        )
        sof = tf.where(is_sof, marker, sof)
        height = tf.where(is_sof, frame_height, height)
        width = tf.where(is_sof, frame_width, width)
        scan = tf.where(is_scan & tf.equal(problem, 0), pos, scan)
        advance = tf.where(fill, 1, tf.where(standalone, 2, 2 + length))
        return pos + advance, segments + 1, problem, sof, height, width, scan

    def going(pos, segments, problem, sof, height, width, scan):
        return tf.equal(problem, 0) & (scan < 0) & (segments < _MAX_JPEG_SEGMENTS)

    minus_one = tf.constant(-1)
    _, _, problem, _, height, width, scan = tf.while_loop(
        going,
        step,
        (tf.constant(2), tf.constant(0), tf.constant(0), minus_one, minus_one, minus_one, -1),
    )
    height, width = tf.cast(height, tf.int64), tf.cast(width, tf.int64)
    tail = data[tf.maximum(scan, 0) :]
    ended = tf.reduce_any(tf.equal(tail[:-1], 0xFF) & tf.equal(tail[1:], _EOI))
    problem = tf.where(tf.equal(problem, 0) & (scan < 0), _NOT_AN_IMAGE, problem)
    problem = tf.where(tf.equal(problem, 0) & ~ended, _TRUNCATED, problem)
    problem = tf.where(tf.equal(problem, 0) & tf.equal(height, 0), _UNSUPPORTED, problem)  # DNL
    return problem, height, width


def _png_header(data: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """IHDR's width and height (bytes 16-23, big-endian); truncated without the IEND chunk."""
    ihdr = tf.equal(_bytes_at(data, 12, 4, True), 0x49484452)  # "IHDR"
    width, height = _bytes_at(data, 16, 4, True), _bytes_at(data, 20, 4, True)
    iend = tf.equal(data[:-3], 73) & tf.equal(data[1:-2], 69) & tf.equal(data[2:-1], 78)
    ended = tf.reduce_any(iend & tf.equal(data[3:], 68))
    problem = tf.where(height < 0, _TRUNCATED, tf.where(ihdr, 0, _NOT_AN_IMAGE))
    problem = tf.where(tf.equal(problem, 0) & ~ended, _TRUNCATED, problem)
    return problem, height, width


def _gif_header(data: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """The logical screen's width and height (bytes 6-9, little-endian: every frame is decoded at
    that size); truncated without the trailer byte 0x3B."""
    width, height = _bytes_at(data, 6, 2, False), _bytes_at(data, 8, 2, False)
    ended = tf.equal(data[-1], 0x3B)
    problem = tf.where(height < 0, _TRUNCATED, tf.where(ended, 0, _TRUNCATED))
    return problem, height, width


def _bmp_header(data: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """BITMAPINFOHEADER's width and height (int32 little-endian at 18 and 22; a negative height is
    a top-down image); 8, 24 and 32 bits per pixel decode; truncated when the rows do not fit."""
    width, height = _bytes_at(data, 18, 4, False), _bytes_at(data, 22, 4, False)
    height = tf.where(height >= 2**31, 2**32 - height, height)  # |top-down height|
    width = tf.where(width >= 2**31, -1 - width, width)  # a negative width is corrupt
    offset, bits = _bytes_at(data, 10, 4, False), _bytes_at(data, 28, 2, False)
    compression = _bytes_at(data, 30, 4, False)
    row_bytes = (bits * tf.maximum(width, 0) + 31) // 32 * 4
    needed = offset + row_bytes * height
    problem = tf.case(
        [
            (compression < 0, lambda: tf.constant(_TRUNCATED)),
            (width < 0, lambda: tf.constant(_NOT_AN_IMAGE)),
            (
                ~tf.reduce_any(tf.equal(bits, [8, 24, 32]))
                | ~tf.reduce_any(tf.equal(compression, [0, 3])),
                lambda: tf.constant(_UNSUPPORTED),
            ),
            (needed > tf.cast(tf.size(data), tf.int64), lambda: tf.constant(_TRUNCATED)),
        ],
        default=lambda: tf.constant(0),
    )
    return problem, height, width


@tf.autograph.experimental.do_not_convert  # graph ops only: nothing for autograph to convert
def image_headers(images: tf.Tensor, max_pixels: int) -> tuple[tf.Tensor, tf.Tensor]:
    """What is wrong with each encoded image, read from its bytes without decoding it.

    Args:
        images: string (B,), encoded images.
        max_pixels: the largest height * width accepted.

    Returns:
        (problem int32 (B,), shape int64 (B, 2)): problem 0 (decodable), 1 (not an image or a
        corrupt header), 2 (truncated), 3 (an unsupported variant: 12-bit or lossless JPEG, a BMP
        of 1, 4 or 16 bits per pixel or RLE-compressed), 4 (more than `max_pixels` pixels); shape
        the (height, width) its header declares (-1 when unknown).
    """
    formats = tf.fill(tf.shape(images), -1)
    for index, magic in enumerate(_MAGIC):
        formats = tf.where(tf.strings.substr(images, 0, len(magic)) == magic, index, formats)
    readers = [_jpeg_header, _png_header, _gif_header, _gif_header, _bmp_header]

    def inspect(args: tuple[tf.Tensor, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        encoded, kind = args
        data = tf.io.decode_raw(encoded, tf.uint8)

        def unknown():
            minus_one = tf.constant(-1, tf.int64)
            return tf.constant(_NOT_AN_IMAGE), minus_one, minus_one

        branches = [lambda reader=reader: reader(data) for reader in readers]
        problem, height, width = tf.switch_case(kind, branches, default=unknown)
        empty = tf.equal(problem, 0) & ((height <= 0) | (width <= 0))
        problem = tf.where(empty, _NOT_AN_IMAGE, problem)
        too_large = tf.equal(problem, 0) & (height * width > max_pixels)
        problem = tf.where(too_large, _TOO_LARGE, problem)
        return problem, tf.stack([height, width])

    return tf.map_fn(
        inspect,
        (images, tf.where(formats < 0, len(readers), formats)),
        fn_output_signature=(tf.TensorSpec([], tf.int32), tf.TensorSpec([2], tf.int64)),
    )


#: Where TF Serving looks for warm-up requests inside a version directory.
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


def batch_buckets(max_batch_size: int) -> tuple[int, ...]:
    """The padded batch sizes: powers of two below `max_batch_size`, then `max_batch_size`."""
    if (
        isinstance(max_batch_size, bool)
        or not isinstance(max_batch_size, int)
        or max_batch_size < 1
    ):
        raise ValueError(
            f"`max_batch_size` must be an int >= 1. Received: max_batch_size={max_batch_size!r}"
        )
    sizes = [1 << i for i in range(max_batch_size.bit_length()) if 1 << i < max_batch_size]
    return (*sizes, max_batch_size)


def serving_options(
    model: keras.Model,
    head: CamHead,
    threshold: float | None = None,
    top_k: int | None = None,
    cam_size: int | None = None,
) -> tuple[float, int, int]:
    """(threshold, top_k, cam_size) for serving `model`: each None derived from the model, each
    value given checked against it (see `CamServer`).

    Raises:
        ValueError: a value outside its range for this model, naming it and the range.
    """
    num_classes = head.num_classes
    longest_input = max(int(d) for d in model.input_shape[1:3])
    if threshold is None:
        threshold = paper_threshold(model.name)
    top_k = serving_top_k(top_k, num_classes)
    if cam_size is None:
        sides = head.features.shape[1:3]
        cam_size = max(sides) if None not in sides else min(14, longest_input)
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, numbers.Real)
        or not (0.0 <= threshold <= 1.0)
    ):
        raise ValueError(f"`threshold` must be in [0, 1]. Received: threshold={threshold!r}")
    if not _int_in(cam_size, 1, longest_input):
        height, width = model.input_shape[1:3]
        raise ValueError(
            f"`cam_size` must be in [1, {longest_input}] for this {height}x{width}-input model. "
            f"Received: cam_size={cam_size!r}"
        )
    return float(threshold), int(top_k), int(cam_size)


def serving_top_k(top_k: int | None, num_classes: int) -> int:
    """How many classes a served model returns: `top_k` checked, None -> min(5, num_classes)."""
    top_k = min(5, num_classes) if top_k is None else top_k
    if not _int_in(top_k, 1, num_classes):
        raise ValueError(
            f"`top_k` must be in [1, {num_classes}] for this {num_classes}-class model. "
            f"Received: top_k={top_k!r}"
        )
    return int(top_k)


def check_class_names(class_names: Sequence[str], num_classes: int) -> None:
    """Raises ValueError unless `class_names` has one name per class of the served model."""
    if len(class_names) != num_classes:
        raise ValueError(
            f"`class_names` must have one name per class ({num_classes}). "
            f"Received: {len(class_names)} names"
        )


def _int_in(value: Any, low: int, high: int) -> bool:
    return is_int(value) and low <= value <= high


class CamServer:
    """The traced computations behind the exported signatures (also usable in Python directly).

    Args:
        model: a classifier with a global pooling and a Dense after it (see
            `hide_and_seek_tf.cam_head.find_cam_head`), fixed input size.
        class_names: one name per class.
        threshold: CAM threshold as a fraction of the map's max; None: the paper's for the
            network the model is named after (`models.paper_threshold`: 0.3 for "googlenet_gap"),
            else 0.2 (AlexNet-GAP's).
        top_k: how many classes to return, in [1, num_classes]; None: min(5, num_classes).
        cam_size: side of the returned CAM, in [1, the input's longer side]; None: the longer side
            of the maps the CAM weighs (its own resolution: a larger one only interpolates).
        jit_compile: XLA-compile the connected-component box search inside the graph (2-3x faster on CPU;
            stock TensorFlow and TF Serving builds include XLA). False for a runtime without XLA.
        max_batch_size: batches are padded to a power of two up to this, larger ones run in chunks
            of it (see the module docstring).
        max_image_pixels: `serving_default` refuses (before decoding) an image whose header
            declares more pixels (height * width) than this; it bounds the memory one image takes
            (about 5-6 bytes per pixel while it is decoded and resized, docs/benchmarks.md).
        preprocessing: None (the model takes raw pixels 0..255), or a `keras.applications`
            convention, "tf", "torch" or "caffe", applied in the graph before the model.
        cam_layer, classifier_layer: layer names for CAM; default: found (`find_cam_head`).
    """

    def __init__(
        self,
        model: keras.Model,
        class_names: Sequence[str],
        threshold: float | None = None,
        top_k: int | None = None,
        cam_size: int | None = None,
        jit_compile: bool = True,
        max_batch_size: int = 64,
        preprocessing: str | None = None,
        cam_layer: str | None = None,
        classifier_layer: str | None = None,
        max_image_pixels: int = MAX_IMAGE_PIXELS,
    ) -> None:
        head = find_cam_head(model, cam_layer=cam_layer, classifier_layer=classifier_layer)
        num_classes = head.num_classes
        height, width = model.input_shape[1:3]
        if height is None or width is None:
            raise ValueError(
                f"The model must have a fixed input size to be exported. Received: "
                f"model.input_shape={model.input_shape}"
            )
        check_class_names(class_names, num_classes)
        threshold, top_k, cam_size = serving_options(model, head, threshold, top_k, cam_size)
        check_preprocessing(preprocessing)
        self.max_image_pixels = positive_int(max_image_pixels, "max_image_pixels")
        self.model = model
        self.size = (int(height), int(width))
        self.class_names = tf.constant(list(class_names))
        self.threshold = float(threshold)
        self.top_k = int(top_k)
        self.cam_size = int(cam_size)
        self.jit_compile = bool(jit_compile)
        self.batch_sizes = batch_buckets(max_batch_size)
        self.preprocessing = preprocessing
        self.cam_layer = head.cam_layer
        self.classifier_layer = head.classifier_layer
        # One traced function behind every signature: the model is traced (and saved) once.
        self._predict_float = tf.function(
            self._predict_float_impl,
            input_signature=[tf.TensorSpec([None, *self.size, 3], tf.float32)],
            autograph=False,
        )

    def predict_pixels(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """Class, score, label, box and CAM from raw pixels at the model's size."""
        return self._predict_float(tf.cast(images, tf.float32))

    def _predict_float_impl(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        # An empty batch never reaches the convolutions: oneDNN mis-shapes their output at batch 0.
        return tf.cond(
            tf.shape(images)[0] > 0, lambda: self._in_buckets(images), self._empty_outputs
        )

    def _in_buckets(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """`_predict` on the batch padded to its bucket, or in chunks of the largest one."""
        batch = tf.shape(images)[0]
        sizes = tf.constant(self.batch_sizes)
        index = tf.searchsorted(sizes, tf.reshape(batch, [1]), side="left")[0]
        chunk = sizes[tf.minimum(index, len(self.batch_sizes) - 1)]
        num_chunks = (batch + chunk - 1) // chunk
        padded = tf.pad(images, [[0, num_chunks * chunk - batch], [0, 0], [0, 0], [0, 0]])
        chunks = tf.reshape(
            padded, tf.concat([tf.stack([num_chunks, chunk]), tf.shape(images)[1:]], 0)
        )
        out = tf.map_fn(
            self._predict, chunks, fn_output_signature=self._output_spec(), parallel_iterations=1
        )
        return {
            k: tf.reshape(v, tf.concat([[-1], tf.shape(v)[2:]], 0))[:batch] for k, v in out.items()
        }

    def _output_spec(self) -> dict[str, tf.TensorSpec]:
        k, side = self.top_k, self.cam_size
        return {
            "classes": tf.TensorSpec([None, k], tf.int32),
            "scores": tf.TensorSpec([None, k], tf.float32),
            "labels": tf.TensorSpec([None, k], tf.string),
            "boxes": tf.TensorSpec([None, 4], tf.int32),
            "cams": tf.TensorSpec([None, side, side], tf.float32),
        }

    def _empty_outputs(self) -> dict[str, tf.Tensor]:
        return {k: tf.zeros([0, *v.shape[1:]], v.dtype) for k, v in self._output_spec().items()}

    def _predict(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        logits, cams = class_activation_maps(
            self.model,
            preprocess(images, self.preprocessing),
            top_k=1,
            cam_layer=self.cam_layer,
            classifier_layer=self.classifier_layer,
        )
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
        """Encoded strings -> (pixels float32 (B, H, W, 3) at model size, original (height, width) (B, 2)).

        Every image's header is read first (`image_headers`): a request with an image that is not
        one, is truncated, is of an unsupported variant or declares more than `max_image_pixels`
        pixels fails, naming the batch indices, before anything is decoded.
        """
        problem, _ = image_headers(images, self.max_image_pixels)
        checks = []
        for code, what in _PROBLEMS:
            bad = tf.cast(tf.where(tf.equal(problem, code))[:, 0], tf.int32)
            what = what.format(limit=self.max_image_pixels)
            checks.append(
                tf.debugging.Assert(
                    tf.size(bad) == 0,
                    [f"`images` at these batch indices are {what}:", bad],
                    summarize=16,
                )
            )
        # Decoding must wait for the checks, or a traced graph may hit the decoder's own error first.
        with tf.control_dependencies(checks):
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


def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (wire type 2)."""

    def varint(value: int) -> bytes:
        out = bytearray()
        while True:
            byte, value = value & 0x7F, value >> 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                return bytes(out)

    return varint(number << 3 | 2) + varint(len(payload)) + payload


def warmup_record(
    images: Any, signature_name: str = "serving_default", input_name: str = "images"
) -> bytes:
    """A serialized `tensorflow.serving.PredictionLog` holding one Predict request.

    Args:
        images: the input: a list of encoded strings, or an array (pixels, features).
        signature_name: the signature the request calls.
        input_name: the signature's input it fills.

    Encoded by hand (field numbers of tensorflow_serving/apis/{prediction_log,predict,model}.proto)
    so that exporting needs no `tensorflow-serving-api`; the tests parse it back with it.
    """
    if isinstance(images, list | tuple):
        tensor = tf.make_tensor_proto(list(images), dtype=tf.string, shape=[len(images)])
    else:
        tensor = tf.make_tensor_proto(images)
    model_spec = _field(3, signature_name.encode())  # ModelSpec.signature_name
    inputs_entry = _field(1, input_name.encode()) + _field(
        2, tensor.SerializeToString()
    )  # map entry
    request = _field(1, model_spec) + _field(2, inputs_entry)  # PredictRequest
    return _field(6, _field(1, request))  # PredictionLog.predict_log -> PredictLog.request


def write_warmup_requests(
    version_dir: str | os.PathLike, batch_sizes: Sequence[int], size: tuple[int, int]
) -> Path:
    """Writes `assets.extra/tf_serving_warmup_requests`: one `serving_default` request per batch
    size (that many mid-gray JPEGs at the model's size, the format most traffic has; each format's decoder
    has its own first call), then one single-image request for each pixel signature (they share
    the compiled programs, but each has its own first-call setup)."""
    height, width = size
    # Mid-gray: the compiled programs depend on shapes only, never on the pixels.
    gray = np.full((1, height, width, 3), 128, np.uint8)
    jpeg = tf.io.encode_jpeg(gray[0]).numpy()
    requests = [warmup_record([jpeg] * batch) for batch in batch_sizes]
    requests.append(warmup_record(gray.astype(np.float32), "predict_pixels"))
    requests.append(warmup_record(gray, "predict_pixels_uint8"))
    return write_warmup_file(version_dir, requests)


def write_warmup_file(version_dir: str | os.PathLike, requests: Iterable[bytes]) -> Path:
    """Writes the `warmup_record`s `requests` to `version_dir/assets.extra/tf_serving_warmup_requests`,
    which TF Serving replays at load, before it takes traffic; returns the file's path."""
    path = Path(version_dir) / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for request in requests:
            writer.write(request)
    return path


def export_serving(
    model: keras.Model,
    class_names: Sequence[str],
    out: str | os.PathLike,
    version: int | None = None,
    threshold: float | None = None,
    top_k: int | None = None,
    cam_size: int | None = None,
    jit_compile: bool = True,
    *,
    max_batch_size: int = 64,
    max_image_pixels: int = MAX_IMAGE_PIXELS,
    warmup: bool = True,
    preprocessing: str | None = None,
    cam_layer: str | None = None,
    classifier_layer: str | None = None,
) -> Path:
    """Writes a TF Serving SavedModel to `out/<version>/`, never overwriting an existing version.

    The archive is written to a temporary directory inside `out` and renamed into place, so TF Serving (which
    watches `out`) never sees a half-written version.

    Args:
        model: a classifier with a global pooling and a Dense after it, taking raw pixels (or
            the `preprocessing` convention).
        class_names: one name per class (returned as `labels`).
        out: the model base path TF Serving watches.
        version: version number; default: one more than the largest existing.
        threshold, top_k, cam_size, jit_compile, max_batch_size, preprocessing, cam_layer,
            classifier_layer, max_image_pixels: see `CamServer` (threshold, top_k, cam_size None:
            derived from the model).
        warmup: write `assets.extra/tf_serving_warmup_requests`, one request per batch bucket.

    Returns:
        The version directory written.

    Raises:
        FileExistsError: `out/<version>` exists already.
        ValueError: bad arguments (see `CamServer`), or no CAM head in the model (the message
            names the candidate layers).
    """
    server = CamServer(
        model,
        class_names,
        threshold,
        top_k,
        cam_size,
        jit_compile,
        max_batch_size=max_batch_size,
        preprocessing=preprocessing,
        cam_layer=cam_layer,
        classifier_layer=classifier_layer,
        max_image_pixels=max_image_pixels,
    )
    return write_version(out, version, lambda staging: _write_archive(server, staging, warmup))


def write_version(
    out: str | os.PathLike, version: int | None, write: Callable[[Path], None]
) -> Path:
    """Writes `out/<version>/` through `write(staging)`, never overwriting an existing version.

    `write` fills a staging folder inside `out`, which is then renamed into place, so TF Serving
    (which watches `out`) never sees a half-written version. One export at a time per base path
    (a lock); a killed export's staging folders are removed.

    Raises:
        FileExistsError: `out/<version>` exists already.
        ValueError: `version` is not a non-negative int (or None: the largest existing + 1).
    """
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version < 0
    ):
        raise ValueError(f"`version` must be a non-negative int. Received: version={version!r}")
    # One export at a time per base path: the version number and the leftovers are ours to handle.
    with locked_dir(out, "export", what="Model base path") as out:
        for leftover in out.glob(".tmp-*"):  # a killed export's staging folder
            shutil.rmtree(leftover, ignore_errors=True)
        if version is None:
            version = _next_version(out)
        target = out / str(version)
        if target.exists():
            raise FileExistsError(
                f"Version directory {target} exists already; choose another --version."
            )
        staging = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=target.parent))
        try:
            make_dir_mode_normal(staging)  # readable by a server running as another user
            write(staging)
            os.rename(staging, target)  # fails rather than merge if the version appeared meanwhile
        finally:
            if staging.exists():
                shutil.rmtree(staging)
    return target


def _write_archive(server: CamServer, staging: Path, warmup: bool) -> None:
    """Writes the SavedModel (and the warm-up requests) into `staging`."""
    model = server.model
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
    archive.write_out(str(staging), verbose=False)
    if warmup:
        write_warmup_requests(staging, server.batch_sizes, server.size)


def export_run(
    run_dir: str | os.PathLike,
    out: str | os.PathLike | None = None,
    version: int | None = None,
    threshold: float | None = None,
    top_k: int | None = None,
    cam_size: int | None = None,
    jit_compile: bool = True,
    **kwargs: Any,
) -> Path:
    """Exports the model of a training run directory (default destination: `RUN/serving/<version>/`).

    `threshold` None: the paper's for the network (`models.paper_threshold`), as evaluate.py uses;
    `top_k`, `cam_size` None: derived from the model (see `CamServer`).
    `kwargs`: the keyword arguments of `export_serving` (max_batch_size, warmup, ...).
    """
    if not Path(run_dir).is_dir():
        raise FileNotFoundError(f"Run directory not found: {run_dir}")
    if is_temporal_run(run_dir):
        raise ValueError(
            f"{run_dir} is a temporal run (train.py --task temporal): its model scores feature "
            "sequences, not images; export it with `hide_and_seek_tf.temporal.export_temporal_run` "
            f"(what hide-and-seek-export does). Received: run_dir={str(run_dir)!r}"
        )
    with locked_run(run_dir, "export"):
        model, config, _ = load_run(run_dir)
        if threshold is None:
            threshold = paper_threshold(config.get("model"))
        class_names = config.get("class_names") or [str(i) for i in range(model.output_shape[-1])]
        out = Path(run_dir) / SERVING_DIR if out is None else Path(out)
        return export_serving(
            model, class_names, out, version, threshold, top_k, cam_size, jit_compile, **kwargs
        )


def export_model(
    model_path: str | os.PathLike,
    class_names: str | os.PathLike | Sequence[str] | None,
    out: str | os.PathLike,
    version: int | None = None,
    threshold: float | None = None,
    top_k: int | None = None,
    cam_size: int | None = None,
    jit_compile: bool = True,
    **kwargs: Any,
) -> Path:
    """Exports any Keras classifier saved as `.keras` (behind `export.py --model`).

    Args:
        model_path: the `.keras` file (loaded in safe mode).
        class_names: a file (JSON list or one name per line), a list, or None for "0", "1", ...
        out: the model base path; `version` ... `jit_compile`, `kwargs`: see `export_serving`.
            `threshold`, `top_k`, `cam_size` None: derived from the model (see `CamServer`).
    """
    model = load_classifier(model_path)
    if isinstance(class_names, str | os.PathLike):
        class_names = read_class_names(class_names)
    if class_names is None:
        head = find_cam_head(
            model, kwargs.get("cam_layer"), classifier_layer=kwargs.get("classifier_layer")
        )
        class_names = [str(i) for i in range(head.num_classes)]
    return export_serving(
        model, class_names, out, version, threshold, top_k, cam_size, jit_compile, **kwargs
    )

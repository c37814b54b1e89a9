"""Class activation maps (Zhou et al., CVPR 2016) and ten-crop CAMs.

`class_activation_maps` computes CAM(c) = sum_i W(c, i) F_i for a batch in one forward pass, in
`keras.ops`, so it runs on models of any Keras backend (TensorFlow, JAX, PyTorch); `ten_crop_cams`
(TensorFlow ops, used by evaluation under TensorFlow) averages class scores and CAMs over the
paper's 10 test crops. Turning maps into boxes is `hide_and_seek_tf.boxes.cams_to_boxes`.

References:
    Zhou et al., Learning Deep Features for Discriminative Localization, CVPR 2016.
    Singh et al., Hide-and-Seek, https://arxiv.org/abs/1811.02545 (sections 3.1.3, 4.1).
"""

from __future__ import annotations

import weakref
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from hide_and_seek_tf.cam_head import find_cam_head

#: Ten-crop: the image is upscaled by this factor (256 / 224, the usual ratio) and cropped back.
TEN_CROP_SCALE = 256 / 224

# ----------------------------------------------------------------------------------------------
# Class activation maps
# ----------------------------------------------------------------------------------------------

_CAM_FNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _cam_function(
    model: keras.Model, cam_layer: str | None = None, classifier_layer: str | None = None
):
    """The traced CAM computation for `model` (built once per model and pair of layer names) and
    the Dense whose kernel weighs the maps. The layers are found by `find_cam_head`."""
    per_model = _CAM_FNS.setdefault(model, {})
    key = (cam_layer, classifier_layer)
    if key in per_model:
        return per_model[key]
    head = find_cam_head(model, cam_layer=cam_layer, classifier_layer=classifier_layer)
    dense = head.classifier
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    extractor = keras.Model(inputs, [head.features, head.logits])

    def run(images, class_ids, top_k):
        feats, logits = extractor(images, training=False)
        feats = ops.cast(feats, "float32")
        logits = ops.cast(logits, "float32")
        if class_ids is None:
            class_ids = ops.top_k(logits, k=top_k)[1]  # (B, k), best first
        weights = ops.take(ops.transpose(ops.cast(dense.kernel, "float32")), class_ids, axis=0)
        cams = ops.einsum("bhwc,bkc->bhwk", feats, weights)
        cams = _resize_to(cams, images)
        cams = ops.transpose(cams, (0, 3, 1, 2))  # (B, k, H, W)
        low = ops.min(cams, axis=(2, 3), keepdims=True)
        span = ops.max(cams, axis=(2, 3), keepdims=True) - low
        # A constant map carries no location: all zeros, never 0 / 0.
        safe = ops.where(span > 0, span, ops.ones_like(span))
        cams = ops.where(span > 0, (cams - low) / safe, ops.zeros_like(cams))
        return logits, cams

    fn = run
    if keras.config.backend() == "tensorflow":  # traced once, and usable inside tf.function
        fn = tf.function(run, autograph=False, reduce_retracing=True)
    per_model[key] = (fn, dense)
    return fn, dense


def _resize_to(maps, images):
    """Bilinear upsampling of (B, h, w, k) maps to the images' H x W, half-pixel centres."""
    size = tuple(images.shape[1:3])
    if None in size:  # TensorFlow only: a trace with unknown height or width
        return tf.image.resize(maps, tf.shape(images)[1:3], method="bilinear")
    # No antialiasing: tf.image.resize's map, on every backend.
    return ops.image.resize(maps, size, interpolation="bilinear", antialias=False)


def class_activation_maps(
    model: keras.Model,
    images: Any,
    class_ids: Any = None,
    top_k: int = 1,
    cam_layer: str | None = None,
    classifier_layer: str | None = None,
) -> tuple[Any, Any]:
    """Logits and class activation maps for a batch, in one forward pass.

    CAM(c) = sum_i W(c, i) F_i, with F the maps the model's global pooling reads and W the
    kernel of the Dense after it (`hide_and_seek_tf.cam_head.find_cam_head`: layers named
    `cam_features` and `predictions` when present, else found in the graph, or named by
    `cam_layer` / `classifier_layer`). The bias only shifts the map, and the
    normalization removes it. Each map is upsampled bilinearly to the image size
    (`keras.ops.image.resize`, half-pixel centres, as `tf.image.resize`) and min-max normalized
    to [0, 1] per map; a constant map becomes all zeros (never NaN). Runs on the model's backend
    (TensorFlow, JAX or PyTorch) and returns that backend's tensors; under TensorFlow the
    computation is traced once per model and pair of layer names and also works inside a
    `tf.function`.

    Args:
        model: a CAM classifier taking raw pixels (e.g. from `hide_and_seek_tf.models`).
        images: (B, H, W, C) raw pixels, float or uint8, as the model takes them.
        class_ids: classes to map: (B,) one per image (e.g. the ground truth) or (B, k).
            None: the `top_k` predicted classes, best first.
        top_k: how many predicted classes when `class_ids` is None.
        cam_layer: name of the layer whose output F is; default: found.
        classifier_layer: name of the Dense; default: found. Logits are its pre-activation.

    Returns:
        (logits (B, num_classes) float32, cams (B, k, H, W) float32 in [0, 1]), tensors of the
        Keras backend.

    Raises:
        ValueError: no (or more than one) pooling -> Dense head and no names given (the message
            names the candidate layers), bad `images` rank, `class_ids` shape or range, or
            `top_k`.

    Example:
        >>> model = hide_and_seek_tf.models.build_model("small_gap", 5)
        >>> logits, cams = class_activation_maps(model, np.zeros((2, 64, 64, 3)), top_k=2)
        >>> cams.shape
        TensorShape([2, 2, 64, 64])
    """
    fn, dense = _cam_function(model, cam_layer, classifier_layer)
    images = ops.convert_to_tensor(images)
    if len(images.shape) != 4:
        raise ValueError(
            f"`images` must have shape (B, H, W, C). Received: images.shape={tuple(images.shape)}"
        )
    images = ops.cast(images, "float32")
    num_classes = int(dense.kernel.shape[-1])
    if class_ids is None:
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)):
            raise ValueError(f"`top_k` must be an int. Received: top_k={top_k!r}")
        if not 1 <= top_k <= num_classes:
            raise ValueError(
                f"`top_k` must be in [1, num_classes={num_classes}]. Received: top_k={top_k}"
            )
        return fn(images, None, int(top_k))
    class_ids = ops.cast(class_ids, "int32")
    if len(class_ids.shape) == 1:
        class_ids = class_ids[:, None]
    if len(class_ids.shape) != 2:
        raise ValueError(
            "`class_ids` must have shape (B,) or (B, k). "
            f"Received: class_ids.shape={tuple(class_ids.shape)}"
        )
    if keras.config.backend() != "tensorflow" or tf.executing_eagerly():
        ids = ops.convert_to_numpy(class_ids)
        if ids.shape[0] != images.shape[0]:
            raise ValueError(
                f"`class_ids` must have one row per image ({images.shape[0]}). "
                f"Received: class_ids.shape={tuple(ids.shape)}"
            )
        if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
            raise ValueError(
                f"`class_ids` must be in [0, num_classes={num_classes}). "
                f"Received: min={ids.min()}, max={ids.max()}"
            )
    return fn(images, class_ids, 1)


# ----------------------------------------------------------------------------------------------
# Ten-crop
# ----------------------------------------------------------------------------------------------


def ten_crop_offsets(size: tuple[int, int], crop: tuple[int, int]) -> list[tuple[int, int]]:
    """(top, left) of the 4 corner crops and the centre crop of `crop` in an image of `size`."""
    (sh, sw), (ch, cw) = size, crop
    return [
        (0, 0),
        (0, sw - cw),
        (sh - ch, 0),
        (sh - ch, sw - cw),
        ((sh - ch) // 2, (sw - cw) // 2),
    ]


def ten_crops(images: tf.Tensor, crop: tuple[int, int]) -> tf.Tensor:
    """(B, S, S', C) -> (10 * B, h, w, C): 5 crops, then the same 5 flipped left-right.

    Crop-major: rows k * B .. (k + 1) * B - 1 are crop k of every image."""
    size = (int(images.shape[1]), int(images.shape[2]))
    ch, cw = crop
    crops = [images[:, t : t + ch, x : x + cw] for t, x in ten_crop_offsets(size, crop)]
    crops += [c[:, :, ::-1] for c in crops]
    return tf.concat(crops, axis=0)


def merge_ten_crops(maps: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """Inverse of `ten_crops` for per-pixel maps: (10 * B, h, w) -> (B, S, S'), each pixel the
    mean over the crops that cover it (flipped crops are flipped back first)."""
    crop = (int(maps.shape[1]), int(maps.shape[2]))
    parts = tf.split(maps, 10, axis=0)
    parts = parts[:5] + [p[:, :, ::-1] for p in parts[5:]]
    offsets = ten_crop_offsets(size, crop) * 2
    total = tf.zeros([tf.shape(maps)[0] // 10, *size], maps.dtype)
    count = np.zeros(size, np.float32)
    for part, (t, x) in zip(parts, offsets, strict=True):
        pad = [[0, 0], [t, size[0] - crop[0] - t], [x, size[1] - crop[1] - x]]
        total += tf.pad(part, pad)
        count[t : t + crop[0], x : x + crop[1]] += 1.0
    covered = tf.constant(np.maximum(count, 1.0), maps.dtype)
    return total / covered


def ten_crop_cams(
    model: keras.Model,
    images: tf.Tensor,
    labels: tf.Tensor,
    cam_layer: str | None = None,
    classifier_layer: str | None = None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Class scores and ground-truth-class CAMs averaged over 10 crops.

    Each image (B, H, W, C) is upscaled bilinearly by `TEN_CROP_SCALE` and cut into H x W crops
    (4 corners + centre, and their flips). Scores: softmax averaged over the crops (returned as
    log-probabilities, a monotone stand-in for logits). CAMs: each crop's CAM (in [0, 1]) is
    mapped back to the upscaled image, averaged over the crops covering each pixel, resized to
    H x W and min-max normalized again. `cam_layer`, `classifier_layer`: see
    `class_activation_maps`.

    Returns:
        (scores (B, K), cams (B, H, W)).
    """
    height, width = int(images.shape[1]), int(images.shape[2])
    size = (round(height * TEN_CROP_SCALE), round(width * TEN_CROP_SCALE))
    big = tf.image.resize(images, size, method="bilinear")
    crops = ten_crops(big, (height, width))
    logits, cams = class_activation_maps(
        model,
        crops,
        class_ids=tf.tile(labels, [10]),
        cam_layer=cam_layer,
        classifier_layer=classifier_layer,
    )
    probs = tf.reduce_mean(tf.reshape(tf.nn.softmax(logits), [10, -1, logits.shape[-1]]), 0)
    merged = merge_ten_crops(cams[:, 0], size)
    merged = tf.image.resize(merged[..., None], (height, width), method="bilinear")[..., 0]
    low = tf.reduce_min(merged, axis=[1, 2], keepdims=True)
    span = tf.reduce_max(merged, axis=[1, 2], keepdims=True) - low
    merged = tf.where(span > 0, (merged - low) / tf.where(span > 0, span, 1.0), 0.0)
    return tf.math.log(tf.maximum(probs, 1e-30)), merged

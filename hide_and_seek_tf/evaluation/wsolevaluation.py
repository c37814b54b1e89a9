"""clovaai/wsolevaluation's box rule (`BoxEvaluator`, Choe et al., CVPR 2020), reproduced exactly.

`evaluate_run(..., protocol="wsolevaluation")` scores boxes with these rules instead of the
paper-exact default (`hide_and_seek_tf.boxes.cams_to_boxes`), so its MaxBoxAcc / MaxBoxAccV2 are
comparable with the tables published with wsolevaluation:

- CAMs at 224 x 224 (`WSOL_SIZE`), min-max normalized to [0, 1] (`normalize_cams`);
- ground-truth boxes rescaled from the decoded image to 224 x 224 with `int()` truncation of
  x * 224 / W and y * 224 / H (`rescale_boxes`);
- the map scaled to uint8 by truncation, `(cam * 255).astype(uint8)` in float64, and foreground
  = pixels strictly greater than `int(t * max)` of that uint8 map (OpenCV's `THRESH_BINARY`);
- OpenCV contours (`cv2.findContours`, `RETR_TREE`, `CHAIN_APPROX_SIMPLE`, holes included):
  MaxBoxAcc takes the contour of largest polygon area (`cv2.contourArea`, the first among ties),
  MaxBoxAccV2 every contour; a box is `cv2.boundingRect`'s x, y, x + w, y + h with x1 and y1
  clipped to 223; no contour gives the box [0, 0, 0, 0];
- IoU of inclusive boxes (+1), the best over the image's ground-truth boxes;
- thresholds `np.arange(0, 1, 0.01)` (`WSOL_THRESHOLDS`, the exact floats, since `int(t * max)`
  depends on them), MaxBoxAcc at IoU 0.5, MaxBoxAccV2 the mean over IoU 0.3 / 0.5 / 0.7.

OpenCV (`opencv-python-headless`, the `wsolevaluation` extra) is needed by this protocol only and
imported when it is used.

References:
    Choe et al., Evaluating Weakly Supervised Object Localization Methods Right, CVPR 2020,
    https://arxiv.org/abs/2001.07437 (code: https://github.com/clovaai/wsolevaluation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hide_and_seek_tf.metrics import best_iou

#: Side of the maps and of the boxes wsolevaluation scores.
WSOL_SIZE = 224
#: wsolevaluation's CAM threshold grid (its command's default `--cam_curve_interval 0.01`).
WSOL_THRESHOLDS = tuple(float(t) for t in np.arange(0, 1, 0.01))
PROTOCOLS = ("paper", "wsolevaluation")


def check_protocol(protocol: str) -> str:
    """Returns `protocol` if it is one of `PROTOCOLS`, else raises ValueError naming it."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"`protocol` must be one of {list(PROTOCOLS)}. Received: {protocol!r}")
    return protocol


def import_cv2() -> Any:
    """OpenCV, or one line saying how to install it."""
    try:
        import cv2  # deferred: OpenCV is optional (the `wsolevaluation` extra)
    except ImportError:
        raise ImportError(
            "protocol 'wsolevaluation' needs OpenCV: pip install opencv-python-headless "
            "(or the `hide-and-seek-tf[wsolevaluation]` extra)."
        ) from None
    return cv2


def normalize_cams(cams: Any, size: int | tuple[int, int] = WSOL_SIZE) -> np.ndarray:
    """CAMs resized bilinearly to `size` (S or (H, W)) and min-max normalized per map (float32).

    A constant map becomes all zeros (as wsolevaluation's `normalize_scoremap`).

    Args:
        cams: (B, H, W) maps.

    Returns:
        (B, H, W) float32 in [0, 1] at the new size.
    """
    import tensorflow as tf  # deferred: the rest of this module is NumPy, testable without TF

    shape = (size, size) if isinstance(size, int) else tuple(size)
    maps = tf.convert_to_tensor(cams, tf.float32)
    if tuple(maps.shape[1:3]) != shape:
        maps = tf.image.resize(maps[..., None], shape, method="bilinear")[..., 0]
    maps = maps.numpy()
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    safe = np.where(span > 0, span, 1.0)
    return np.where(span > 0, (maps - low) / safe, 0.0).astype(np.float32)


def rescale_boxes(boxes: Any, image_sizes: Any, size: int = WSOL_SIZE) -> np.ndarray:
    """Ground-truth boxes of the decoded images rescaled to `size` x `size` as wsolevaluation does:
    `int(x * size / W)`, `int(y * size / H)` (truncation), in float64 arithmetic.

    Args:
        boxes: (N, G, 4) x0, y0, x1, y1 in the decoded image's pixels, -1 rows as padding.
        image_sizes: (N, 2) decoded (H, W).

    Returns:
        (N, G, 4) float64 whole numbers; padding rows stay -1.
    """
    b = np.asarray(boxes, np.float64)
    hw = np.asarray(image_sizes, np.float64)
    side = np.stack([hw[:, 1], hw[:, 0], hw[:, 1], hw[:, 0]], axis=-1)[:, None, :]  # W H W H
    scaled = np.trunc(b * float(size) / side)
    padding = (b[..., 2] < 0) | (b[..., 3] < 0)
    return np.where(padding[..., None], -1.0, scaled)


def to_uint8(cams: Any) -> np.ndarray:
    """`(cam * 255).astype(uint8)` computed in float64, as wsolevaluation does (truncation)."""
    return (np.asarray(cams, np.float64) * 255).astype(np.uint8)


def contour_boxes(
    cam: np.ndarray, thresholds: Sequence[float]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """wsolevaluation's boxes of one CAM at every threshold.

    Args:
        cam: (H, W) map in [0, 1] (float32 or float64).
        thresholds: CAM thresholds (fractions of the uint8 map's max).

    Returns:
        (largest (T, 4) int64: the box of the contour of largest polygon area per threshold,
        every: T arrays (n_t, 4) of every contour's box), [0, 0, 0, 0] where no contour.
    """
    cv2 = import_cv2()
    height, width = cam.shape
    image = to_uint8(cam)
    peak = int(image.max())
    largest = np.zeros((len(thresholds), 4), np.int64)
    every: list[np.ndarray] = []
    seen: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    limit = np.array([np.inf, np.inf, width - 1, height - 1])
    for i, t in enumerate(thresholds):
        level = int(t * peak)
        if level not in seen:
            mask = np.where(image > level, np.uint8(255), np.uint8(0))
            contours = cv2.findContours(mask, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[-2]
            if len(contours) == 0:
                zero = np.zeros((1, 4), np.int64)
                seen[level] = (zero[0], zero)
            else:
                rects = np.array([cv2.boundingRect(c) for c in contours], np.int64)  # x y w h
                boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
                boxes = np.minimum(boxes, limit).astype(np.int64)
                areas = [cv2.contourArea(c) for c in contours]
                seen[level] = (boxes[int(np.argmax(areas))], boxes)
        largest[i], boxes = seen[level]
        every.append(boxes)
    return largest, every


def wsol_box_ious(
    cams: np.ndarray, thresholds: Sequence[float], gt_boxes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes and IoUs of a batch of 224 x 224 CAMs under wsolevaluation's rules.

    One OpenCV contour search per image and threshold: contours (holes included) have no
    vectorized equivalent, and reproducing them exactly is the point of this protocol.

    Args:
        cams: (B, H, W) maps in [0, 1] (`normalize_cams`).
        thresholds: CAM thresholds.
        gt_boxes: (B, G, 4) ground-truth boxes in the maps' pixels (`rescale_boxes`), -1 padded.

    Returns:
        (largest (B, T, 4) int32, iou (B, T) best IoU of the largest contour's box, any_iou (B, T)
        best IoU of any contour's box).
    """
    cams = np.asarray(cams)
    gt = np.asarray(gt_boxes, np.float64)
    b, t = len(cams), len(thresholds)
    largest = np.zeros((b, t, 4), np.int32)
    iou = np.zeros((b, t))
    any_iou = np.zeros((b, t))
    for n in range(b):
        boxes, every = contour_boxes(cams[n], thresholds)
        largest[n] = boxes
        iou[n] = best_iou(boxes[None], gt[n : n + 1])[0]
        counts = [len(e) for e in every]
        flat = best_iou(np.concatenate(every)[None], gt[n : n + 1])[0]
        any_iou[n] = np.maximum.reduceat(flat, np.cumsum([0] + counts[:-1]))
    return largest, iou, any_iou


__all__ = [
    "PROTOCOLS",
    "WSOL_SIZE",
    "WSOL_THRESHOLDS",
    "check_protocol",
    "contour_boxes",
    "import_cv2",
    "normalize_cams",
    "rescale_boxes",
    "to_uint8",
    "wsol_box_ious",
]

"""Protocol "wsolevaluation": clovaai/wsolevaluation's BoxEvaluator rules, on hand-made maps and
against an OpenCV reference written here, plus the error when OpenCV is missing."""

import sys

import numpy as np
import pytest

from hide_and_seek_tf.boxes import cams_to_boxes
from hide_and_seek_tf.evaluation import wsolevaluation as wsol
from hide_and_seek_tf.metrics import localization_metrics

cv2 = pytest.importorskip("cv2")


def test_largest_contour_is_by_polygon_area_not_pixel_count():
    # A 1 px high line of 30 px (contour area 0) and a 4 x 4 square of 16 px (contour area 9).
    cam = np.zeros((40, 40), np.float32)
    cam[30, 2:32] = 1.0
    cam[10:14, 20:24] = 1.0
    largest, every = wsol.contour_boxes(cam, (0.5,))
    # boundingRect's x + w is one past the last pixel: [20, 10, 24, 14], not [20, 10, 23, 13].
    assert largest.tolist() == [[20, 10, 24, 14]]
    assert sorted(every[0].tolist()) == [[2, 30, 32, 31], [20, 10, 24, 14]]
    # The paper-exact rule (largest 8-connected component by pixels) takes the line.
    assert cams_to_boxes(cam[None], (0.5,)).numpy()[0, 0].tolist() == [2, 30, 31, 30]


def test_box_end_is_clipped_to_the_last_pixel():
    cam = np.zeros((224, 224), np.float32)
    cam[200:, 210:] = 1.0  # touches the bottom-right corner: x + w = 224 -> 223
    assert wsol.contour_boxes(cam, (0.5,))[0].tolist() == [[210, 200, 223, 223]]


def test_threshold_is_strictly_above_the_truncated_uint8_level():
    # t = 0.5 of a uint8 max of 255: level int(127.5) = 127, foreground = values > 127.
    cam = np.zeros((30, 30), np.float32)
    cam[10:20, 10:20] = 1.0
    cam[9, 10:20] = 0.5  # 127.5 -> uint8 127: background (the float rule keeps it: 0.5 >= 0.5)
    cam[20, 10:20] = 128 / 255 - 1e-6  # 127.99... -> 127: background too
    cam[10:20, 22] = 128 / 255  # -> 128 > 127: foreground (a second contour)
    largest, every = wsol.contour_boxes(cam, (0.5,))
    assert largest.tolist() == [[10, 10, 20, 20]]
    assert sorted(every[0].tolist()) == [[10, 10, 20, 20], [22, 10, 23, 20]]
    # Under the float rule cam >= 0.5 * max both rows join the block.
    assert cams_to_boxes(cam[None], (0.5,)).numpy()[0, 0].tolist() == [10, 9, 19, 20]


def test_thresholds_are_numpy_arange_floats_because_int_t_max_depends_on_them():
    grid = wsol.WSOL_THRESHOLDS
    assert len(grid) == 100 and grid == tuple(np.arange(0, 1, 0.01).tolist())
    # 0.57 * 100 = 56.99999999999999 but np.arange's 0.5700000000000001 * 100 -> 57.
    assert int(round(0.57, 2) * 100) == 56 and int(grid[57] * 100) == 57
    cam = np.zeros((20, 20))
    cam[2:6, 2:6] = 100 / 255  # uint8 max 100
    cam[10:18, 10:18] = 57 / 255 + 1e-9  # uint8 57: background at level 57, not at level 56
    largest, _ = wsol.contour_boxes(cam, (grid[57],))
    assert largest.tolist() == [[2, 2, 6, 6]]


def test_no_contour_gives_the_zero_box():
    cam = np.zeros((224, 224), np.float32)
    largest, every = wsol.contour_boxes(cam, (0.0, 0.5))
    assert largest.tolist() == [[0, 0, 0, 0]] * 2
    assert [e.tolist() for e in every] == [[[0, 0, 0, 0]]] * 2
    # Scored like any box: IoU 1 / 1 with a one-pixel ground truth at the origin.
    _, iou, any_iou = wsol.wsol_box_ious(cam[None], (0.5,), np.array([[[0, 0, 0, 0.0]]]))
    assert iou.tolist() == [[1.0]] and any_iou.tolist() == [[1.0]]


def test_ground_truth_boxes_are_rescaled_with_int_truncation():
    boxes = np.array(
        [
            [[0, 0, 63, 63], [-1, -1, -1, -1]],  # 63 * 224 / 64 = 220.5 -> 220
            [[10, 5, 99, 49], [3, 3, 4, 4]],  # W 100, H 50: 221.76 -> 221, 219.52 -> 219
        ],
        np.float64,
    )
    sizes = np.array([[64, 64], [50, 100]])  # (H, W)
    scaled = wsol.rescale_boxes(boxes, sizes)
    assert scaled[0].tolist() == [[0, 0, 220, 220], [-1, -1, -1, -1]]
    assert scaled[1].tolist() == [[22, 22, 221, 219], [6, 13, 8, 17]]


def _reference_boxes(cam: np.ndarray, t: float, every: bool) -> list[list[int]]:
    """wsolevaluation's rule written out with OpenCV's own threshold, for comparison."""
    image = (cam.astype(np.float64) * 255).astype(np.uint8)[..., None]
    _, mask = cv2.threshold(image, int(t * np.max(image)), 255, cv2.THRESH_BINARY)
    contours = cv2.findContours(mask, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[-2]
    if not contours:
        return [[0, 0, 0, 0]]
    if not every:
        contours = [max(contours, key=cv2.contourArea)]
    h, w = cam.shape
    out = []
    for c in contours:
        x, y, bw, bh = cv2.boundingRect(c)
        out.append([x, y, min(x + bw, w - 1), min(y + bh, h - 1)])
    return out


def _random_maps(n: int, seed: int) -> np.ndarray:
    # Blobs with holes and several components: coarse noise upsampled, min-max normalized.
    import tensorflow as tf

    coarse = np.random.default_rng(seed).random((n, 7, 7, 1)).astype(np.float32)
    maps = tf.image.resize(coarse, (224, 224), method="bicubic").numpy()[..., 0]
    low = maps.min(axis=(1, 2), keepdims=True)
    return ((maps - low) / (maps.max(axis=(1, 2), keepdims=True) - low)).astype(np.float32)


def test_random_maps_match_an_opencv_reference():
    cams = _random_maps(6, seed=19)
    grid = wsol.WSOL_THRESHOLDS[::7]
    for cam in cams:
        largest, every = wsol.contour_boxes(cam, grid)
        for i, t in enumerate(grid):
            assert largest[i].tolist() == _reference_boxes(cam, t, every=False)[0]
            assert sorted(every[i].tolist()) == sorted(_reference_boxes(cam, t, every=True))
    assert max(len(e) for e in every) > 1  # the maps do have several contours


def test_max_box_acc_matches_a_reference_count():
    cams = _random_maps(8, seed=3)
    rng = np.random.default_rng(3)
    x0, y0 = rng.integers(0, 112, (2, 8))
    gt = np.stack([x0, y0, x0 + rng.integers(30, 110, 8), y0 + rng.integers(30, 110, 8)], 1)
    gt = gt[:, None, :].astype(np.float64)
    grid = wsol.WSOL_THRESHOLDS
    _, iou, any_iou = wsol.wsol_box_ious(cams, grid, gt)
    m = localization_metrics(np.zeros(8, int), 2, iou, any_iou, grid)

    def ref_iou(box, g):  # inclusive, +1, as wsolevaluation
        iw = min(box[2], g[2]) - max(box[0], g[0]) + 1
        ih = min(box[3], g[3]) - max(box[1], g[1]) + 1
        inter = max(iw, 0) * max(ih, 0)
        area = lambda b: (b[2] - b[0] + 1) * (b[3] - b[1] + 1)  # noqa: E731
        return inter / (area(box) + area(g) - inter)

    correct = {d: np.zeros(len(grid)) for d in (0.3, 0.5, 0.7)}
    correct_v2 = {d: np.zeros(len(grid)) for d in (0.3, 0.5, 0.7)}
    for cam, g in zip(cams, gt[:, 0], strict=True):
        for i, t in enumerate(grid):
            best = ref_iou(_reference_boxes(cam, t, False)[0], g)
            best_any = max(ref_iou(b, g) for b in _reference_boxes(cam, t, True))
            for d in correct:
                correct[d][i] += best >= d
                correct_v2[d][i] += best_any >= d
    assert m["max_box_acc"] == pytest.approx(100 * correct[0.5].max() / 8, abs=1e-9)
    v2 = np.mean([100 * correct_v2[d].max() / 8 for d in (0.3, 0.5, 0.7)])
    assert m["max_box_acc_v2"] == pytest.approx(v2, abs=1e-9)


def test_missing_opencv_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 -> ImportError
    with pytest.raises(ImportError, match="opencv-python-headless") as info:
        wsol.contour_boxes(np.zeros((4, 4)), (0.5,))
    assert "\n" not in str(info.value)


def test_unknown_protocol_is_refused():
    with pytest.raises(ValueError, match="`protocol` must be one of"):
        wsol.check_protocol("choe")

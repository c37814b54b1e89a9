"""CAM -> intervals, temporal IoU and detection mAP: hand-computed golden values and properties."""

import numpy as np
import pytest

from hide_and_seek_tf.temporal import (
    average_precision,
    cams_to_intervals,
    interval_iou,
    mean_average_precision,
)

# === cams_to_intervals ===


def test_every_maximal_run_above_half_the_max_with_its_mean_score():
    intervals, scores = cams_to_intervals(np.array([0.0, 0.6, 1.0, 0.2, 0.7, 0.0]), 0.5)
    np.testing.assert_array_equal(intervals, [[1, 2], [4, 4]])
    np.testing.assert_allclose(scores, [0.8, 0.7])


def test_threshold_is_inclusive_and_runs_touch_both_ends():
    intervals, _ = cams_to_intervals(np.array([0.5, 1.0, 0.1, 0.49, 0.2, 0.9]), 0.5)
    np.testing.assert_array_equal(intervals, [[0, 1], [5, 5]])


def test_flat_map_is_one_interval_and_negative_map_gives_none():
    intervals, scores = cams_to_intervals(np.full(7, 3.0))
    np.testing.assert_array_equal(intervals, [[0, 6]])
    np.testing.assert_allclose(scores, [3.0])
    intervals, scores = cams_to_intervals(np.array([-3.0, -1.0, -2.0]))
    assert intervals.shape == (0, 2) and scores.shape == (0,)


def test_batch_equals_each_row_alone():
    cams = np.random.default_rng(0).normal(size=(9, 40))
    for row, (intervals, scores) in zip(cams, cams_to_intervals(cams, 0.3), strict=True):
        alone_intervals, alone_scores = cams_to_intervals(row, 0.3)
        np.testing.assert_array_equal(intervals, alone_intervals)
        np.testing.assert_allclose(scores, alone_scores)
        # Runs are maximal and exactly the steps above the threshold.
        above = row >= 0.3 * row.max()
        covered = np.zeros_like(above)
        for start, end in intervals:
            covered[start : end + 1] = True
            assert start == 0 or not above[start - 1]
            assert end == len(row) - 1 or not above[end + 1]
        np.testing.assert_array_equal(covered, above)


def test_empty_batch_and_bad_inputs():
    assert cams_to_intervals(np.zeros((0, 5))) == []
    with pytest.raises(ValueError, match="finite"):
        cams_to_intervals(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="cam.shape"):
        cams_to_intervals(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="threshold=1.5"):
        cams_to_intervals(np.zeros(3), 1.5)


# === interval_iou ===


def test_interval_iou_golden_values():
    assert interval_iou([0, 10], [0, 10]) == 1.0
    assert interval_iou([0, 10], [5, 15]) == pytest.approx(1 / 3)
    assert interval_iou([0, 5], [5, 10]) == 0.0  # continuous: touching is no overlap
    assert interval_iou([0, 5], [5, 10], inclusive=True) == pytest.approx(1 / 11)
    assert interval_iou([0, 9], [5, 14], inclusive=True) == pytest.approx(5 / 15)
    assert interval_iou([3, 3], [3, 3]) == 0.0  # zero length, continuous
    assert interval_iou([3, 3], [3, 3], inclusive=True) == 1.0


def test_interval_iou_broadcasts_to_every_pair():
    a = np.array([[0, 10], [20, 30]])
    b = np.array([[0, 10], [5, 15], [25, 30]])
    iou = interval_iou(a[:, None], b[None])
    np.testing.assert_allclose(iou, [[1, 1 / 3, 0], [0, 0, 0.5]])


def test_interval_iou_rejects_bad_intervals():
    with pytest.raises(ValueError, match="end >= start"):
        interval_iou([5, 1], [0, 1])
    with pytest.raises(ValueError, match="finite"):
        interval_iou([0, np.nan], [0, 1])
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        interval_iou([0, 1, 2], [0, 1])


# === average precision and mAP ===


def test_average_precision_all_point_interpolated():
    # precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1: area 1/2 * 1 + 1/2 * 2/3.
    assert average_precision(np.array([1, 0, 1], bool), 2) == pytest.approx(0.5 + 1 / 3)
    assert average_precision(np.array([0, 1], bool), 1) == pytest.approx(0.5)
    assert average_precision(np.array([], bool), 3) == 0.0


GROUND_TRUTH = [
    (0, 0, 0, 10),
    (0, 0, 20, 30),
    (1, 0, 0, 10),
    (1, 1, 40, 50),  # class 1: never detected
]
DETECTIONS = [
    (0, 0, 0, 10, 0.9),  # tIoU 1 with (0, 0, 10)
    (0, 0, 1, 10, 0.8),  # its best ground truth is taken: false positive
    (1, 0, 5, 15, 0.7),  # tIoU 1/3
    (0, 0, 20, 28, 0.6),  # tIoU 0.8
    (2, 0, 0, 5, 0.5),  # a video without ground truth: false positive
    (0, 2, 0, 5, 0.99),  # class 2 has no ground truth: ignored
]


def test_golden_map_worked_by_hand():
    result = mean_average_precision(DETECTIONS, GROUND_TRUTH, (0.3, 0.5, 0.8))
    # theta 0.5: TP, FP, FP, TP, FP with 3 positives -> precision 1 at recall 1/3, 1/2 at 2/3: AP 1/2.
    # theta 0.3: the 1/3 detection counts -> 1 at 1/3, 3/4 at 2/3 and at 1: AP (1 + 0.75 + 0.75) / 3.
    # theta 0.8: tIoU 0.8 is not > 0.8 -> only the first: AP 1/3.
    np.testing.assert_allclose(result["ap"][0], [2.5 / 3, 0.5, 1 / 3])
    np.testing.assert_allclose(result["ap"][1], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(result["map"], [2.5 / 6, 0.25, 1 / 6])
    assert set(result["ap"]) == {0, 1}
    assert result["num_ground_truth"] == {0: 3, 1: 1}


def test_match_takes_the_unmatched_ground_truth_of_highest_tiou():
    # The first detection overlaps A a little (0.105) and B a lot (0.917): it must take B, leaving A for
    # the second detection. Taking the first ground truth above 0.1 would leave the second unmatched.
    gt = [(0, 0, 0, 10), (0, 0, 8, 20)]
    det = [(0, 0, 8, 19, 0.9), (0, 0, 0, 9, 0.8)]
    assert mean_average_precision(det, gt, (0.1,))["map"] == [1.0]


def test_detections_are_taken_by_descending_score_whatever_their_order():
    rng = np.random.default_rng(1)
    order = rng.permutation(len(DETECTIONS))
    shuffled = [DETECTIONS[i] for i in order]
    assert (
        mean_average_precision(shuffled, GROUND_TRUTH)["map"]
        == mean_average_precision(DETECTIONS, GROUND_TRUTH)["map"]
    )


def _activitynet_reference(detections, ground_truth, theta):
    """Per-class AP written as ActivityNet's loop (with '>' for the paper's 'IoU > theta')."""
    aps = []
    for c in sorted({g[1] for g in ground_truth}):
        gts = [g for g in ground_truth if g[1] == c]
        dets = sorted((d for d in detections if d[1] == c), key=lambda d: -d[4])
        used, flags = set(), []
        for d in dets:
            best, best_iou = None, -1.0
            for j, g in enumerate(gts):
                if g[0] != d[0] or j in used:
                    continue
                inter = max(0.0, min(d[3], g[3]) - max(d[2], g[2]))
                iou = inter / ((d[3] - d[2]) + (g[3] - g[2]) - inter)
                if iou > best_iou:
                    best, best_iou = j, iou
            hit = best is not None and best_iou > theta
            if hit:
                used.add(best)
            flags.append(hit)
        tp = np.cumsum(flags)
        rec = np.concatenate([[0], tp / len(gts), [1]])
        prec = np.concatenate([[0], tp / np.arange(1, len(flags) + 1), [0]])
        for i in range(len(prec) - 2, -1, -1):
            prec[i] = max(prec[i], prec[i + 1])
        idx = np.where(rec[1:] != rec[:-1])[0] + 1
        aps.append(np.sum((rec[idx] - rec[idx - 1]) * prec[idx]))
    return float(np.mean(aps))


def test_matches_a_loop_reference_on_random_detections():
    rng = np.random.default_rng(3)
    starts = rng.uniform(0, 90, size=40)
    gt = np.column_stack(
        [rng.integers(0, 6, 40), rng.integers(0, 3, 40), starts, starts + rng.uniform(2, 10, 40)]
    )
    jitter = rng.normal(0, 2, size=(120, 2))
    picked = gt[rng.integers(0, 40, 120)]
    low = np.minimum(picked[:, 2] + jitter[:, 0], picked[:, 3] + jitter[:, 1])
    high = np.maximum(picked[:, 2] + jitter[:, 0], picked[:, 3] + jitter[:, 1])
    det = np.column_stack([picked[:, :2], low, high, rng.uniform(size=120)])
    det[::7, 0] = (det[::7, 0] + 1) % 6  # some detections in the wrong video
    gt_rows, det_rows = [tuple(r) for r in gt], [tuple(r) for r in det]
    result = mean_average_precision(det_rows, gt_rows, (0.1, 0.3, 0.5, 0.7))
    expected = [_activitynet_reference(det_rows, gt_rows, t) for t in (0.1, 0.3, 0.5, 0.7)]
    np.testing.assert_allclose(result["map"], expected, rtol=1e-12)
    assert 0 < result["map"][-1] < result["map"][0] < 1


def test_perfect_detections_score_one_and_no_detections_zero():
    assert mean_average_precision([(0, 0, 0, 10, 1.0)], [(0, 0, 0, 10)], (0.5,))["map"] == [1.0]
    assert mean_average_precision([], [(0, 0, 0, 10)], (0.5,))["map"] == [0.0]


def test_map_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        mean_average_precision([(0, 0, 0, 1, 1.0)], [])
    with pytest.raises(ValueError, match="rows of 5"):
        mean_average_precision([(0, 0, 0, 1)], [(0, 0, 0, 1)])
    with pytest.raises(ValueError, match="tiou_thresholds"):
        mean_average_precision([(0, 0, 0, 1, 1.0)], [(0, 0, 0, 1)], (1.5,))
    with pytest.raises(ValueError, match="end >= start"):
        mean_average_precision([(0, 0, 5, 1, 1.0)], [(0, 0, 0, 1)])

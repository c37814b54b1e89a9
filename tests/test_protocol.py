"""Tests for hide_and_seek_tf.protocol on hand-made arrays whose answers are worked out by hand."""

import csv
import io
import math

import numpy as np
import pytest
import tensorflow as tf

from hide_and_seek_tf import protocol
from hide_and_seek_tf.metrics import LocalizationEvaluator

GT = [[0, 0, 9, 9]]  # one 10 x 10 ground-truth box (area 100)
MISS = [0, 0, 19, 19]  # IoU 100 / 400 = 0.25 with GT
HIT = [0, 0, 9, 9]
NO_BOX = [-1, -1, -1, -1]


def _evaluate(largest, every=None, grid=(0.1, 0.2, 0.3), labels=None):
    """`LocalizationEvaluator.compute()` of images that all have the ground-truth box GT."""
    n = len(largest)
    ev = LocalizationEvaluator(cam_thresholds=grid)
    logits = np.tile([[1.0, 0.0]], (n, 1))
    labels = np.zeros(n, np.int64) if labels is None else np.asarray(labels)
    ev.accumulate(
        logits,
        np.asarray(largest),
        labels,
        np.asarray([GT] * n),
        all_boxes=None if every is None else np.asarray(every),
    )
    return ev.compute()


# ----------------------------------------------------------------------------------------------
# Threshold choice
# ----------------------------------------------------------------------------------------------


def test_tau_maximises_boxacc_on_the_choose_split_and_is_read_off_the_report_split():
    # Choose split: BoxAcc 0, 50, 100 at t = 0.1, 0.2, 0.3 -> tau = 0.3.
    choose = _evaluate([[MISS, HIT, HIT], [MISS, MISS, HIT]])
    # Report split: BoxAcc 100, 50, 50: its own best (t = 0.1) must not be used.
    report = _evaluate([[HIT, HIT, HIT], [HIT, MISS, MISS]], labels=[0, 1])
    choice = protocol.threshold_choice(report, "val", choose, "train_holdout")
    assert choice["chosen_on"] == "train_holdout" and choice["reported_on"] == "val"
    assert choice["held_out"] is True
    assert choice["tau"] == pytest.approx(0.3)
    assert choice["chosen_on_max_box_acc"] == 100.0 and choice["chosen_on_num_images"] == 2
    assert choice["max_box_acc"] == choice["gt_known_loc"] == 50.0
    assert choice["top1_loc"] == 50.0  # image 0 (label 0 = top-1) hits at 0.3; image 1 is wrong
    assert choice["upper_bound"]["max_box_acc"] == 100.0  # kept apart, labelled


def test_ties_choose_the_lowest_threshold():
    choose = _evaluate([[MISS, HIT, HIT]])  # 0, 100, 100
    assert protocol.choose_thresholds(choose, "train_holdout")["tau"] == pytest.approx(0.2)


def test_max_box_acc_v2_chooses_one_threshold_per_iou():
    # Best IoU of any component's box with GT: 0.4, 0.6, 1.0 at t = 0.1, 0.2, 0.3, so delta 0.3
    # is first reached at 0.1, delta 0.5 at 0.2, delta 0.7 at 0.3.
    iou_04, iou_06 = [0, 0, 9, 3], [0, 0, 9, 5]
    every = [[[iou_04, NO_BOX], [iou_06, NO_BOX], [HIT, iou_04]]]
    choose = _evaluate([[HIT, HIT, HIT]], every)
    choice = protocol.choose_thresholds(choose)
    assert choice["tau_v2"] == {"0.3": 0.1, "0.5": 0.2, "0.7": 0.3}
    # Report split: any-component IoU 1.0, 0 (no box), 0.6 at 0.1, 0.2, 0.3.
    report = _evaluate([[HIT, HIT, HIT]], [[[HIT, NO_BOX], [NO_BOX, NO_BOX], [iou_06, NO_BOX]]])
    read = protocol.report_at_thresholds(report, choice)
    # delta 0.3 at 0.1: hit; delta 0.5 at 0.2: miss; delta 0.7 at 0.3: 0.6 < 0.7, miss.
    assert read["max_box_acc_v2_per_iou"] == {"0.3": 100.0, "0.5": 0.0, "0.7": 0.0}
    assert read["max_box_acc_v2"] == pytest.approx(100.0 / 3)
    assert report["max_box_acc_v2"] == 100.0  # its own thresholds: the upper bound


def test_without_a_choose_split_the_report_split_chooses_for_itself():
    report = _evaluate([[MISS, HIT, HIT]])
    choice = protocol.threshold_choice(report, "val")
    assert choice["held_out"] is False and choice["upper_bound"] is None
    assert choice["chosen_on"] == "val" and choice["max_box_acc"] == report["max_box_acc"]


def test_a_threshold_missing_from_the_report_grid_is_a_clear_error():
    report = _evaluate([[HIT, HIT, HIT]])
    with pytest.raises(ValueError, match="`tau` must be one of the CAM thresholds"):
        protocol.report_at_thresholds(report, {"tau": 0.25, "tau_v2": None})


# ----------------------------------------------------------------------------------------------
# Per-image rows and the size breakdown
# ----------------------------------------------------------------------------------------------

PAD = [-1, -1, -1, -1]
# Six 10 x 10 images (area 100). Ground truth, the box at the fixed threshold 0.2, the box at
# tau = 0.5 (the whole image for all), the label's rank; hand-computed IoUs in the comments.
IMAGES = [
    # gt boxes                         fixed box      rank  fraction  IoU fixed / tau / train box
    ([[0, 0, 4, 1], PAD], [0, 0, 4, 1], 0),  # 0.10  1.0 / 0.10 / 10/25 = 0.4
    ([[0, 0, 5, 4], PAD], [0, 0, 9, 9], 0),  # 0.30  0.3 / 0.30 / 25/30 = 0.83
    ([[0, 0, 9, 5], PAD], [0, 0, 9, 5], 1),  # 0.60  1.0 / 0.60 / 25/60 = 0.42
    ([[0, 0, 9, 9], PAD], [0, 0, 9, 9], 0),  # 1.00  1.0 / 1.00 / 0.25
    ([[0, 0, 1, 1], [0, 0, 9, 7]], [0, 0, 9, 7], 0),  # scored against box 2: 0.80  1 / .8 / .31
    ([[0, 0, 1, 1], [5, 5, 9, 9]], NO_BOX, 0),  # no overlap: the largest, 0.25  0 / .25 / .16
]
FIXED_IOU = [1.0, 0.3, 1.0, 1.0, 1.0, 0.0]
TAU_IOU = [0.1, 0.3, 0.6, 1.0, 0.8, 0.25]
TRAIN_BOX = [0, 0, 4, 4]


def _hand_scores():
    n = len(IMAGES)
    whole = [0, 0, 9, 9]
    per_image = {
        "id": np.array([f"img{i}" for i in range(n)], dtype=object),
        "label": np.zeros(n, np.int64),
        "top1_class": np.array([0 if r == 0 else 1 for _, _, r in IMAGES]),
        "top1_score": np.full(n, 0.75),
        "label_rank": np.array([r for _, _, r in IMAGES]),
        "gt": np.array([g for g, _, _ in IMAGES], np.float64),
        "boxes": np.array([[b, whole] for _, b, _ in IMAGES], np.int32),
        "iou": np.stack([FIXED_IOU, TAU_IOU], axis=1),
        "any_iou": np.stack([FIXED_IOU, TAU_IOU], axis=1),
        "cam_inside": np.array([0.9, 0.5, 0.7, 0.6, 0.8, np.nan]),
        "cam_outside": np.array([0.1, 0.5, 0.2, np.nan, 0.3, 0.4]),
        "cam_foreground_fraction": np.full(n, 0.5),
    }
    metrics = {"cam_threshold": 0.2, "curves": {"cam_thresholds": [0.2, 0.5]}}
    return protocol.SplitScores(metrics, per_image, {}, (10, 10))


@pytest.fixture
def table():
    return protocol.per_image_table(
        _hand_scores(), tau=0.5, tau_v2={"0.3": 0.5, "0.5": 0.5, "0.7": 0.5}, fixed_box=TRAIN_BOX
    )


def test_per_image_rows_bin_by_the_box_the_prediction_is_scored_against(table):
    np.testing.assert_allclose(table["gt_area_fraction"], [0.1, 0.3, 0.6, 1.0, 0.8, 0.25])
    assert table["size_bin"].tolist() == [0, 1, 2, 3, 3, 1]  # 0.25 opens the second bin
    assert table["gt_x1"].tolist() == [4, 5, 9, 9, 9, 9]  # image 4: box 2; image 5: the largest
    assert table["num_gt_boxes"].tolist() == [1, 1, 1, 1, 2, 2]
    np.testing.assert_allclose(table["fixed_box_iou"], [0.4, 25 / 30, 25 / 60, 0.25, 25 / 80, 0.16])
    np.testing.assert_allclose(table["whole_image_iou"], [0.1, 0.3, 0.6, 1.0, 0.8, 0.25])
    assert table["tau_box_x1"].tolist() == [9] * 6 and table["tau"].tolist() == [0.5] * 6


def test_size_breakdown_per_bin_numbers(table):
    bins = protocol.size_breakdown(table)["bins"]
    assert [b["range"] for b in bins] == [[0, 0.25], [0.25, 0.5], [0.5, 0.75], [0.75, 1.0]]
    assert [b["count"] for b in bins] == [1, 2, 1, 2]
    assert [b["gt_known_loc"] for b in bins] == [100.0, 0.0, 100.0, 100.0]
    assert [b["top1_loc"] for b in bins] == [100.0, 0.0, 0.0, 100.0]  # image 2: wrong class
    assert [b["max_box_acc"] for b in bins] == [0.0, 0.0, 100.0, 100.0]
    assert [b["fixed_box_gt_known_loc"] for b in bins] == [0.0, 50.0, 0.0, 0.0]
    assert [b["whole_image_gt_known_loc"] for b in bins] == [0.0, 0.0, 100.0, 100.0]
    assert bins[3]["cam_contrast"] == pytest.approx(0.5)  # only image 4 has both regions
    # Count-weighted, the bins give the headline numbers.
    overall = protocol.localization_summary(table)
    assert overall["gt_known_loc"] == pytest.approx(400 / 6)
    for key in ("gt_known_loc", "top1_loc", "max_box_acc", "fixed_box_gt_known_loc"):
        weighted = sum(b[key] * b["count"] for b in bins) / sum(b["count"] for b in bins)
        assert weighted == pytest.approx(overall[key])


def test_an_empty_bin_has_a_count_of_zero_and_no_numbers(table):
    keep = table["size_bin"] != 0
    bins = protocol.size_breakdown({k: v[keep] for k, v in table.items()})["bins"]
    assert bins[0]["count"] == 0 and bins[0]["gt_known_loc"] is None
    assert bins[0]["fraction_of_images"] == 0.0


def test_per_image_csv_round_trips_exactly(table):
    rows = list(csv.DictReader(io.StringIO(protocol.per_image_csv(table))))
    assert list(rows[0]) == list(protocol.PER_IMAGE_COLUMNS)
    assert [r["id"] for r in rows] == [f"img{i}" for i in range(6)]
    assert [float(r["fixed_box_iou"]) for r in rows] == table["fixed_box_iou"].tolist()
    assert rows[3]["cam_outside"] == ""  # NaN
    assert rows[5]["box_x1"] == "-1"  # the "no box" row


def test_cam_inside_outside():
    cams = np.zeros((3, 4, 4))
    cams[:, :2, :2] = 1.0
    gt = np.array([[[0, 0, 1, 1]], [[0, 0, 3, 3]], [PAD]], np.float64)
    inside, outside = protocol.cam_inside_outside(cams, gt)
    assert inside[0] == 1.0 and outside[0] == 0.0
    assert inside[1] == pytest.approx(0.25) and math.isnan(outside[1])  # the box is the image
    assert math.isnan(inside[2]) and outside[2] == pytest.approx(0.25)  # no box


def test_size_bin_edges():
    assert protocol.size_bin([0.0, 0.2499, 0.25, 0.5, 0.7499, 0.75, 1.0]).tolist() == [
        0, 0, 1, 2, 2, 3, 3
    ]  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Baselines, occlusion and statistics
# ----------------------------------------------------------------------------------------------


def test_fixed_boxes_are_scored_by_the_evaluator_code():
    gt = np.array([g for g, _, _ in IMAGES], np.float64)
    scored = protocol.score_fixed_boxes({"whole": protocol.whole_image_box((10, 10))}, gt)
    assert scored["whole"]["box"] == [0, 0, 9, 9]
    assert scored["whole"]["gt_known_loc"] == pytest.approx(50.0)  # 0.6, 1.0, 0.8 hit
    assert scored["whole"]["box_acc"]["0.3"] == pytest.approx(100 * 4 / 6)  # 0.3 counts


class _HiddenDetector:
    """Predicts class 1 when any pixel equals the fill (a hidden cell), else class 0."""

    def __call__(self, images, training=False):
        hidden = tf.reduce_any(tf.reduce_all(tf.equal(images, 7.0), axis=-1), axis=[1, 2])
        return tf.one_hot(tf.cast(hidden, tf.int32), 2)


def test_occlusion_uses_fixed_nested_masks():
    batches = [
        {"image": tf.fill([8, 32, 32, 3], 100.0), "label": tf.zeros([8], tf.int64)}
        for _ in range(3)
    ]
    fractions = (0.0, 0.25, 0.5, 1.0)
    acc = protocol.occlusion_top1(_HiddenDetector(), batches, fractions, [7.0] * 3, cell=16)
    assert acc[0] == 100.0 and acc[-1] == 0.0  # nothing hidden / everything hidden
    # Nested masks: an image with a hidden cell at 0.25 has one at 0.5, so accuracy can't rise.
    assert acc[0] >= acc[1] >= acc[2] >= acc[3]
    again = protocol.occlusion_top1(_HiddenDetector(), batches, (0.5,), [7.0] * 3, cell=16)
    assert again == [acc[2]]  # the same images, whatever else was asked for
    with pytest.raises(ValueError, match="`fractions` must be values in"):
        protocol.occlusion_top1(_HiddenDetector(), batches, (1.5,), [7.0] * 3)


def test_paired_differences_by_seed():
    has = {0: 60.0, 1: 50.0, 2: 40.0, 3: 99.0}
    gap = {0: 55.0, 1: 52.0, 2: 40.0, 4: 10.0}
    paired = protocol.paired_differences(has, gap)
    assert paired["seeds"] == [0, 1, 2]  # only seeds both have
    assert paired["per_seed"] == [5.0, -2.0, 0.0]
    assert paired["mean"] == pytest.approx(1.0)
    assert paired["std"] == pytest.approx(math.sqrt((16 + 9 + 1) / 2))  # sample std
    assert (paired["min"], paired["max"], paired["n"]) == (-2.0, 5.0, 3)
    single = protocol.paired_differences({0: 1.0, 1: None}, {0: 3.0, 1: 2.0})
    assert single["per_seed"] == [-2.0] and single["std"] is None

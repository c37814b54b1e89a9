"""Golden tests for hide_and_seek_tf.metrics, computed by hand on tiny arrays."""

import numpy as np
import pytest

from hide_and_seek_tf.boxes import cams_to_boxes
from hide_and_seek_tf.metrics import (
    FixedBoxBaseline,
    LocalizationEvaluator,
    best_iou,
    box_iou,
    choose_fixed_box,
    dense_gt_boxes,
    label_ranks,
)


def test_iou_identical_known_pair_disjoint_and_touching():
    assert box_iou([3, 4, 10, 12], [3, 4, 10, 12]) == 1.0
    # Inclusive pixels: [0..9] x [0..9] is 100 px; [5..14] x [0..9] is 100 px; overlap 5 x 10.
    assert box_iou([0, 0, 9, 9], [5, 0, 14, 9]) == pytest.approx(50 / 150)
    # A box inside another: 2 x 3 = 6 px inside 4 x 4 = 16 px.
    assert box_iou([0, 0, 3, 3], [1, 1, 2, 3]) == pytest.approx(6 / 16)
    assert box_iou([0, 0, 4, 4], [5, 5, 9, 9]) == 0.0
    # Sharing one corner pixel: 1 / (25 + 25 - 1).
    assert box_iou([0, 0, 4, 4], [4, 4, 8, 8]) == pytest.approx(1 / 49)
    # A single pixel box equals itself.
    assert box_iou([7, 7, 7, 7], [7, 7, 7, 7]) == 1.0


def test_iou_of_padding_and_no_box_rows_is_zero():
    assert box_iou([-1, -1, -1, -1], [-1, -1, -1, -1]) == 0.0
    assert box_iou([-1, -1, -1, -1], [0, 0, 5, 5]) == 0.0
    assert box_iou([5, 5, 4, 9], [0, 0, 9, 9]) == 0.0  # x1 < x0
    got = box_iou(np.array([[0, 0, 9, 9], [0, 0, 9, 9]]), np.array([[0, 0, 9, 9], [-1] * 4]))
    np.testing.assert_array_equal(got, [1.0, 0.0])


def test_best_iou_takes_any_ground_truth_box():
    gt = np.array([[[0, 0, 9, 9], [20, 20, 29, 29], [-1, -1, -1, -1]]])
    pred = np.array([[[20, 20, 29, 29], [0, 0, 4, 9], [40, 40, 41, 41]]])  # (B=1, T=3, 4)
    np.testing.assert_allclose(best_iou(pred, gt), [[1.0, 0.5, 0.0]])


def test_label_ranks_break_ties_like_top_k():
    logits = np.array([[1.0, 3.0, 3.0, 0.0]])
    np.testing.assert_array_equal(label_ranks(logits, [1]), [0])
    np.testing.assert_array_equal(label_ranks(logits, [2]), [1])
    np.testing.assert_array_equal(label_ranks(logits, [3]), [3])


def test_dense_gt_boxes_accepts_ragged_lists():
    dense = dense_gt_boxes([np.array([[0, 0, 1, 1]]), np.array([[0, 0, 2, 2], [3, 3, 4, 4]])])
    assert dense.shape == (2, 2, 4)
    np.testing.assert_array_equal(dense[0, 1], [-1, -1, -1, -1])
    assert dense_gt_boxes([[0, 0, 1, 1], [2, 2, 3, 3]]).shape == (2, 1, 4)


def _batch():
    """Four images, 3 classes, two CAM thresholds (0.2, 0.5). Hand-made so that:
    image 0: top-1 right, box right at both thresholds;
    image 1: top-1 WRONG (label 2 ranked 2nd), box right at 0.2 only (GT-known yes, Top-1 no);
    image 2: top-1 right, box wrong at 0.2 (IoU 1/3), right at 0.5;
    image 3: label ranked last (3rd), box right at both.
    """
    logits = np.array(
        [[5.0, 1.0, 0.0], [3.0, 0.0, 2.0], [0.0, 4.0, 1.0], [2.0, 1.0, 0.0]], np.float32
    )
    labels = np.array([0, 2, 1, 2])
    gt = [
        np.array([[0, 0, 9, 9]]),
        np.array([[10, 10, 19, 19], [0, 0, 3, 3]]),  # two GT boxes
        np.array([[0, 0, 9, 9]]),
        np.array([[5, 5, 14, 14]]),
    ]
    boxes = np.array(
        [
            [[0, 0, 9, 9], [0, 0, 9, 9]],
            [[10, 10, 19, 19], [10, 10, 12, 12]],  # 9 / 100 at 0.5
            [[0, 0, 19, 14], [0, 0, 9, 9]],  # 100 / 300 at 0.2
            [[5, 5, 14, 14], [5, 5, 14, 14]],
        ]
    )
    return logits, boxes, labels, gt


def test_evaluator_golden_numbers():
    logits, boxes, labels, gt = _batch()
    ev = LocalizationEvaluator(cam_thresholds=(0.2, 0.5), fixed_threshold=0.2, top_k=2)
    ev.accumulate(logits, boxes, labels, gt)
    r = ev.compute()
    assert r["num_images"] == 4
    assert r["top1_cls"] == 50.0  # images 0, 2
    assert r["top5_cls"] == 75.0  # top-2: images 0, 1, 2
    # At 0.2: boxes right for images 0, 1, 3.
    assert r["gt_known_loc"] == 75.0
    assert r["top1_loc"] == 25.0  # image 0 only (image 1: GT-known right, top-1 wrong)
    assert r["top5_loc"] == 50.0  # images 0, 1 (image 3's label is not in the top 2)
    # At 0.5: images 0, 2, 3.
    assert r["curves"]["gt_known_loc"] == [75.0, 75.0]
    assert r["curves"]["top1_loc"] == [25.0, 50.0]
    # MaxBoxAcc: first best threshold at IoU 0.5.
    assert r["max_box_acc"] == 75.0 and r["max_box_acc_threshold"] == 0.2
    # IoU 0.3: image 2 at 0.2 has IoU 1/3 >= 0.3, so every image counts there.
    assert r["curves"]["box_acc"]["0.3"] == [100.0, 75.0]
    assert r["curves"]["box_acc"]["0.7"] == [75.0, 75.0]
    assert r["max_box_acc_v2"] is None


def test_evaluator_accumulates_over_batches_like_one_batch():
    logits, boxes, labels, gt = _batch()
    one = LocalizationEvaluator(cam_thresholds=(0.2, 0.5))
    one.accumulate(logits, boxes, labels, gt)
    two = LocalizationEvaluator(cam_thresholds=(0.2, 0.5))
    two.accumulate(logits[:1], boxes[:1], labels[:1], gt[:1])
    two.accumulate(logits[1:], boxes[1:], labels[1:], gt[1:])
    assert one.compute() == two.compute()
    two.reset()
    with pytest.raises(ValueError, match="Nothing accumulated"):
        two.compute()


def test_max_box_acc_v2_counts_any_component():
    # One image, GT box on the right; the largest component is on the left (IoU 0), a smaller
    # component matches the GT exactly: BoxAcc 0, BoxAccV2 100 at every delta.
    cam = np.zeros((1, 10, 20), np.float32)
    cam[0, 2:8, 0:8] = 1.0  # 48 px, largest
    cam[0, 3:7, 14:18] = 0.9  # 16 px, matches the GT box
    gt = np.array([[[14, 3, 17, 6]]])
    ev = LocalizationEvaluator(cam_thresholds=(0.5,))
    largest, every = cams_to_boxes(cam, (0.5,)), cams_to_boxes(cam, (0.5,), mode="all")
    ev.accumulate(np.array([[1.0, 0.0]]), largest, np.array([0]), gt, all_boxes=every)
    r = ev.compute()
    assert r["gt_known_loc"] == 0.0
    assert r["max_box_acc_v2"] == 100.0
    assert r["max_box_acc_v2_per_iou"] == {"0.3": 100.0, "0.5": 100.0, "0.7": 100.0}


def test_perfect_cams_give_100_percent():
    # CAMs that are exactly the object masks: every box is exact at every threshold in (0, 1].
    rng = np.random.default_rng(0)
    n, h, w = 16, 24, 20
    x0, y0 = rng.integers(0, 8, n), rng.integers(0, 8, n)
    x1, y1 = x0 + rng.integers(2, 10, n), y0 + rng.integers(2, 14, n)
    cams = np.zeros((n, h, w), np.float32)
    for i in range(n):
        cams[i, y0[i] : y1[i] + 1, x0[i] : x1[i] + 1] = 1.0
    gt = np.stack([x0, y0, x1, y1], 1)
    labels = rng.integers(0, 3, n)
    logits = np.eye(3)[labels] * 5.0
    ev = LocalizationEvaluator(cam_thresholds=(0.2, 0.5, 0.9))
    grid = ev.cam_thresholds
    every = cams_to_boxes(cams, grid, mode="all")
    ev.accumulate(logits, cams_to_boxes(cams, grid), labels, gt, all_boxes=every)
    r = ev.compute()
    assert r["top1_cls"] == r["gt_known_loc"] == r["top1_loc"] == r["top5_loc"] == 100.0
    assert r["max_box_acc"] == r["max_box_acc_v2"] == 100.0


def test_all_zero_cams_box_the_whole_image():
    # A flat CAM has no location: its box is the whole image, scored like any other box.
    cams = np.zeros((2, 10, 10), np.float32)
    gt = np.array([[0, 0, 9, 9], [0, 0, 4, 9]])  # whole image; half of it
    ev = LocalizationEvaluator(cam_thresholds=(0.2,))
    ev.accumulate(np.eye(2), cams_to_boxes(cams, (0.2,)), [0, 1], gt)
    assert ev.compute()["gt_known_loc"] == 100.0  # IoU 1 and IoU 0.5
    np.testing.assert_array_equal(cams_to_boxes(cams, (0.2,))[:, 0], [[0, 0, 9, 9]] * 2)


def test_fixed_box_baseline_uses_the_same_rules():
    gt = np.array([[0, 0, 63, 63], [0, 0, 31, 63], [0, 0, 20, 20]])
    base = FixedBoxBaseline([0, 0, 63, 63])
    base.accumulate(gt[:2])
    base.accumulate(gt[2:])
    r = base.compute()
    assert r["box"] == [0, 0, 63, 63]
    assert r["num_images"] == 3
    # IoU 1, 0.5, 441/4096: two of three at IoU 0.5, one at 0.7.
    assert r["gt_known_loc"] == pytest.approx(200 / 3)
    assert r["box_acc"]["0.7"] == pytest.approx(100 / 3)


def test_choose_fixed_box_fits_the_training_boxes():
    # Most boxes sit in the same place: the chosen box must hit them all.
    rng = np.random.default_rng(1)
    jitter = rng.integers(-1, 2, (50, 4))
    boxes = np.clip(np.array([10, 12, 40, 44]) + jitter, 0, 63)
    odd = np.array([[0, 0, 5, 5]] * 5)
    box = choose_fixed_box(np.concatenate([boxes, odd]), (64, 64))
    assert (box_iou(np.array(box), boxes) >= 0.5).all()
    base = FixedBoxBaseline(box)
    base.accumulate(np.concatenate([boxes, odd]))
    assert base.compute()["gt_known_loc"] == pytest.approx(100 * 50 / 55)


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(logits=np.zeros((4,))), "`logits`"),
        (dict(labels=np.array([0, 1, 2, 3])), "`labels`"),
        (dict(boxes=np.zeros((4, 3, 4))), "`boxes_per_threshold`"),
        (dict(gt=np.zeros((3, 4))), "`gt_boxes`"),
        (dict(logits=np.full((4, 3), np.nan)), "finite"),
    ],
)
def test_bad_inputs_raise(change, match):
    logits, boxes, labels, gt = _batch()
    args = dict(logits=logits, boxes=boxes, labels=labels, gt=gt)
    args.update(change)
    ev = LocalizationEvaluator(cam_thresholds=(0.2, 0.5))
    with pytest.raises(ValueError, match=match):
        ev.accumulate(args["logits"], args["boxes"], args["labels"], args["gt"])


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="`fixed_threshold`"):
        LocalizationEvaluator(cam_thresholds=(0.2, 0.5), fixed_threshold=0.3)
    with pytest.raises(ValueError, match="`cam_thresholds`"):
        LocalizationEvaluator(cam_thresholds=(1.2,))
    with pytest.raises(ValueError, match="`box`"):
        FixedBoxBaseline([5, 5, 4, 4])


def test_published_tiny_imagenet_baselines(tiny_imagenet_subset):
    # The data notes give 52.1% GT-known Loc for the whole image on Tiny ImageNet val, and
    # 57.9% for one box fitted on the train boxes: the IoU convention must reproduce both.
    import zipfile

    with zipfile.ZipFile(tiny_imagenet_subset) as z:
        train = [
            [int(v) for v in line.split("\t")[1:5]]
            for name in z.namelist()
            if name.endswith("_boxes.txt")
            for line in z.read(name).decode().splitlines()
        ]
        val_txt = z.read("tiny-imagenet-200/val/val_annotations.txt").decode()
    val = np.array([[int(v) for v in line.split("\t")[2:6]] for line in val_txt.splitlines()])
    whole = FixedBoxBaseline([0, 0, 63, 63])
    whole.accumulate(val)
    assert round(whole.compute()["gt_known_loc"], 1) == 52.1
    fitted = FixedBoxBaseline(choose_fixed_box(np.array(train), (64, 64)))
    fitted.accumulate(val)
    assert round(fitted.compute()["gt_known_loc"], 1) >= 57.9

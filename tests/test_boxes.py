"""Tests for hide_and_seek_tf.boxes.cams_to_boxes: exact parity with a SciPy reference
(`scipy.ndimage.label`, 8-connectivity) on thousands of random and structured maps, the
documented degenerate cases, and export in a SavedModel without Python or SciPy."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

import hide_and_seek_tf.boxes as boxes_module
from hide_and_seek_tf.boxes import cams_to_boxes

EIGHT = np.ones((3, 3), bool)


def reference_boxes(cams, thresholds, mode="largest", max_components=16):
    """Per map, per threshold: label `cam >= t * max` (float32), order components by
    (more pixels, earlier first raster pixel), box them inclusively; -1 rows when none."""
    cams = np.asarray(cams, np.float32)
    thr = np.asarray(thresholds, np.float32).reshape(-1)
    lead = cams.shape[:-2]
    out = []
    for cam in cams.reshape((-1,) + cams.shape[-2:]):
        peak = cam.max()
        per_t = []
        for t in thr:
            labels, count = ndimage.label(cam >= np.float32(t) * peak, EIGHT)
            comps = []
            if count:
                sizes = np.bincount(labels.ravel())[1:]
                index = np.arange(labels.size).reshape(labels.shape)
                first = ndimage.minimum(index, labels, np.arange(1, count + 1))
                for i, (sy, sx) in enumerate(ndimage.find_objects(labels)):
                    box = [sx.start, sy.start, sx.stop - 1, sy.stop - 1]
                    comps.append((-sizes[i], first[i], box))
                comps.sort(key=lambda c: (c[0], c[1]))
            if mode == "largest":
                per_t.append(comps[0][2] if comps else [-1] * 4)
            else:
                rows = [c[2] for c in comps[:max_components]]
                per_t.append(rows + [[-1] * 4] * (max_components - len(rows)))
        out.append(per_t)
    out = np.asarray(out, np.int32)
    return out.reshape(lead + out.shape[1:])


def _blobs(rng, n, h, w, max_blobs=4):
    """Smooth maps: sums of Gaussian bumps, some touching, some apart."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    k = rng.integers(1, max_blobs + 1, n)
    maps = np.zeros((n, h, w), np.float32)
    for j in range(max_blobs):
        cy = rng.uniform(0, h, (n, 1, 1))
        cx = rng.uniform(0, w, (n, 1, 1))
        s = rng.uniform(0.7, max(h, w) / 4, (n, 1, 1))
        a = rng.uniform(0.2, 1.0, (n, 1, 1)) * (j < k)[:, None, None]
        maps += a * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    return maps


def _structured(h, w):
    """Hand-built maps: diagonal-only contacts, equal-size ties, flat, empty, single pixels."""
    maps = []
    diag = np.zeros((h, w), np.float32)
    for i in range(min(h, w)):
        diag[i, i] = 1.0  # one component, only diagonal contacts
    maps.append(diag)
    anti = np.zeros((h, w), np.float32)
    for i in range(min(h, w)):
        anti[i, w - 1 - i] = 1.0  # anti-diagonal contacts
    maps.append(anti)
    checker = (np.add.outer(np.arange(h), np.arange(w)) % 2).astype(np.float32)
    maps.append(checker)  # 8-connected: one component; 4-connected would be many
    twins = np.zeros((h, w), np.float32)
    twins[1:3, 1:3] = 1.0
    twins[h - 3 : h - 1, w - 3 : w - 1] = 1.0  # two equal components: the earlier wins
    maps.append(twins)
    gap = np.zeros((h, w), np.float32)
    gap[:, : w // 2 - 1] = 0.8
    gap[:, w // 2 + 1 :] = 0.9  # two components split by a 2-px valley
    maps.append(gap)
    maps.append(np.zeros((h, w), np.float32))  # all zero: foreground everywhere
    maps.append(np.full((h, w), 0.37, np.float32))  # constant: foreground everywhere
    maps.append(np.full((h, w), -1.0, np.float32))  # negative max: empty foreground at t > 0
    neg = -np.linspace(1, 2, h * w, dtype=np.float32).reshape(h, w)
    maps.append(neg)  # negative ramp
    single = np.zeros((h, w), np.float32)
    single[h - 1, w - 1] = 1.0  # one pixel in the last corner
    maps.append(single)
    return np.stack(maps)


THRESHOLDS = np.linspace(0.0, 1.0, 11)


@pytest.mark.parametrize("mode", ["largest", "all"])
def test_parity_with_scipy_on_random_maps(mode):
    rng = np.random.default_rng(0)
    # Quantized noise: many ties, plateaus, diagonal-only contacts and tiny components.
    noise = np.round(rng.random((1200, 9, 13)) * 5).astype(np.float32) / 5
    blobs = _blobs(rng, 800, 24, 17)
    for cams in (noise, blobs):
        got = cams_to_boxes(cams, THRESHOLDS, mode=mode).numpy()
        np.testing.assert_array_equal(got, reference_boxes(cams, THRESHOLDS, mode))


@pytest.mark.parametrize("shape", [(8, 8), (5, 12), (12, 5), (1, 9), (9, 1), (1, 1)])
def test_parity_with_scipy_on_structured_maps(shape):
    cams = _structured(*shape)
    thresholds = (0.0, 0.2, 0.5, 0.85, 1.0)
    for mode in ("largest", "all"):
        got = cams_to_boxes(cams, thresholds, mode=mode, max_components=4).numpy()
        want = reference_boxes(cams, thresholds, mode, max_components=4)
        np.testing.assert_array_equal(got, want)


def test_parity_without_xla_matches_with_xla():
    # jit_compile=False is the route a SavedModel takes (plain TF ops, level-by-level buckets).
    rng = np.random.default_rng(1)
    cams = np.concatenate([np.round(rng.random((200, 10, 11)) * 7) / 7, _blobs(rng, 200, 10, 11)])
    for mode in ("largest", "all"):
        want = reference_boxes(cams, THRESHOLDS, mode)
        np.testing.assert_array_equal(
            cams_to_boxes(cams, THRESHOLDS, mode=mode, jit_compile=False).numpy(), want
        )
        np.testing.assert_array_equal(
            cams_to_boxes(cams, THRESHOLDS, mode=mode, jit_compile=True).numpy(), want
        )


def test_parity_when_the_level_table_does_not_fit(monkeypatch):
    # Forces the bucket route under XLA (taken for batches with very many basins).
    monkeypatch.setattr(boxes_module, "_MIN_TABLE_LIMIT", 0)
    monkeypatch.setattr(boxes_module, "_BOXES_FNS", {})
    rng = np.random.default_rng(2)
    cams = rng.random((64, 12, 12)).astype(np.float32)
    thresholds = np.linspace(0, 1, 40)
    got = cams_to_boxes(cams, thresholds, jit_compile=True).numpy()
    np.testing.assert_array_equal(got, reference_boxes(cams, thresholds))


def test_many_thresholds_and_duplicates():
    # More than 128 thresholds takes the binary-search level route; duplicates share a level.
    rng = np.random.default_rng(3)
    cams = _blobs(rng, 40, 16, 16)
    thresholds = np.concatenate([np.linspace(0, 1, 150), [0.5, 0.5, 0.0]])
    got = cams_to_boxes(cams, thresholds, mode="all", max_components=3).numpy()
    np.testing.assert_array_equal(got, reference_boxes(cams, thresholds, "all", 3))


def test_the_first_of_all_components_is_the_largest_box():
    # Evaluation takes "largest" from "all" (one component search per batch): same order and
    # tie-break, with ties made likely by a coarse random grid, and empty maps (max < 0) alike.
    rng = np.random.default_rng(5)
    cams = np.round(rng.random((48, 10, 10)), 1).astype(np.float32)
    cams[:4] = -1.0
    thresholds = np.linspace(0, 1, 21)
    largest = cams_to_boxes(cams, thresholds, mode="largest").numpy()
    every = cams_to_boxes(cams, thresholds, mode="all", max_components=4).numpy()
    np.testing.assert_array_equal(every[..., 0, :], largest)


def test_threshold_order_is_kept():
    rng = np.random.default_rng(4)
    cams = _blobs(rng, 20, 16, 16)
    forward = cams_to_boxes(cams, (0.1, 0.4, 0.7)).numpy()
    backward = cams_to_boxes(cams, (0.7, 0.4, 0.1)).numpy()
    np.testing.assert_array_equal(forward, backward[:, ::-1])


def test_documented_example_and_degenerate_maps():
    cam = np.zeros((6, 8), np.float32)
    cam[1:3, 2:5] = 1.0
    cam[4, 7] = 0.9
    assert cams_to_boxes(cam, thresholds=(0.5,)).numpy().tolist() == [[2, 1, 4, 2]]
    # Largest vs all: the single pixel is the second component.
    all_boxes = cams_to_boxes(cam, (0.5,), mode="all", max_components=3).numpy()
    assert all_boxes.tolist() == [[[2, 1, 4, 2], [7, 4, 7, 4], [-1, -1, -1, -1]]]
    # A flat map is foreground everywhere: the whole image, never NaN or garbage.
    flat = cams_to_boxes(np.zeros((5, 7)), (0.0, 0.2, 1.0)).numpy()
    assert flat.tolist() == [[0, 0, 6, 4]] * 3
    # Max < 0: empty foreground at t > 0 gives the "no box" row.
    neg = cams_to_boxes(np.full((3, 3), -2.0), (0.5,)).numpy()
    assert neg.tolist() == [[-1, -1, -1, -1]]


def test_batch_shapes():
    rng = np.random.default_rng(5)
    cams = _blobs(rng, 6, 10, 12).reshape(2, 3, 10, 12)
    assert cams_to_boxes(cams, (0.2, 0.5)).shape == (2, 3, 2, 4)
    assert cams_to_boxes(cams, 0.2, mode="all", max_components=5).shape == (2, 3, 1, 5, 4)
    assert cams_to_boxes(cams[0, 0], 0.2).shape == (1, 4)
    assert cams_to_boxes(np.zeros((0, 10, 12)), (0.2, 0.5)).shape == (0, 2, 4)
    assert cams_to_boxes(cams, 0.2).dtype == tf.int32


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(mode="biggest"), "`mode`"),
        (dict(thresholds=(0.2, 1.5)), "`thresholds`"),
        (dict(thresholds=()), "`thresholds`"),
        (dict(thresholds=(float("nan"),)), "`thresholds`"),
        (dict(max_components=0), "`max_components`"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        cams_to_boxes(np.zeros((4, 4)), **kwargs)


def test_bad_cams():
    with pytest.raises(ValueError, match="`cams`"):
        cams_to_boxes(np.zeros((4,)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="finite"):
        cams_to_boxes(np.array([[0.0, np.nan], [1.0, 0.5]]))


def test_saved_model_needs_no_python(tmp_path):
    class Boxer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 12, 10], tf.float32)])
        def largest(self, cams):
            return cams_to_boxes(cams, (0.2, 0.5))

        @tf.function(input_signature=[tf.TensorSpec([None, 12, 10], tf.float32)])
        def all(self, cams):
            return cams_to_boxes(cams, (0.2, 0.5), mode="all", max_components=4)

    path = str(tmp_path / "boxer")
    tf.saved_model.save(Boxer(), path)
    graph_ops = set()
    module = Boxer()
    for fn in (module.largest, module.all):
        graph = fn.get_concrete_function().graph
        graph_ops |= {op.type for op in graph.get_operations()}
        for f in graph.as_graph_def().library.function:
            graph_ops |= {node.op for node in f.node_def}
            assert "_XlaMustCompile" not in f.attr
    assert not graph_ops & {"PyFunc", "EagerPyFunc", "PyFuncStateless"}
    loaded = tf.saved_model.load(path)
    rng = np.random.default_rng(6)
    cams = np.concatenate([_blobs(rng, 30, 12, 10), np.round(rng.random((30, 12, 10)) * 4) / 4])
    cams = cams.astype(np.float32)
    np.testing.assert_array_equal(
        loaded.largest(cams).numpy(), reference_boxes(cams, (0.2, 0.5), "largest")
    )
    np.testing.assert_array_equal(
        loaded.all(cams).numpy(), reference_boxes(cams, (0.2, 0.5), "all", 4)
    )


@pytest.mark.parametrize("threshold", [0.0, 0.2, 0.5, 0.85, 1.0])
def test_one_threshold_route_matches_scipy(threshold):
    # mode="largest" with one threshold under XLA takes its own static-shape route.
    rng = np.random.default_rng(7)
    noise = np.round(rng.random((400, 9, 13)) * 5).astype(np.float32) / 5
    maps = [noise, _blobs(rng, 300, 24, 17)]
    maps += [_structured(*shape) for shape in [(8, 8), (5, 12), (12, 5), (1, 9), (9, 1), (1, 1)]]
    traced = tf.function(lambda c: cams_to_boxes(c, threshold, jit_compile=True))
    for cams in maps:
        want = reference_boxes(cams, [threshold])
        np.testing.assert_array_equal(cams_to_boxes(cams, threshold).numpy(), want)
        np.testing.assert_array_equal(traced(tf.constant(cams, tf.float32)).numpy(), want)
        # The general (level) route gives the same boxes.
        np.testing.assert_array_equal(
            cams_to_boxes(cams, threshold, jit_compile=False).numpy(), want
        )


def test_box_search_graph_passes_grapplers_layout_optimizer_cleanly():
    """TensorFlow logs "layout failed" (an E line at every first call) when the optimizer meets
    a pattern it cannot rewrite; the box search must not contain one."""
    code = (
        "import numpy as np\n"
        "from hide_and_seek_tf.boxes import cams_to_boxes\n"
        "cams = np.random.default_rng(0).random((4, 12, 12), np.float32)\n"
        "for mode in ('largest', 'all'):\n"
        "    for jit in (True, False):\n"
        "        cams_to_boxes(cams, tuple(np.arange(100) / 100), mode=mode, jit_compile=jit)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "layout failed" not in done.stderr, done.stderr

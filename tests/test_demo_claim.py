"""The claim the demo makes, at the demo's full budget (slow: about 1.5 minutes on 2 cores)."""

import pytest

from hide_and_seek_tf.side_by_side import run_demo


@pytest.mark.slow
def test_hide_and_seek_localizes_better_than_gap_on_synthetic_data(tmp_path):
    results = run_demo(tmp_path / "demo", seed=0, progress=False)
    gap, has = results["GAP"]["metrics"], results["Hide-and-Seek"]["metrics"]
    # The evidence bar: at least 10 points GT-known Loc, at most 2 points of accuracy.
    assert has["gt_known_loc"] >= gap["gt_known_loc"] + 10
    assert has["top1_cls"] >= gap["top1_cls"] - 2
    # And better than the best fixed box, i.e. real localization skill.
    assert has["gt_known_loc"] > results["GAP"]["baselines"]["train_box"]["gt_known_loc"]

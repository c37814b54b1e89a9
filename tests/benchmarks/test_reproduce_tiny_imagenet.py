"""Smoke test of the Tiny ImageNet study driver on a generated Tiny-ImageNet-layout zip.

GAP and HaS-16 (small_gap, seed 0) at budgets of 1 and 2 epochs through the real script: the run
layout, the evaluations (threshold chosen on the held-out train images, never on val), the summary
with the paired differences and the plot, skipping of finished work, and refusals.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from hide_and_seek_tf.training import TrainConfig

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "reproduce_tiny_imagenet.py"
WNIDS = ("n01000001", "n02000002", "n03000003")
TRAIN_PER_CLASS = 14  # the last 10 by index are the holdout, so at most 4 may be trained on
VAL_PER_CLASS = 6
RUNS = ("e1/gap_s0", "e1/has16_s0", "e2/gap_s0", "e2/has16_s0")


def _load_script():
    spec = importlib.util.spec_from_file_location("reproduce_tiny_imagenet", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


study = _load_script()


def _box(rng: np.random.Generator) -> list[int]:
    x0, y0 = rng.integers(0, 24, size=2)
    x1, y1 = rng.integers(40, 64, size=2)
    return [int(x0), int(y0), int(x1), int(y1)]


def _args(data: Path, root: Path, *extra: str) -> list[str]:
    return [
        "--data", str(data), "--root", str(root), "--epochs", "1,2", "--configs", "gap,has16",
        "--seeds", "0", "--precision-runs", "", "--classes", "3", "--model", "small_gap",
        "--batch-size", "4", "--eval-batch-size", "6", "--occlusion", "0,0.5", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def done_study(tmp_path_factory, fake_tiny_imagenet):
    """The four-run study, run once for the module: (data, root, stdout of the first call)."""
    tmp = tmp_path_factory.mktemp("study")
    data = fake_tiny_imagenet(  # 3 classes x 14 train images and 3 x 6 val images, random boxes
        tmp,
        wnids=WNIDS,
        words=None,
        train_indices=range(TRAIN_PER_CLASS),
        num_val=VAL_PER_CLASS * len(WNIDS),
        gray=(),
        train_boxes=lambda rng, c, i: _box(rng),
        val_boxes=lambda rng, i: _box(rng),
        quality=90,
    )
    root = tmp / "runs"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert study.main(_args(data, root)) == 0
    return data, root, out.getvalue()


def _metrics(root: Path, run: str) -> dict:
    return json.loads((root / run / "eval" / "metrics.json").read_text())


def test_the_driver_trains_the_study_configs():
    """The configs the driver trains are exactly the study's (so it resumes or skips those runs)."""
    args = study.build_parser().parse_args(["--data", "/data/t.zip", "--root", "/study"])
    expected = TrainConfig(
        data="tiny-imagenet:/data/t.zip", classes=10, train_split="train_minus_holdout",
        model="alexnet_gap_64", pooling="avg", hide_patch_sizes=(8, 16, 32, 0), hide_prob=0.5,
        epochs=32, batch_size=64, schedule="paper", seed=2, mixed_precision=False,
        augment="flip", validation=False, run_dir="/study/e32/hasmix_s2",
    )  # fmt: skip
    assert study.train_config(args, 32, "hasmix", 2) == expected
    pair = study.train_config(args, 16, "gap", 0, "bfloat16")
    assert pair.mixed_precision == "bfloat16" and pair.run_dir == "/study/e16/gap_s0_bfloat16"
    names = [c.run_dir for c in study.planned_runs(args)]
    assert len(names) == 2 * 3 * 3 + 1 and names[-1] == "/study/e16/gap_s0_bfloat16"


def test_study_writes_runs_evaluations_summary_and_plot(done_study):
    _, root, out = done_study
    for run in RUNS:
        assert (root / run / "model.keras").is_file()
        for name in ("metrics.json", "per_image.csv", "cam_contrast.png"):
            assert (root / run / "eval" / name).stat().st_size > 0, (run, name)
        assert f"{run}: todo" in out
    for name in (study.SUMMARY_JSON, study.SUMMARY_MD, study.PLOT_PNG):
        assert (root / name).stat().st_size > 0, name
    timing = [json.loads(line) for line in (root / study.TIMING_FILE).read_text().splitlines()]
    assert sorted((t["run"], t.get("phase", "train")) for t in timing) == sorted(
        (run, phase) for run in RUNS for phase in ("train", "evaluate")
    )
    table = (root / study.SUMMARY_MD).read_text()
    assert "### 1 epochs" in table and "### 2 epochs" in table
    for text in ("| GAP |", "| HaS-16 |", "HaS-16 minus GAP, paired by seed", "(n = ", "f = 0.5"):
        assert text in table, text
    assert table in out  # the tables are printed at the end


def test_summary_pairs_has_minus_gap_by_seed(done_study):
    _, root, _ = done_study
    summary = json.loads((root / study.SUMMARY_JSON).read_text())
    for budget in ("e1", "e2"):
        paired = summary[budget]["paired_minus_gap"]["has16"]
        has, gap = _metrics(root, f"{budget}/has16_s0"), _metrics(root, f"{budget}/gap_s0")
        expected = has["threshold_choice"]["max_box_acc"] - gap["threshold_choice"]["max_box_acc"]
        assert paired["max_box_acc"]["per_seed"] == [pytest.approx(expected)]
        assert paired["top1_cls"]["seeds"] == [0]
        bins = summary[budget]["configs"]["gap"]["bins"]
        assert sum(b["count"]["mean"] for b in bins) == 3 * VAL_PER_CLASS


def test_cam_threshold_is_chosen_on_the_holdout_never_on_val(done_study):
    _, root, _ = done_study
    for run in RUNS:
        result = _metrics(root, run)
        choice = result["threshold_choice"]
        assert (choice["chosen_on"], choice["reported_on"]) == ("train_holdout", "val")
        assert choice["chosen_on_num_images"] == 3 * 10 and result["data"]["num_images"] == 18
        held = choice["chosen_on_curves"]["box_acc"]["0.5"]
        grid = result["metrics"]["curves"]["cam_thresholds"]
        assert choice["tau"] == grid[held.index(max(held))]
        assert result["metrics"]["cam_threshold"] == 0.2  # the paper's, for GT-known Loc
        assert result["occlusion"]["fractions"] == [0.0, 0.5]


def test_a_second_call_skips_finished_work_and_redoes_a_missing_evaluation(done_study, capsys):
    data, root, _ = done_study
    models = {run: (root / run / "model.keras").stat().st_mtime_ns for run in RUNS}
    kept = (root / "e2/has16_s0/eval/metrics.json").stat().st_mtime_ns
    (root / "e1/gap_s0/eval/metrics.json").unlink()
    assert study.main(_args(data, root)) == 0
    out = capsys.readouterr().out
    assert "e1/gap_s0: trained" in out and "e2/has16_s0: evaluated" in out
    assert "[e1/gap_s0] evaluating" in out and "training" not in out
    assert {run: (root / run / "model.keras").stat().st_mtime_ns for run in RUNS} == models
    assert (root / "e2/has16_s0/eval/metrics.json").stat().st_mtime_ns == kept
    assert (root / "e1/gap_s0/eval/metrics.json").is_file()


def test_evaluate_only_and_summary_only_never_train(done_study, capsys):
    data, root, _ = done_study
    assert study.main(_args(data, root, "--evaluate-only", "--epochs", "1,3")) == 0
    assert study.main(_args(data, root, "--summary-only", "--epochs", "1,3")) == 0
    out = capsys.readouterr().out
    assert "e3/gap_s0: todo" in out and "training" not in out and "evaluating" not in out
    assert not (root / "e3").exists()
    assert "### 3 epochs\n\nNo evaluated runs." in out


def test_a_partial_run_is_resumed_by_training(done_study, tmp_path, capsys):
    data, root, _ = done_study
    (tmp_path / "e1" / "gap_s0").mkdir(parents=True)
    for name in ("config.json", "dataset_mean.json", "history.csv"):
        shutil.copy(root / "e1/gap_s0" / name, tmp_path / "e1/gap_s0" / name)
    args = _args(data, tmp_path, "--epochs", "1", "--configs", "gap")
    assert study.main(args) == 0
    out = capsys.readouterr().out
    assert "e1/gap_s0: partial" in out and "[e1/gap_s0] training (partial)" in out
    assert (tmp_path / "e1/gap_s0/eval/metrics.json").is_file()


def test_a_run_trained_with_other_settings_is_refused(done_study, capsys):
    data, root, _ = done_study
    with pytest.raises(SystemExit):
        study.main(_args(data, root, "--batch-size", "2", "--status"))
    assert "batch_size: saved 4, study 2" in capsys.readouterr().err


def test_a_budget_whose_runs_are_gone_comes_from_the_stored_summary(done_study, tmp_path, capsys):
    data, root, _ = done_study
    assert study.main(_args(data, root, "--summary-only")) == 0  # budgets 1 and 2
    computed = json.loads((root / study.SUMMARY_JSON).read_text())
    stored = {**computed, "e2": {**computed["e2"], "paired_minus_gap": {}}}  # an older record
    stored_path = tmp_path / "stored.json"
    stored_path.write_text(json.dumps(stored))
    new_root = tmp_path / "later"
    shutil.copytree(root / "e2", new_root / "e2")  # the 1-epoch runs are gone, the 2-epoch kept
    args = _args(data, new_root, "--summary-only", "--stored-summary", str(stored_path))
    assert study.main(args) == 0
    merged = json.loads((new_root / study.SUMMARY_JSON).read_text())
    assert merged["e1"] == stored["e1"]  # gone: taken from the record
    assert merged["e2"]["paired_minus_gap"] == computed["e2"]["paired_minus_gap"]  # on disk: redone
    out = capsys.readouterr().out
    assert "### 1 epochs\n\nNo evaluated runs." not in out and "HaS-16 minus GAP" in out
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(SystemExit):
        study.main(
            _args(data, new_root, "--summary-only", "--stored-summary", str(tmp_path / "bad.json"))
        )
    assert "`--stored-summary` is not a summary.json" in capsys.readouterr().err


def test_the_tables_are_spliced_between_the_markers(done_study, tmp_path, capsys):
    data, root, _ = done_study
    doc = tmp_path / "results.md"
    doc.write_text(
        "# Results\nbefore\n<!-- tiny-imagenet-study -->\nSTALE TABLES\n<!-- /tiny-imagenet-study -->\nafter\n"
    )
    assert study.main(_args(data, root, "--summary-only", "--splice-into", str(doc))) == 0
    text = doc.read_text()
    assert text.startswith("# Results\nbefore\n<!-- tiny-imagenet-study -->\n### 1 epochs")
    assert text.endswith("<!-- /tiny-imagenet-study -->\nafter\n") and "STALE TABLES" not in text
    assert (root / study.SUMMARY_MD).read_text() in text
    doc.write_text("no markers")
    with pytest.raises(SystemExit):
        study.main(_args(data, root, "--summary-only", "--splice-into", str(doc)))
    assert "has no <!-- /tiny-imagenet-study --> marker" in capsys.readouterr().err
    assert doc.read_text() == "no markers"


def test_a_stored_summary_older_than_the_top5_column_still_renders(tmp_path, capsys):
    # docs/results.md splices the 10-class study from this record, written before top-5 existed.
    stored = SCRIPT.parents[1] / "docs" / "study" / "tiny_imagenet_summary.json"
    if not stored.is_file():
        pytest.skip("no stored 10-class summary")
    absent = tmp_path / "absent.zip"  # a summary needs no data (CI has none)
    args = ["--root", str(tmp_path), "--data", str(absent), "--epochs", "16,32", "--summary-only"]
    assert study.main([*args, "--stored-summary", str(stored)]) == 0
    lines = (tmp_path / study.SUMMARY_MD).read_text().splitlines()
    header = next(line for line in lines if line.startswith("| model | seeds |"))
    gap = next(line for line in lines if line.startswith("| GAP |"))
    top5 = [c.strip() for c in header.split("|")].index("top-5 cls")
    assert [c.strip() for c in gap.split("|")][top5] == "-"  # missing, not invented

"""Smoke test of the Tiny ImageNet study script on a generated Tiny-ImageNet-layout zip.

Two tiny runs (small_gap, one epoch) through the real script: summary files, resumability, and that
the CAM threshold is chosen on the held-out train images, never on val.
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

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "reproduce_tiny_imagenet.py"
WNIDS = ("n01000001", "n02000002", "n03000003")
TRAIN_PER_CLASS = 14  # the last 10 by index are the holdout, so at most 4 may be trained on
VAL_PER_CLASS = 6
RUNS = ("gap_s0", "has16_s0")


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
        "--data", str(data), "--root", str(root), "--only", ",".join(RUNS),
        "--classes", "3", "--max-per-class", "4", "--epochs", "1", "--batch-size", "4",
        "--model", "small_gap", "--eval-batch-size", "6", "--threshold-step", "0.25", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def done_study(tmp_path_factory, fake_tiny_imagenet):
    """The two-run study, run once for the module: (data, root, stdout of the first call)."""
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
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HIDE_AND_SEEK_CACHE", str(tmp / "cache"))  # dataset means: not in ~/.cache
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert study.main(_args(data, root)) == 0
        yield data, root, out.getvalue()


def _eval(root: Path, run: str) -> dict:
    return json.loads((root / run / study.EVAL_FILE).read_text())


def test_study_writes_runs_summary_tables_and_plots(done_study):
    _, root, out = done_study
    for run in RUNS:
        assert (root / run / "model.keras").is_file()
        assert (root / run / study.EVAL_FILE).is_file()
        timing = json.loads((root / run / study.TIMING_FILE).read_text())
        assert timing["train_wall_s"] > 0 and timing["sessions"][-1]["finished"]
    for name in (study.SUMMARY_JSON, study.SUMMARY_MD, study.OCCLUSION_PNG, study.THRESHOLDS_PNG):
        assert (root / name).stat().st_size > 0, name
    summary = json.loads((root / study.SUMMARY_JSON).read_text())
    assert set(summary["runs"]) == set(RUNS)
    assert set(summary["configs"]) == {"gap", "has16"}
    table = (root / study.SUMMARY_MD).read_text()
    assert "| GAP |" in table and "| HaS-16 |" in table and "MaxBoxAccV2" in table
    assert table in out  # the table is printed at the end
    for run in RUNS:
        result = _eval(root, run)
        for value in (*result["paper"].values(), *result["occlusion"]["top1_cls"]):
            assert 0.0 <= value <= 100.0  # percentages (and the 0.2 threshold)
        # f = 0 is the unoccluded image: the same accuracy as the clean evaluation.
        assert result["occlusion"]["top1_cls"][0] == pytest.approx(result["val"]["top1_cls"])


def test_baselines_use_the_same_val_images_and_a_box_fitted_on_train(done_study):
    _, root, _ = done_study
    boxes = json.loads((root / study.BASELINES_FILE).read_text())["boxes"]
    assert set(boxes) == set(study.BASELINE_ORDER)
    val_images = _eval(root, "gap_s0")["val"]["num_images"]
    for baseline in boxes.values():
        assert baseline["val"]["num_images"] == val_images == 3 * VAL_PER_CLASS
    # The whole image contains every box: it scores at least as well at IoU 0.3 as at 0.7.
    whole = boxes["whole image"]["val"]["box_acc"]
    assert whole["0.3"] >= whole["0.5"] >= whole["0.7"]
    fitted = boxes["fixed box chosen on train"]
    assert fitted["box"] == _eval(root, "gap_s0")["val"]["fixed_box"]["box"]


def test_cam_threshold_is_chosen_on_the_holdout_never_on_val(done_study):
    _, root, _ = done_study
    for run in RUNS:
        result = _eval(root, run)
        provenance = result["provenance"]
        assert provenance["threshold_chosen_on"] == "train_holdout"
        assert provenance["holdout_images_in_training"] == 0
        assert (provenance["num_holdout"], provenance["num_val"]) == (3 * 10, 3 * VAL_PER_CLASS)
        holdout, val = result["holdout"]["curves"], result["val"]["curves"]
        chosen = int(np.argmax(holdout["box_acc"]["0.5"]))
        assert result["choe"]["tau"] == pytest.approx(holdout["cam_thresholds"][chosen])
        assert result["choe"]["max_box_acc"] == pytest.approx(val["box_acc"]["0.5"][chosen])
        paper = val["cam_thresholds"].index(pytest.approx(0.2))
        assert result["paper"]["gt_known_loc"] == pytest.approx(val["box_acc"]["0.5"][paper])


def _curves(box_acc_05: list[float], any_box: list[float], top1_loc: list[float]) -> dict:
    grid = [0.0, 0.2, 0.25, 0.5, 0.75]
    flat = [0.0] * len(grid)
    return {
        "curves": {
            "cam_thresholds": grid,
            "box_acc": {"0.3": flat, "0.5": box_acc_05, "0.7": flat},
            "box_acc_v2": {"0.3": any_box, "0.5": any_box, "0.7": any_box},
            "top1_loc": top1_loc,
        }
    }


def test_choice_follows_holdout_curves_when_val_curves_disagree():
    settings = study.StudySettings(data="x", root="y")
    holdout = _curves([10, 90, 20, 10, 10], [0, 0, 0, 50, 0], [0] * 5)
    val = _curves([10, 30, 20, 10, 99], [70, 0, 0, 40, 0], [0, 25, 0, 0, 50])
    report = study.choose_and_report(holdout, val, settings)
    assert report["tau"] == pytest.approx(0.2)
    assert report["max_box_acc"] == pytest.approx(30)  # val read at the holdout's threshold
    assert report["top1_loc_at_tau"] == pytest.approx(25)
    assert report["max_box_acc_v2"] == pytest.approx(40)
    assert report["val_oracle_max_box_acc"] == pytest.approx(99)  # kept apart, labelled


def test_second_call_skips_complete_runs_and_redoes_only_a_missing_evaluation(done_study, capsys):
    data, root, _ = done_study
    models = {run: (root / run / "model.keras").stat().st_mtime_ns for run in RUNS}
    kept_eval = (root / "has16_s0" / study.EVAL_FILE).stat().st_mtime_ns
    (root / "gap_s0" / study.EVAL_FILE).unlink()
    assert study.run_status(study.RUNS_BY_NAME["gap_s0"], _settings(data, root)) == "evaluate"
    assert study.main(_args(data, root)) == 0
    out = capsys.readouterr().out
    assert "[has16_s0] skipped (complete)" in out
    assert "[gap_s0] evaluated" in out and "[gap_s0] training" not in out
    assert {run: (root / run / "model.keras").stat().st_mtime_ns for run in RUNS} == models
    assert (root / "has16_s0" / study.EVAL_FILE).stat().st_mtime_ns == kept_eval
    assert (root / "gap_s0" / study.EVAL_FILE).is_file()


def _settings(data: Path, root: Path):
    return study.StudySettings(
        data=str(data.resolve()), root=str(root), classes=3, max_per_class=4, epochs=1,
        batch_size=4, model="small_gap", eval_batch_size=6, threshold_step=0.25,
    )  # fmt: skip


def test_a_run_with_a_config_but_no_model_is_resumed_not_refused(done_study, tmp_path):
    data, root, _ = done_study
    settings = _settings(data, tmp_path)
    run = study.RUNS_BY_NAME["gap_s0"]
    (tmp_path / "gap_s0").mkdir()
    assert study.run_status(run, settings) == "todo"
    for name in ("config.json", "dataset_mean.json", "history.csv", study.TIMING_FILE):
        shutil.copy(root / "gap_s0" / name, tmp_path / "gap_s0" / name)
    assert study.run_status(run, settings) == "partial"
    counts = study.data_counts(settings)
    did = study.ensure_run(run, settings, counts)
    assert did.startswith("resumed, evaluated")
    assert study.run_status(run, settings) == "done"
    timing = json.loads((tmp_path / "gap_s0" / study.TIMING_FILE).read_text())
    assert len(timing["sessions"]) == 2  # the copied session and this one, summed
    assert timing["train_wall_s"] == pytest.approx(sum(s["wall_s"] for s in timing["sessions"]))


def test_changed_training_settings_are_refused(done_study, capsys):
    data, root, _ = done_study
    with pytest.raises(SystemExit):
        study.main(_args(data, root, "--epochs", "2"))
    assert "epochs: saved 1, now 2" in capsys.readouterr().err


def test_training_on_holdout_images_is_refused(done_study, tmp_path, capsys):
    data, _, _ = done_study
    with pytest.raises(SystemExit):
        study.main(_args(data, tmp_path / "r", "--max-per-class", "5", "--dry-run"))
    err = capsys.readouterr().err
    assert "`max_per_class`" in err and "at most 4 per class" in err and "max_per_class=5" in err
    assert not (tmp_path / "r").exists()


def test_dry_run_prints_the_plan_and_writes_nothing(done_study, tmp_path, capsys):
    data, _, _ = done_study
    args = _args(data, tmp_path / "fresh", "--dry-run", "--rate", "100")
    args[args.index("--only") + 1] = ",".join(run.name for run in study.STUDY_RUNS)
    assert study.main(args) == 0
    out = capsys.readouterr().out
    for run in study.STUDY_RUNS:
        assert run.name in out
    assert "Estimated time left" in out and "100 images/s" in out
    assert not (tmp_path / "fresh").exists()

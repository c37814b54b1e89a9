"""CAM files both ways: `--save-cams DIR` then `--cams DIR` gives the same localization metrics,
under both protocols; malformed files and ids are refused by name."""

import json

import numpy as np
import pytest

from hide_and_seek_tf.cli import evaluate
from hide_and_seek_tf.evaluation import evaluate_run
from hide_and_seek_tf.evaluation.cam_files import CamFiles
from tests.test_evaluation import _write_run

# Synthetic images are rendered at the size asked for: 48, the synthetic default that a CAM
# folder (no model) loads them at, so both evaluations see the same ground truth.
FAST = dict(num_images=10, batch_size=4, baseline_images=16, progress=False, num_plot=2)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return _write_run(tmp_path_factory.mktemp("runs") / "cams", size=48)


def _localization(result):
    m = dict(result["metrics"])
    for key in ("top1_cls", "top5_cls", "top1_loc", "top5_loc"):
        m.pop(key)
    m["curves"] = {k: v for k, v in m["curves"].items() if k not in ("top1_loc", "top5_loc")}
    bins = [
        {k: row[k] for k in ("count", "gt_known_loc", "max_box_acc", "max_box_acc_v2")}
        for row in result["size_breakdown"]["bins"]
    ]
    return m, bins, result["cam_contrast"]


def test_wsolevaluation_round_trip_through_the_command_line(run_dir, tmp_path):
    cams = tmp_path / "cams"
    common = ["--split", "val", "--num-images", "10", "--batch-size", "4", "--no-progress"]
    common += ["--protocol", "wsolevaluation"]
    assert evaluate.main(["--run-dir", str(run_dir), "--save-cams", str(cams), *common]) == 0
    saved = sorted(p.relative_to(cams).as_posix() for p in cams.rglob("*.npy"))
    assert saved == [f"synthetic/val/{i:06d}.npy" for i in range(10)]  # <image_id>.npy
    cam = np.load(cams / saved[0])
    assert cam.dtype == np.float32 and cam.shape == (224, 224)
    assert cam.min() == 0.0 and cam.max() == 1.0
    first = json.loads((run_dir / "eval" / "metrics.json").read_text())
    fitted = first["baselines"]["train_box"]
    second = evaluate_run(
        None,
        cams=cams,
        data="synthetic",
        protocol="wsolevaluation",
        out_dir=tmp_path / "from_files",
        fixed_box=(fitted["box"], fitted["fitted_on_train_images"]),  # fitted once
        **FAST,
    )
    assert first["protocol"]["name"] == second["protocol"]["name"] == "wsolevaluation"
    assert first["protocol"]["map_size"] == [224, 224]
    assert _localization(first) == _localization(second)
    assert second["metrics"]["top1_cls"] is None and second["model"]["cam_files"] == str(cams)


def test_paper_round_trip(run_dir, tmp_path):
    first = evaluate_run(
        run_dir, sweep=True, save_cams=tmp_path / "c", out_dir=tmp_path / "a", **FAST
    )
    fitted = first["baselines"]["train_box"]
    second = evaluate_run(
        None,
        cams=tmp_path / "c",
        data="synthetic",
        sweep=True,
        out_dir=tmp_path / "b",
        fixed_box=(fitted["box"], fitted["fitted_on_train_images"]),
        **FAST,
    )
    assert first["protocol"]["map_size"] == [48, 48]
    assert _localization(first) == _localization(second)
    for name in ("whole_image", "train_box"):  # the baselines, less the model's classes
        assert first["baselines"][name]["gt_known_loc"] == second["baselines"][name]["gt_known_loc"]
    assert first["metrics"]["max_box_acc_v2"] is not None


def test_protocols_differ_on_the_same_model(run_dir, tmp_path):
    paper = evaluate_run(run_dir, sweep=True, out_dir=tmp_path / "p", **FAST)
    other = evaluate_run(run_dir, protocol="wsolevaluation", out_dir=tmp_path / "w", **FAST)
    assert other["baselines"]["whole_image"]["box"] == [0, 0, 223, 223]
    assert paper["baselines"]["whole_image"]["box"] == [0, 0, 47, 47]
    assert len(other["protocol"]["cam_thresholds"]) == 100  # np.arange(0, 1, 0.01)
    assert other["protocol"]["cam_thresholds"][35] == 0.35000000000000003


def test_bad_cam_files_are_named(tmp_path):
    files = CamFiles(tmp_path)
    with pytest.raises(ValueError, match="image_id='../x'"):
        files.write(["../x"], np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="image_id=''"):
        files.path("")
    with pytest.raises(ValueError, match="No CAM file for image 'a/b.jpg'"):
        files.read(["a/b.jpg"])
    files.write(["a/b.jpg"], np.full((1, 4, 4), 0.5))
    assert (tmp_path / "a" / "b.jpg.npy").is_file()
    np.save(tmp_path / "nan.npy", np.full((4, 4), np.nan))
    np.save(tmp_path / "big.npy", np.full((4, 4), 2.0))
    np.save(tmp_path / "cube.npy", np.zeros((2, 4, 4)))
    for name, problem in (("nan", "NaN"), ("big", r"values in \[2, 2\]"), ("cube", "a 3-D")):
        with pytest.raises(ValueError, match=f"{name}.npy .*Received: {problem}"):
            files.read([name])
    assert not [p for p in tmp_path.rglob(".tmp-*")]


def test_cams_without_data_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        evaluate.parse_args(["--cams", str(tmp_path)])
    with pytest.raises(ValueError, match="`cams` needs `data`"):
        evaluate_run(None, cams=tmp_path)

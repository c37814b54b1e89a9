"""evaluate.py against the outside world: an interrupted evaluation leaves the previous one whole,
and user errors are one line naming the argument, never a wrong guess."""

import json

import pytest

from hide_and_seek_tf import plotting
from hide_and_seek_tf.cli import evaluate as evaluate_cli
from hide_and_seek_tf.evaluation import evaluate_run
from tests.test_evaluation import FAST, _write_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return _write_run(tmp_path_factory.mktemp("runs") / "demo")


def test_an_interrupted_evaluation_leaves_the_previous_one_whole(run_dir, monkeypatch):
    evaluate_run(run_dir, **FAST)
    eval_dir = run_dir / "eval"
    before = {p.name: p.read_bytes() for p in eval_dir.iterdir()}
    assert json.loads(before["metrics.json"])["data"]["num_images"] == 12

    def killed(*args, **kwargs):  # dies after per_image.csv and thresholds.csv are written
        raise KeyboardInterrupt

    monkeypatch.setattr(plotting, "save_figure", killed)
    with pytest.raises(KeyboardInterrupt):
        evaluate_run(run_dir, **{**FAST, "num_images": 6})
    assert {p.name: p.read_bytes() for p in eval_dir.iterdir()} == before
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--thresholds", "2"], "--thresholds 2"),
        (["--thresholds", "0.2", "-0.1"], "--thresholds"),
        (["--fixed-threshold", "1.5"], "--fixed-threshold 1.5"),
        (["--preprocessing", "caffe"], "--preprocessing caffe"),
    ],
)
def test_cli_user_errors_are_one_line_naming_the_argument(run_dir, argv, named, capsys):
    with pytest.raises(SystemExit) as exited:
        evaluate_cli.main(["--run-dir", str(run_dir), "--no-progress", *argv])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err and "has no images" not in err, err


def test_out_dir_must_be_a_folder_of_evaluations(run_dir, tmp_path, capsys):
    a_file = tmp_path / "report.txt"
    a_file.write_text("mine")
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.md").write_text("mine")
    for out in (a_file, other):
        with pytest.raises(SystemExit):
            evaluate_cli.main(["--run-dir", str(run_dir), "--out-dir", str(out)])
        err = capsys.readouterr().err
        assert f"--out-dir {out}" in err and "Traceback" not in err, err
    assert a_file.read_text() == "mine" and (other / "notes.md").read_text() == "mine"


def test_save_cams_naming_a_file_is_refused_before_scoring(run_dir, tmp_path, capsys):
    a_file = tmp_path / "cams.txt"
    a_file.write_text("mine")
    with pytest.raises(SystemExit):
        evaluate_cli.main(["--run-dir", str(run_dir), "--save-cams", str(a_file)])
    err = capsys.readouterr().err
    assert f"--save-cams {a_file}" in err and "Traceback" not in err, err
    assert a_file.read_text() == "mine"


def test_a_bad_threshold_keeps_its_own_message(run_dir):
    with pytest.raises(ValueError, match=r"`thresholds`.*\[0, 1\].*2"):
        evaluate_run(run_dir, thresholds=[2.0], **FAST)

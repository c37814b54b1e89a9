"""TemporalConfig checks the settings it shares with TrainConfig by the same rules, with the same
messages (one validation path), and loads without TensorFlow."""

import subprocess
import sys
from pathlib import Path

import pytest

from hide_and_seek_tf.cli import export as export_cli
from hide_and_seek_tf.cli import train as train_cli
from hide_and_seek_tf.temporal import TemporalConfig
from hide_and_seek_tf.training import TrainConfig


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seed", -1),
        ("hide_prob", 1.5),
        ("epochs", 0),
        ("batch_size", "64"),
        ("pooling", "sum"),
        ("train_split", ""),
        ("run_dir", ""),
        ("validation", 1),
        ("resume", "yes"),
        ("backup_every", 0),
    ],
)
def test_a_shared_setting_is_refused_as_train_config_refuses_it(field, value):
    with pytest.raises((TypeError, ValueError)) as image:
        TrainConfig(**{field: value})
    with pytest.raises(type(image.value)) as temporal:
        TemporalConfig(**{field: value})
    assert str(temporal.value) == str(image.value)
    assert f"{field}={value!r}" in str(temporal.value)


def test_resume_needs_a_run_dir_and_round_trips():
    with pytest.raises(ValueError, match="run_dir=None"):
        TemporalConfig(resume=True)
    config = TemporalConfig(resume=True, run_dir="runs/x", backup_every=5)
    assert TemporalConfig.from_dict(config.to_dict()) == config


def test_the_config_and_the_temporal_command_line_load_no_tensorflow():
    code = (
        "import sys; import hide_and_seek_tf.temporal.config, hide_and_seek_tf.cli.temporal; "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("data", ["foo", 3])
def test_a_bad_data_spec_names_only_the_forms_the_temporal_task_trains_on(data):
    with pytest.raises((TypeError, ValueError)) as err:
        TemporalConfig(data=data)
    assert "['synthetic-sequences', 'video-features:PATH']" in str(err.value)
    assert "tiny-imagenet" not in str(err.value)


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_a_corrupt_run_config_is_one_line_from_train_resume_and_export(tmp_path, capsys, content):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(content)
    with pytest.raises(SystemExit) as exit_info:
        train_cli.main(["--task", "temporal", "--run-dir", str(run), "--resume"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "config.json" in err and "Traceback" not in err
    status = export_cli.main(["--run-dir", str(run)])
    err = capsys.readouterr().err
    assert status != 0 and "Traceback" not in err and err.count("\n") == 1, err
    assert not (run / "serving").exists()

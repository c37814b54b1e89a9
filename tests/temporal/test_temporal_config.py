"""TemporalConfig checks the settings it shares with TrainConfig by the same rules, with the same
messages (one validation path), and loads without TensorFlow."""

import subprocess
import sys
from pathlib import Path

import pytest

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

"""A quiet start: `--help` prints only the usage; TensorFlow's start-up log lines obey its log level."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hide_and_seek_tf.cli import shown_log_lines

ROOT = Path(__file__).resolve().parents[2]
LOG_MARKERS = ("absl::InitializeLog", "I0000 ", "W0000 ", "E0000 ", "oneDNN", "cuda", "cpu_feature")

STARTUP = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796185375.770704    7645 port.cc:153] oneDNN custom operations are on.\n"
    "I0000 00:00:1796185375.771101    7645 cudart_stub.cc:31] Could not find cuda drivers on your "
    "machine, GPU will not be used.\n"
    "W0000 00:00:1796185375.800000    7645 some_op.cc:12] a warning\n"
    "/x/y.py:3: UserWarning: a Python warning\n"
    "E0000 00:00:1796185378.021843    7645 cuda_platform.cc:52] failed call to cuInit: INTERNAL\n"
    "E0000 00:00:1796185378.021900    7645 other.cc:7] a real error\n"
)


def _run_without_level(*args: str) -> subprocess.CompletedProcess:
    """Runs this Python with `args` in the repository, TF_CPP_MIN_LOG_LEVEL unset (the default)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "command",
    [
        ["train.py", "--help"],
        ["evaluate.py", "--help"],
        ["export.py", "--help"],
        ["-m", "hide_and_seek_tf.cli.demo", "--help"],
    ],
    ids=["train", "evaluate", "export", "demo"],
)
def test_help_prints_only_the_usage(command):
    done = _run_without_level(*command)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:")
    assert done.stderr == ""
    assert not any(marker in done.stdout for marker in LOG_MARKERS)


def test_loading_tensorflow_for_a_command_shows_no_startup_log_lines():
    code = "from hide_and_seek_tf.cli import import_tensorflow; import_tensorflow(); print('ok')"
    done = _run_without_level("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"
    assert not any(marker in done.stderr for marker in LOG_MARKERS), done.stderr


def test_a_level_the_user_set_is_kept():
    code = "import os, hide_and_seek_tf.cli; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    for level in ("0", "3"):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": level}
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.stdout.strip() == level


def test_level_0_shows_every_line():
    assert shown_log_lines(STARTUP, 0) == STARTUP


def test_level_1_hides_info_and_the_absl_header():
    shown = shown_log_lines(STARTUP, 1)
    assert "I0000" not in shown and "absl::InitializeLog" not in shown
    assert "a warning" in shown and "failed call to cuInit" in shown


def test_level_2_hides_warnings_and_the_cuinit_failure_of_a_machine_without_driver():
    shown = shown_log_lines(STARTUP, 2)
    assert shown == (
        "/x/y.py:3: UserWarning: a Python warning\n"
        "E0000 00:00:1796185378.021900    7645 other.cc:7] a real error\n"
    )
    # With a driver present, a failed cuInit is news and stays.
    with_driver = STARTUP.replace("Could not find cuda drivers", "Found drivers")
    assert "failed call to cuInit" in shown_log_lines(with_driver, 2)


def test_level_3_hides_errors_but_not_python_output():
    assert shown_log_lines(STARTUP, 3) == "/x/y.py:3: UserWarning: a Python warning\n"

"""A run directory survives the outside world: bad arguments write nothing, a second writer is
refused while another process holds the run, and leftovers of killed saves go at the next start."""

from pathlib import Path

import pytest

from hide_and_seek_tf.cli import evaluate as evaluate_cli
from hide_and_seek_tf.cli import export as export_cli
from hide_and_seek_tf.cli import train as train_cli
from tests.test_io import hold_lock

TINY = ["--num-images", "32", "--image-size", "32", "--batch-size", "16", "--epochs", "1",
        "--no-validation", "--verbose", "0"]  # fmt: skip


def _snapshot(run: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(run)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(run.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "run"
    assert train_cli.main([*TINY, "--run-dir", str(run)]) == 0
    return run


@pytest.mark.parametrize(
    "bad, named",
    [(["--model", "nosuch"], "nosuch"), (["--weights", "imagenet"], "small_gap")],
)
def test_a_refused_setting_writes_nothing_so_the_corrected_run_starts(bad, named, tmp_path, capsys):
    run = tmp_path / "run"
    assert train_cli.main([*TINY, *bad, "--run-dir", str(run)]) != 0
    err = capsys.readouterr().err
    assert named in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert not run.exists()
    assert train_cli.main([*TINY, "--run-dir", str(run)]) == 0
    assert (run / "model.keras").is_file()


def test_a_run_another_process_holds_is_refused_by_train_evaluate_and_export(trained_run, capsys):
    before = _snapshot(trained_run)
    holder = hold_lock(trained_run)
    try:
        for program, argv in (
            (train_cli, [*TINY, "--run-dir", str(trained_run), "--resume"]),
            (evaluate_cli, ["--run-dir", str(trained_run), "--num-images", "8", "--no-progress"]),
            (export_cli, ["--run-dir", str(trained_run)]),
        ):
            capsys.readouterr()
            assert program.main(argv) != 0
            err = capsys.readouterr().err
            assert str(trained_run) in err and f"pid {holder.pid}" in err, err
            assert err.count("\n") == 1 and "Traceback" not in err, err
    finally:
        holder.kill()
        holder.wait()
    after = _snapshot(trained_run)
    after.pop(".lock", None)  # the killed holder's (unlocked) file
    before.pop(".lock", None)
    assert after == before  # nothing written


def test_leftovers_of_killed_saves_are_removed_at_the_next_start(trained_run):
    leftovers = [
        trained_run / ".model.keras.k3j9abcd.keras",
        trained_run / "checkpoints" / ".epoch-002.keras.zz99yy88.keras",
        trained_run / ".history.csv.a1b2c3d4.tmp",
    ]
    for path in leftovers:
        path.write_bytes(b"half a save")
    assert train_cli.main([*TINY, "--run-dir", str(trained_run), "--resume"]) == 0
    assert not [path for path in leftovers if path.exists()]
    assert (trained_run / "model.keras").is_file()


def test_a_run_killed_before_its_first_complete_write_starts_afresh(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").write_text("pid 999999, train\n")  # a dead holder's file: not locked
    (run / ".config.json.a1b2c3d4.tmp").write_text('{"half": ')
    assert train_cli.main([*TINY, "--run-dir", str(run)]) == 0
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []
    assert (run / "model.keras").is_file()

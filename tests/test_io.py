"""Directory locks, whole-folder replacement and the clean-up of killed writers' leftovers."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hide_and_seek_tf._io import (
    LOCK_FILE,
    DirectoryInUseError,
    atomic_path,
    locked_dir,
    remove_stale_temps,
    replaced_dir,
)

REPO = Path(__file__).resolve().parents[1]


def hold_lock(path: Path) -> subprocess.Popen:
    """A second process that holds `path`'s lock until killed (returns once it holds it)."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from hide_and_seek_tf._io import locked_dir
        with locked_dir({str(path)!r}, "a test holder"):
            print("locked", flush=True)
            time.sleep(600)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_holder_is_refused_at_once_naming_the_directory_and_pid(tmp_path):
    holder = hold_lock(tmp_path / "run")
    try:
        with pytest.raises(DirectoryInUseError) as refused:
            with locked_dir(tmp_path / "run", "me", what="Run directory"):
                pytest.fail("entered a directory another process holds")
        message = str(refused.value)
        assert str(tmp_path / "run") in message and f"pid {holder.pid}" in message
        assert "\n" not in message
    finally:
        holder.kill()
        holder.wait()
    # The kernel released the dead process's lock: the directory can be locked again.
    with locked_dir(tmp_path / "run", "me"):
        assert (tmp_path / "run" / LOCK_FILE).read_text().startswith(f"pid {os.getpid()}")
    assert not (tmp_path / "run" / LOCK_FILE).exists()  # removed once released


def test_the_lock_refuses_a_second_holder_in_the_same_process(tmp_path):
    with locked_dir(tmp_path, "first"):
        with pytest.raises(DirectoryInUseError, match=f"pid {os.getpid()}, first"):
            with locked_dir(tmp_path, "second"):
                pass


def _write(folder: Path, **files: str) -> None:
    for name, text in files.items():
        (folder / name).write_text(text)


def _contents(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.iterdir())}


def test_an_interrupted_replacement_leaves_the_previous_folder_whole(tmp_path):
    out = tmp_path / "eval"
    out.mkdir()
    _write(out, **{"metrics.json": "old", "per_image.csv": "old rows"})
    with pytest.raises(KeyboardInterrupt):
        with replaced_dir(out) as staging:
            _write(staging, **{"per_image.csv": "new rows"})
            raise KeyboardInterrupt  # killed before metrics.json
    assert _contents(out) == {"metrics.json": "old", "per_image.csv": "old rows"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval"]
    with replaced_dir(out) as staging:
        _write(staging, **{"metrics.json": "new"})
    # Replaced as a whole: no file of the previous evaluation survives beside the new one.
    assert _contents(out) == {"metrics.json": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval"]


def test_a_kill_between_the_two_renames_is_repaired_by_the_next_replacement(tmp_path):
    out = tmp_path / "eval"
    # The state a SIGKILL between `out -> .old` and `staging -> out` leaves.
    old = tmp_path / ".eval.abcd1234.old"
    old.mkdir()
    _write(old, **{"metrics.json": "old"})
    (tmp_path / ".eval.wxyz9876.tmp").mkdir()
    with pytest.raises(RuntimeError):
        with replaced_dir(out):
            assert _contents(out) == {"metrics.json": "old"}  # put back before anything else
            raise RuntimeError
    assert _contents(out) == {"metrics.json": "old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval"]


def test_replacing_a_file_is_refused(tmp_path):
    (tmp_path / "eval").write_text("not a folder")
    with pytest.raises(NotADirectoryError, match="eval"):
        with replaced_dir(tmp_path / "eval"):
            pass


def test_stale_temporaries_of_killed_saves_are_removed_and_nothing_else(tmp_path):
    keep = ["model.keras", "config.json", ".lock", ".hidden", "epoch-001.keras"]
    for name in keep:
        (tmp_path / name).write_text("x")
    stale = [".model.keras.k3j_9abc.keras", ".config.json.a1b2c3d4.tmp"]
    stale += [".state-000000004.weights.h5.zzzzzzzz.weights.h5"]
    for name in stale:
        (tmp_path / name).write_text("half")
    (tmp_path / ".eval.q1w2e3r4.tmp").mkdir()
    removed = remove_stale_temps(tmp_path)
    assert sorted(p.name for p in removed) == sorted([*stale, ".eval.q1w2e3r4.tmp"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)


def test_atomic_path_temporaries_match_what_the_clean_up_removes(tmp_path):
    # If atomic_path's naming changed, the clean-up would silently stop finding its leftovers.
    for suffix in ("", ".keras", ".weights.h5"):
        with atomic_path(tmp_path / f"name{suffix or '.json'}", suffix=suffix) as tmp:
            assert remove_stale_temps(tmp_path) == [tmp]
            tmp.write_text("x")

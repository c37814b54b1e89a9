"""Atomic file writes (a reader never sees a half-written config, metric file or model), directory
locks, and the clean-up of what a killed writer left behind."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; directories are not locked there
    fcntl = None

#: The lock file `locked_dir` holds, inside the directory it locks.
LOCK_FILE = ".lock"
# The temporary names `atomic_path` and `replaced_dir` make: "." + name + "." + mkstemp's 8
# random characters + a suffix (a `.old` folder may be the only copy of a replaced one: kept).
_TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}(\.tmp|\.keras|\.weights\.h5)")


class DirectoryInUseError(RuntimeError):
    """Another process holds the lock of a directory (`locked_dir`)."""


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yields a temporary path beside `path`; renames it onto `path` only if the block succeeds.

    `suffix` keeps the extension for writers that check it (Keras insists on `.keras`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.is_file():
            # mkstemp makes 0600 files; give the result the mode a plain open() would have.
            tmp.chmod(0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Writes `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Writes `obj` as indented JSON to `path` atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_model_atomic(model: Any, path: str | os.PathLike) -> None:
    """Saves a Keras model to a `.keras` file atomically."""
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)


def is_leftover(name: str) -> bool:
    """True for the lock file and for the temporary names of writes a killed process left."""
    return name == LOCK_FILE or _TEMP_NAME.fullmatch(name) is not None


def make_dir_mode_normal(path: str | os.PathLike) -> None:
    """Gives a directory made by `tempfile.mkdtemp` (0700) the mode a plain `mkdir` would give it
    (0755 under the usual umask 022), so other users (a server) can read what is renamed into place."""
    Path(path).chmod(0o777 & ~_umask())


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Removes the temporary files and folders a killed `atomic_path` or `replaced_dir` left in
    `folder` (not recursive); returns them. Call it only while no other process writes `folder`
    (holding its `locked_dir`): a live writer's temporary file looks the same."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for entry in folder.iterdir():
        if entry.name != LOCK_FILE and is_leftover(entry.name):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


@contextlib.contextmanager
def locked_dir(path: str | os.PathLike, holder: str, what: str = "Directory") -> Iterator[Path]:
    """Holds an exclusive OS lock on `path/.lock` for the block (creating `path` if needed).

    The lock is `flock`'s: the kernel releases it when the process dies, however it dies, so a
    killed run never stays locked (its `.lock` file may stay, unlocked). A second holder, in this
    process or another, is refused at once. The file is removed when the block ends.

    Args:
        path: the directory to lock.
        holder: what holds it (e.g. "train.py"), written into the lock file with the pid.
        what: the directory's kind in the refusal message ("Run directory").

    Raises:
        DirectoryInUseError: another open of the lock holds it; the message names `path` and the
            holder's pid.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield path
        return
    lock = path / LOCK_FILE
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held_by = os.pread(fd, 256, 0).decode(errors="replace").strip() or "pid unknown"
            os.close(fd)
            raise DirectoryInUseError(
                f"{what} {path} is in use by another process ({held_by}); wait for it to finish "
                "or stop it. Nothing was changed."
            ) from None
        try:
            current = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)  # its holder removed that file after we opened it: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, {holder}\n".encode(), 0)
        yield path
    finally:
        lock.unlink(missing_ok=True)  # while still held, so no one else's file is removed
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def replaced_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yields an empty folder beside `path`; if the block succeeds it replaces `path` as a whole.

    A reader (or an interrupted writer) sees the previous complete `path` or the new complete one,
    never a mix. The swap is two renames (a directory cannot be renamed over a non-empty one): the
    old `path` to a `.old` sibling, the new folder to `path`; a kill between the two leaves the old
    one under its `.old` name, which the next `replaced_dir` of `path` puts back before starting.
    Leftovers of killed writers are removed first, so do not let two processes replace one `path`
    at once (hold a `locked_dir`).

    Raises:
        NotADirectoryError: `path` exists and is not a directory.
    """
    path = Path(os.path.abspath(path))  # "." has no name to make a sibling of
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path} exists and is not a directory.")
    parent = path.parent
    parent.mkdir(parents=True, exist_ok=True)
    mine = re.compile(re.escape(f".{path.name}.") + r"[a-z0-9_]{8}\.(tmp|old)")
    leftovers = sorted(e for e in parent.iterdir() if mine.fullmatch(e.name))
    for entry in leftovers:
        if entry.name.endswith(".old") and not path.exists():
            entry.rename(path)  # killed between the two renames: the previous one comes back
        else:
            shutil.rmtree(entry, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
    try:
        make_dir_mode_normal(staging)
        yield staging
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=parent))
            os.replace(path, old)  # an empty directory can be renamed over
            os.rename(staging, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, path)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)

"""Private files: created 0600 from the start (never readable by others, not even for a moment),
written completely, fsynced, and replaced atomically. Folders 0700."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

FILE_MODE = 0o600
FOLDER_MODE = 0o700
_O_BINARY: int = getattr(os, "O_BINARY", 0)  # Windows: no newline translation


def private_folder(folder: Path) -> Path:
    """Create ``folder`` and any missing parents, each 0700 (``mkdir(parents=True)`` would give
    the parents the umask's mode)."""
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        path.mkdir(mode=FOLDER_MODE, exist_ok=True)
    return folder


def write_new(path: Path, data: bytes) -> None:
    """Create ``path`` (which must not exist) with mode 0600 from the start, and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, sync_folder: bool = True) -> None:
    """Replace ``path`` atomically: a 0600 temporary file, fsync, :func:`os.replace`.

    ``sync_folder=False`` leaves the folder's fsync (which makes the rename durable) to the
    caller, who writes many files and syncs the folder once."""
    temp = _temp_name(path)
    try:
        write_new(temp, data)
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if sync_folder:
        fsync_folder(path.parent)


def new_temp(path: Path) -> Path:
    """An empty private (0600) temporary file beside ``path``, to be written, then moved into
    place with :func:`commit` or removed by the caller."""
    temp = _temp_name(path)
    os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, FILE_MODE))
    return temp


def commit(temp: Path, path: Path) -> None:
    """Make a finished temporary file durable and move it to its final name."""
    fd = os.open(temp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    temp.replace(path)
    fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    """Make a rename durable (POSIX); folders cannot be opened this way on Windows."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")

"""Private files: created 0600 from the start (never readable by others, not even for a moment),
written completely, fsynced, and replaced atomically. Folders 0700.

A temporary file is named ``.NAME.PID.RANDOM.tmp`` beside its final name, PID being the writer's
process: a writer killed before it could remove its temporary file (a whole patient page, in
the image store) leaves it behind, and :func:`remove_stale_temps` removes it on a later run,
never one whose writer is still running."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

FILE_MODE = 0o600
FOLDER_MODE = 0o700
STALE_AFTER_S = 24 * 3600.0  # a temporary file untouched this long is stale whoever wrote it
# (one is written and moved within seconds; this covers a writer's pid reused by another)
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
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def remove_stale_temps(folder: Path, *, stale_after_s: float = STALE_AFTER_S) -> int:
    """Remove the temporary files in ``folder`` (not below it) left by writers that died: their
    process is no longer running, or they have not been touched for ``stale_after_s``. Those
    of running writers (a concurrent run) are kept. Returns how many were removed.

    Process ids are this computer's: the data folder is never shared between computers."""
    try:
        with os.scandir(folder) as listing:
            entries = [e for e in listing if e.name.startswith(".") and e.name.endswith(".tmp")]
    except (FileNotFoundError, NotADirectoryError):
        return 0
    removed = 0
    now = time.time()
    for entry in entries:
        ours, writer = _temp_writer(entry.name)
        if not ours:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        dead = writer is not None and not process_running(writer)
        if dead or now - info.st_mtime > stale_after_s:
            with contextlib.suppress(FileNotFoundError):
                Path(entry.path).unlink()
                removed += 1
    return removed


def _temp_writer(name: str) -> tuple[bool, int | None]:
    """Is this one of our temporary files, and its writer's pid (None in names made by older
    versions, which had none)."""
    parts = name.split(".")  # "", name…, pid, random, "tmp"
    random = parts[-2] if len(parts) >= 4 else ""
    if len(random) != 8 or any(c not in "0123456789abcdef" for c in random):
        return False, None
    pid = parts[-3]
    return True, int(pid) if len(parts) >= 5 and pid.isdigit() else None


def process_running(pid: int) -> bool:
    """Is process ``pid`` running on this computer (a zombie is not)? Where that cannot be
    told (Windows), True: the caller then goes by age."""
    if pid == os.getpid():
        return True
    if os.name != "posix" or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists (another user's)
    if not sys.platform.startswith("linux"):
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text("ascii", "replace")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


class Busy(Exception):
    """Another process holds the lock; ``holder`` is what it wrote there (pid, host, since)."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold ``path`` (a private lock file) for this process alone, or raise :class:`Busy` at
    once. The operating system releases it when the process ends, however it ends: a killed
    run never leaves it locked. Inside, the file says who holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | _O_BINARY, FILE_MODE)
    try:
        try:
            _lock(fd)
        except OSError:
            os.lseek(fd, 0, os.SEEK_SET)
            raise Busy(os.read(fd, 200).decode("utf-8", "replace").strip()) from None
        holder = f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M')}"
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, holder.encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing releases the lock


def _lock(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover - POSIX here
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

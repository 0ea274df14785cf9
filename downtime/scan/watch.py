"""A scanner's output folder: which of its files are complete and not yet handed out.

Scanners (and the file servers they save through) write a file slowly, often a page at a time,
under its final name or under a temporary one that they rename when done. A file is taken as
complete when:

* it is a regular file (a symbolic link, pipe or device is never opened) whose name is not
  one that scanners and copy tools use while writing (a dotfile, ``*.tmp``,
  ``*.part``, …: see :data:`WRITING_SUFFIXES`), and
* its size and modification time have stayed the same for ``settle_s`` seconds of this
  watcher's clock, and
* on Linux, no process of this computer has it open for writing: a read lease
  (``fcntl(F_SETLEASE, F_RDLCK)``) is granted only then, and is given back at once. Where the
  lease cannot be asked for (another user's file without ``CAP_LEASE``, another platform) or
  says nothing of writers on other computers (a network file system, which may also refuse
  every lease), the settle time alone decides.

A file renamed into place is complete by then; it still waits out the settle time, which costs
nothing. Nothing here reads a file's content or touches the ledger: the caller scans what
:meth:`FolderWatch.poll` hands out and says so with :meth:`FolderWatch.handled`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

#: Endings of names that scanners, file servers and copy tools give a file while writing it.
WRITING_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".filepart", "~")
#: Files that desktops leave in folders: never scans.
NOT_SCANS = frozenset({"thumbs.db", "desktop.ini"})

#: File systems whose files other computers write: a lease tells nothing of those writers
#: (and the CIFS client refuses one whenever it holds no oplock).
NETWORK_FILESYSTEMS = frozenset(
    {"cifs", "smb3", "smbfs", "nfs", "nfs4", "ceph", "9p", "afs", "lustre", "gfs2", "ocfs2"}
    | {"fuse.sshfs", "fuse.glusterfs", "glusterfs", "davfs", "fuse.rclone", "fuse.s3fs"}
)
_MOUNTINFO = Path("/proc/self/mountinfo")
_F_SETLEASE = 1024  # <fcntl.h>, Linux: F_LINUX_SPECIFIC_BASE + 0
_F_RDLCK, _F_UNLCK = 0, 2


@dataclass(frozen=True)
class Signature:
    """What a file looked like when it was seen: its size and modification time."""

    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Ready:
    """A complete file: ``name`` is its path relative to the watched folder, with ``/``."""

    name: str
    path: Path
    signature: Signature


def ignored(name: str) -> bool:
    """Is a file (or folder) of this name never scanned: hidden, or one still being written?"""
    lower = name.lower()
    return name.startswith((".", "~$")) or lower.endswith(WRITING_SUFFIXES) or lower in NOT_SCANS


class FolderWatch:
    """The files of ``folder`` (and its subfolders, but not ``exclude``) that are complete.

    ``handled`` names files (relative name → signature) dealt with before, e.g. by an earlier
    run: they are not handed out again unless they change.
    """

    def __init__(
        self,
        folder: Path,
        *,
        settle_s: float,
        exclude: Path | None = None,
        handled: Mapping[str, Signature] | None = None,
    ) -> None:
        self.folder = folder
        self.settle_s = settle_s
        self.exclude = _resolved(exclude) if exclude is not None else None
        self._handled: dict[str, Signature] = dict(handled or {})
        self._seen: dict[str, tuple[Signature, float]] = {}  # name → (signature, since)
        self._listed_all = True
        self._leases: dict[int, bool] = {}  # device → do leases tell there

    def poll(self, now: float) -> list[Ready]:
        """The files complete at ``now`` (a monotonic clock, seconds), in name order, that
        were not handled with their present signature. Handled files no longer there are
        forgotten."""
        ready = []
        present = set()
        self._listed_all = True
        for name, path, signature, device in self._walk(self.folder, ""):
            present.add(name)
            if self._handled.get(name) == signature:
                continue
            seen = self._seen.get(name)
            if seen is None or seen[0] != signature:
                self._seen[name] = (signature, now)
                continue
            if now - seen[1] >= self.settle_s and not self._being_written(path, device):
                ready.append(Ready(name, path, signature))
        for gone in set(self._seen) - present:
            del self._seen[gone]
        if self._listed_all:  # a folder that could not be listed is no sign of files gone
            for gone in set(self._handled) - present:
                del self._handled[gone]
        return ready

    def handled(self, item: Ready) -> None:
        """``item`` was dealt with: not handed out again unless it changes."""
        self._handled[item.name] = item.signature
        self._seen.pop(item.name, None)

    def forget(self, name: str) -> None:
        """``name`` is gone (moved away): should a file of that name come, it is new."""
        self._handled.pop(name, None)

    def handled_files(self) -> dict[str, Signature]:
        return dict(self._handled)

    def _being_written(self, path: Path, device: int) -> bool:
        if device not in self._leases:
            self._leases[device] = filesystem_type(device) not in NETWORK_FILESYSTEMS
        return self._leases[device] and open_for_writing(path)

    def _walk(self, folder: Path, prefix: str) -> Iterator[tuple[str, Path, Signature, int]]:
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError:
            self._listed_all = False  # gone or unreadable for now: looked at on the next poll
            return
        for entry in entries:
            if ignored(entry.name):
                continue
            path = Path(entry.path)
            try:
                if entry.is_dir(follow_symlinks=False):
                    if self.exclude is None or _resolved(path) != self.exclude:
                        yield from self._walk(path, f"{prefix}{entry.name}/")
                    continue
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):  # not links, pipes or devices: never opened
                signature = Signature(info.st_size, info.st_mtime_ns)
                yield f"{prefix}{entry.name}", path, signature, info.st_dev


def filesystem_type(device: int) -> str | None:
    """The type of the file system mounted from ``device`` (``st_dev``), from the mount table
    (Linux), or None where that cannot be told."""
    wanted = f"{os.major(device)}:{os.minor(device)}"
    try:
        lines = _MOUNTINFO.read_text("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in lines:  # "36 35 98:0 /root /mnt opts… - TYPE SOURCE OPTS"
        fields, _, rest = line.partition(" - ")
        parts = fields.split()
        if len(parts) > 2 and parts[2] == wanted and rest:
            return rest.split()[0]
    return None


def open_for_writing(path: Path) -> bool:
    """Has a process of this computer ``path`` open for writing? False where that cannot be
    told (see the module's docstring): the settle time then decides alone."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return False  # a symbolic link, or gone: the scan says what it is
    try:
        with _lease_breaks_ignored():
            import fcntl

            try:
                fcntl.fcntl(fd, _F_SETLEASE, _F_RDLCK)
            except OSError as exc:
                return exc.errno in (errno.EAGAIN, errno.EBUSY)
            fcntl.fcntl(fd, _F_SETLEASE, _F_UNLCK)
            return False
    finally:
        os.close(fd)


@contextlib.contextmanager
def _lease_breaks_ignored() -> Iterator[None]:
    """A writer opening the file while the lease is held (for microseconds) makes the kernel
    send SIGIO, whose default action ends the process: ignore it meanwhile (main thread only;
    elsewhere leave the disposition as it is)."""
    try:
        previous = signal.signal(signal.SIGIO, signal.SIG_IGN)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGIO, previous)


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()

"""Finding scan files, hashing them, sniffing their format, and opening them to read."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from downtime.errors import InputError
from downtime.scan.images.model import InputFile, PageProblem, Skipped
from downtime.scan.images.problems import changed, empty, problem, unreadable
from downtime.vocab import Reason

#: Files up to this size are read into memory once, and their hash checked against the one
#: :func:`find_inputs` recorded; larger ones are read from disk as needed (size checked only).
IN_MEMORY_LIMIT = 512 * 1024 * 1024

_CHUNK = 1024 * 1024
_O_NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)
_PDF_JUNK = 1024  # PDFium, like Acrobat, finds "%PDF-" up to 1024 bytes into the file
HEAD = _PDF_JUNK + 5


def sniff(head: bytes) -> str:
    """The format of a file from its first bytes (at least 1029 of them for a PDF with junk)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if head.find(b"%PDF-", 0, HEAD) >= 0:
        return "pdf"
    return "unknown"


def find_inputs(paths: Sequence[Path]) -> list[InputFile]:
    """The files to read, in order (see :func:`list_inputs`, which also says what was skipped)."""
    return list_inputs(paths)[0]


def list_inputs(paths: Sequence[Path]) -> tuple[list[InputFile], list[Skipped]]:
    """The files to read, in order: each path as given; for a folder, every file below it; and
    the entries of given folders that are not read, each with why.

    Folders are walked recursively in a stable order (names sorted by code point at every
    level); hidden files and folders (name starting with ``.``) below a given folder are
    passed over. Special files (pipes, devices, sockets), broken or looping symbolic links,
    and links to folders, to special files or to files outside the folder are never opened:
    they are returned as :class:`Skipped`. A symbolic link to a file inside the folder is
    followed. A file reached twice is listed once. Each file is read once here, in chunks, for
    its SHA-256 and format. A path that does not exist or is not a file or folder, or a
    folder that cannot be listed, raises :class:`~downtime.errors.InputError`; a file that
    cannot be read is still listed (``sha256 == ""``) and :func:`read_pages` reports it.
    """
    found: list[InputFile] = []
    skipped: list[Skipped] = []
    seen: set[Path] = set()
    for given in paths:
        try:
            info = given.stat()
        except FileNotFoundError:
            raise InputError(
                f"{given}: no such file or folder",
                hint="check the path; scan files and folders of scan files can be named",
            ) from None
        except OSError as exc:
            raise InputError(
                f"{given}: cannot be opened ({exc.strerror or type(exc).__name__})",
                hint="check the path and that you may read it",
            ) from None
        if stat.S_ISDIR(info.st_mode):
            for entry in _walk(given):
                if isinstance(entry, Skipped):
                    skipped.append(entry)
                else:
                    _add(found, seen, *entry)
        elif stat.S_ISREG(info.st_mode):
            _add(found, seen, str(given), given)
        else:
            raise InputError(
                f"{given}: is neither a file nor a folder",
                hint="name scan files (PDF, TIFF, PNG, JPEG) or folders holding them",
            )
    return found, skipped


def _walk(folder: Path) -> Iterator[tuple[str, Path] | Skipped]:
    root = folder.resolve()

    def visit(directory: Path, shown: Path) -> Iterator[tuple[str, Path] | Skipped]:
        try:
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            raise InputError(
                f"{shown}: the folder cannot be read ({exc.strerror or type(exc).__name__})",
                hint="check that you may read it, or name the files in it one by one",
            ) from None
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path, source = directory / entry.name, str(shown / entry.name)
            if entry.is_symlink():
                why = _link_problem(path, root)
                if why is None:
                    yield source, path
                else:
                    yield Skipped(source, why)
            elif entry.is_dir(follow_symlinks=False):
                yield from visit(path, shown / entry.name)
            elif entry.is_file(follow_symlinks=False):
                yield source, path
            else:
                yield Skipped(source, _special(entry.stat(follow_symlinks=False).st_mode))

    yield from visit(folder, folder)


def _link_problem(link: Path, root: Path) -> str | None:
    """Why a symbolic link in a scanned folder is not followed, or None to follow it (``stat``
    only: its target is never opened)."""
    try:
        target = link.resolve(strict=True)
        mode = target.stat().st_mode
    except FileNotFoundError:
        return "a broken symbolic link (what it points to does not exist)"
    except (OSError, RuntimeError):
        return "a symbolic link that loops or cannot be followed"
    if stat.S_ISDIR(mode):
        return "a symbolic link to a folder (not followed: name the folder itself)"
    if not stat.S_ISREG(mode):
        return f"a symbolic link to {_special(mode)}"
    if not target.is_relative_to(root):
        return "a symbolic link to a file outside the folder (name that file itself)"
    return None


def _special(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a file; never opened"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a file; never opened"
    if stat.S_ISSOCK(mode):
        return "a socket, not a file; never opened"
    return "neither a file nor a folder; never opened"


def _add(found: list[InputFile], seen: set[Path], source: str, path: Path) -> None:
    try:
        key = path.resolve(strict=True)
    except (OSError, RuntimeError):
        key = path.absolute()
    if key in seen:
        return
    seen.add(key)
    found.append(_describe(source, path))


def _describe(source: str, path: Path) -> InputFile:
    digest = hashlib.sha256()
    head = b""
    size = 0
    try:
        # should it have become a pipe or a device since it was listed: do not wait for a
        # writer (O_NONBLOCK), and close it unread
        with open(path, "rb", opener=lambda p, flags: os.open(p, flags | _O_NONBLOCK)) as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            while chunk := stream.read(_CHUNK):
                if len(head) < HEAD:
                    head += chunk[: HEAD - len(head)]
                digest.update(chunk)
                size += len(chunk)
    except OSError:
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        return InputFile(source, path, "", size, "unknown")
    return InputFile(source, path, digest.hexdigest(), size, sniff(head))


def open_input(
    item: InputFile, *, verify: bool = True
) -> tuple[bytes | None, BinaryIO, int] | PageProblem:
    """The file's bytes (when small enough) and a stream over them, checked against ``item``.

    Without ``verify``, a PDF is left on disk (PDFium reads what it needs) and nothing is
    hashed."""
    if verify and not item.sha256:
        # it could not be read when it was listed: say so (its size may even claim 0 bytes)
        return unreadable(item.source, OSError(5, "it could not be read when it was listed"))
    try:
        # O_NONBLOCK: should the path have become a pipe, fail instead of waiting for a writer
        stream = open(  # noqa: SIM115 - closed below, or by read_pages
            item.path, "rb", opener=lambda path, flags: os.open(path, flags | _O_NONBLOCK)
        )
    except OSError as exc:
        return unreadable(item.source, exc)
    try:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode):
            stream.close()
            return problem(
                item.source,
                0,
                Reason.UNREADABLE_FILE,
                "this is not a regular file (but a folder, pipe or device); name scan files only",
            )
        if info.st_size == 0:
            stream.close()
            return empty(item.source)
        if not verify and sniff(stream.read(HEAD)) == "pdf":
            stream.seek(0)
            return None, stream, info.st_size
        stream.seek(0)
        if info.st_size > IN_MEMORY_LIMIT:
            if info.st_size != item.size:
                stream.close()
                return changed(item.source)
            return None, stream, info.st_size
        data = stream.read()
        stream.close()
    except OSError as exc:
        stream.close()
        return unreadable(item.source, exc)
    if verify and (len(data) != item.size or hashlib.sha256(data).hexdigest() != item.sha256):
        if not data:
            return empty(item.source)
        return changed(item.source)
    return data, io.BytesIO(data), len(data)

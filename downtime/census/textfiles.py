"""Reading a census file: its bytes, its UTF-8 text, its modification time; a file that cannot
be read is a :class:`~downtime.errors.CensusError` naming why."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from downtime.errors import CensusError, DowntimeError, Problem, Said

if TYPE_CHECKING:
    from pathlib import Path

Unreadable = Callable[["Path", str], DowntimeError]  # the error for a file and what is wrong

_READ_HINT = "export the census again as UTF-8 CSV with a header row, or as a FHIR R4 Bundle"


def unreadable(path: Path, what: str) -> CensusError:
    return CensusError(
        f"census {path.name}: cannot be read; no pack was made",
        [Problem(path.name, what)],
        hint=_READ_HINT,
        said=Said("census_unreadable", {"file": path.name}),
    )


NOT_THERE = ("no such file", "is a folder, not a file")


def _read_bytes(path: Path, fail: Unreadable) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise fail(path, NOT_THERE[0]) from None
    except IsADirectoryError:
        raise fail(path, NOT_THERE[1]) from None
    except PermissionError:
        raise fail(path, "permission denied") from None
    except OSError as exc:
        raise fail(path, f"cannot be read ({exc.strerror})") from None


def read_text(path: Path, fail: Unreadable = unreadable) -> str:
    """The file's text: UTF-8, a byte order mark tolerated; an empty file is an error, made
    by ``fail`` (a census file's by default) from the file and what is wrong with it."""
    data = _read_bytes(path, fail)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise fail(path, f"line {line} is not UTF-8 text: save the file as UTF-8") from None
    if not text.strip():
        raise fail(path, "the file is empty")
    return text


def modified_at(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)

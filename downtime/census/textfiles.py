"""Reading a census file: its bytes, its UTF-8 text, its modification time; a file that cannot
be read is a :class:`~downtime.errors.CensusError` naming why."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from downtime.errors import CensusError, Problem, Said

if TYPE_CHECKING:
    from pathlib import Path

_READ_HINT = "export the census again as UTF-8 CSV with a header row, or as a FHIR R4 Bundle"


def unreadable(path: Path, what: str) -> CensusError:
    return CensusError(
        f"census {path.name}: cannot be read; no pack was made",
        [Problem(path.name, what)],
        hint=_READ_HINT,
        said=Said("census_unreadable", {"file": path.name}),
    )


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise unreadable(path, "no such file") from None
    except IsADirectoryError:
        raise unreadable(path, "is a folder, not a file") from None
    except PermissionError:
        raise unreadable(path, "permission denied") from None
    except OSError as exc:
        raise unreadable(path, f"cannot be read ({exc.strerror})") from None


def read_text(path: Path) -> str:
    """The file's text: UTF-8, a byte order mark tolerated; an empty file is an error."""
    data = _read_bytes(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise unreadable(path, f"line {line} is not UTF-8 text") from None
    if not text.strip():
        raise unreadable(path, "the file is empty")
    return text


def modified_at(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)

"""Readings of a returned page: grouped by row or cell, and one-of tick groups read only when
every box is clear."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from downtime.ledger.returns import Reading, ReturnedPage
from downtime.record.fhir.model import (
    INK,
    WHY_FLAGGED,
    WHY_FLAGGED_CORRECTED,
    WHY_PARTLY_READ,
    WHY_SEVERAL,
    WHY_UNCLEAR,
)
from downtime.vocab import REVIEW_FLAGS, MarkFlag, MarkState


def grouped(
    readings: Mapping[str, Reading], pattern: re.Pattern[str]
) -> list[tuple[str, dict[str, Reading]]]:
    """Readings by the pattern's first group (``med1.t08``), leaves by its second, sorted."""
    groups: dict[str, dict[str, Reading]] = {}
    for field_id, reading in readings.items():
        match = pattern.fullmatch(field_id)
        if match is not None:
            groups.setdefault(match[1], {})[match[2]] = reading
    return sorted(groups.items(), key=lambda kv: _natural(kv[0]))


def _natural(text: str) -> tuple[tuple[str, int], ...]:
    """``med2`` before ``med10``; slots (``t08``, ``t0830``, ``t10``) sort as text, in time."""
    return tuple(_part_key(part) for part in text.split("."))


def _part_key(part: str) -> tuple[str, int]:
    match = re.fullmatch(r"([a-z_]*)(\d+)", part)
    if match is None or match[1] == "t":
        return part, -1
    return match[1], int(match[2])


def inked(readings: Iterable[Reading | None]) -> bool:
    return any(r is not None and r.state in INK for r in readings)


@dataclass(frozen=True)
class _Choice:
    chosen: str | None = None  # the one option ticked cleanly
    why: str | None = None  # why a person must look instead


def choice_of(
    boxes: Mapping[str, Reading | None], *, beside: Iterable[Reading | None] = ()
) -> _Choice:
    """A one-of group of tick boxes, read only when every box is clear.

    ``beside``: other readings of the same row or cell (initials) whose review flags hold it.
    """
    read = [r for r in (*boxes.values(), *beside) if r is not None]
    flags = sorted({f for r in read for f in r.flags} & REVIEW_FLAGS)
    if flags:
        why = WHY_FLAGGED_CORRECTED if MarkFlag.CORRECTED in flags else WHY_FLAGGED
        return _Choice(why=why.format(flags=", ".join(flags)))
    present = [r is not None for r in boxes.values()]
    if any(present) and not all(present):
        return _Choice(why=WHY_PARTLY_READ)
    if any(r is not None and r.state == MarkState.UNCERTAIN for r in boxes.values()):
        return _Choice(why=WHY_UNCLEAR)
    marked = [name for name, r in boxes.items() if r is not None and r.state == MarkState.MARKED]
    if len(marked) > 1:
        return _Choice(why=WHY_SEVERAL.format(boxes=", ".join(marked)))
    return _Choice(chosen=marked[0] if marked else None)


def admission_gender(pages: Sequence[ReturnedPage]) -> str | None:
    """The one sex box ticked cleanly on an admission form's first page, if any."""
    page = pages[0]
    if page.in_conflict:
        return None
    options = ("female", "male", "other", "unknown")
    return choice_of({o: page.readings.get(f"patient.sex.{o}") for o in options}).chosen

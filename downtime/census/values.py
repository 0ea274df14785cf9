"""Field parsers shared by the CSV and FHIR readers: each turns one cell (or element) into a
value, or records an issue for its column."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time
from functools import partial
from itertools import pairwise
from typing import TYPE_CHECKING, TypeVar

from downtime.census.findings import Invalid, Issue
from downtime.census.ids import IdentifierError, birth_date_of
from downtime.census.printable import (
    ID_FONT_FILES,
    NAME_MAX_CHARS,
    invisible,
    invisible_message,
    unprintable,
    unprintable_message,
)
from downtime.model import Identifier

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

SEXES = ("female", "male", "other", "unknown")

T = TypeVar("T")


def attempt(issues: list[Issue], column: str, compute: Callable[[], T]) -> T | None:
    """``compute()``, or ``None`` with an issue recorded for ``column`` ("" for none)."""
    try:
        return compute()
    except (Invalid, IdentifierError) as exc:
        issues.append(Issue(column or None, str(exc)))
        return None


def check(issues: list[Issue], column: str, parse: Callable[[str], T], raw: str) -> T | None:
    """``parse(raw)``, or ``None`` with an issue recorded for ``column``."""
    return attempt(issues, column, partial(parse, raw))


def clean_text(raw: str) -> str:
    """Trimmed, NFC-normalised text without control, format or line-break characters (see
    :func:`~downtime.census.printable.invisible`)."""
    text = unicodedata.normalize("NFC", raw.strip())
    found = invisible(text)
    if found:
        raise Invalid(invisible_message(found))
    return text


def required_text(raw: str) -> str:
    text = clean_text(raw)
    if not text:
        raise Invalid("is empty")
    return text


def printable_text(raw: str) -> str:
    """:func:`clean_text` that the form fonts can print, every character of it."""
    text = clean_text(raw)
    found = unprintable(text)
    if found:
        raise Invalid(unprintable_message(found))
    return text


def required_printable(raw: str) -> str:
    text = printable_text(raw)
    if not text:
        raise Invalid("is empty")
    return text


def printable_identifier(issues: list[Issue], column: str, identifier: Identifier | None) -> None:
    """An issue for ``column`` if the identifier font cannot print the identifier as shown."""
    if identifier is not None:
        found = unprintable(identifier.display(), ID_FONT_FILES)
        if found:
            issues.append(Issue(column, unprintable_message(found)))


def name_fits(issues: list[Issue], family: str | None, given: str | None) -> None:
    """An issue if ``family, given`` is longer than a name the cover sheet prints legibly."""
    if family is None or given is None:
        return
    length = len(f"{family}, {given}")
    if length > NAME_MAX_CHARS:
        issues.append(
            Issue(
                None,
                f"the name (family and given, with ', ') is {length} characters; at most "
                f"{NAME_MAX_CHARS} print legibly: shorten it, e.g. to the given name in use",
            )
        )


_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def iso_date(raw: str) -> date:
    match = _ISO_DATE.fullmatch(raw.strip())
    if match is None:
        raise Invalid("is not a date (write YYYY-MM-DD)")
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        raise Invalid("is not a real calendar date") from None


def optional_date(raw: str) -> date | None:
    return iso_date(raw) if raw.strip() else None


def aware_datetime(raw: str) -> datetime:
    """An ISO 8601 date and time with a UTC offset (``Z`` or ``+02:00``)."""
    text = raw.strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*", text):
        raise Invalid("is not a date and time (write e.g. 2026-05-04T08:30+02:00)")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid("is not a date and time (write e.g. 2026-05-04T08:30+02:00)") from None
    if moment.tzinfo is None:
        raise Invalid("has no UTC offset (write e.g. 2026-05-04T08:30+02:00)")
    return moment


def optional_datetime(raw: str) -> datetime | None:
    return aware_datetime(raw) if raw.strip() else None


def parse_sex(raw: str) -> str:
    sex = raw.strip().lower()
    if not sex:
        return "unknown"
    if sex not in SEXES:
        raise Invalid("must be female, male, other or unknown")
    return sex


def parse_allergies(raw: str) -> tuple[str, ...]:
    """``Latex; Penicillin``: the printable allergies, in order."""
    return tuple(text for text in (part.strip() for part in printable_text(raw).split(";")) if text)


_TIME = re.compile(r"(\d{1,2})(?::(\d{2}))?")


def parse_times(raw: str) -> tuple[time, ...]:
    """``08;14;20`` or ``08:00;14:30``: sorted times of day."""
    times: list[time] = []
    for part in (p.strip() for p in raw.split(";")):
        if not part:
            continue
        match = _TIME.fullmatch(part)
        if match is None:
            raise Invalid("is not a list of times of day (write e.g. 08;14;20 or 08:00;14:30)")
        hour, minute = int(match[1]), int(match[2] or 0)
        if hour > 23 or minute > 59:
            raise Invalid(f"{part} is not a time of day")
        times.append(time(hour, minute))
    return sorted_times(times)


def sorted_times(times: Iterable[time]) -> tuple[time, ...]:
    ordered = sorted(times)
    for earlier, later in pairwise(ordered):
        if earlier == later:
            raise Invalid(f"{earlier:%H:%M} is given twice")
    return tuple(ordered)


_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def boolean(raw: str) -> bool:
    value = _BOOLEANS.get(raw.strip().lower())
    if value is None:
        raise Invalid("must be true or false (or yes/no, 1/0)")
    return value


def birth_date(
    issues: list[Issue],
    column: str,
    given: date | None,
    identifier: Identifier | None,
    today: date,
) -> date | None:
    """The stated birth date checked against ``today`` and the identifier; else the derived one."""
    derived = birth_date_of(identifier) if identifier is not None else None
    if given is None:
        return derived
    if given > today:
        issues.append(Issue(column, "is in the future"))
    elif derived is not None and derived != given:
        issues.append(Issue(column, "does not match the birth date in the patient identifier"))
    return given

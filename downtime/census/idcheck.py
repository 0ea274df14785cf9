"""What every patient identifier check shares: the error, the Luhn digit, calendar dates."""

from __future__ import annotations

import unicodedata
from datetime import date


class IdentifierError(ValueError):
    """An identifier is malformed. The message says what is wrong without repeating the value."""


MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def luhn_digit(payload: str) -> int:
    """The check digit for ``payload`` by the Luhn (modulus 10, weights 2-1) method.

    The rightmost payload digit is doubled, as for personnummer (whose nine payload digits give
    weights 2, 1, 2, …, 2 from the left).
    """
    total = 0
    for position, char in enumerate(reversed(payload)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


def calendar_date(year: int, month: int, day: int) -> date:
    """``date(year, month, day)``, or an :class:`IdentifierError` naming the impossible part."""
    if not 1 <= month <= 12:
        raise IdentifierError(f"no such date (month {month})")
    if month == 2 and day == 29:
        try:
            return date(year, month, day)
        except ValueError:
            raise IdentifierError(
                "no such date (29 February in a year that is not a leap year)"
            ) from None
    try:
        return date(year, month, day)
    except ValueError:
        raise IdentifierError(f"no such date (day {day} in {MONTHS[month - 1]})") from None


def invisible_character(text: str) -> str | None:
    """The first control, format or line-break character (or non-character) of ``text`` as
    ``U+202E at character 5``; ``None`` if there is none."""
    for position, char in enumerate(text, start=1):
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Cn", "Co", "Cs"):
            return f"U+{ord(char):04X} at character {position}"
    return None

"""The embedded TrueType fonts and the check that a text can be printed with them.

reportlab's 14 standard fonts cover Latin-1 only; a Polish, Vietnamese, Greek or Cyrillic name
would come out as boxes. The kit embeds DejaVu Sans (Bitstream Vera licence, see
``resources/fonts/LICENSE-DejaVu.txt``), which covers Latin with every diacritic in use in
Europe and Vietnam, Greek and Cyrillic. A name with a character outside the font is refused
when the census is read (:mod:`downtime.census.printable` reads the same font files).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING

from downtime.census.printable import ID_FONT_FILES, TEXT_FONT_FILES, Unprintable
from downtime.census.printable import unprintable as census_unprintable
from downtime.geometry import font_file

if TYPE_CHECKING:
    from pathlib import Path

REGULAR = "DowntimeSans"
BOLD = "DowntimeSans-Bold"
MONO = "DowntimeMono-Bold"

_FILES = {
    REGULAR: TEXT_FONT_FILES[0],
    BOLD: TEXT_FONT_FILES[1],
    MONO: ID_FONT_FILES[0],
}


def font_path(name: str) -> Path:
    return font_file(_FILES[name])


@cache
@cache
def register() -> None:
    """Register the fonts with reportlab once per process."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    for name in _FILES:
        pdfmetrics.registerFont(TTFont(name, str(font_path(name))))


def unprintable(text: str, fonts: Iterable[str] = (REGULAR, BOLD)) -> list[Unprintable]:
    """Characters of ``text`` (after NFC) that one of ``fonts`` has no glyph for: the census
    refuses them when it is read (:mod:`downtime.census.printable`); this is the check again,
    for a census made some other way."""
    return census_unprintable(text, tuple(_FILES[font] for font in fonts))


# Letters every pack prints (Swedish names, the reserve number prefix, digits): a font file that
# loads but lacks them is as bad as a missing one.
PROBES = {REGULAR: "ÅÄÖåäöÉéÜü", BOLD: "ÅÄÖåäöÉéÜü", MONO: "0123456789-DT"}


def font_problems() -> list[str]:
    """What keeps the embedded fonts from printing, one text each (empty: they print): a file
    missing or one reportlab cannot read, or a letter every pack needs without its glyph."""
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    problems = []
    for name, file in _FILES.items():
        path = font_path(name)
        if not path.is_file():
            problems.append(f"{file} is missing")
            continue
        try:
            TTFont(f"{name}-probe", str(path))
        except (TTFError, OSError, ValueError) as e:
            problems.append(f"{file} cannot be read ({e.__class__.__name__})")
            continue
        lacking = unprintable(PROBES[name], (name,))
        if lacking:
            problems.append(f"{file} has no glyph for {lacking[0]}")
    return problems

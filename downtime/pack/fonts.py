"""The embedded TrueType fonts and the check that a text can be printed with them.

reportlab's 14 standard fonts cover Latin-1 only; a Polish, Vietnamese, Greek or Cyrillic name
would come out as boxes. The kit embeds DejaVu Sans (Bitstream Vera licence, see
``resources/fonts/LICENSE-DejaVu.txt``), which covers Latin with every diacritic in use in
Europe and Vietnam, Greek and Cyrillic. A name with a character outside the font is refused
before anything is printed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

REGULAR = "DowntimeSans"
BOLD = "DowntimeSans-Bold"
MONO = "DowntimeMono-Bold"

_FILES = {
    REGULAR: "DejaVuSans.ttf",
    BOLD: "DejaVuSans-Bold.ttf",
    MONO: "DejaVuSansMono-Bold.ttf",
}


def font_path(name: str) -> Path:
    return Path(str(resources.files("downtime") / "resources" / "fonts" / _FILES[name]))


@cache
def register() -> None:
    """Register the fonts with reportlab once per process."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    for name in _FILES:
        pdfmetrics.registerFont(TTFont(name, str(font_path(name))))


@cache
def _coverage(name: str) -> frozenset[int]:
    from reportlab.pdfbase.ttfonts import TTFontFile

    face = TTFontFile(str(font_path(name)))
    return frozenset(face.charToGlyph)


@dataclass(frozen=True)
class Unprintable:
    codepoint: int

    def __str__(self) -> str:
        char = chr(self.codepoint)
        name = unicodedata.name(char, "unnamed character")
        return f"U+{self.codepoint:04X} {name}"


def unprintable(text: str, fonts: Iterable[str] = (REGULAR, BOLD)) -> list[Unprintable]:
    """Characters of ``text`` (after NFC) that one of ``fonts`` has no glyph for."""
    text = unicodedata.normalize("NFC", text)
    missing: dict[int, Unprintable] = {}
    for font in fonts:
        covered = _coverage(font)
        for ch in text:
            cp = ord(ch)
            if cp not in covered and not ch.isspace():
                missing.setdefault(cp, Unprintable(cp))
    return list(missing.values())

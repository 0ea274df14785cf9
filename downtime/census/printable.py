"""What the printed forms can show of a census text, checked when the census is read.

* Characters: every character must have a glyph in the embedded fonts (DejaVu Sans, regular and
  bold, for text; DejaVu Sans Mono Bold for identifiers), read here from the font files with
  reportlab's TrueType reader. :mod:`downtime.pack.fonts` registers the same files for drawing.
* Invisible characters: control characters, line breaks and format characters (Unicode
  categories Cc, Cf, Zl, Zp: right-to-left overrides, zero-width spaces, byte order marks…)
  and code points with no character (Cn, Co, Cs) are refused: on paper they vanish or reorder
  what is around them, and in a report they do the same on screen.
* Length: a patient's name (``family, given``) of at most :data:`NAME_MAX_CHARS` characters.

Messages name a character by its code point, Unicode name and position, never the text.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

from downtime.geometry import MONO_FONT_FILE, font_file

TEXT_FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")
ID_FONT_FILES = (MONO_FONT_FILE,)

# A name is printed in full in the page head (20 pt bold in 140 mm) and in the footer beside the
# identifier ("family, given  ·  19121212-1212", 10 pt bold in 128 mm = 362.8 pt), each shrunk to
# fit; the footer is the narrowest. Measured with reportlab's stringWidth, European names take
# 0.60-0.64 em a character in DejaVu Sans Bold, so 64 characters of name and the 18 around
# them (82 × 0.62 × 10 pt = 508 pt) still print at 7.1 pt, above the smallest size we count as
# legible on a laser print. The cover sheet's name column is narrower (56 mm): names it cannot
# hold at that size are shown there with the given names as initials (downtime.pack.cover),
# the identifier beside them.
NAME_MAX_CHARS = 64  # characters of "family, given", after NFC
NAME_MIN_PT = 6.0  # the smallest size a printed name is legible at

_INVISIBLE = {
    "Cc": "a control character",
    "Cf": "an invisible format character that can hide or reorder text",
    "Zl": "a line break",
    "Zp": "a paragraph break",
    "Cn": "an unassigned code point",
    "Co": "a private-use character",
    "Cs": "a lone surrogate",
}

_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_CONTROL_NAMES = {"\t": "CHARACTER TABULATION", "\n": "LINE FEED", "\r": "CARRIAGE RETURN"}


@dataclass(frozen=True)
class Unprintable:
    codepoint: int
    position: int  # 1-based, in the text as checked (NFC)

    def __str__(self) -> str:
        return describe(chr(self.codepoint))


def describe(char: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE``: a character named without printing it."""
    name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "")
    return f"U+{ord(char):04X} {name}" if name else f"U+{ord(char):04X}"


@cache
def _coverage(file_name: str) -> frozenset[int]:
    from reportlab.pdfbase.ttfonts import TTFontFile

    return frozenset(TTFontFile(str(font_file(file_name))).charToGlyph)


def unprintable(text: str, files: tuple[str, ...] = TEXT_FONT_FILES) -> list[Unprintable]:
    """Characters of ``text`` (after NFC) that one of the font ``files`` has no glyph for, each
    code point once, at its first position. Spaces need no glyph."""
    text = unicodedata.normalize("NFC", text)
    covered = [_coverage(file) for file in files]
    missing: dict[int, Unprintable] = {}
    for position, char in enumerate(text, start=1):
        code = ord(char)
        if code not in missing and not char.isspace() and any(code not in c for c in covered):
            missing[code] = Unprintable(code, position)
    return list(missing.values())


def invisible(text: str) -> list[Unprintable]:
    """Control, format and line-break characters (and non-characters) in ``text``."""
    return [
        Unprintable(ord(char), position)
        for position, char in enumerate(text, start=1)
        if unicodedata.category(char) in _INVISIBLE
    ]


def _more(count: int) -> str:
    return f" (and {count - 1} more)" if count > 1 else ""


def invisible_message(found: list[Unprintable]) -> str:
    first = found[0]
    char = chr(first.codepoint)
    kind = "a line break" if char in _LINE_BREAKS else _INVISIBLE[unicodedata.category(char)]
    return f"contains {first} at character {first.position}{_more(len(found))}, {kind}: delete it"


def unprintable_message(found: list[Unprintable]) -> str:
    first = found[0]
    return (
        f"has a character the form font cannot print: {first} at character "
        f"{first.position}{_more(len(found))}; transliterate it (the font has Latin, Greek "
        "and Cyrillic letters)"
    )

"""Text from the ledger made safe to show: no invisible character passes into a report raw,
and no CSV cell runs as a spreadsheet formula.

The census refuses control and format characters (:mod:`downtime.census.printable`), but a
report also shows what came another way: packs printed by an older version or imported from a
manifest, scanned file names, messages. A right-to-left override (U+202E) in any of them would
reorder the rest of its line on screen, a zero-width space would hide a difference between two
names, so each such character is shown as U+FFFD REPLACEMENT CHARACTER (one for one: the
columns of the text table keep their widths).
"""

from __future__ import annotations

import unicodedata
from typing import Any

REPLACEMENT = "\ufffd"
# Control, format, line and paragraph separators, surrogates, private use, unassigned.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
# What a spreadsheet starts a formula with (full-width forms too: some spreadsheets fold them).
_FORMULA_START = "=+-@\uff1d\uff0b\uff0d\uff20"


def visible(text: str, *, keep: str = "") -> str:
    """``text`` with every control or format character (except those in ``keep``) replaced."""
    return "".join(
        REPLACEMENT if char not in keep and unicodedata.category(char) in _HIDDEN else char
        for char in text
    )


def visible_tree(value: Any) -> Any:
    """A JSON-ready value with :func:`visible` applied to every string, keys included."""
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, dict):
        return {visible_tree(key): visible_tree(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [visible_tree(item) for item in value]
    return value


def spreadsheet_cell(text: str | None) -> str:
    """A CSV text cell: :func:`visible`, and a ``'`` in front of a cell a spreadsheet would run
    as a formula (starting with ``= + - @``, after any spaces, or with a tab or line break)."""
    if not text:
        return ""
    if text[0] in "\t\r\n":
        return f"'{visible(text)}"
    cell = visible(text)
    return f"'{cell}" if cell.lstrip()[:1] in tuple(_FORMULA_START) else cell

"""Form definitions: declarative TOML files, loaded and validated into frozen records.

A hospital changes or adds a form by editing a TOML file, never Python. The built-in forms live
in the repository's ``forms/`` (found by :mod:`downtime.bundled`, in a wheel too); a site may
add or override forms in ``$DOWNTIME_HOME/forms``
(same ``id`` replaces the built-in one). The file format (``schema = "downtime.form/1"``) is
documented in ``docs/forms.md``.

Coordinates in a definition are millimetres. Group origins are relative to the **body area**
(the part of the page between the printed header and footer, top-left origin); item boxes are
relative to their group row (or cell). ``forms/layout.py`` turns them into page millimetres.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from downtime.vocab import FieldKind

SCHEMA = "downtime.form/1"
LANGS = ("sv", "en")
FIELD_KINDS = tuple(FieldKind)
SUBJECTS = ("patient", "admission", "ward")
SOURCES = ("orders.active", "orders.scheduled", "orders.prn")
ROW_PLACEHOLDERS = frozenset(
    {"medication", "dose", "route", "frequency", "times", "start_date", "order_id", "prn"}
)
PAGE_POLICIES = ("every", "first", "last")

CHECKBOX_MM = (3.0, 8.0)  # smallest and largest tick box side a form may declare
MIN_WRITING_HEIGHT_MM = 4.5  # a writing box lower than this cannot hold handwriting


Text = Mapping[str, str]  # language → text


@dataclass(frozen=True)
class Item:
    """Something drawn in a group row or cell: a field, a text, or a line.

    ``type``: ``field`` (a place to write or tick; has ``id`` and ``kind``), ``text`` (a fixed
    label or a ``{placeholder}`` template filled from the row's data), ``line`` or ``rect``.
    """

    type: str
    box_mm: tuple[float, float, float, float]  # relative to the row / cell origin
    id: str = ""
    kind: str = ""
    label: Text | None = None  # printed small above the box (fields) or as the text itself
    template: str = ""  # for data-bound text: "{medication} {dose}"
    size_pt: float = 7.0
    bold: bool = False
    guide_lines_mm: float = 0.0  # writing areas: spacing of light guide lines (0 = none)
    label_right: bool = False  # checkboxes: label to the right of the box instead of above


@dataclass(frozen=True)
class Cells:
    """Cells repeated across a row: a fixed ``count`` or one per MAR time slot (``slots``)."""

    id: str
    origin_mm: tuple[float, float]
    step_mm: float
    items: tuple[Item, ...]
    count: int = 0  # fixed number of cells; 0 when source == "slots"
    source: str = ""  # "" or "slots"
    max_per_page: int = 0  # for slots: how many columns fit; more go to another page
    width_mm: float = 0.0  # for slots: cell width used for shading unscheduled cells


@dataclass(frozen=True)
class Group:
    id: str
    origin_mm: tuple[float, float]  # top-left of the first row, body frame
    rows: int
    step_mm: float  # row pitch
    items: tuple[Item, ...]
    cells: tuple[Cells, ...] = ()
    source: str = ""  # "" (fixed rows) or one of SOURCES (rows filled from data)
    pages: str = "every"  # fixed groups: on which pages of the form they appear
    numbered: bool = True  # ids "entry1.x" (True) or "x" (False, a single unnumbered row)
    title: Text | None = None  # printed above the first row
    header: tuple[Item, ...] = ()  # static items above the first row (column labels), body frame
    empty_text: Text | None = None  # printed when a data-bound group has no rows


@dataclass(frozen=True)
class FormDef:
    id: str
    code: int  # the number carried in the page code
    version: int
    subject: str  # patient | admission | ward
    title: Text
    groups: tuple[Group, ...]
    short: Text | None = None  # column heading on the cover sheet (default: the title)
    min_pages: int = 1
    show_allergies: bool = False
    statics: tuple[Item, ...] = ()  # drawn on every page, body frame
    path: str = ""

    def short_title(self, lang: str) -> str:
        return (self.short or self.title)[lang]

"""Drawing pages with reportlab: the only module that talks to its canvas.

Input is in page millimetres from the top-left (``layout.Op``); reportlab wants points from
the bottom-left, converted here and nowhere else. Everything is black on white: grey only for
writing guide lines and unscheduled cells, which a photocopier may lose without harm.

Page furniture (fiducials, header rules, labels) and each distinct form layout are drawn once
per PDF as reusable drawings (form XObjects); a page then adds only its own text and codes.
That keeps a page at a few kilobytes and a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from downtime.codes import qr
from downtime.forms.layout import Op, PageLayout, labels
from downtime.geometry import (
    FIDUCIAL_HOLE_MM,
    FIDUCIALS_MM,
    HOLLOW_FIDUCIAL,
    ID_TEXT_MM,
    ID_TEXT_PT,
    NAME_LINE_MM,
    NAME_LINE_PT,
    PAGE_MM,
    SERIAL_FOOTER_MM,
    SERIAL_FOOTER_PT,
    TONE_WEDGE,
    code_boxes_mm,
    tone_steps_mm,
)
from downtime.pack import fonts

MM = 72.0 / 25.4  # points per millimetre
MIN_TEXT_PT = 4.0  # text shrinks to fit its width down to this size, then is cut with "…"
ELLIPSIS = "\u2026"


@dataclass(frozen=True)
class PageHead:
    """What the header and footer of one page say. All text already in the page's language."""

    title: str
    subject: str  # patient | admission | ward
    name_line: str  # "Tolvansson, Tolvan" (patient), the new-patient notice, or the ward
    id_label: str  # "Personnummer", "Reservnummer (nedtid)" …
    id_text: str  # "19121212-1212"
    details: str  # "Född 1912-12-12 · Avdelning MED42 · Säng 3 · Vårdkontakt E-1"
    page: int
    page_count: int
    serial: str
    data_as_of: str  # "Uppgifter per 2026-11-25 06:00"
    code_text: str  # the signed DK1 text, encoded once and drawn twice


def _pt(x_mm: float, y_mm: float) -> tuple[float, float]:
    """Page mm from the top-left → reportlab points from the bottom-left."""
    return x_mm * MM, (PAGE_MM[1] - y_mm) * MM


class PackRenderer:
    """Draws pages into one PDF. Not thread-safe; one per output file."""

    def __init__(self, out: Path | BinaryIO, *, lang: str, title: str, encoder: str = "auto"):
        from reportlab.pdfgen.canvas import Canvas

        fonts.register()
        self._words = labels(lang)
        self._encode = qr.encoder(encoder)
        target: Any = str(out) if isinstance(out, Path) else out
        self._c = Canvas(
            target,
            pagesize=(PAGE_MM[0] * MM, PAGE_MM[1] * MM),
            pageCompression=1,
            invariant=1,
        )
        self._c.setTitle(title)  # no patient data in document metadata
        self._c.setCreator("downtime")
        self._c.setAuthor("")
        self._c.setSubject("")
        self._drawings: dict[tuple[Op, ...], str] = {}
        self.pages = 0

    # -- public -------------------------------------------------------------------------------

    def page(self, head: PageHead, layout: PageLayout) -> None:
        c = self._c
        self._reuse("frame", FRAME_OPS)
        self._reuse("layout", layout.static_ops)
        self._ops(layout.data_ops)
        self._head(head)
        self._codes(head.code_text)
        c.showPage()
        self.pages += 1

    def close(self) -> None:
        self._c.save()

    # -- drawing ------------------------------------------------------------------------------

    def _reuse(self, prefix: str, ops: tuple[Op, ...]) -> None:
        """Draw ``ops`` as a shared drawing: defined the first time, referenced after."""
        if not ops:
            return
        name = self._drawings.get(ops)
        if name is None:
            name = f"{prefix}{len(self._drawings)}"
            self._drawings[ops] = name
            self._c.beginForm(name)
            self._ops(ops)
            self._c.endForm()
        self._c.doForm(name)

    def _ops(self, ops: tuple[Op, ...]) -> None:
        for op in ops:
            _DRAW[op.kind](self._c, op)

    def _head(self, head: PageHead) -> None:
        w = self._words
        page_of = w["page_of"].format(n=head.page, count=head.page_count)
        ops = [
            Op("text", 24.0, 15.3, 130.0, 5.0, head.title.upper(), 12.0, True),
            Op("text", *NAME_LINE_MM, head.name_line, NAME_LINE_PT, True),
            Op("text", 15.0, 34.5, 60.0, 3.0, head.id_label, 7.0),
            Op("mono", *ID_TEXT_MM, head.id_text, ID_TEXT_PT, True),
            Op("text", 15.0, 46.3, 140.0, 4.5, head.details, 10.5),
            Op("text", 15.0, 53.3, 140.0, 4.0, f"{head.data_as_of}  ·  {page_of}", 9.0, True),
            Op("text", 15.0, 57.8, 140.0, 3.5, f"{w['serial']} {head.serial}", 8.0),
            # footer: serial large, identity again, notice
            Op("text", 57.0, 236.0, 100.0, 3.0, w["serial"], 7.0),
            Op("mono", *SERIAL_FOOTER_MM, head.serial, SERIAL_FOOTER_PT, True),
            Op("text", 57.0, 248.0, 128.0, 4.0, f"{head.name_line}  ·  {head.id_text}", 10.0, True),
            Op("text", 57.0, 254.0, 128.0, 4.0, f"{head.title}  ·  {page_of}", 9.0),
            Op("text", 57.0, 260.0, 128.0, 4.0, w["notice"], 9.0, True),
            Op("text", 57.0, 266.0, 128.0, 3.5, head.data_as_of, 8.0),
        ]
        self._ops(tuple(ops))

    def _codes(self, text: str) -> None:
        matrix = self._encode(text)
        image = Image.fromarray(np.where(matrix, 0, 255).astype(np.uint8), mode="L")
        from reportlab.lib.utils import ImageReader

        reader = ImageReader(image)
        for x, y, w, h in code_boxes_mm(matrix.shape[0]):
            px, py = _pt(x, y + h)
            self._c.drawImage(reader, px, py, w * MM, h * MM)


# --------------------------------------------------------------------------------------------
# Primitive drawing functions, one per Op kind


def _text(c: Any, op: Op) -> None:
    _draw_string(c, op, fonts.BOLD if op.bold else fonts.REGULAR)


def _mono(c: Any, op: Op) -> None:
    _draw_string(c, op, fonts.MONO)


def _draw_string(c: Any, op: Op, font: str) -> None:
    """A line of text that never leaves its width: shrunk to fit down to :data:`MIN_TEXT_PT`,
    then cut with an ellipsis (the census refuses names that long; this is the last line of
    defence for the QR code and the identifier beside them)."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    size, text = op.size, op.text
    width = stringWidth(text, font, size)
    limit = op.w * MM
    if width > limit > 0:
        size = max(size * limit / width, MIN_TEXT_PT)
        text = fit_width(text, lambda t: stringWidth(t, font, size), limit)
    x, y = _pt(op.x, op.y + size / MM * 0.8)
    c.setFont(font, size)
    c.drawString(x, y, text)


def fit_width(text: str, width: Callable[[str], float], limit: float) -> str:
    """``text``, or its longest start that fits ``limit`` with an ellipsis after it."""
    if width(text) <= limit:
        return text
    low, high = 0, len(text)  # text[:low] + "…" fits; text[:high] + "…" does not
    while high - low > 1:
        middle = (low + high) // 2
        if width(text[:middle].rstrip() + ELLIPSIS) <= limit:
            low = middle
        else:
            high = middle
    return text[:low].rstrip() + ELLIPSIS if low else ""


def _box(c: Any, op: Op) -> None:
    c.setLineWidth(0.9 if op.size else 0.6)
    c.setStrokeGray(0)
    x, y = _pt(op.x, op.y + op.h)
    c.rect(x, y, op.w * MM, op.h * MM, stroke=1, fill=0)


def _rect(c: Any, op: Op) -> None:
    c.setLineWidth(0.5)
    c.setStrokeGray(0)
    x, y = _pt(op.x, op.y + op.h)
    c.rect(x, y, op.w * MM, op.h * MM, stroke=1, fill=0)


def _fill(c: Any, op: Op) -> None:
    c.setFillGray(op.size)
    x, y = _pt(op.x, op.y + op.h)
    c.rect(x, y, op.w * MM, op.h * MM, stroke=0, fill=1)
    c.setFillGray(0)


def _line(c: Any, op: Op) -> None:
    c.setLineWidth(0.6)
    c.setStrokeGray(0)
    x1, y1 = _pt(op.x, op.y)
    x2, y2 = _pt(op.x + op.w, op.y + op.h)
    c.line(x1, y1, x2, y2)


def _guides(c: Any, op: Op) -> None:
    c.setLineWidth(0.4)
    c.setStrokeGray(0.7)
    c.setDash(1, 2)
    y = op.y + op.size
    while y < op.y + op.h - 1.0:
        x1, y1 = _pt(op.x + 1.5, y)
        x2, _ = _pt(op.x + op.w - 1.5, y)
        c.line(x1, y1, x2, y1)
        y += op.size
    c.setDash()
    c.setStrokeGray(0)


def _banner(c: Any, op: Op) -> None:
    x, y = _pt(op.x, op.y + op.h)
    c.setFillGray(0)
    c.rect(x, y, op.w * MM, op.h * MM, stroke=0, fill=1)
    c.setFillGray(1)
    _draw_string(c, Op("text", op.x + 2.0, op.y + 1.6, op.w - 4.0, 0, op.text, op.size), fonts.BOLD)
    c.setFillGray(0)


def _fiducial(c: Any, op: Op) -> None:
    x, y = _pt(op.x, op.y + op.h)
    c.setFillGray(0)
    c.rect(x, y, op.w * MM, op.h * MM, stroke=0, fill=1)
    if op.size:  # hollow: a white square in the middle
        hole = op.size
        hx, hy = _pt(op.x + (op.w - hole) / 2, op.y + (op.h + hole) / 2)
        c.setFillGray(1)
        c.rect(hx, hy, hole * MM, hole * MM, stroke=0, fill=1)
        c.setFillGray(0)


_DRAW = {
    "text": _text,
    "mono": _mono,
    "box": _box,
    "rect": _rect,
    "fill": _fill,
    "line": _line,
    "guides": _guides,
    "banner": _banner,
    "fiducial": _fiducial,
}


def _frame_ops() -> tuple[Op, ...]:
    """Furniture every page has: registration marks, header and footer rules."""
    ops = [
        Op("fiducial", *box, size=FIDUCIAL_HOLE_MM if name == HOLLOW_FIDUCIAL else 0.0)
        for name, box in FIDUCIALS_MM.items()
    ]
    ops.append(Op("line", 15.0, 62.5, 140.0, 0.0))
    ops.append(Op("line", 15.0, 233.0, 180.0, 0.0))
    ops += [
        Op("fill", *box, size=1.0 - darkness)
        for box, darkness in zip(tone_steps_mm(), TONE_WEDGE, strict=True)
    ]
    return tuple(ops)


FRAME_OPS = _frame_ops()

"""The ward cover sheet: what was printed for whom, and how to return it.

Laid out from the pack's own plan (pure): the census as printed (bed, name, identifier),
pages per form per patient with a "back" box to tick when returning, the reserve numbers of
the blank admission forms, the census rows that were *not* printed, and the return checklist.
Long wards continue on further pages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from downtime.census.printable import NAME_MIN_PT
from downtime.forms.layout import Op, PageLayout, labels
from downtime.geometry import BODY_ORIGIN_MM
from downtime.model import Patient, SkippedRow
from downtime.pack import fonts

MM_TO_PT = 72.0 / 25.4

ROW_MM = 6.2
BODY_H_MM = 168.0
_X0, _Y0 = BODY_ORIGIN_MM

# Column left edges and widths, body frame: bed, name, identifier, one per form, total, back.
_BED, _NAME, _ID = (0.0, 13.0), (14.0, 56.0), (71.0, 30.0)
NAME_COLUMN_MM = _NAME[1]  # names that do not fit here at NAME_MIN_PT are shortened
NAME_PT = 9.0  # its bold size before shrinking to fit
_FORMS_X = 102.0
_FORM_W = 11.5


@dataclass(frozen=True)
class CoverRow:
    patient: Patient
    pages_per_form: Mapping[str, int]  # form id → pages printed


@dataclass(frozen=True)
class CoverInput:
    lang: str
    form_columns: Sequence[tuple[str, str]]  # (form id, short heading)
    rows: Sequence[CoverRow]
    reserve_ids: Sequence[str]
    skipped: Sequence[SkippedRow]
    summary: str  # "12 patienter · 80 sidor · 4 inskrivningsblanketter"
    valid_line: str  # "Gäller till 2026-11-25 18:00  ·  Paket 3f2a…"
    note: str  # what to do with earlier printouts


def layout_cover(data: CoverInput) -> list[PageLayout]:
    words = labels(data.lang)
    tail = _tail_ops(data, words)
    tail_h = tail[-1].y + tail[-1].h - _Y0 if tail else 0.0
    rows_first = int((BODY_H_MM - 22.0) // ROW_MM)
    rows_next = int((BODY_H_MM - 8.0) // ROW_MM)
    chunks: list[Sequence[CoverRow]] = []
    rest = list(data.rows)
    capacity = rows_first
    while rest or not chunks:
        chunks.append(rest[:capacity])
        rest = rest[capacity:]
        capacity = rows_next
    # The tail goes under the last rows if it fits, else on a page of its own.
    last_top = _table_top(len(chunks) == 1) + 6.0 + len(chunks[-1]) * ROW_MM + 4.0
    tail_on_new_page = last_top + tail_h > _Y0 + BODY_H_MM
    pages_ops: list[list[Op]] = []
    n = 0
    for i, chunk in enumerate(chunks):
        ops: list[Op] = []
        if i == 0:
            ops.extend(_summary_ops(data, words))
        top = _table_top(i == 0)
        ops.extend(_table_ops(data, words, chunk, top, n))
        n += len(chunk)
        pages_ops.append(ops)
    if tail_on_new_page:
        pages_ops.append([_shift(op, _Y0 - tail[0].y + 2.0) for op in tail])
    else:
        pages_ops[-1].extend(_shift(op, last_top - tail[0].y) for op in tail)
    count = len(pages_ops)
    return [
        PageLayout("cover", i + 1, count, (), tuple(ops), ()) for i, ops in enumerate(pages_ops)
    ]


def _table_top(first: bool) -> float:
    return _Y0 + (16.0 if first else 2.0)


def _shift(op: Op, dy: float) -> Op:
    return Op(op.kind, op.x, op.y + dy, op.w, op.h, op.text, op.size, op.bold)


def _summary_ops(data: CoverInput, words: Mapping[str, str]) -> list[Op]:
    return [
        Op("text", _X0, _Y0 + 1.0, 180.0, 4.5, data.summary, 10.5, True),
        Op("text", _X0, _Y0 + 6.5, 180.0, 4.0, data.valid_line, 8.5),
        Op("text", _X0, _Y0 + 11.0, 180.0, 3.5, data.note, 8.0, True),
    ]


def _table_ops(
    data: CoverInput,
    words: Mapping[str, str],
    rows: Sequence[CoverRow],
    top: float,
    first_index: int,
) -> list[Op]:
    x = _X0
    total_x = _FORMS_X + _FORM_W * len(data.form_columns)
    back_x = total_x + 11.0
    ops = [
        Op("text", x + _BED[0], top, _BED[1], 3.5, words["col_bed"], 7.5, True),
        Op("text", x + _NAME[0], top, _NAME[1], 3.5, words["col_name"], 7.5, True),
        Op("text", x + _ID[0], top, _ID[1], 3.5, words["col_id"], 7.5, True),
        Op("text", x + total_x, top, 10.0, 3.5, words["col_total"], 7.5, True),
        Op("text", x + back_x, top, 12.0, 3.5, words["col_returned"], 7.5, True),
        Op("line", x, top + 5.0, 180.0, 0.0),
    ]
    for c, (_, heading) in enumerate(data.form_columns):
        ops.append(
            Op("text", x + _FORMS_X + c * _FORM_W, top, _FORM_W - 0.5, 3.5, heading, 6.5, True)
        )
    y = top + 6.0
    for i, row in enumerate(rows):
        p = row.patient
        if (first_index + i) % 2:
            ops.append(Op("fill", x, y - 0.4, 180.0, ROW_MM, size=0.93))
        ops.append(Op("text", x + _BED[0], y + 1.0, _BED[1], 4.0, p.bed, 9.0, True))
        ops.append(
            Op(
                "text",
                x + _NAME[0],
                y + 1.0,
                _NAME[1],
                4.0,
                cover_name(p.family_name, p.given_name),
                NAME_PT,
                True,
            )
        )
        ops.append(Op("mono", x + _ID[0], y + 1.0, _ID[1], 4.0, p.identifier.display(), 9.0, True))
        for c, (form_id, _) in enumerate(data.form_columns):
            pages = row.pages_per_form.get(form_id, 0)
            ops.append(
                Op(
                    "text",
                    x + _FORMS_X + c * _FORM_W + 3.0,
                    y + 1.0,
                    8.0,
                    4.0,
                    str(pages or "–"),
                    9.0,
                )
            )
        total = sum(row.pages_per_form.values())
        ops.append(Op("text", x + total_x + 2.0, y + 1.0, 8.0, 4.0, str(total), 9.0, True))
        ops.append(Op("box", x + back_x + 2.0, y + 0.6, 4.5, 4.5))
        y += ROW_MM
    return ops


def cover_name(family: str, given: str) -> str:
    """The name as the cover's column shows it: in full when it fits at NAME_MIN_PT, else
    with the given names as initials ("Andersson-Johansson, A.-K. M."), else with the first
    initial only (the renderer cuts what still does not fit with an ellipsis); the page head
    and footer of the patient's own forms print it in full, and the identifier stands beside
    it."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    fonts.register()
    room = NAME_COLUMN_MM * MM_TO_PT * NAME_PT / NAME_MIN_PT
    words = given.split()
    initials = ["-".join(f"{part[:1]}." for part in word.split("-") if part) for word in words]
    tried = [given, " ".join(initials), initials[0] if initials else ""]
    for shown in tried:
        text = f"{family}, {shown}"
        if stringWidth(text, fonts.BOLD, NAME_PT) <= room:
            return text
    return f"{family}, {tried[-1]}"


def _tail_ops(data: CoverInput, words: Mapping[str, str]) -> list[Op]:
    """Reserve numbers, skipped rows and the checklist, laid out from y = 0 (shifted later)."""
    ops: list[Op] = []
    y = 0.0
    if data.reserve_ids:
        ops.append(Op("text", _X0, y, 180.0, 4.0, words["admission_list"], 8.5, True))
        y += 5.0
        for i, rid in enumerate(data.reserve_ids):
            col, line = i % 4, i // 4
            ops.append(Op("mono", _X0 + col * 45.0, y + line * 5.0, 44.0, 4.0, rid, 9.0, True))
        y += 5.0 * ((len(data.reserve_ids) + 3) // 4) + 2.0
    if data.skipped:
        ops.append(Op("banner", _X0, y, 180.0, 6.0, words["skipped_title"], 8.5, True))
        y += 7.5
        for row in data.skipped:
            text = words["skipped_line"].format(line=row.line, what=row.what)
            ops.append(Op("text", _X0 + 2.0, y, 176.0, 3.5, text, 8.0))
            y += 4.2
        y += 2.0
    ops.append(Op("line", _X0, y, 180.0, 0.0))
    ops.append(Op("text", _X0, y + 1.5, 180.0, 4.0, words["checklist"], 9.0, True))
    y += 7.0
    for key in ("check_collected", "check_counted", "check_unused", "check_delivered"):
        ops.append(Op("box", _X0, y, 4.5, 4.5))
        ops.append(Op("text", _X0 + 7.0, y + 0.6, 170.0, 3.5, words[key], 8.5))
        y += 6.5
    ops.append(Op("box", _X0, y + 3.5, 110.0, 7.0))
    ops.append(Op("text", _X0, y + 0.2, 110.0, 3.0, words["handed_by"], 7.0))
    ops.append(Op("box", _X0 + 114.0, y + 3.5, 66.0, 7.0))
    ops.append(Op("text", _X0 + 114.0, y + 0.2, 66.0, 3.0, words["handed_at"], 7.0))
    return ops

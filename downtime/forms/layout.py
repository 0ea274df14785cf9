"""Form definition + a patient's data → laid-out pages (pure; no drawing, no I/O).

Everything here is in **page millimetres from the top-left** corner of an A4 portrait sheet.
A :class:`PageLayout` holds the drawing operations split in two: ``static_ops`` depend only on the
form, the language and the shape of the data (how many rows, which time slots), so pages that
share them share one drawing in the PDF; ``data_ops`` carry this page's own data.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cache

from downtime.bundled import labels_file
from downtime.forms.definition import Cells, FormDef, Group, Item
from downtime.geometry import BODY_ORIGIN_MM
from downtime.model import FieldBox, Identifier, MedicationOrder
from downtime.vocab import FieldKind

ALLERGY_BANNER_MM = 9.0  # height reserved at the top of the body on medication forms
SEPARATOR = "·"  # between parts of a data template; empty parts are dropped


@dataclass(frozen=True)
class Op:
    """One drawing primitive in page millimetres (top-left origin).

    kinds: ``text`` (x, y = left/top of a line box of height h; w = width it must fit in, the
    text shrinks to fit), ``box`` (a field outline), ``rect`` (a thin rule rectangle),
    ``fill`` (a filled rectangle, grey level in ``size``), ``line`` (x, y → x + w, y + h),
    ``guides`` (light writing lines every ``size`` mm inside the box), ``banner`` (white
    bold text on black).
    """

    kind: str
    x: float
    y: float
    w: float
    h: float
    text: str = ""
    size: float = 0.0
    bold: bool = False


@dataclass(frozen=True)
class PageLayout:
    form_id: str
    page: int  # 1-based within the form for this patient
    page_count: int
    static_ops: tuple[Op, ...]
    data_ops: tuple[Op, ...]
    fields: tuple[FieldBox, ...]


@cache
def labels(lang: str) -> Mapping[str, str]:
    """The page furniture's words in one language (``forms/labels/labels.toml``)."""
    raw = labels_file().read_text("utf-8")
    catalogue = tomllib.loads(raw)
    if lang not in catalogue:
        raise KeyError(f"no labels for language '{lang}' (known: {', '.join(catalogue)})")
    return dict(catalogue[lang])


# --------------------------------------------------------------------------------------------
# Time slots (MAR columns)


def slot_times(
    orders: Sequence[MedicationOrder], start: datetime, hours: int = 24
) -> tuple[datetime, ...]:
    """Every scheduled administration time in the ``hours`` from ``start``, in order."""
    end = start + timedelta(hours=hours)
    times = {t for o in orders if not o.prn for t in o.times}
    return tuple(sorted(at for at in (next_at(t, start) for t in times) if at < end))


def next_at(t: time, start: datetime) -> datetime:
    """The first moment at or after ``start`` whose local time of day is ``t``."""
    candidate = start.replace(hour=t.hour, minute=t.minute, second=0, microsecond=0)
    return candidate if candidate >= start else candidate + timedelta(days=1)


def slot_key(t: time | datetime) -> str:
    """Field-id part for a slot: ``t08`` for 08:00, ``t0830`` for 08:30."""
    return f"t{t.hour:02d}" if t.minute == 0 else f"t{t.hour:02d}{t.minute:02d}"


# --------------------------------------------------------------------------------------------
# Pagination


@dataclass(frozen=True)
class _Chunk:
    rows: tuple[MedicationOrder, ...]
    slots: tuple[datetime, ...]


def _rows_for(group: Group, orders: Sequence[MedicationOrder]) -> tuple[MedicationOrder, ...]:
    if group.source == "orders.scheduled":
        return tuple(o for o in orders if not o.prn)
    if group.source == "orders.prn":
        return tuple(o for o in orders if o.prn)
    return tuple(orders)


def _chunks(
    group: Group,
    orders: Sequence[MedicationOrder],
    window_start: datetime | None,
    window_hours: int,
) -> list[_Chunk]:
    """A data-bound group's pages: rows in chunks, and slot columns in chunks per row chunk."""
    rows = _rows_for(group, orders)
    slot_cells = next((c for c in group.cells if c.source == "slots"), None)
    out: list[_Chunk] = []
    for r in range(0, max(len(rows), 1), group.rows):
        chunk_rows = rows[r : r + group.rows]
        if slot_cells is None or window_start is None:
            out.append(_Chunk(chunk_rows, ()))
            continue
        slots = slot_times(chunk_rows, window_start, window_hours)
        per = slot_cells.max_per_page
        for c in range(0, max(len(slots), 1), per):
            out.append(_Chunk(chunk_rows, slots[c : c + per]))
    return out


def layout_form(
    form: FormDef,
    lang: str,
    *,
    orders: Sequence[MedicationOrder] = (),
    allergies: Sequence[str] = (),
    window_start: datetime | None = None,
    window_hours: int = 24,
) -> list[PageLayout]:
    """Lay out every page this form needs for one patient (or one blank form).

    ``window_start``: local wall-clock time the administration record starts at; its time
    slots are the orders' times of day in the ``window_hours`` from then.
    """
    words = labels(lang)
    data_groups = [g for g in form.groups if g.source]
    chunks = {g.id: _chunks(g, orders, window_start, window_hours) for g in data_groups}
    count = max([form.min_pages, *(len(c) for c in chunks.values())])
    pages = []
    for n in range(1, count + 1):
        static: list[Op] = []
        data: list[Op] = []
        fields: list[FieldBox] = []
        if form.show_allergies:
            data.append(_allergy_banner(allergies, words))
        static.extend(_item_ops(form.statics, lang, BODY_ORIGIN_MM))
        for group in form.groups:
            if group.source:
                group_chunks = chunks[group.id]
                chunk = group_chunks[n - 1] if n <= len(group_chunks) else None
                _data_group(group, chunk, lang, words, static, data, fields)
            elif _shows_on(group, n, count):
                _fixed_group(group, lang, static, fields)
        pages.append(PageLayout(form.id, n, count, tuple(static), tuple(data), tuple(fields)))
    return pages


def _shows_on(group: Group, page: int, count: int) -> bool:
    return (
        group.pages == "every"
        or (group.pages == "first" and page == 1)
        or (group.pages == "last" and page == count)
    )


# --------------------------------------------------------------------------------------------
# Groups


def _origin(group: Group) -> tuple[float, float]:
    return BODY_ORIGIN_MM[0] + group.origin_mm[0], BODY_ORIGIN_MM[1] + group.origin_mm[1]


def _group_heading(group: Group, lang: str, static: list[Op]) -> None:
    gx, gy = _origin(group)
    if group.title is not None:
        static.append(Op("text", gx, gy - 9.5, 180.0, 4.0, group.title[lang], 8.5, True))
    static.extend(_item_ops(group.header, lang, BODY_ORIGIN_MM))


def _fixed_group(group: Group, lang: str, static: list[Op], fields: list[FieldBox]) -> None:
    _group_heading(group, lang, static)
    gx, gy = _origin(group)
    for r in range(group.rows):
        prefix = f"{group.id}{r + 1}." if group.numbered else f"{group.id}."
        row = (gx, gy + r * group.step_mm)
        static.extend(_item_ops(group.items, lang, row))
        fields.extend(_item_fields(group.items, prefix, row, {}))
        for cells in group.cells:
            for c in range(cells.count):
                at = _cell_origin(row, cells, c)
                cprefix = f"{prefix}{cells.id}{c + 1}."
                static.extend(_item_ops(cells.items, lang, at))
                fields.extend(_item_fields(cells.items, cprefix, at, {}))


def _data_group(
    group: Group,
    chunk: _Chunk | None,
    lang: str,
    words: Mapping[str, str],
    static: list[Op],
    data: list[Op],
    fields: list[FieldBox],
) -> None:
    if chunk is None:
        return  # this group's data ended on an earlier page
    _group_heading(group, lang, static)
    gx, gy = _origin(group)
    if not chunk.rows and group.empty_text is not None:
        static.append(Op("text", gx, gy, 180.0, 4.5, group.empty_text[lang], 8.0))
        return
    slot_cells = next((c for c in group.cells if c.source == "slots"), None)
    if slot_cells is not None:
        static.extend(_slot_headings(slot_cells, chunk.slots, (gx, gy)))
    for r, order in enumerate(chunk.rows):
        prefix = f"{group.id}{r + 1}."
        row = (gx, gy + r * group.step_mm)
        ref = {"order_id": order.order_id}
        static.extend(_item_ops(group.items, lang, row))
        data.extend(_template_ops(group.items, row, order, words))
        fields.extend(_item_fields(group.items, prefix, row, ref))
        for cells in group.cells:
            if cells.source == "slots":
                _slot_row(cells, chunk.slots, order, prefix, row, lang, static, fields)
                continue
            for c in range(cells.count):
                at = _cell_origin(row, cells, c)
                static.extend(_item_ops(cells.items, lang, at))
                fields.extend(_item_fields(cells.items, f"{prefix}{cells.id}{c + 1}.", at, ref))


def _cell_origin(row: tuple[float, float], cells: Cells, index: int) -> tuple[float, float]:
    return row[0] + cells.origin_mm[0] + index * cells.step_mm, row[1] + cells.origin_mm[1]


def _slot_headings(
    cells: Cells, slots: Sequence[datetime], group_xy: tuple[float, float]
) -> Iterator[Op]:
    for c, at in enumerate(slots):
        x, _ = _cell_origin(group_xy, cells, c)
        w = cells.width_mm or cells.step_mm
        yield Op("text", x, group_xy[1] - 8.0, w, 3.5, at.strftime("%H:%M"), 9.0, True)
        yield Op("text", x, group_xy[1] - 4.2, w, 3.0, at.strftime("%d/%m"), 6.5)


def _slot_row(
    cells: Cells,
    slots: Sequence[datetime],
    order: MedicationOrder,
    prefix: str,
    row: tuple[float, float],
    lang: str,
    static: list[Op],
    fields: list[FieldBox],
) -> None:
    scheduled = set(order.times)
    for c, at in enumerate(slots):
        cx, cy = _cell_origin(row, cells, c)
        if at.timetz().replace(tzinfo=None) not in scheduled:
            w = cells.width_mm or cells.step_mm
            static.append(Op("fill", cx, cy, w - 1.0, _cell_height(cells), size=0.85))
            continue
        ref = {"order_id": order.order_id, "slot": at.isoformat()}
        static.extend(_item_ops(cells.items, lang, (cx, cy)))
        fields.extend(_item_fields(cells.items, f"{prefix}{slot_key(at)}.", (cx, cy), ref))


def _cell_height(cells: Cells) -> float:
    return max(i.box_mm[1] + i.box_mm[3] for i in cells.items)


# --------------------------------------------------------------------------------------------
# Items


def _item_ops(items: Sequence[Item], lang: str, at: tuple[float, float]) -> Iterator[Op]:
    """The fixed drawing of items: field outlines and labels, lines, fixed texts."""
    ox, oy = at
    for item in items:
        x, y, w, h = item.box_mm
        x, y = ox + x, oy + y
        if item.type == "field":
            yield from _field_ops(item, lang, x, y, w, h)
        elif item.type == "text" and item.label is not None:
            yield Op("text", x, y, w, h, item.label[lang], item.size_pt, item.bold)
        elif item.type == "line":
            yield Op("line", x, y, w, h)
        elif item.type == "rect":
            yield Op("rect", x, y, w, h)


def _field_ops(item: Item, lang: str, x: float, y: float, w: float, h: float) -> Iterator[Op]:
    yield Op("box", x, y, w, h, size=1.0 if item.kind == FieldKind.CHECKBOX else 0.0)
    if item.guide_lines_mm > 0:
        yield Op("guides", x, y, w, h, size=item.guide_lines_mm)
    if item.label is None:
        return
    text = item.label[lang]
    if item.label_right:
        yield Op("text", x + w + 1.0, y + (h - 3.0) / 2, 60.0, 3.0, text, item.size_pt, item.bold)
    else:
        yield Op("text", x, y - 3.2, max(w, 20.0), 3.0, text, item.size_pt, item.bold)


def _template_ops(
    items: Sequence[Item],
    at: tuple[float, float],
    order: MedicationOrder,
    words: Mapping[str, str],
) -> Iterator[Op]:
    values = _order_values(order, words)
    for item in items:
        if item.type == "text" and item.template:
            x, y, w, h = item.box_mm
            text = _drop_empty_parts(item.template.format_map(values))
            yield Op("text", at[0] + x, at[1] + y, w, h, text, item.size_pt, item.bold)


def _drop_empty_parts(text: str) -> str:
    """``"1 g  ·  PO  ·    ·  "`` → ``"1 g  ·  PO"``: a template's "·"-separated parts whose
    placeholders were empty are left out, with their separators."""
    if SEPARATOR not in text:
        return text.strip()
    return f"  {SEPARATOR}  ".join(p.strip() for p in text.split(SEPARATOR) if p.strip())


def _order_values(order: MedicationOrder, words: Mapping[str, str]) -> dict[str, str]:
    return {
        "medication": order.medication,
        "dose": order.dose,
        "route": order.route,
        "frequency": order.frequency,
        "times": ", ".join(t.strftime("%H:%M") for t in order.times),
        "start_date": order.start_date.isoformat() if order.start_date else "",
        "order_id": order.order_id,
        "prn": words["prn"] if order.prn else "",
    }


def _item_fields(
    items: Sequence[Item], prefix: str, at: tuple[float, float], ref: Mapping[str, str]
) -> Iterator[FieldBox]:
    for item in items:
        if item.type == "field":
            x, y, w, h = item.box_mm
            yield FieldBox(
                f"{prefix}{item.id}", item.kind, _mm(at[0] + x, at[1] + y, w, h), dict(ref)
            )


def _mm(x: float, y: float, w: float, h: float) -> tuple[float, float, float, float]:
    return (round(x, 2), round(y, 2), round(w, 2), round(h, 2))


def _allergy_banner(allergies: Sequence[str], words: Mapping[str, str]) -> Op:
    x, y = BODY_ORIGIN_MM
    if allergies:
        text = f"{words['allergies']}: " + "; ".join(allergies)
    else:
        text = f"{words['allergies']}: {words['no_allergies']}"
    return Op("banner", x, y, 180.0, ALLERGY_BANNER_MM - 2.0, text, 10.0, True)


# --------------------------------------------------------------------------------------------
# The fullest pages a definition can produce, for validation (body frame, not page frame).


def definition_pages(form: FormDef) -> list[list[tuple[str, tuple[float, float, float, float]]]]:
    """Every page's field ids and boxes (body frame) with all rows and the most cells filled."""
    nobody = Identifier("none", "none")
    rows = max((g.rows for g in form.groups), default=1)
    fake = [
        MedicationOrder(
            nobody, f"o{i}", "", "", "", "", tuple(time(h) for h in range(24)), prn, None
        )
        for prn in (False, True)
        for i in range(rows)
    ]
    pages = layout_form(form, "en", orders=fake, window_start=datetime(2000, 1, 1))
    ox, oy = BODY_ORIGIN_MM
    return [
        [(f.id, (f.box_mm[0] - ox, f.box_mm[1] - oy, f.box_mm[2], f.box_mm[3])) for f in p.fields]
        for p in pages
    ]

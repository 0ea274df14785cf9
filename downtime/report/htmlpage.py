"""The outage report as one self-contained, printable HTML file.

No external assets and no JavaScript: inline CSS (A4 pages when printed, each ward on a page of
its own), an inline SVG bar chart of pages issued, returned and posted per ward, the missing
pages first, then every item held for a person. Every text from the ledger is escaped, and no
control or format character passes (:mod:`downtime.report.safetext`). Pure: a report in, a
string out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from downtime.report import (
    SCHEMA,
    Counts,
    QuarantineLine,
    Report,
    WardSection,
    Words,
    age_words,
    audit_words,
    describe_scope,
    outstanding,
    page_words,
    patient_words,
    pending_words,
    why_words,
    words,
)
from downtime.report.htmlchart import chart_svg
from downtime.report.safetext import visible
from downtime.report.words import (
    ALL_PACKS,
    OUTAGE_START,
    QUARANTINE_LIST,
    VOID_BLANK,
    audit_command,
)

COLUMNS = ("issued", "returned", "missing", "voided", "pending_review", "conflicts", "posted",
           "written", "failed")  # fmt: skip
ALERT = frozenset({"missing", "pending_review", "conflicts", "failed"})

CSS = """
@page { size: A4; margin: 14mm 12mm 16mm; }
* { box-sizing: border-box; }
body { font: 9.5pt/1.35 "DejaVu Sans", "Segoe UI", Arial, sans-serif; color: #111;
       max-width: 205mm; margin: 1.5em auto; padding: 0 1em; }
h1 { font-size: 17pt; margin: 0 0 .2em; }
h2 { font-size: 12.5pt; margin: 1.4em 0 .4em; border-bottom: 2px solid #111; }
p { margin: .3em 0; }
.meta, .muted, td.z { color: #666; }
table { border-collapse: collapse; width: 100%; margin: .4em 0; }
th, td { padding: 2px 5px; border-bottom: 1px solid #d0d0d0; text-align: left;
         vertical-align: top; }
th { font-size: 8.5pt; border-bottom: 1.5px solid #111; }
table.forms, table.totals, table.quarantine, table.pending { font-size: 8.5pt; }
.id, .nowrap { white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.alert { font-weight: bold; color: #b3261e; }
tr.first td { border-top: 1.5px solid #777; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
.serial { font-family: "DejaVu Sans Mono", Consolas, monospace; white-space: nowrap; }
.state { padding: .6em .8em; margin: 1em 0; font-size: 11pt; border-left: 8px solid; }
.state.open { background: #fdecea; border-color: #b3261e; }
.state.ok { background: #e6f4ea; border-color: #188038; }
.missing th { background: #fdecea; }
.pending th { background: #fef7e0; }
.note { font-style: italic; }
.chart { width: 100%; height: auto; max-width: 170mm; }
footer { margin-top: 2em; font-size: 8pt; color: #666; border-top: 1px solid #ccc; }
@media print {
  body { margin: 0; padding: 0; max-width: none; }
  .ward { break-before: page; page-break-before: always; }
  h2 { break-after: avoid; page-break-after: avoid; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def to_html(report: Report, lang: str) -> str:
    w = words(lang)
    title = f"{w('report_title')} — {report.site} — {report.local(report.generated_at)}"
    audit = _coded(audit_words(report, lang), audit_command(report))
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{escape(lang)}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        *_header(report, w),
        *_missing(report, w),
        *_pending(report, w),
        *_overview(report, w),
        *(line for ward in report.wards for line in _ward(report, ward, w)),
        *_unattributed(report, w),
        "<footer><p>",
        escape(w("footer", schema=SCHEMA)),
        f"<br>{audit}",
        "</p></footer>",
        "</body>",
        "</html>",
    ]
    return visible("\n".join(parts), keep="\n") + "\n"


def _coded(text: str, *commands: str) -> str:
    """``text`` escaped, each of ``commands`` in it as code."""
    out = escape(text)
    for command in commands:
        out = out.replace(escape(command), f"<code>{escape(command)}</code>")
    return out


def _header(report: Report, w: Words) -> list[str]:
    when = report.local(report.generated_at)
    meta = [escape(report.site), escape(w("generated", time=when, timezone=report.timezone))]
    if report.ward_filter:
        meta.append(escape(w("only_ward", ward=report.ward_filter)))
    scope = describe_scope(report.scope, report.timezone, w.lang)
    out = [
        "<header>",
        f"<h1>{escape(w('report_title'))}</h1>",
        f'<p class="meta">{" · ".join(meta)}</p>',
        f'<p class="scope"><strong>{escape(w("scope"))}:</strong> '
        f"{_coded(scope, OUTAGE_START, ALL_PACKS)}.</p>",
    ]
    rows = [
        [escape(s.pack.ward), _serial(s.pack.pack_id), escape(report.local(s.pack.issued_at)),
         escape(why_words(s, w))]
        for s in report.scope.packs
    ]  # fmt: skip
    head = _heads(w, "ward", "pack", "issued", "why")
    out += _table(head, rows, css="packs") if rows else []
    out.append("</header>")
    state = escape(w("state"))
    if report.complete:
        out.append(f'<p class="state ok"><strong>{state}: {escape(w("accounted"))}</strong> — '
                   f"{escape(w('nothing_left'))}.</p>")  # fmt: skip
    else:
        out.append(
            f'<p class="state open"><strong>{state}: {escape(w("not_accounted"))}</strong> — '
            f"{escape(', '.join(outstanding(report, w.lang)))}.</p>"
        )
    return out


def _heads(w: Words, *names: str) -> list[str]:
    return [escape(w.of("columns", name)) for name in names]


def _missing(report: Report, w: Words) -> list[str]:
    heading = f"{escape(w('missing_pages'))} ({len(report.missing)})"
    out = ['<section id="missing">', f"<h2>{heading}</h2>"]
    if not report.missing:
        return [*out, f"<p>{escape(w('missing_none_text'))}</p>", "</section>"]
    out.append(f"<p>{_coded(w('missing_intro', command=VOID_BLANK), VOID_BLANK)}</p>")
    rows = [
        [_serial(m.serial), escape(m.ward), escape(m.patient.bed or "–"),
         _id(patient_words(m.patient, w.lang)), escape(m.patient.name or "–"), _nowrap(m.form),
         f"{m.page_no}/{m.page_count}",
         f'<span class="note">{escape(w(m.note) if m.note else "")}</span>']
        for m in report.missing
    ]  # fmt: skip
    head = _heads(w, "serial", "ward", "bed", "patient", "name", "form", "page", "note")
    return [*out, *_table(head, rows, css="missing"), "</section>"]


def _pending(report: Report, w: Words) -> list[str]:
    heading = f"{escape(w('pending_items'))} ({len(report.pending)})"
    out = ['<section id="pending">', f"<h2>{heading}</h2>"]
    if not report.pending:
        return [*out, f"<p>{escape(w('pending_none_text'))}</p>", "</section>"]
    held = pending_words(report.pending_kinds, w.lang)
    out.append(f"<p>{escape(w('pending_intro', held=held))}</p>")
    rows = [
        [escape(h.ward), escape(h.patient.bed or "–"), _id(patient_words(h.patient, w.lang)),
         escape(h.patient.name or "–"), _nowrap(h.form),
         " ".join(_serial(s) for s in h.serials) or "–", _nowrap(page_words(h, w.lang)),
         _nowrap(h.item), _nowrap(h.kind),
         f'<td class="n">{escape(age_words(h.age(report.generated_at), w.lang))}</td>',
         escape(h.detail)]
        for h in report.pending
    ]  # fmt: skip
    head = _heads(w, "ward", "bed", "patient", "name", "form", "serial", "page", "item",
                  "held_as", "age", "why")  # fmt: skip
    return [*out, *_table(head, rows, css="pending"), "</section>"]


def _overview(report: Report, w: Words) -> list[str]:
    out = ['<section id="overview">', f"<h2>{escape(w('per_ward'))}</h2>"]
    if not report.wards:
        return [*out, f"<p>{escape(w('no_ward'))}</p>", "</section>"]
    out.append(chart_svg(report.wards, w))
    rows = [
        [escape(ward.ward), *_count_cells(ward.counts), _cell(len(ward.quarantined), alert=True)]
        for ward in report.wards
    ]
    rows.append(
        [f"<strong>{escape(w('all_wards'))}</strong>", *_count_cells(report.counts),
         _cell(report.quarantined, True)]
    )  # fmt: skip
    head = [*_heads(w, "ward"), *_count_heads(w), *_heads(w, "quarantined")]
    table = _table(head, rows, css="totals", numeric_from=1)
    return [*out, *table, f'<p class="muted">{escape(w("legend"))}</p>', "</section>"]


def _ward(report: Report, ward: WardSection, w: Words) -> list[str]:
    out = ['<section class="ward">', f"<h2>{escape(w('ward_heading', ward=ward.ward))}</h2>"]
    if ward.packs:
        packs = "; ".join(
            f"{_serial(s.pack.pack_id)} "
            f"{escape(w('issued_at', time=report.local(s.pack.issued_at)))}"
            for s in ward.packs
        )
        out.append(f'<p class="muted">{escape(w("packs"))}: {packs}</p>')
    several = len({f.pack_id for p in ward.patients for f in p.forms}) > 1
    rows: list[list[str]] = []
    starts: list[int] = []
    for p in ward.patients:
        starts.append(len(rows))
        who = p.patient
        for i, f in enumerate(p.forms):
            first = [escape(who.bed or "–"), _id(patient_words(who, w.lang)),
                     escape(who.name or "–")]  # fmt: skip
            pack = [escape(report.local(f.issued_at))] if several else []
            rows.append([*(first if i == 0 else ["", "", ""]), _nowrap(f.form), *pack,
                         *_count_cells(f.counts)])  # fmt: skip
    head = _heads(w, "bed", "patient", "name", "form", *(["pack_issued"] if several else []))
    out += _table(
        [*head, *_count_heads(w)], rows, css="forms", numeric_from=len(head), first=starts
    )
    if ward.quarantined:
        out += [f"<h3>{escape(w('quarantine_open'))} ({len(ward.quarantined)})</h3>",
                *_quarantine_table(ward.quarantined, w, attributed=True)]  # fmt: skip
    return [*out, "</section>"]


def _unattributed(report: Report, w: Words) -> list[str]:
    if not report.unattributed:
        return []
    intro = w("unattributed_intro", command=QUARANTINE_LIST)
    return [
        '<section id="unattributed">',
        f"<h2>{escape(w('unattributed'))} ({len(report.unattributed)})</h2>",
        f"<p>{_coded(intro, QUARANTINE_LIST)}</p>",
        *_quarantine_table(report.unattributed, w, attributed=False),
        "</section>",
    ]


def _quarantine_table(items: Sequence[QuarantineLine], w: Words, *, attributed: bool) -> list[str]:
    head = _heads(w, "item", "file", "page", "reason")
    if attributed:
        head += _heads(w, "serial", "form", "patient")
    rows = []
    for q in items:
        row = [str(q.item_id), escape(q.source), str(q.source_page), escape(q.reason)]
        if attributed:
            who = patient_words(q.patient, w.lang) if q.patient else "–"
            row += [_serial(q.serial or "–"), escape(q.form or "–"), _id(who)]
        rows.append(row)
    return _table(head, rows, css="quarantine")


# --------------------------------------------------------------------------------------------
# Pieces


def _table(
    head: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    css: str,
    numeric_from: int | None = None,
    first: Sequence[int] = (),
) -> list[str]:
    """Cells are HTML already (escaped by the caller); numeric columns align right."""

    def numeric(i: int) -> bool:
        return numeric_from is not None and i >= numeric_from

    ths = "".join(f'<th class="n">{h}</th>' if numeric(i) else f"<th>{h}</th>"
                  for i, h in enumerate(head))  # fmt: skip
    out = [f'<table class="{css}">', f"<thead><tr>{ths}</tr></thead>", "<tbody>"]
    starts = set(first)
    for n, row in enumerate(rows):
        cells = "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in row)
        out.append(f'<tr class="first">{cells}</tr>' if n in starts else f"<tr>{cells}</tr>")
    return [*out, "</tbody>", "</table>"]


def _count_heads(w: Words) -> list[str]:
    return [escape(w.of("counts", name)) for name in COLUMNS]


def _count_cells(c: Counts) -> list[str]:
    return [_cell(getattr(c, name), alert=name in ALERT) for name in COLUMNS]


def _cell(value: int, alert: bool = False) -> str:
    if not value:
        return '<td class="n z">–</td>'
    return f'<td class="n{" alert" if alert else ""}">{value}</td>'


def _id(text: str) -> str:
    return f'<span class="id">{escape(text)}</span>'


def _nowrap(text: str) -> str:
    return f'<span class="nowrap">{escape(text)}</span>'


def _serial(text: str) -> str:
    return f'<span class="serial">{escape(text)}</span>'

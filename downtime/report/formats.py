"""The outage report in each of its formats: the text table here, JSON
(:mod:`downtime.report.jsondoc`), CSV (:mod:`downtime.report.csvtables`) and HTML
(:mod:`downtime.report.htmlpage`); in Swedish or English (:mod:`downtime.report.words`), by
:func:`report_lang`'s rule.

Pure: a :class:`~downtime.report.Report` in, a string out. The output
names patients (it is for ward managers and IT): write it to a private file or a terminal,
never to a log.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from downtime.report import (
    LANGS,
    Counts,
    Report,
    WardSection,
    Words,
    age_words,
    audit_words,
    describe_scope,
    page_words,
    patient_words,
    pending_words,
    state_words,
    why_words,
    words,
)
from downtime.report.csvtables import CSV_HEADER, PENDING_CSV_HEADER, pending_csv, to_csv
from downtime.report.jsondoc import TOOLS_LANG, to_json
from downtime.report.safetext import visible

__all__ = [
    "CSV_HEADER", "FORMATS", "MACHINE_FORMATS", "PENDING_CSV_HEADER", "TOOLS_LANG", "pending_csv",
    "render", "report_lang", "to_csv", "to_json", "to_table",
]  # fmt: skip

FORMATS = ("table", "csv", "pending-csv", "json", "html")
# For tools: keys and columns never change with the language; their sentences are English
# unless a language is asked for explicitly (as before the report spoke Swedish).
MACHINE_FORMATS = frozenset({"csv", "pending-csv", "json"})


def report_lang(fmt: str, asked: str | None, site_lang: str) -> str:
    """The language of a report in ``fmt``: the one ``asked`` for; else the site's for people
    (table, HTML) and English for tools (JSON, CSV)."""
    lang = asked or (TOOLS_LANG if fmt in MACHINE_FORMATS else site_lang)
    if lang not in LANGS:
        raise ValueError(f"no report language '{lang}' (one of {', '.join(LANGS)})")
    return lang


def render(report: Report, fmt: str, lang: str) -> str:
    if fmt == "table":
        return to_table(report, lang)
    if fmt == "csv":
        return to_csv(report)
    if fmt == "pending-csv":
        return pending_csv(report)
    if fmt == "json":
        return json.dumps(to_json(report, lang), ensure_ascii=False, indent=1) + "\n"
    if fmt == "html":
        from downtime.report.htmlpage import to_html

        return to_html(report, lang)
    raise ValueError(f"no report format '{fmt}' (one of {', '.join(FORMATS)})")


# --------------------------------------------------------------------------------------------
# Text table

TABLE_COUNTS = ("issued", "returned", "missing", "voided", "pending_review", "conflicts",
                "posted", "written", "failed")  # fmt: skip
ALERT = "missing"  # its heading in capitals


def to_table(report: Report, lang: str) -> str:
    w = words(lang)
    when = report.local(report.generated_at)
    lines = [
        f"{w('report_title').upper()}  {report.site}  {when} ({report.timezone})",
        f"{w('scope')}: {describe_scope(report.scope, report.timezone, lang)}",
    ]
    if report.ward_filter:
        lines.append(_first_up(w("only_ward", ward=report.ward_filter)))
    lines += _grid(
        [
            [
                s.pack.ward,
                s.pack.pack_id,
                w("issued_at", time=report.local(s.pack.issued_at)),
                why_words(s, w),
            ]
            for s in report.scope.packs
        ],
        indent="  ",
    ) or [f"  {w('no_packs')}"]
    lines += ["", f"{w('state')}: {state_words(report, lang)}", "", *_missing_table(report, w)]
    lines += ["", *_pending_table(report, w), ""]
    for ward in report.wards:
        lines += _ward_table(report, ward, w)
    if report.unattributed:
        head = [w.of("columns", c) for c in ("item", "file", "page", "reason")]
        lines += [
            f"{w('unattributed').upper()} ({len(report.unattributed)})",
            *_grid(
                [head]
                + [
                    [str(q.item_id), q.source, str(q.source_page), q.reason]
                    for q in report.unattributed
                ],
                indent="  ",
            ),
            "",
        ]
    totals = f"  {w.of('columns', 'quarantined')} {report.quarantined}"
    lines.append(f"{w('totals').upper()}  " + _totals(report.counts, w) + totals)
    lines.append(audit_words(report, lang))
    return "\n".join(visible(line) for line in lines) + "\n"


def _first_up(text: str) -> str:
    return text[:1].upper() + text[1:]


def _heads(w: Words, *names: str) -> list[str]:
    return [w.of("columns", name) for name in names]


def _missing_table(report: Report, w: Words) -> list[str]:
    title = w("missing_pages").upper()
    if not report.missing:
        return [f"{title}: {w('missing_none')}"]
    rows = [_heads(w, "serial", "ward", "bed", "patient", "name", "form", "page", "note")]
    rows += [
        [m.serial, m.ward, m.patient.bed or "-", patient_words(m.patient, w.lang),
         m.patient.name or "-", m.form, f"{m.page_no}/{m.page_count}",
         w(m.note) if m.note else ""]
        for m in report.missing
    ]  # fmt: skip
    return [
        f"{title} ({len(report.missing)}): {w('missing_order')}",
        *_grid(rows, indent="  "),
    ]


def _pending_table(report: Report, w: Words) -> list[str]:
    title = w("pending_items").upper()
    if not report.pending:
        return [f"{title}: {w('pending_none')}"]
    rows = [_heads(w, "ward", "bed", "patient", "name", "form", "serial", "page", "item",
                   "held_as", "age", "why")]  # fmt: skip
    rows += [
        [h.ward, h.patient.bed or "-", patient_words(h.patient, w.lang), h.patient.name or "-",
         h.form, " ".join(h.serials) or "-", page_words(h, w.lang), h.item, h.kind,
         age_words(h.age(report.generated_at), w.lang), h.detail]
        for h in report.pending
    ]  # fmt: skip
    return [
        f"{title}: {pending_words(report.pending_kinds, w.lang)}",
        *_grid(rows, indent="  ", right={9}),
    ]


def _ward_table(report: Report, ward: WardSection, w: Words) -> list[str]:
    several = len({f.pack_id for p in ward.patients for f in p.forms}) > 1
    head = _heads(w, "bed", "patient", "name", "form", *(["pack"] if several else []))
    rows = [head + [_count_head(w, name) for name in TABLE_COUNTS]]
    for p in ward.patients:
        for i, f in enumerate(p.forms):
            who = p.patient
            first = [who.bed or "-", patient_words(who, w.lang), who.name or "-"]
            pack = [report.local(f.issued_at)] if several else []
            counts = [_n(getattr(f.counts, name)) for name in TABLE_COUNTS]
            rows.append([*(first if i == 0 else ["", "", ""]), f.form, *pack, *counts])
    right = set(range(len(head), len(head) + len(TABLE_COUNTS)))
    out = [f"{w.of('columns', 'ward').upper()} {ward.ward}", *_grid(rows, indent="  ", right=right)]
    out.append(f"  {w('total')}  " + _totals(ward.counts, w))
    if ward.quarantined:
        out.append(f"  {w('quarantine_open')} ({len(ward.quarantined)}):")
        out += _grid(
            [
                [
                    str(q.item_id),
                    q.source,
                    w("page_n", n=q.source_page),
                    q.reason,
                    q.serial or "-",
                    q.form or "-",
                    patient_words(q.patient, w.lang) if q.patient else "-",
                ]
                for q in ward.quarantined
            ],
            indent="    ",
        )
    return [*out, ""]


def _count_head(w: Words, name: str) -> str:
    head = w.of("counts", name)
    return head.upper() if name == ALERT else head


def _totals(c: Counts, w: Words) -> str:
    return "  ".join(f"{w.of('counts', name)} {getattr(c, name)}" for name in TABLE_COUNTS)


def _n(value: int) -> str:
    return str(value) if value else "-"


def _grid(
    rows: Sequence[Sequence[str]], *, indent: str, right: set[int] | None = None
) -> list[str]:
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = right or set()
    return [
        indent
        + "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]

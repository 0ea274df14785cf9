"""The outage report as a text table and JSON (CSV: :mod:`downtime.report.csvtables`, HTML:
:mod:`downtime.report.htmlpage`).

Pure: a :class:`~downtime.report.Report` in, a string or a JSON-ready dict out. The output
names patients (it is for ward managers and IT): write it to a private file or a terminal,
never to a log.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from downtime.report import (
    EVERYTHING_ACCOUNTED_FOR,
    NOTHING_LEFT,
    SCHEMA,
    WHY,
    Counts,
    MissingPage,
    PatientRef,
    PendingItem,
    QuarantineLine,
    Report,
    WardSection,
    age_words,
    audit_words,
    describe_scope,
    pending_words,
)
from downtime.report.csvtables import CSV_HEADER, PENDING_CSV_HEADER, pending_csv, to_csv
from downtime.report.safetext import visible, visible_tree

__all__ = [
    "CSV_HEADER", "FORMATS", "PENDING_CSV_HEADER", "pending_csv", "render", "state_words",
    "to_csv", "to_json", "to_table",
]  # fmt: skip

FORMATS = ("table", "csv", "pending-csv", "json", "html")


def render(report: Report, fmt: str) -> str:
    if fmt == "table":
        return to_table(report)
    if fmt == "csv":
        return to_csv(report)
    if fmt == "pending-csv":
        return pending_csv(report)
    if fmt == "json":
        return json.dumps(to_json(report), ensure_ascii=False, indent=1) + "\n"
    if fmt == "html":
        from downtime.report.htmlpage import to_html

        return to_html(report)
    raise ValueError(f"no report format '{fmt}' (one of {', '.join(FORMATS)})")


# --------------------------------------------------------------------------------------------
# JSON


def to_json(report: Report) -> dict[str, Any]:
    """The report as JSON data; every string :func:`~downtime.report.safetext.visible`."""
    return dict(visible_tree(_json_doc(report)))


def _json_doc(report: Report) -> dict[str, Any]:
    scope = report.scope
    return {
        "schema": SCHEMA,
        "site": report.site,
        "generated_at": report.generated_at.isoformat(),
        "timezone": report.timezone,
        "ward_filter": report.ward_filter,
        "complete": report.complete,
        "outstanding": report.outstanding,
        "audit": {"events": report.audit_events, "head": report.audit_head},
        "scope": {
            "rule": scope.rule,
            "description": describe_scope(scope, report.timezone),
            "outage": None
            if scope.outage is None
            else {
                "start": scope.outage.start.isoformat(),
                "end": scope.outage.end.isoformat() if scope.outage.end else None,
            },
            "packs": [
                {
                    "pack_id": s.pack.pack_id,
                    "ward": s.pack.ward,
                    "issued_at": s.pack.issued_at.isoformat(),
                    "superseded_by": s.pack.superseded_by,
                    "why": list(s.why),
                }
                for s in scope.packs
            ],
        },
        "totals": asdict(report.counts) | {"quarantined": report.quarantined},
        "missing": [_missing_json(m) for m in report.missing],
        "pending": [_pending_json(report, h) for h in report.pending],
        "wards": [
            {
                "ward": w.ward,
                "packs": [s.pack.pack_id for s in w.packs],
                "totals": asdict(w.counts) | {"quarantined": len(w.quarantined)},
                "chart": w.chart,
                "patients": [
                    {
                        "patient": _patient_json(p.patient),
                        "bed": p.patient.bed,
                        "forms": [
                            {
                                "form": f.form,
                                "pack_id": f.pack_id,
                                "form_key": f.form_key,
                                "issued_at": f.issued_at.isoformat(),
                                "serials": list(f.serials),
                                "missing_serials": list(f.missing_serials),
                                "counts": asdict(f.counts),
                                "bundle_outcomes": dict(f.bundle_outcomes),
                            }
                            for f in p.forms
                        ],
                    }
                    for p in w.patients
                ],
                "quarantined": [_quarantine_json(q) for q in w.quarantined],
            }
            for w in report.wards
        ],
        "unattributed_quarantine": [_quarantine_json(q) for q in report.unattributed],
    }


def _patient_json(p: PatientRef) -> dict[str, Any]:
    return {
        "kind": p.kind,
        "system": p.identifier.system if p.identifier else None,
        "value": p.identifier.value if p.identifier else None,
        "display": p.display,
        "family_name": p.family_name,
        "given_name": p.given_name,
    }


def _missing_json(m: MissingPage) -> dict[str, Any]:
    return {
        "serial": m.serial,
        "page_uid": m.page_uid,
        "ward": m.ward,
        "bed": m.patient.bed,
        "patient": _patient_json(m.patient),
        "form": m.form,
        "page": m.page_no,
        "page_count": m.page_count,
        "pack_id": m.pack_id,
        "category": m.category,
        "note": m.note,
    }


def _pending_json(report: Report, h: PendingItem) -> dict[str, Any]:
    return {
        "ward": h.ward,
        "bed": h.patient.bed,
        "patient": _patient_json(h.patient),
        "form": h.form,
        "form_key": h.form_key,
        "pack_id": h.pack_id,
        "page": h.page_no,
        "page_count": h.page_count,
        "serials": list(h.serials),
        "item": h.item,
        "kind": h.kind,
        "why": h.detail,
        "held_since": h.since.isoformat(),
        "age_seconds": h.age(report.generated_at),
    }


def _quarantine_json(q: QuarantineLine) -> dict[str, Any]:
    return {
        "item_id": q.item_id,
        "source": q.source,
        "source_page": q.source_page,
        "reason": q.reason,
        "message": q.message,
        "created_at": q.created_at,
        "ward": q.ward,
        "serial": q.serial,
        "form": q.form,
        "page": q.page_no,
        "page_count": q.page_count,
        "patient": _patient_json(q.patient) if q.patient else None,
    }


# --------------------------------------------------------------------------------------------
# Text table

TABLE_COUNTS = (
    ("issued", "issued"), ("back", "returned"), ("MISSING", "missing"), ("void", "voided"),
    ("review", "pending_review"), ("confl", "conflicts"), ("posted", "posted"),
    ("outbox", "written"), ("failed", "failed"),
)  # fmt: skip


def to_table(report: Report) -> str:
    lines = [
        f"OUTAGE REPORT  {report.site}  {report.local(report.generated_at)} ({report.timezone})",
        f"Scope: {describe_scope(report.scope, report.timezone)}",
    ]
    if report.ward_filter:
        lines.append(f"Ward: {report.ward_filter} only")
    lines += _grid(
        [
            [
                s.pack.ward,
                s.pack.pack_id,
                f"issued {report.local(s.pack.issued_at)}",
                ", ".join(WHY[w] for w in s.why),
            ]
            for s in report.scope.packs
        ],
        indent="  ",
    ) or ["  (no packs)"]
    lines += ["", f"State: {state_words(report)}", "", *_missing_table(report), ""]
    lines += [*_pending_table(report), ""]
    for w in report.wards:
        lines += _ward_table(report, w)
    if report.unattributed:
        lines += [
            f"QUARANTINED, NOT ATTRIBUTABLE TO A PAGE ({len(report.unattributed)})",
            *_grid(
                [["item", "file", "page", "reason"]]
                + [
                    [str(q.item_id), q.source, str(q.source_page), q.reason]
                    for q in report.unattributed
                ],
                indent="  ",
            ),
            "",
        ]
    lines.append("TOTALS  " + _totals(report.counts) + f"  quarantined {report.quarantined}")
    lines.append(audit_words(report))
    return "\n".join(visible(line) for line in lines) + "\n"


def _missing_table(report: Report) -> list[str]:
    if not report.missing:
        return ["MISSING PAGES: none"]
    rows = [["serial", "ward", "bed", "patient", "name", "form", "page", "note"]]
    rows += [
        [m.serial, m.ward, m.patient.bed or "-", m.patient.display, m.patient.name or "-",
         m.form, f"{m.page_no}/{m.page_count}", m.note or ""]
        for m in report.missing
    ]  # fmt: skip
    return [
        f"MISSING PAGES ({len(report.missing)}): referrals first, then medication forms",
        *_grid(rows, indent="  "),
    ]


def state_words(report: Report) -> str:
    """The report's state, in the words the HTML page uses too."""
    if report.complete:
        return f"{EVERYTHING_ACCOUNTED_FOR}: {NOTHING_LEFT}"
    return "NOT ACCOUNTED FOR: " + ", ".join(report.outstanding)


def _pending_table(report: Report) -> list[str]:
    if not report.pending:
        return ["PENDING ITEMS: none held for a person"]
    rows = [["ward", "bed", "patient", "name", "form", "serial", "page", "item", "held as",
             "age", "why"]]  # fmt: skip
    rows += [
        [h.ward, h.patient.bed or "-", h.patient.display, h.patient.name or "-", h.form,
         " ".join(h.serials) or "-", h.page, h.item, h.kind,
         age_words(h.age(report.generated_at)), h.detail]
        for h in report.pending
    ]  # fmt: skip
    return [
        f"PENDING ITEMS: {pending_words(report.pending_kinds)}",
        *_grid(rows, indent="  ", right={9}),
    ]


def _ward_table(report: Report, w: WardSection) -> list[str]:
    several = len({f.pack_id for p in w.patients for f in p.forms}) > 1
    head = ["bed", "patient", "name", "form", *(["pack"] if several else [])]
    rows = [head + [h for h, _ in TABLE_COUNTS]]
    for p in w.patients:
        for i, f in enumerate(p.forms):
            who = p.patient
            first = [who.bed or "-", who.display, who.name or "-"] if i == 0 else ["", "", ""]
            pack = [report.local(f.issued_at)] if several else []
            counts = [_n(getattr(f.counts, name)) for _, name in TABLE_COUNTS]
            rows.append([*first, f.form, *pack, *counts])
    right = set(range(len(head), len(head) + len(TABLE_COUNTS)))
    out = [f"WARD {w.ward}", *_grid(rows, indent="  ", right=right)]
    out.append("  total  " + _totals(w.counts))
    if w.quarantined:
        out.append(f"  quarantined pages not resolved ({len(w.quarantined)}):")
        out += _grid(
            [
                [
                    str(q.item_id),
                    q.source,
                    f"page {q.source_page}",
                    q.reason,
                    q.serial or "-",
                    q.form or "-",
                    q.patient.display if q.patient else "-",
                ]
                for q in w.quarantined
            ],
            indent="    ",
        )
    return [*out, ""]


def _totals(c: Counts) -> str:
    return "  ".join(f"{h.lower()} {getattr(c, name)}" for h, name in TABLE_COUNTS)


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

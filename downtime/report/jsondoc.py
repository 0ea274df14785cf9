"""The outage report as JSON data (schema ``downtime.report/1``, documented in
:mod:`downtime.report`). Keys and codes are the same in every language; the few sentences
follow ``lang``, English unless asked for (:data:`TOOLS_LANG`). Times carry the site's offset.
Pure: a report in, a JSON-ready dict out.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from downtime.report.model import (
    SCHEMA,
    MissingPage,
    PatientRef,
    PendingItem,
    QuarantineLine,
    Report,
)
from downtime.report.safetext import visible_tree
from downtime.report.words import describe_scope, outstanding, patient_words, words

TOOLS_LANG = "en"  # JSON's and CSV's language unless one is asked for


def to_json(report: Report, lang: str = TOOLS_LANG) -> dict[str, Any]:
    """The report as JSON data; every string :func:`~downtime.report.safetext.visible`."""
    return dict(visible_tree(_json_doc(report, lang)))


def _json_doc(report: Report, lang: str) -> dict[str, Any]:
    scope, iso = report.scope, report.iso
    return {
        "schema": SCHEMA,
        "site": report.site,
        "generated_at": iso(report.generated_at),
        "timezone": report.timezone,
        "lang": lang,
        "ward_filter": report.ward_filter,
        "complete": report.complete,
        "outstanding": outstanding(report, lang),
        "audit": {"events": report.audit_events, "head": report.audit_head},
        "scope": {
            "rule": scope.rule,
            "description": describe_scope(scope, report.timezone, lang),
            "outage": None
            if scope.outage is None
            else {
                "start": iso(scope.outage.start),
                "end": iso(scope.outage.end) if scope.outage.end else None,
            },
            "packs": [
                {
                    "pack_id": s.pack.pack_id,
                    "ward": s.pack.ward,
                    "issued_at": iso(s.pack.issued_at),
                    "superseded_by": s.pack.superseded_by,
                    "why": list(s.why),
                    "printed_pages": s.printed_pages,
                }
                for s in scope.packs
            ],
        },
        "totals": asdict(report.counts) | {"quarantined": report.quarantined},
        "missing": [_missing_json(m, lang) for m in report.missing],
        "pending": [_pending_json(report, h, lang) for h in report.pending],
        "wards": [
            {
                "ward": w.ward,
                "packs": [s.pack.pack_id for s in w.packs],
                "totals": asdict(w.counts) | {"quarantined": len(w.quarantined)},
                "chart": w.chart,
                "patients": [
                    {
                        "patient": _patient_json(p.patient, lang),
                        "bed": p.patient.bed,
                        "forms": [
                            {
                                "form": f.form,
                                "pack_id": f.pack_id,
                                "form_key": f.form_key,
                                "issued_at": iso(f.issued_at),
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
                "quarantined": [_quarantine_json(report, q, lang) for q in w.quarantined],
            }
            for w in report.wards
        ],
        "unattributed_quarantine": [_quarantine_json(report, q, lang) for q in report.unattributed],
    }


def _patient_json(p: PatientRef, lang: str) -> dict[str, Any]:
    return {
        "kind": p.kind,
        "system": p.identifier.system if p.identifier else None,
        "value": p.identifier.value if p.identifier else None,
        "display": patient_words(p, lang),
        "family_name": p.family_name,
        "given_name": p.given_name,
    }


def _missing_json(m: MissingPage, lang: str) -> dict[str, Any]:
    return {
        "serial": m.serial,
        "page_uid": m.page_uid,
        "ward": m.ward,
        "bed": m.patient.bed,
        "patient": _patient_json(m.patient, lang),
        "form": m.form,
        "page": m.page_no,
        "page_count": m.page_count,
        "pack_id": m.pack_id,
        "category": m.category,
        "note": words(lang)(m.note) if m.note else None,
    }


def _pending_json(report: Report, h: PendingItem, lang: str) -> dict[str, Any]:
    return {
        "ward": h.ward,
        "bed": h.patient.bed,
        "patient": _patient_json(h.patient, lang),
        "form": h.form,
        "form_key": h.form_key,
        "pack_id": h.pack_id,
        "page": h.page_no,
        "page_count": h.page_count,
        "serials": list(h.serials),
        "item": h.item,
        "kind": h.kind,
        "why": h.detail,
        "held_since": report.iso(h.since),
        "age_seconds": h.age(report.generated_at),
    }


def _quarantine_json(report: Report, q: QuarantineLine, lang: str) -> dict[str, Any]:
    return {
        "item_id": q.item_id,
        "source": q.source,
        "source_page": q.source_page,
        "reason": q.reason,
        "message": q.message,
        "created_at": _iso_text(report, q.created_at),
        "ward": q.ward,
        "serial": q.serial,
        "form": q.form,
        "page": q.page_no,
        "page_count": q.page_count,
        "patient": _patient_json(q.patient, lang) if q.patient else None,
    }


def _iso_text(report: Report, text: str) -> str:
    """A time the ledger holds as text, with the site's offset (as it is if it is no time)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return text
    return report.iso(when) if when.tzinfo is not None else text

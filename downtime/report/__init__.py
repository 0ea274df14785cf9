"""The outage report: what was issued, what came back, what is missing, pending, posted, failed.

Facts are read from the ledger once (:func:`read_facts`); everything after is pure:
:func:`build_report` turns them into a :class:`Report`, and :func:`to_table`, :func:`to_csv`
and :func:`to_json` render it (HTML: :mod:`downtime.report.htmlpage`).

Scope: the packs in use during the latest outage — for each ward the newest pack issued at or
before the outage start, every pack issued during the outage (until its end, or now while it
lasts), and every pack any page was returned from. With no outage recorded: each ward's current
(not superseded) pack and every pack with returned pages. ``all_packs``: every pack.

Counts, per form as issued to one patient in one pack (a two-page journal is one form): pages
``issued``, ``returned`` (scanned back), ``missing`` (issued, neither returned nor voided),
``voided`` (not returned), ``pending_review`` and ``conflicts`` (held items by the latest kind
recorded for each item; a returned page whose captures disagree is a conflict too, counted once
with the ``page N`` item reconciliation holds for it; so is a form whose patient or encounter
the record does not hold, ``unknown-in-record``, settled by a later run once a person has
registered or linked them), and bundles ``posted``, ``written`` (to
the outbox) and ``failed`` by the outcome of their latest attempt; ``failed`` also counts a
form held whole because the record could not be checked before posting it
(``record-check-failed``, settled by a later run that can check).

The report is *complete* — everything accounted for — when nothing is missing, pending review,
in conflict, set aside in quarantine or failed.

JSON (``schema: "downtime.report/1"``)::

    {"schema", "site", "generated_at", "timezone", "ward_filter", "complete", "outstanding",
     "scope": {"rule": "outage" | "current" | "all-packs", "description",
               "outage": null | {"start", "end"},
               "packs": [{"pack_id", "ward", "issued_at", "superseded_by", "why": [...]}]},
     "totals": {COUNTS…, "quarantined"},
     "missing": [{"serial", "page_uid", "ward", "bed", "patient", "form", "page",
                  "page_count", "pack_id", "category", "note"}],
     "wards": [{"ward", "packs": [pack ids], "totals": {COUNTS…, "quarantined"},
                "chart": {"issued", "returned", "posted", "outbox"},   # pages
                "patients": [{"patient", "bed", "forms": [{"form", "pack_id", "form_key",
                              "issued_at", "serials", "missing_serials", "counts": {COUNTS…},
                              "bundle_outcomes": {outcome: n}}]}],
                "quarantined": [QUARANTINE…]}],
     "unattributed_quarantine": [QUARANTINE…]}

    COUNTS     = issued, returned, missing, voided, pending_review, conflicts, posted, written,
                 failed
    patient    = {"kind": "patient" | "admission" | "ward", "system", "value", "display",
                  "family_name", "given_name"}   (kind "ward": the cover sheet, system null)
    QUARANTINE = {"item_id", "source", "source_page", "reason", "message", "created_at",
                  "ward", "serial", "form", "page", "page_count", "patient"}
"""

from __future__ import annotations

from downtime.report.build import build_report
from downtime.report.facts import Facts, read_facts
from downtime.report.model import (
    BLANK_SPARE,
    CATEGORIES,
    CONFLICT_KINDS,
    COUNT_FIELDS,
    COVER_SHEET,
    FAILED_KINDS,
    FORM_ORDER,
    MEDICATION_FORMS,
    PENDING_KINDS,
    SCHEMA,
    WHY,
    Counts,
    FormLine,
    MissingPage,
    PackInfo,
    PatientRef,
    PatientSection,
    QuarantineLine,
    Report,
    Scope,
    ScopedPack,
    WardSection,
    total,
)
from downtime.report.scope import choose_scope, describe_scope

__all__ = [
    "BLANK_SPARE",
    "CATEGORIES",
    "CONFLICT_KINDS",
    "COUNT_FIELDS",
    "COVER_SHEET",
    "FAILED_KINDS",
    "FORM_ORDER",
    "MEDICATION_FORMS",
    "PENDING_KINDS",
    "SCHEMA",
    "WHY",
    "Counts",
    "Facts",
    "FormLine",
    "MissingPage",
    "PackInfo",
    "PatientRef",
    "PatientSection",
    "QuarantineLine",
    "Report",
    "Scope",
    "ScopedPack",
    "WardSection",
    "build_report",
    "choose_scope",
    "describe_scope",
    "read_facts",
    "total",
]

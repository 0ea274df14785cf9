"""The outage report: what was issued, what came back, what is missing, pending, posted, failed.

Facts are read from the ledger once (:func:`read_facts`); everything after is pure:
:func:`build_report` turns them into a :class:`Report`, and :func:`to_table`, :func:`to_csv`
and :func:`to_json` render it (CSV, also a row per pending item:
:mod:`downtime.report.csvtables`; HTML: :mod:`downtime.report.htmlpage`).

Scope: the packs in use during the latest outage — for each ward the newest pack issued at or
before the outage start (with the continuations made ahead with it), every pack issued during
the outage (until its end, or now while it lasts), every pack printed from on demand during it
(``downtime print``), and every pack any page was returned from. With no outage recorded:
each ward's current (not superseded) pack and every pack with returned pages. ``all_packs``:
every pack.

What counts as issued: every page a pack was made with — unless the pack has print records
(it was printed on demand at a ward station, ``downtime print``): then only the pages printed
from it (and any page of it that came back), so that a page generated but never printed never
counts as missing (``printed_pages`` of the pack in scope: how many; null without records). A
continuation made ahead with its pack (``pack --ahead N``) counts so always: with no print
record, only its pages that came back (``printed_pages`` 0).

Counts, per form as issued to one patient in one pack (a two-page journal is one form): pages
``issued``, ``returned`` (scanned back), ``missing`` (issued, neither returned nor voided),
``voided`` (not returned), ``pending_review`` and ``conflicts`` (held items by the latest kind
recorded for each item, every kind neither a conflict nor failed counting as pending review; a
returned page whose captures disagree is a conflict too, counted once
with the ``page N`` item reconciliation holds for it; so is a form whose patient or encounter
the record does not hold, ``unknown-in-record``, settled by a later run once a person has
registered or linked them), and bundles ``posted``, ``written`` (to
the outbox) and ``failed`` by the outcome of their latest attempt; ``failed`` also counts a
form held whole because the record could not be checked before posting it
(``record-check-failed``, settled by a later run that can check).

Pending items (``pending``): every item held for a person now, one by one — each open item of
:func:`downtime.ledger.postings.open_held_items` (the one place that decides what is open) on a
form shown, with its ward, bed, patient, form, page and serial, item, the kind it is held as and
why, and since when (the first row of its current hold). The drill counts the same items.

The report is *complete* — its state says "everything accounted for" ("allt är redovisat") —
when nothing is missing, pending, in conflict, set aside in quarantine or failed.

Language (:mod:`downtime.report.words`, ``words.toml``): the text table and the HTML page are in
Swedish or English (``lang``: the one asked for, else the site's). JSON and CSV are for tools:
their keys, columns and codes are the same in every language, and JSON's few sentences
(``outstanding``, ``scope.description``, ``missing[].note``, the cover sheet's
``patient.display``) are English unless a language is asked for explicitly, as they were
before ``lang`` was added (:func:`downtime.report.formats.report_lang`). ``pending[].why`` is
the reason as recorded (the record's English words) in either language. CSV holds no sentence
of the report's own, so it is the same whatever the language. Times are in the site's time zone
everywhere: shown to the minute in the table and HTML, ISO 8601 with the site's offset in JSON
and CSV.

JSON (``schema: "downtime.report/1"``)::

    {"schema", "site", "generated_at", "timezone", "lang", "ward_filter", "complete",
     "outstanding",
     "scope": {"rule": "outage" | "current" | "all-packs", "description",
               "outage": null | {"start", "end"},
               "packs": [{"pack_id", "ward", "issued_at", "superseded_by", "why": [...],
                          "printed_pages"}]},   # printed_pages: added to schema 1, see Scope
     "totals": {COUNTS…, "quarantined"},
     "missing": [{"serial", "page_uid", "ward", "bed", "patient", "form", "page",
                  "page_count", "pack_id", "category", "note"}],
     "pending": [{"ward", "bed", "patient", "form", "form_key", "pack_id",
                  "page",            # null: the item is about the whole form (of several pages)
                  "page_count", "serials",   # the item's page; each returned page if "page" null
                  "item", "kind",    # kind: pending-review | conflict | record-conflict |
                                     #       unknown-in-record | record-check-failed | …
                  "why", "held_since", "age_seconds"}],   # added to schema 1: absent before
     "wards": [{"ward", "packs": [pack ids], "totals": {COUNTS…, "quarantined"},
                "chart": {"issued", "returned", "posted", "outbox"},   # pages
                "patients": [{"patient", "bed", "forms": [{"form", "pack_id", "form_key",
                              "issued_at", "serials", "missing_serials", "counts": {COUNTS…},
                              "bundle_outcomes": {outcome: n}}]}],
                "quarantined": [QUARANTINE…]}],
     "unattributed_quarantine": [QUARANTINE…],
     "audit": {"events", "head"}}

    lang       = "sv" | "en": the language of the sentences (added to schema 1: absent
                 before, when they were English)

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
    CATEGORIES,
    CONFLICT_KINDS,
    COUNT_FIELDS,
    FAILED_KINDS,
    FORM_ORDER,
    HELD_KINDS,
    MEDICATION_FORMS,
    PENDING_KINDS,
    SCHEMA,
    SCOPE_REASONS,
    Counts,
    FormLine,
    MissingPage,
    PackInfo,
    PatientRef,
    PatientSection,
    PendingItem,
    QuarantineLine,
    Report,
    Scope,
    ScopedPack,
    WardSection,
    kinds_of,
    total,
)
from downtime.report.scope import choose_scope
from downtime.report.words import (
    Words,
    age_words,
    audit_words,
    describe_scope,
    outstanding,
    page_words,
    patient_words,
    pending_words,
    state_words,
    why_words,
    words,
)
from downtime.words import LANGS

__all__ = [
    "CATEGORIES",
    "CONFLICT_KINDS",
    "COUNT_FIELDS",
    "FAILED_KINDS",
    "FORM_ORDER",
    "HELD_KINDS",
    "LANGS",
    "MEDICATION_FORMS",
    "PENDING_KINDS",
    "SCHEMA",
    "SCOPE_REASONS",
    "Counts",
    "Facts",
    "FormLine",
    "MissingPage",
    "PackInfo",
    "PatientRef",
    "PatientSection",
    "PendingItem",
    "QuarantineLine",
    "Report",
    "Scope",
    "ScopedPack",
    "WardSection",
    "Words",
    "age_words",
    "audit_words",
    "build_report",
    "choose_scope",
    "describe_scope",
    "kinds_of",
    "outstanding",
    "page_words",
    "patient_words",
    "pending_words",
    "read_facts",
    "state_words",
    "total",
    "why_words",
    "words",
]

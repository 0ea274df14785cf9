"""The outage report as CSV, in two shapes: ``csv``, one row per ward/patient/form with its
counts (for the tools that read it: its columns do not change), and ``pending-csv``, one row per
item held for a person. Every text cell passes :func:`~downtime.report.safetext.spreadsheet_cell`.
Pure: a report in, a string out.

The same in every language: the column names are what spreadsheets and tools key on, and the
cells are data — codes, identifiers, names, counts, times (ISO 8601 with the site's offset) and
a held item's reason as recorded — with no sentence of the report's own.
"""

from __future__ import annotations

import csv
import io

from downtime.report import COUNT_FIELDS, Report
from downtime.report.safetext import spreadsheet_cell

# --------------------------------------------------------------------------------------------
# CSV: one row per ward / patient / form

CSV_HEADER = (
    "ward", "pack_id", "pack_issued_at", "bed", "kind", "patient_system", "patient",
    "family_name", "given_name", "form", *COUNT_FIELDS, "missing_serials",
)  # fmt: skip


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for w in report.wards:
        for p in w.patients:
            who = p.patient
            for f in p.forms:
                text = [
                    w.ward, f.pack_id, report.iso(f.issued_at), who.bed, who.kind,
                    who.identifier.system if who.identifier else None,
                    who.identifier.display() if who.identifier else None,
                    who.family_name, who.given_name, f.form,
                ]  # fmt: skip
                counts = [getattr(f.counts, name) for name in COUNT_FIELDS]
                serials = spreadsheet_cell(" ".join(f.missing_serials))
                writer.writerow([*map(spreadsheet_cell, text), *counts, serials])
    return out.getvalue()


PENDING_CSV_HEADER = (
    "ward", "bed", "kind", "patient_system", "patient", "family_name", "given_name", "form",
    "pack_id", "page", "page_count", "serials", "item", "held_as", "why", "held_since",
    "age_minutes",
)  # fmt: skip


def pending_csv(report: Report) -> str:
    """One row per item held for a person (``held_as``: the kind it is held as; ``page``
    empty: the item is about the whole form)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(PENDING_CSV_HEADER)
    for h in report.pending:
        who = h.patient
        text = [
            h.ward, who.bed, who.kind, who.identifier.system if who.identifier else None,
            who.identifier.display() if who.identifier else None, who.family_name,
            who.given_name, h.form, h.pack_id,
        ]  # fmt: skip
        page = ["" if h.page_no is None else h.page_no, h.page_count]  # empty: the whole form
        more = [" ".join(h.serials), h.item, h.kind, h.detail, report.iso(h.since)]
        age = h.age(report.generated_at) // 60
        writer.writerow([*map(spreadsheet_cell, text), *page, *map(spreadsheet_cell, more), age])
    return out.getvalue()

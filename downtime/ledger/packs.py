"""Packs: recorded with their pages, patients, orders and reserve ids in one transaction.

Facts are appended: a later pack of the same ward *supersedes* the earlier one by a new row,
never by changing it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from downtime.ledger.audit import append_audit
from downtime.ledger.db import Connection, Ledger, chunks, iso, now, rows
from downtime.ledger.records import AuditEvent, IssuedPage, PackRecord, PackSummary
from downtime.model import MedicationOrder, Patient


def record_pack(
    ledger: Ledger,
    pack: PackRecord,
    pages: Sequence[IssuedPage],
    patients: Sequence[Patient],
    orders: Sequence[MedicationOrder],
    reserve_ids: Sequence[str],
    audit: Sequence[AuditEvent],
    *,
    actor: str,
    station: str,
) -> list[str]:
    """Write a pack, its pages and audit events in one transaction.

    Packs of the same site and ward issued before this one and not yet superseded are
    marked superseded by it (a pack imported late supersedes only older ones). Returns
    their ids.
    """

    def body(conn: Connection) -> list[str]:
        earlier = [
            r["pack_id"]
            for r in conn.execute(
                "SELECT pack_id, issued_at FROM packs WHERE site = ? AND ward = ? AND pack_id "
                "NOT IN (SELECT pack_id FROM pack_supersessions)",
                (pack.site, pack.ward),
            )
            if datetime.fromisoformat(r["issued_at"]) <= pack.issued_at
        ]
        conn.execute(
            "INSERT INTO packs (pack_id, site, ward, issued_at, data_as_of, valid_until, lang,"
            " census_source, issued_by, station, key_id, pdf_name, pdf_sha256, page_count)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                pack.pack_id, pack.site, pack.ward, iso(pack.issued_at),
                iso(pack.data_as_of), iso(pack.valid_until), pack.lang,
                pack.census_source, pack.issued_by, pack.station, pack.key_id,
                pack.pdf_name, pack.pdf_sha256, pack.page_count,
            ),
        )  # fmt: skip
        at = now()
        conn.executemany(
            "INSERT INTO pack_supersessions (pack_id, superseded_by, at) VALUES (?, ?, ?)",
            [(old, pack.pack_id, at) for old in earlier],
        )
        _insert_patients(conn, pack.pack_id, patients, orders)
        _insert_pages(conn, pages)
        conn.executemany(
            "INSERT INTO reserve_ids (reserve_id, pack_id, ward, allocated_at) VALUES (?, ?, ?, ?)",
            [(r, pack.pack_id, pack.ward, iso(pack.issued_at)) for r in reserve_ids],
        )
        append_audit(conn, audit, actor=actor, station=station)
        return earlier

    return ledger.write(body)


def has_pack(ledger: Ledger, pack_id: str) -> bool:
    return bool(rows(ledger, "SELECT 1 FROM packs WHERE pack_id = ?", (pack_id,)))


def superseded_by(ledger: Ledger, pack_id: str) -> str | None:
    found = rows(
        ledger, "SELECT superseded_by FROM pack_supersessions WHERE pack_id = ?", (pack_id,)
    )
    return str(found[0]["superseded_by"]) if found else None


def pack_summaries(ledger: Ledger) -> list[PackSummary]:
    """Every pack, newest first, with the pack that superseded it (if any)."""
    found = rows(
        ledger,
        "SELECT k.pack_id, k.site, k.ward, k.issued_at, k.page_count, k.census_source,"
        " s.superseded_by FROM packs k LEFT JOIN pack_supersessions s USING (pack_id)"
        " ORDER BY k.issued_at DESC",
    )
    return [
        PackSummary(
            pack_id=r["pack_id"],
            site=r["site"],
            ward=r["ward"],
            issued_at=datetime.fromisoformat(r["issued_at"]),
            page_count=int(r["page_count"]),
            census_source=r["census_source"],
            superseded_by=r["superseded_by"],
        )
        for r in found
    ]


def returned_pack_ids(ledger: Ledger) -> list[str]:
    """Packs of which at least one page was captured."""
    found = rows(ledger, "SELECT DISTINCT p.pack_id FROM captures c JOIN pages p USING (page_uid)")
    return [r["pack_id"] for r in found]


def used_reserve_ids(ledger: Ledger, candidates: Sequence[str]) -> set[str]:
    """Those of ``candidates`` already allocated to a pack."""
    used: set[str] = set()
    for chunk, marks in chunks(list(candidates)):
        found = rows(
            ledger, f"SELECT reserve_id FROM reserve_ids WHERE reserve_id IN ({marks})", chunk
        )
        used.update(r["reserve_id"] for r in found)
    return used


def _insert_patients(
    conn: Connection,
    pack_id: str,
    patients: Sequence[Patient],
    orders: Sequence[MedicationOrder],
) -> None:
    conn.executemany(
        "INSERT INTO pack_patients (pack_id, patient_system, patient_value, family_name,"
        " given_name, birth_date, sex, bed, encounter_id, admitted_at, allergies,"
        " encounter_system) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                pack_id, p.identifier.system, p.identifier.value, p.family_name,
                p.given_name, p.birth_date.isoformat() if p.birth_date else None, p.sex,
                p.bed, p.encounter_id, iso(p.admitted_at), "; ".join(p.allergies),
                p.encounter_system or None,
            )
            for p in patients
        ],
    )  # fmt: skip
    conn.executemany(
        "INSERT INTO pack_orders (pack_id, order_id, patient_system, patient_value, medication,"
        " dose, route, frequency, times, prn, start_date) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                pack_id, o.order_id, o.patient.system, o.patient.value, o.medication,
                o.dose, o.route, o.frequency,
                ";".join(t.strftime("%H:%M") for t in o.times), int(o.prn),
                o.start_date.isoformat() if o.start_date else None,
            )
            for o in orders
        ],
    )  # fmt: skip


def _insert_pages(conn: Connection, pages: Sequence[IssuedPage]) -> None:
    known: set[str] = set()
    page_rows: list[tuple[Any, ...]] = []
    ref_rows: list[tuple[Any, ...]] = []
    for page in pages:
        layout_id = _layout_id(page)
        if layout_id not in known:
            known.add(layout_id)
            conn.execute(
                "INSERT INTO layouts (layout_id, form, form_version) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (layout_id, page.form, page.form_version),
            )
            conn.executemany(
                "INSERT INTO layout_fields (layout_id, field_id, kind, left_mm, top_mm, width_mm,"
                " height_mm) VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                [(layout_id, f.id, f.kind, *f.box_mm) for f in page.fields],
            )
        patient = page.patient
        page_rows.append(
            (
                page.page_uid, page.serial, page.pack_id, page.pdf_page, page.form,
                page.form_code, page.form_version, page.page_no, page.page_count,
                patient.system if patient else None, patient.value if patient else None,
                page.encounter, layout_id, page.key_id, iso(page.issued_at),
            )
        )  # fmt: skip
        ref_rows.extend(
            (page.page_uid, f.id, f.ref.get("order_id"), f.ref.get("slot"))
            for f in page.fields
            if f.ref
        )
    conn.executemany(
        "INSERT INTO pages (page_uid, serial, pack_id, pdf_page, form, form_code, form_version,"
        " page_no, page_count, patient_system, patient_value, encounter, layout_id, key_id,"
        " issued_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        page_rows,
    )
    conn.executemany(
        "INSERT INTO page_field_refs (page_uid, field_id, order_id, slot) VALUES (?,?,?,?)",
        ref_rows,
    )


def _layout_id(page: IssuedPage) -> str:
    canonical = json.dumps(
        [page.form, page.form_version, [(f.id, f.kind, f.box_mm) for f in page.fields]],
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def drug_names(ledger: Ledger) -> list[str]:
    """Every medication name the censuses of the printed packs gave, once each, sorted (the
    review station suggests them while a drug name is typed)."""
    found = rows(ledger, "SELECT DISTINCT medication FROM pack_orders WHERE medication != ''")
    return sorted({str(r["medication"]) for r in found}, key=str.casefold)

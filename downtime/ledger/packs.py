"""Packs: recorded with their pages, patients, orders and reserve ids in one transaction.

Facts are appended: a later pack of the same ward *supersedes* the earlier one by a new row,
never by changing it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from downtime.ledger.audit import append_audit
from downtime.ledger.db import Connection, Ledger, chunks, iso, now, rows
from downtime.ledger.records import AuditEvent, IssuedPage, PackRecord, PackSummary
from downtime.model import Identifier, MedicationOrder, Patient


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
    continues: Continuation | None = None,
) -> list[str]:
    """Write a pack, its pages and audit events in one transaction.

    Packs of the same site and ward issued before this one and not yet superseded are
    marked superseded by it (a pack imported late supersedes only older ones). Returns
    their ids. A continuation pack (``continues``) supersedes none.
    """

    def body(conn: Connection) -> list[str]:
        earlier = (
            []
            if continues is not None
            else [
                r["pack_id"]
                for r in conn.execute(
                    "SELECT pack_id, issued_at FROM packs WHERE site = ? AND ward = ? AND pack_id "
                    "NOT IN (SELECT pack_id FROM pack_supersessions)",
                    (pack.site, pack.ward),
                )
                if datetime.fromisoformat(r["issued_at"]) <= pack.issued_at
            ]
        )
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
        if continues is not None:
            conn.execute(
                "INSERT INTO pack_continuations (pack_id, continues, mar_from, mar_hours, ahead)"
                " VALUES (?, ?, ?, ?, ?)",
                (pack.pack_id, continues.continues, iso(continues.mar_from), continues.mar_hours,
                 int(continues.ahead)),
            )  # fmt: skip
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
        " s.superseded_by, c.continues, c.ahead FROM packs k"
        " LEFT JOIN pack_supersessions s USING (pack_id)"
        " LEFT JOIN pack_continuations c USING (pack_id) ORDER BY k.issued_at DESC",
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
            continues=r["continues"],
            ahead=bool(r["ahead"]),
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


@dataclass(frozen=True)
class Continuation:
    """What a continuation pack continues, and the administration record's window it prints."""

    continues: str  # the pack id
    mar_from: datetime
    mar_hours: int
    # made ahead with the pack it continues (`pack --ahead N`), for a ward station to print if
    # it is needed: it counts as issued only as far as it was printed or came back on paper
    ahead: bool = False


def continuation_of(ledger: Ledger, pack_id: str) -> Continuation | None:
    found = rows(ledger, "SELECT * FROM pack_continuations WHERE pack_id = ?", (pack_id,))
    if not found:
        return None
    r = found[0]
    return Continuation(r["continues"], datetime.fromisoformat(r["mar_from"]), int(r["mar_hours"]),
                        bool(r["ahead"]))  # fmt: skip


def ahead_continuations(ledger: Ledger, pack_ids: Sequence[str]) -> set[str]:
    """Those of ``pack_ids`` that are continuations made ahead."""
    found: set[str] = set()
    for chunk, marks in chunks(list(pack_ids)):
        found.update(
            r["pack_id"]
            for r in rows(
                ledger,
                f"SELECT pack_id FROM pack_continuations WHERE pack_id IN ({marks}) AND ahead = 1",
                chunk,
            )
        )
    return found


def pack_census(
    ledger: Ledger, pack_id: str, ward: str
) -> tuple[list[Patient], list[MedicationOrder]]:
    """The patients and orders a pack was printed from (its census as printed), bed order."""
    patients = [
        Patient(
            identifier=Identifier(r["patient_system"], r["patient_value"]),
            family_name=r["family_name"],
            given_name=r["given_name"],
            birth_date=date.fromisoformat(r["birth_date"]) if r["birth_date"] else None,
            sex=r["sex"],
            ward=ward,
            bed=r["bed"],
            encounter_id=r["encounter_id"],
            admitted_at=datetime.fromisoformat(r["admitted_at"]) if r["admitted_at"] else None,
            allergies=tuple(a for a in r["allergies"].split("; ") if a),
            encounter_system=r["encounter_system"] or "",
        )
        for r in rows(ledger, "SELECT * FROM pack_patients WHERE pack_id = ?", (pack_id,))
    ]
    orders = [
        MedicationOrder(
            patient=Identifier(r["patient_system"], r["patient_value"]),
            order_id=r["order_id"],
            medication=r["medication"],
            dose=r["dose"],
            route=r["route"],
            frequency=r["frequency"],
            times=tuple(time.fromisoformat(t) for t in r["times"].split(";") if t),
            prn=bool(r["prn"]),
            start_date=date.fromisoformat(r["start_date"]) if r["start_date"] else None,
        )
        for r in rows(ledger, "SELECT * FROM pack_orders WHERE pack_id = ?", (pack_id,))
    ]
    return patients, sorted(orders, key=_printed_order(ledger, pack_id))


def _printed_order(ledger: Ledger, pack_id: str) -> Callable[[MedicationOrder], tuple[Any, ...]]:
    """Orders as the pack printed them: by the first page and row that shows each (an order
    no page shows: after those, by id)."""
    first: dict[str, tuple[int, int]] = {}
    for r in rows(
        ledger,
        "SELECT f.order_id, p.pdf_page, f.field_id FROM page_field_refs f JOIN pages p"
        " USING (page_uid) WHERE p.pack_id = ? AND f.order_id IS NOT NULL",
        (pack_id,),
    ):
        digits = re.match(r"[a-z]+(\d+)", r["field_id"])
        at = (int(r["pdf_page"]), int(digits.group(1)) if digits else 0)
        first[r["order_id"]] = min(first.get(r["order_id"], at), at)
    return lambda o: (o.order_id not in first, first.get(o.order_id, (0, 0)), o.order_id)


def pack_origin(ledger: Ledger, pack_id: str) -> tuple[str, datetime | None]:
    """The census a pack was printed from (its name) and how old its data was then."""
    r = rows(ledger, "SELECT census_source, data_as_of FROM packs WHERE pack_id = ?", (pack_id,))[0]
    return str(r["census_source"]), datetime.fromisoformat(r["data_as_of"]) if r[
        "data_as_of"
    ] else None


def continued_by(ledger: Ledger, pack_id: str, *, unprinted_ahead: bool = True) -> str | None:
    """The continuation pack that continues ``pack_id`` with the latest window (of two with
    the same, the newest), if any. ``unprinted_ahead=False`` leaves out continuations made
    ahead that may never have been printed: no print of them that did not fail, and none of
    their pages back on paper."""
    printed = "" if unprinted_ahead else f" AND (c.ahead = 0 OR {_PRINTED} OR {_RETURNED})"
    found = rows(
        ledger,
        "SELECT c.pack_id FROM pack_continuations c JOIN packs k USING (pack_id)"
        f" WHERE c.continues = ?{printed} ORDER BY c.mar_from DESC, k.issued_at DESC LIMIT 1",
        (pack_id,),
    )
    return str(found[0]["pack_id"]) if found else None


_PRINTED = (
    "EXISTS (SELECT 1 FROM prints p LEFT JOIN print_outcomes o USING (print_id)"
    " WHERE p.pack_id = c.pack_id AND (o.outcome IS NULL OR o.outcome != 'failed'))"
)
_RETURNED = (
    "EXISTS (SELECT 1 FROM captures r JOIN pages g USING (page_uid) WHERE g.pack_id = c.pack_id)"
)


def pack_pdf_sha256(ledger: Ledger, pack_id: str) -> str | None:
    """The SHA-256 of the PDF a pack was recorded with (None: a pack this ledger lacks)."""
    found = rows(ledger, "SELECT pdf_sha256 FROM packs WHERE pack_id = ?", (pack_id,))
    return str(found[0]["pdf_sha256"]) if found else None

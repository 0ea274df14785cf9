"""Issued pages: looked up by uid or printed serial, with their field layout."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from downtime.ledger.db import Ledger, Row, chunks, rows
from downtime.ledger.records import IssuedPage
from downtime.model import FieldBox, Identifier


def issued_page(ledger: Ledger, page_uid: str) -> IssuedPage | None:
    found = rows(ledger, "SELECT * FROM pages WHERE page_uid = ?", (page_uid,))
    return _page(ledger, found[0]) if found else None


def page_by_serial(ledger: Ledger, serial: str) -> IssuedPage | None:
    found = rows(ledger, "SELECT * FROM pages WHERE serial = ?", (serial,))
    return _page(ledger, found[0]) if found else None


def pages_of_pack(ledger: Ledger, pack_id: str) -> list[IssuedPage]:
    found = rows(ledger, "SELECT * FROM pages WHERE pack_id = ? ORDER BY pdf_page", (pack_id,))
    return [_page(ledger, r) for r in found]


def page_fields(ledger: Ledger, page_uid: str) -> list[FieldBox]:
    """The page's fields, top to bottom and left to right, each with its order and slot."""
    found = rows(
        ledger,
        "SELECT f.field_id, f.kind, f.left_mm, f.top_mm, f.width_mm, f.height_mm, r.order_id,"
        " r.slot FROM pages p JOIN layout_fields f ON f.layout_id = p.layout_id"
        " LEFT JOIN page_field_refs r ON r.page_uid = p.page_uid AND r.field_id = f.field_id"
        " WHERE p.page_uid = ? ORDER BY f.top_mm, f.left_mm",
        (page_uid,),
    )
    return [
        FieldBox(
            r["field_id"],
            r["kind"],
            (r["left_mm"], r["top_mm"], r["width_mm"], r["height_mm"]),
            {k: r[k] for k in ("order_id", "slot") if r[k] is not None},
        )
        for r in found
    ]


def existing_serials(ledger: Ledger, serials: Sequence[str]) -> set[str]:
    """Those of ``serials`` that an issued page already has."""
    found: set[str] = set()
    for chunk, marks in chunks(list(serials)):
        found.update(
            r["serial"]
            for r in rows(ledger, f"SELECT serial FROM pages WHERE serial IN ({marks})", chunk)
        )
    return found


def serials_of_packs(ledger: Ledger, pack_ids: Sequence[str]) -> dict[str, tuple[str, int]]:
    """Page uid → (form serial, page number) for every page of the given packs."""
    out: dict[str, tuple[str, int]] = {}
    for chunk, marks in chunks(list(pack_ids)):
        found = rows(
            ledger,
            f"SELECT page_uid, serial, page_no FROM pages WHERE pack_id IN ({marks})",
            chunk,
        )
        out.update({r["page_uid"]: (r["serial"], int(r["page_no"])) for r in found})
    return out


def pages_per_key(ledger: Ledger) -> dict[str, int]:
    """How many issued pages each signing key signed."""
    found = rows(ledger, "SELECT key_id, count(*) AS n FROM pages GROUP BY key_id")
    return {r["key_id"]: int(r["n"]) for r in found}


def patient_of(row: Row) -> Identifier | None:
    if row["patient_system"] is None:
        return None
    return Identifier(row["patient_system"], row["patient_value"])


def _page(ledger: Ledger, r: Row) -> IssuedPage:
    return IssuedPage(
        page_uid=r["page_uid"],
        pack_id=r["pack_id"],
        serial=r["serial"],
        pdf_page=int(r["pdf_page"]),
        form=r["form"],
        form_code=int(r["form_code"]),
        form_version=int(r["form_version"]),
        page_no=int(r["page_no"]),
        page_count=int(r["page_count"]),
        patient=patient_of(r),
        encounter=r["encounter"],
        key_id=r["key_id"],
        issued_at=datetime.fromisoformat(r["issued_at"]),
        fields=tuple(page_fields(ledger, r["page_uid"])),
    )

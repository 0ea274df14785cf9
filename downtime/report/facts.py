"""Reading the ledger: the facts the report is built from (the only I/O of the report)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from downtime.ledger import Ledger
from downtime.ledger.outage import latest_outage, outage_events
from downtime.ledger.returns import IssuedForm, issued_forms
from downtime.ledger.scans import QuarantineItem, quarantine_items
from downtime.model import Identifier, IdSystem
from downtime.report.model import PackInfo, PatientRef, QuarantineLine, Scope
from downtime.report.scope import choose_scope


@dataclass(frozen=True)
class Facts:
    site: str
    generated_at: datetime
    timezone: str
    scope: Scope
    forms: tuple[IssuedForm, ...]
    pages: Mapping[str, tuple[str, int]]  # page uid → (form serial, page number), in scope
    bundles: Mapping[str, Mapping[str, int]]  # form key → latest attempt outcome → bundles
    held: Mapping[str, Mapping[str, str]]  # form key → held item → its latest kind
    quarantine: tuple[QuarantineLine, ...]  # open items
    known_wards: frozenset[str]


def read_facts(
    ledger: Ledger, *, site: str, timezone: str, now: datetime, all_packs: bool = False
) -> Facts:
    packs = [
        PackInfo(
            r["pack_id"],
            r["site"],
            r["ward"],
            datetime.fromisoformat(r["issued_at"]),
            r["superseded_by"],
        )
        for r in ledger.query(
            "SELECT k.pack_id, k.site, k.ward, k.issued_at, s.superseded_by FROM packs k"
            " LEFT JOIN pack_supersessions s USING (pack_id)"
        )
    ]
    returned = [
        r["pack_id"]
        for r in ledger.query(
            "SELECT DISTINCT p.pack_id FROM captures c JOIN pages p USING (page_uid)"
        )
    ]
    outage = latest_outage(outage_events(ledger))
    scope = choose_scope(packs, returned, outage, all_packs=all_packs, now=now)
    ids = [s.pack.pack_id for s in scope.packs]
    forms = [f for i in range(0, len(ids), 500) for f in issued_forms(ledger, ids[i : i + 500])]
    keys = {f.form_key for f in forms}
    return Facts(
        site=site,
        generated_at=now,
        timezone=timezone,
        scope=scope,
        forms=tuple(forms),
        pages=_pages(ledger, ids),
        bundles={k: v for k, v in _bundles(ledger).items() if k in keys},
        held={k: v for k, v in _held(ledger).items() if k in keys},
        quarantine=tuple(_open_quarantine(ledger)),
        known_wards=frozenset(p.ward for p in packs),
    )


def _pages(ledger: Ledger, pack_ids: Sequence[str]) -> dict[str, tuple[str, int]]:
    out: dict[str, tuple[str, int]] = {}
    for i in range(0, len(pack_ids), 500):
        chunk = pack_ids[i : i + 500]
        rows = ledger.query(
            "SELECT page_uid, serial, page_no FROM pages"
            f" WHERE pack_id IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        out.update({r["page_uid"]: (r["serial"], int(r["page_no"])) for r in rows})
    return out


def _bundles(ledger: Ledger) -> dict[str, dict[str, int]]:
    rows = ledger.query(
        "SELECT p.form_key, coalesce(a.outcome, 'not-attempted') AS outcome FROM postings p"
        " LEFT JOIN posting_attempts a ON a.bundle_key = p.bundle_key AND a.attempt ="
        " (SELECT max(attempt) FROM posting_attempts l WHERE l.bundle_key = p.bundle_key)"
    )
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        per = out.setdefault(r["form_key"], {})
        per[r["outcome"]] = per.get(r["outcome"], 0) + 1
    return out


def _held(ledger: Ledger) -> dict[str, dict[str, str]]:
    """Per form, each held item with the kind of the latest row recorded for it."""
    latest: dict[tuple[str, str], tuple[datetime, int, str]] = {}
    for r in ledger.query("SELECT rowid AS n, form_key, item, kind, found_at FROM held_items"):
        mark = (datetime.fromisoformat(r["found_at"]), int(r["n"]), r["kind"])
        key = (r["form_key"], r["item"])
        if key not in latest or mark[:2] > latest[key][:2]:
            latest[key] = mark
    out: dict[str, dict[str, str]] = {}
    for (form_key, item), (_, _, kind) in latest.items():
        out.setdefault(form_key, {})[item] = kind
    return out


def _open_quarantine(ledger: Ledger) -> list[QuarantineLine]:
    items = quarantine_items(ledger, open_only=True)
    named = {
        int(r["item_id"]): r
        for r in ledger.query(
            "SELECT q.item_id, p.serial, p.form, p.page_no, p.page_count, p.patient_system,"
            " p.patient_value, k.ward, pp.family_name, pp.given_name, pp.bed"
            " FROM quarantine q JOIN scan_pages s ON s.scan_page_id = q.scan_page_id"
            " JOIN pages p ON p.page_uid = s.page_uid JOIN packs k ON k.pack_id = p.pack_id"
            " LEFT JOIN pack_patients pp ON pp.pack_id = p.pack_id"
            " AND pp.patient_system = p.patient_system AND pp.patient_value = p.patient_value"
        )
    }
    return [_quarantine_line(item, named.get(item.item_id)) for item in items]


def _quarantine_line(item: QuarantineItem, r: sqlite3.Row | None) -> QuarantineLine:
    """The item, and what its verified code says about the page when this ledger issued it."""
    base = (item.item_id, item.source, item.source_page, item.reason, item.message,
            item.created_at)  # fmt: skip
    if r is None:
        return QuarantineLine(*base)
    identifier = (
        Identifier(r["patient_system"], r["patient_value"]) if r["patient_system"] else None
    )
    patient = PatientRef(
        _kind(r["form"], identifier), identifier, r["family_name"], r["given_name"],
        r["bed"] or None,
    )  # fmt: skip
    return QuarantineLine(
        *base, r["ward"], r["serial"], r["form"], int(r["page_no"]), int(r["page_count"]), patient
    )


def _kind(form: str, identifier: Identifier | None) -> str:
    if identifier is None:
        return "ward"
    if form == "admission" or identifier.system == IdSystem.DOWNTIME_RESERVE:
        return "admission"
    return "patient"

"""Outage facts in the ledger: when the record system was down, and pages voided by a person.

Appended only. The *latest outage* is the one opened by the latest recorded ``start`` (a start
recorded again, while or after an outage, opens the window anew: that is how a wrong start time
is corrected); it is closed by the latest ``end`` recorded after that start, if any.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from downtime.ledger.audit import append_audit
from downtime.ledger.db import Ledger, rows
from downtime.ledger.pages import patient_of
from downtime.ledger.records import AuditEvent
from downtime.model import Identifier

KINDS = ("start", "end")


@dataclass(frozen=True)
class OutageEvent:
    seq: int
    kind: str  # start | end
    at: datetime  # when it happened, with its offset
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True)
class Outage:
    """The window of one outage; ``end`` is None while it lasts."""

    start: datetime
    end: datetime | None = None

    def covers(self, when: datetime, now: datetime) -> bool:
        """Whether ``when`` falls inside the window (an open window lasts until ``now``)."""
        return self.start <= when <= (self.end or now)


def outage_events(ledger: Ledger) -> list[OutageEvent]:
    found = rows(ledger, "SELECT * FROM outage_events ORDER BY seq")
    return [
        OutageEvent(
            int(r["seq"]),
            r["kind"],
            datetime.fromisoformat(r["at"]),
            r["recorded_by"],
            datetime.fromisoformat(r["recorded_at"]),
        )
        for r in found
    ]


def latest_outage(events: Sequence[OutageEvent]) -> Outage | None:
    """The outage opened by the latest recorded start (None when no start was recorded)."""
    starts = [e for e in events if e.kind == "start"]
    if not starts:
        return None
    start = max(starts, key=lambda e: e.seq)
    ends = [e for e in events if e.kind == "end" and e.seq > start.seq]
    end = max(ends, key=lambda e: e.seq) if ends else None
    return Outage(start.at, end.at if end else None)


def record_outage_event(
    ledger: Ledger, kind: str, at: datetime, *, actor: str, station: str
) -> int:
    """Append a start or end (audited); returns its sequence number."""
    if kind not in KINDS:
        raise ValueError(f"an outage event is one of {KINDS}")
    with ledger.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO outage_events (kind, at, recorded_by, recorded_at) VALUES (?, ?, ?, ?)",
            (kind, at.isoformat(), actor, datetime.now(UTC).isoformat()),
        )
        seq = int(cur.lastrowid or 0)
        append_audit(
            conn,
            [
                AuditEvent(
                    f"outage.{kind}",
                    f"at {at.isoformat()}",
                    object_type="outage",
                    object_id=str(seq),
                )
            ],
            actor=actor,
            station=station,
        )
    return seq


@dataclass(frozen=True)
class PageToVoid:
    page_uid: str
    serial: str
    form: str
    page_no: int
    page_count: int
    ward: str
    patient: Identifier | None


def record_voids(
    ledger: Ledger, pages: Sequence[PageToVoid], reason: str, *, actor: str, station: str
) -> list[str]:
    """Void the pages not voided yet, in one transaction, each audited with its ward and
    patient. Returns the serials voided now (a page voided before is left as it was)."""
    done: list[str] = []
    with ledger.transaction() as conn:
        events = []
        for page in pages:
            cur = conn.execute(
                "INSERT OR IGNORE INTO voids (page_uid, reason, voided_by, voided_at)"
                " VALUES (?, ?, ?, ?)",
                (page.page_uid, reason, actor, datetime.now(UTC).isoformat()),
            )
            if cur.rowcount == 0:
                continue
            done.append(page.serial)
            events.append(
                AuditEvent(
                    "page.void",
                    f"serial {page.serial}, {page.form} page {page.page_no} of "
                    f"{page.page_count}: {reason}",
                    care_unit=page.ward,
                    patient=page.patient,
                    object_type="page",
                    object_id=page.page_uid,
                )
            )
        append_audit(conn, events, actor=actor, station=station)
    return done


def pages_by_serial(ledger: Ledger, serials: Sequence[str]) -> dict[str, tuple[PageToVoid, bool]]:
    """The issued pages with these serials, each with whether it was returned (captured)."""
    if not serials:
        return {}
    marks = ",".join("?" * len(serials))
    found = rows(
        ledger,
        "SELECT p.page_uid, p.serial, p.form, p.page_no, p.page_count, p.patient_system,"
        " p.patient_value, k.ward,"
        " EXISTS (SELECT 1 FROM captures c WHERE c.page_uid = p.page_uid) AS returned"
        f" FROM pages p JOIN packs k ON k.pack_id = p.pack_id WHERE p.serial IN ({marks})",
        list(serials),
    )
    out: dict[str, tuple[PageToVoid, bool]] = {}
    for r in found:
        patient = patient_of(r)
        page = PageToVoid(
            r["page_uid"], r["serial"], r["form"], int(r["page_no"]), int(r["page_count"]),
            r["ward"], patient,
        )  # fmt: skip
        out[r["serial"]] = (page, bool(r["returned"]))
    return out


def unreturned_pages(ledger: Ledger, pack_ids: Sequence[str]) -> list[PageToVoid]:
    """The pages of these packs neither returned (captured) nor voided, in print order."""
    out: list[PageToVoid] = []
    for pack_id in pack_ids:
        for r in rows(
            ledger,
            "SELECT p.page_uid, p.serial, p.form, p.page_no, p.page_count, p.patient_system,"
            " p.patient_value, k.ward FROM pages p JOIN packs k ON k.pack_id = p.pack_id"
            " WHERE p.pack_id = ? AND NOT EXISTS (SELECT 1 FROM captures c"
            " WHERE c.page_uid = p.page_uid) AND NOT EXISTS (SELECT 1 FROM voids v"
            " WHERE v.page_uid = p.page_uid) ORDER BY p.pdf_page",
            (pack_id,),
        ):
            out.append(
                PageToVoid(
                    r["page_uid"],
                    r["serial"],
                    r["form"],
                    int(r["page_no"]),
                    int(r["page_count"]),
                    r["ward"],
                    patient_of(r),
                )
            )
    return out

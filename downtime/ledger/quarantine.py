"""Pages set aside, with their reason: listed, and assigned by a clerk by the printed serial,
or rejected with a reason.

An item is resolved when a clerk assigned it or rejected it, or when a later scan of the same
file read the page (after a key was imported, say), or set it aside again as a newer item.
"""

from __future__ import annotations

from dataclasses import dataclass

from downtime.ledger.audit import append_audit
from downtime.ledger.db import Connection, Ledger, now, rows
from downtime.ledger.pages import patient_of
from downtime.ledger.records import AuditEvent
from downtime.ledger.scans import PageFact, Recorded, compare_capture, insert_capture, ward_of
from downtime.model import Identifier
from downtime.vocab import CAPTURED_STATUSES


@dataclass(frozen=True)
class QuarantineItem:
    item_id: int
    source: str
    source_page: int
    file_sha256: str
    stored_as: str
    reason: str  # a Reason, as stored (a newer station may know more)
    message: str
    created_at: str
    assigned_serial: str | None
    rescanned: bool = False  # a later scan of the same file read the page
    set_aside_again: int | None = None  # a later scan set it aside again, as this item
    rejected: str | None = None  # the reason a person gave for not filing it

    @property
    def resolved(self) -> str | None:
        if self.assigned_serial is not None:
            return f"assigned {self.assigned_serial}"
        if self.rejected is not None:
            return f"rejected: {self.rejected}"
        if self.rescanned:
            return "read on a later scan"
        if self.set_aside_again is not None:
            return f"scanned again: see item {self.set_aside_again}"
        return None


@dataclass(frozen=True)
class SetAsidePage:
    """What a set-aside page's verified code says about it, where this ledger issued it."""

    item_id: int
    ward: str
    serial: str
    form: str
    page_no: int
    page_count: int
    patient: Identifier | None
    family_name: str | None
    given_name: str | None
    bed: str | None


def quarantine_items(ledger: Ledger, *, open_only: bool = False) -> list[QuarantineItem]:
    """Set-aside pages, oldest first; ``open_only``: those not resolved (see the module)."""
    captured = ", ".join(f"'{s}'" for s in sorted(CAPTURED_STATUSES))
    found = rows(
        ledger,
        "SELECT q.item_id, f.first_source, s.source_page, s.file_sha256, f.stored_as, q.reason,"
        " q.message, q.created_at, a.serial, r.reason AS rejected,"
        " (SELECT count(*) FROM scan_pages later WHERE later.file_sha256 = s.file_sha256"
        "  AND later.source_page = s.source_page AND later.scan_page_id > s.scan_page_id"
        f"  AND later.status IN ({captured})) AS rescanned,"
        " (SELECT max(q2.item_id) FROM scan_pages later JOIN quarantine q2"
        "  ON q2.scan_page_id = later.scan_page_id WHERE later.file_sha256 = s.file_sha256"
        "  AND later.source_page = s.source_page AND later.scan_page_id > s.scan_page_id)"
        "  AS again"
        " FROM quarantine q"
        " JOIN scan_pages s ON s.scan_page_id = q.scan_page_id"
        " JOIN scan_files f ON f.file_sha256 = s.file_sha256"
        " LEFT JOIN assignments a ON a.item_id = q.item_id"
        " LEFT JOIN quarantine_rejections r ON r.item_id = q.item_id ORDER BY q.item_id",
    )
    items = [
        QuarantineItem(
            item_id=r["item_id"],
            source=r["first_source"],
            source_page=r["source_page"],
            file_sha256=r["file_sha256"],
            stored_as=r["stored_as"],
            reason=r["reason"],
            message=r["message"],
            created_at=r["created_at"],
            assigned_serial=r["serial"],
            rescanned=bool(r["rescanned"]),
            set_aside_again=r["again"],
            rejected=r["rejected"],
        )
        for r in found
    ]
    return [i for i in items if i.resolved is None] if open_only else items


def set_aside_pages(ledger: Ledger) -> dict[int, SetAsidePage]:
    """Quarantine item → the issued page its verified code names (items without one: none)."""
    found = rows(
        ledger,
        "SELECT q.item_id, p.serial, p.form, p.page_no, p.page_count, p.patient_system,"
        " p.patient_value, k.ward, pp.family_name, pp.given_name, pp.bed"
        " FROM quarantine q JOIN scan_pages s ON s.scan_page_id = q.scan_page_id"
        " JOIN pages p ON p.page_uid = s.page_uid JOIN packs k ON k.pack_id = p.pack_id"
        " LEFT JOIN pack_patients pp ON pp.pack_id = p.pack_id"
        " AND pp.patient_system = p.patient_system AND pp.patient_value = p.patient_value",
    )
    return {
        int(r["item_id"]): SetAsidePage(
            item_id=int(r["item_id"]),
            ward=r["ward"],
            serial=r["serial"],
            form=r["form"],
            page_no=int(r["page_no"]),
            page_count=int(r["page_count"]),
            patient=patient_of(r),
            family_name=r["family_name"],
            given_name=r["given_name"],
            bed=r["bed"] or None,
        )
        for r in found
    }


def record_assignment(
    ledger: Ledger,
    item: QuarantineItem,
    serial: str,
    fact: PageFact,
    *,
    actor: str,
    station: str,
) -> Recorded:
    """A clerk attached a set-aside page to its issued page by the printed serial."""

    def body(conn: Connection) -> Recorded:
        status, same_as, conflicts_with = compare_capture(conn, fact)
        scan_page_id = conn.execute(
            "SELECT scan_page_id FROM quarantine WHERE item_id = ?", (item.item_id,)
        ).fetchone()[0]
        capture_id = insert_capture(conn, scan_page_id, fact, same_as, conflicts_with)
        conn.execute(
            "INSERT INTO assignments (item_id, serial, page_uid, capture_id, assigned_by,"
            " assigned_at) VALUES (?, ?, ?, ?, ?, ?)",
            (item.item_id, serial, fact.page_uid, capture_id, actor, now()),
        )
        event = AuditEvent(
            "quarantine.assign",
            f"item {item.item_id} -> serial {serial}: {status}",
            care_unit=ward_of(conn, fact.page_uid),
            patient=fact.patient,
            object_type="page",
            object_id=fact.page_uid,
        )
        append_audit(conn, [event], actor=actor, station=station)
        return Recorded(status, capture_id, item.item_id)

    return ledger.write(body)


def record_rejection(
    ledger: Ledger, item: QuarantineItem, reason: str, *, actor: str, station: str
) -> None:
    """A person decided a set-aside page is not one to file (``reason`` says why); audited
    with the ward and patient its verified code names, if it has one."""
    page = set_aside_pages(ledger).get(item.item_id)

    def body(conn: Connection) -> None:
        conn.execute(
            "INSERT INTO quarantine_rejections (item_id, reason, rejected_by, rejected_at)"
            " VALUES (?, ?, ?, ?)",
            (item.item_id, reason, actor, now()),
        )
        event = quarantine_event(
            "quarantine.reject", item, page, f"item {item.item_id} ({item.reason}): {reason}"
        )
        append_audit(conn, [event], actor=actor, station=station)

    ledger.write(body)


def quarantine_event(
    action: str, item: QuarantineItem, page: SetAsidePage | None, detail: str
) -> AuditEvent:
    """An audit event about a set-aside page: the ward and patient where its code names them."""
    return AuditEvent(
        action,
        detail,
        care_unit=page.ward if page else None,
        patient=page.patient if page else None,
        object_type="quarantine",
        object_id=str(item.item_id),
    )

"""Scan facts in the ledger: runs, files, pages, captures, marks, quarantine, assignments.

Appended only. A page's second capture is compared with the earlier ones on the fields both
read with certainty: no disagreement links it to the earlier capture (``duplicate``); any
disagreement makes it a ``conflict`` (both kept, a person decides). Uncertain readings never
decide either way.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from downtime.ledger import AuditEvent, Ledger, append_audit
from downtime.model import Identifier

if TYPE_CHECKING:
    from downtime.scan.images import InputFile
    from downtime.scan.page import PageOutcome

CERTAIN = frozenset({"marked", "empty", "written", "blank"})


# Reasons a page is set aside that a later scan of the same file may cure: a key imported,
# a pack's pages imported, Tesseract installed, a crash not repeated. Other reasons are
# properties of the file itself; scanning it again changes nothing.
CURABLE = frozenset(
    {"unknown-key", "unknown-page", "no-page-code", "registration-failed", "worker-crash"}
)


@dataclass(frozen=True)
class EarlierPage:
    status: str
    reason: str | None
    page_uid: str | None
    form: str | None
    page: int | None
    patient: dict[str, str] | None
    rotation: int | None
    ward: str | None

    @property
    def read_again(self) -> bool:
        """Set aside for a curable reason: a rescan of the same file is a new attempt."""
        return self.status == "quarantined" and self.reason in CURABLE


@dataclass(frozen=True)
class Recorded:
    status: str
    capture_id: int | None = None
    quarantine_item: int | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat()


def start_run(ledger: Ledger, run_id: str, operator: str, station: str, at: datetime) -> None:
    with ledger.transaction() as conn:
        conn.execute(
            "INSERT INTO scan_runs VALUES (?, ?, ?, ?)", (run_id, at.isoformat(), operator, station)
        )


def record_file(ledger: Ledger, run_id: str, item: InputFile, stored_as: str) -> None:
    with ledger.transaction() as conn:
        conn.execute(
            "INSERT OR IGNORE INTO scan_files VALUES (?, ?, ?, ?, ?, ?)",
            (item.sha256, item.size, item.kind, item.source, run_id, stored_as),
        )
        conn.execute(
            "INSERT OR IGNORE INTO scan_sightings VALUES (?, ?, ?)",
            (run_id, item.sha256, item.source),
        )


def earlier_page(ledger: Ledger, file_sha256: str, source_page: int) -> EarlierPage | None:
    """The latest attempt at this page of this file, if it was scanned before."""
    rows = ledger.query(
        "SELECT s.status, s.reason, s.page_uid, s.rotation, p.form, p.page_no,"
        " p.patient_system, p.patient_value, k.ward FROM scan_pages s"
        " LEFT JOIN pages p ON p.page_uid = s.page_uid"
        " LEFT JOIN packs k ON k.pack_id = p.pack_id"
        " WHERE s.file_sha256 = ? AND s.source_page = ? ORDER BY s.scan_page_id DESC LIMIT 1",
        (file_sha256, source_page),
    )
    if not rows:
        return None
    r = rows[0]
    known = r["form"] is not None and r["status"] in ("identified", "duplicate", "conflict")
    patient = (
        {"system": r["patient_system"], "value": r["patient_value"]}
        if known and r["patient_system"] is not None
        else None
    )
    return EarlierPage(
        r["status"],
        r["reason"],
        r["page_uid"] if known else None,
        r["form"] if known else None,
        r["page_no"] if known else None,
        patient,
        r["rotation"],
        r["ward"] if known else None,
    )


def record_sighting(
    ledger: Ledger, source: str, source_page: int, earlier: EarlierPage, *, actor: str, station: str
) -> None:
    """The same file again: nothing is added but the audit event (a person handled the
    patient's page again)."""
    patient = Identifier(**earlier.patient) if earlier.patient else None
    ledger.audit(
        [
            AuditEvent(
                "scan.page",
                f"{source} page {source_page}: duplicate (same-file)",
                care_unit=earlier.ward,
                patient=patient,
                object_type="page" if earlier.page_uid else "file",
                object_id=earlier.page_uid,
            )
        ],
        actor=actor,
        station=station,
    )


def record_outcome(
    ledger: Ledger, run_id: str, outcome: PageOutcome, *, actor: str, station: str
) -> Recorded:
    """Write one page's outcome; decide identified / duplicate / conflict for captures."""
    with ledger.transaction() as conn:
        status, same_as, conflicts_with = outcome.status, None, None
        if outcome.status == "identified" and outcome.page_uid is not None:
            status, same_as, conflicts_with = _compare(conn, outcome)
        cur = conn.execute(
            "INSERT INTO scan_pages (file_sha256, source_page, run_id, status, reason, page_uid,"
            " rotation, scanned_at) VALUES (?,?,?,?,?,?,?,?)",
            (
                outcome.file_sha256, outcome.source_page, run_id, status, outcome.reason,
                outcome.page_uid, outcome.rotation, _now(),
            ),
        )  # fmt: skip
        scan_page_id = int(cur.lastrowid or 0)
        capture_id = item = None
        if outcome.status == "identified":
            capture_id = insert_capture(conn, scan_page_id, outcome, same_as, conflicts_with)
        elif outcome.status == "quarantined":
            cur = conn.execute(
                "INSERT INTO quarantine (scan_page_id, reason, message, created_at)"
                " VALUES (?, ?, ?, ?)",
                (scan_page_id, outcome.reason or "unknown", outcome.message, _now()),
            )
            item = int(cur.lastrowid or 0)
        append_audit(
            conn,
            [_audit(conn, outcome, status)],
            actor=actor,
            station=station,
        )
    return Recorded(status, capture_id, item)


def insert_capture(
    conn: sqlite3.Connection,
    scan_page_id: int,
    outcome: PageOutcome,
    same_as: int | None,
    conflicts_with: int | None,
) -> int:
    if outcome.registered_as is None or outcome.via is None or outcome.residual_mm is None:
        raise ValueError("a capture needs its registered image, how it was identified, residual")
    cur = conn.execute(
        "INSERT INTO captures (scan_page_id, page_uid, via, residual_mm, registered_as, same_as,"
        " conflicts_with, captured_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            scan_page_id, outcome.page_uid, outcome.via, outcome.residual_mm,
            outcome.registered_as, same_as, conflicts_with, _now(),
        ),
    )  # fmt: skip
    capture_id = int(cur.lastrowid or 0)
    conn.executemany(
        "INSERT INTO marks VALUES (?,?,?,?,?,?,?,?,?,?)",
        [
            (capture_id, r.field_id, r.kind, r.state, float(r.score), " ".join(r.flags), *crop)
            for r, crop in zip(outcome.readings, outcome.crops, strict=True)
        ],
    )
    conn.executemany(
        "INSERT INTO mark_metrics VALUES (?,?,?,?)",
        [
            (capture_id, r.field_id, name, float(value))
            for r in outcome.readings
            for name, value in r.metrics.items()
        ],
    )
    return capture_id


def _compare(conn: sqlite3.Connection, outcome: PageOutcome) -> tuple[str, int | None, int | None]:
    """identified (first capture), duplicate (agrees with one) or conflict (with the first)."""
    earlier = [
        int(r[0])
        for r in conn.execute(
            "SELECT capture_id FROM captures WHERE page_uid = ? ORDER BY capture_id",
            (outcome.page_uid,),
        )
    ]
    if not earlier:
        return "identified", None, None
    mine = {r.field_id: r.state for r in outcome.readings if r.state in CERTAIN}
    for capture_id in earlier:
        theirs = _certain_states(conn, capture_id)
        if all(theirs.get(f, s) == s for f, s in mine.items()):
            return "duplicate", capture_id, None
    return "conflict", None, earlier[0]


def _certain_states(conn: sqlite3.Connection, capture_id: int) -> dict[str, str]:
    rows = conn.execute(
        "SELECT field_id, state FROM marks WHERE capture_id = ?", (capture_id,)
    ).fetchall()
    return {f: s for f, s in rows if s in CERTAIN}


def _ward_of(conn: sqlite3.Connection, page_uid: str | None) -> str | None:
    if page_uid is None:
        return None
    row = conn.execute(
        "SELECT k.ward FROM pages p JOIN packs k ON k.pack_id = p.pack_id WHERE p.page_uid = ?",
        (page_uid,),
    ).fetchone()
    return str(row[0]) if row else None


def _audit(conn: sqlite3.Connection, outcome: PageOutcome, status: str) -> AuditEvent:
    ward = _ward_of(conn, outcome.page_uid)
    detail = f"{outcome.source} page {outcome.source_page}: {status}"
    if outcome.reason:
        detail += f" ({outcome.reason})"
    return AuditEvent(
        action="scan.page",
        detail=detail,
        care_unit=ward,
        patient=outcome.patient,
        object_type="page" if outcome.page_uid else "file",
        object_id=outcome.page_uid or outcome.file_sha256,
    )


# --------------------------------------------------------------------------------------------
# Quarantine


@dataclass(frozen=True)
class QuarantineItem:
    item_id: int
    source: str
    source_page: int
    file_sha256: str
    stored_as: str
    reason: str
    message: str
    created_at: str
    assigned_serial: str | None
    rescanned: bool = False  # a later scan of the same file read the page
    set_aside_again: int | None = None  # a later scan set it aside again, as this item

    @property
    def resolved(self) -> str | None:
        if self.assigned_serial is not None:
            return f"assigned {self.assigned_serial}"
        if self.rescanned:
            return "read on a later scan"
        if self.set_aside_again is not None:
            return f"scanned again: see item {self.set_aside_again}"
        return None


def quarantine_items(ledger: Ledger, *, open_only: bool = False) -> list[QuarantineItem]:
    """Set-aside pages. An item is resolved when a clerk assigned it, or when a later scan of
    the same file read the page (after a key was imported, say); ``resolved`` says how."""
    rows = ledger.query(
        "SELECT q.item_id, f.first_source, s.source_page, s.file_sha256, f.stored_as, q.reason,"
        " q.message, q.created_at, a.serial,"
        " (SELECT count(*) FROM scan_pages later WHERE later.file_sha256 = s.file_sha256"
        "  AND later.source_page = s.source_page AND later.scan_page_id > s.scan_page_id"
        "  AND later.status IN ('identified', 'duplicate', 'conflict')) AS rescanned,"
        " (SELECT max(q2.item_id) FROM scan_pages later JOIN quarantine q2"
        "  ON q2.scan_page_id = later.scan_page_id WHERE later.file_sha256 = s.file_sha256"
        "  AND later.source_page = s.source_page AND later.scan_page_id > s.scan_page_id)"
        "  AS again"
        " FROM quarantine q"
        " JOIN scan_pages s ON s.scan_page_id = q.scan_page_id"
        " JOIN scan_files f ON f.file_sha256 = s.file_sha256"
        " LEFT JOIN assignments a ON a.item_id = q.item_id ORDER BY q.item_id"
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
        )
        for r in rows
    ]
    return [i for i in items if i.resolved is None] if open_only else items


def record_assignment(
    ledger: Ledger,
    item: QuarantineItem,
    serial: str,
    outcome: PageOutcome,
    *,
    actor: str,
    station: str,
) -> Recorded:
    """A clerk attached a set-aside page to its issued page by the printed serial."""
    with ledger.transaction() as conn:
        status, same_as, conflicts_with = _compare(conn, outcome)
        scan_page_id = conn.execute(
            "SELECT scan_page_id FROM quarantine WHERE item_id = ?", (item.item_id,)
        ).fetchone()[0]
        capture_id = insert_capture(conn, scan_page_id, outcome, same_as, conflicts_with)
        conn.execute(
            "INSERT INTO assignments VALUES (?, ?, ?, ?, ?, ?)",
            (item.item_id, serial, outcome.page_uid, capture_id, actor, _now()),
        )
        append_audit(
            conn,
            [
                AuditEvent(
                    "quarantine.assign",
                    f"item {item.item_id} -> serial {serial}: {status}",
                    care_unit=_ward_of(conn, outcome.page_uid),
                    patient=outcome.patient,
                    object_type="page",
                    object_id=outcome.page_uid,
                )
            ],
            actor=actor,
            station=station,
        )
    return Recorded(status, capture_id, item.item_id)

"""Scan facts in the ledger: runs, files, pages, captures and their marks.

Appended only. A page's second capture is compared with the earlier ones on the fields both
read with certainty: no disagreement links it to the earlier capture (``duplicate``); any
disagreement makes it a ``conflict`` (both kept, a person decides). Uncertain readings never
decide either way.

The scanner hands over its own results as the ledger's dataclasses (:class:`ScannedFile`,
:class:`PageFact`, :class:`MarkFact`): the ledger knows nothing of images or readers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from downtime.ledger.audit import append_audit, write_audit
from downtime.ledger.db import Connection, Ledger, now, rows
from downtime.ledger.records import AuditEvent
from downtime.model import Identifier
from downtime.vocab import CAPTURED_STATUSES, CERTAIN_STATES, CURABLE, Reason, ScanStatus


@dataclass(frozen=True)
class ScannedFile:
    """An input file, stored content-addressed before anything is recorded about it."""

    sha256: str
    size: int
    kind: str  # pdf | tiff | png | jpeg | unknown
    source: str  # the name it was given under


@dataclass(frozen=True)
class MarkFact:
    """One field of a captured page as read: state, score, flags, where, and the metrics."""

    field_id: str
    kind: str
    state: str
    score: float
    flags: tuple[str, ...]
    crop_px: tuple[int, int, int, int]  # left, top, right, bottom on the registered image
    metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Capture:
    """How an identified page was read: the registered image, how it was identified, marks."""

    via: str  # code | serial | assigned
    residual_mm: float
    registered_as: str  # the registered page image in the store
    marks: tuple[MarkFact, ...]


@dataclass(frozen=True)
class PageFact:
    """What one image page of an input file turned out to be (before duplicate/conflict)."""

    source: str
    source_page: int
    file_sha256: str
    status: ScanStatus  # identified | quarantined | blank
    reason: Reason | None = None
    message: str = ""
    page_uid: str | None = None  # only from a verified code (or a serial that checked out)
    patient: Identifier | None = None
    rotation: int = 0
    capture: Capture | None = None  # for an identified page


@dataclass(frozen=True)
class EarlierPage:
    status: ScanStatus
    reason: Reason | None
    page_uid: str | None
    form: str | None
    page: int | None
    patient: Identifier | None
    rotation: int | None
    ward: str | None

    @property
    def read_again(self) -> bool:
        """Set aside for a curable reason: a rescan of the same file is a new attempt."""
        return self.status == ScanStatus.QUARANTINED and self.reason in CURABLE


@dataclass(frozen=True)
class Recorded:
    status: ScanStatus
    capture_id: int | None = None
    quarantine_item: int | None = None


def start_run(ledger: Ledger, run_id: str, operator: str, station: str, at: datetime) -> None:
    ledger.write(
        lambda conn: conn.execute(
            "INSERT INTO scan_runs (run_id, started_at, operator, station) VALUES (?, ?, ?, ?)",
            (run_id, at.isoformat(), operator, station),
        ),
        audited=False,
    )


def record_file(ledger: Ledger, run_id: str, item: ScannedFile, stored_as: str) -> None:

    def body(conn: Connection) -> None:
        conn.execute(
            "INSERT INTO scan_files (file_sha256, size, kind, first_source, first_run, stored_as)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (item.sha256, item.size, item.kind, item.source, run_id, stored_as),
        )
        conn.execute(
            "INSERT INTO scan_sightings (run_id, file_sha256, source) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (run_id, item.sha256, item.source),
        )

    ledger.write(body, audited=False)


def earlier_page(ledger: Ledger, file_sha256: str, source_page: int) -> EarlierPage | None:
    """The latest attempt at this page of this file, if it was scanned before."""
    found = rows(
        ledger,
        "SELECT s.status, s.reason, s.page_uid, s.rotation, p.form, p.page_no,"
        " p.patient_system, p.patient_value, k.ward FROM scan_pages s"
        " LEFT JOIN pages p ON p.page_uid = s.page_uid"
        " LEFT JOIN packs k ON k.pack_id = p.pack_id"
        " WHERE s.file_sha256 = ? AND s.source_page = ? ORDER BY s.scan_page_id DESC LIMIT 1",
        (file_sha256, source_page),
    )
    if not found:
        return None
    r = found[0]
    known = r["form"] is not None and r["status"] in CAPTURED_STATUSES
    patient = (
        Identifier(r["patient_system"], r["patient_value"])
        if known and r["patient_system"] is not None
        else None
    )
    return EarlierPage(
        ScanStatus(r["status"]),
        Reason(r["reason"]) if r["reason"] else None,
        r["page_uid"] if known else None,
        r["form"] if known else None,
        r["page_no"] if known else None,
        patient,
        r["rotation"],
        r["ward"] if known else None,
    )


@dataclass(frozen=True)
class FileHistory:
    """A file scanned before: the names it was given under, and its pages with an outcome
    (0: the file as a whole, when it could not be read as pages)."""

    sources: frozenset[str]
    pages: frozenset[int]


def file_history(ledger: Ledger, file_sha256: str) -> FileHistory | None:
    """What the ledger holds of this file, or None if it was never scanned."""
    sources = rows(
        ledger, "SELECT source FROM scan_sightings WHERE file_sha256 = ?", (file_sha256,)
    )
    if not sources:
        return None
    pages = rows(
        ledger,
        "SELECT DISTINCT source_page FROM scan_pages WHERE file_sha256 = ?",
        (file_sha256,),
    )
    return FileHistory(
        frozenset(str(r["source"]) for r in sources),
        frozenset(int(r["source_page"]) for r in pages),
    )


def record_sighting(
    ledger: Ledger, source: str, source_page: int, earlier: EarlierPage, *, actor: str, station: str
) -> None:
    """The same file again: nothing is added but the audit event (a person handled the
    patient's page again)."""
    event = AuditEvent(
        "scan.page",
        f"{source} page {source_page}: duplicate (same-file)",
        care_unit=earlier.ward,
        patient=earlier.patient,
        object_type="page" if earlier.page_uid else "file",
        object_id=earlier.page_uid,
    )
    write_audit(ledger, [event], actor=actor, station=station)


def record_outcome(
    ledger: Ledger, run_id: str, fact: PageFact, *, actor: str, station: str
) -> Recorded:
    """Write one page's outcome; decide identified / duplicate / conflict for captures."""
    return record_outcomes(ledger, run_id, [fact], actor=actor, station=station)[0]


def record_outcomes(
    ledger: Ledger, run_id: str, facts: Sequence[PageFact], *, actor: str, station: str
) -> list[Recorded]:
    """Write several pages' outcomes in one transaction (each audited)."""
    return ledger.write(
        lambda conn: [_record(conn, run_id, fact, actor=actor, station=station) for fact in facts]
    )


def _record(conn: Connection, run_id: str, fact: PageFact, *, actor: str, station: str) -> Recorded:
    status, same_as, conflicts_with = fact.status, None, None
    if fact.status == ScanStatus.IDENTIFIED and fact.page_uid is not None:
        status, same_as, conflicts_with = compare_capture(conn, fact)
    cur = conn.execute(
        "INSERT INTO scan_pages (file_sha256, source_page, run_id, status, reason, page_uid,"
        " rotation, scanned_at) VALUES (?,?,?,?,?,?,?,?) RETURNING scan_page_id",
        (
            fact.file_sha256, fact.source_page, run_id, status, fact.reason, fact.page_uid,
            fact.rotation, now(),
        ),
    )  # fmt: skip
    scan_page_id = int(cur.fetchone()[0])
    capture_id = item = None
    if fact.status == ScanStatus.IDENTIFIED:
        capture_id = insert_capture(conn, scan_page_id, fact, same_as, conflicts_with)
    elif fact.status == ScanStatus.QUARANTINED:
        cur = conn.execute(
            "INSERT INTO quarantine (scan_page_id, reason, message, created_at)"
            " VALUES (?, ?, ?, ?) RETURNING item_id",
            (scan_page_id, fact.reason or "unknown", fact.message, now()),
        )
        item = int(cur.fetchone()[0])
    append_audit(conn, [_audit(conn, fact, status)], actor=actor, station=station)
    return Recorded(status, capture_id, item)


def insert_capture(
    conn: Connection,
    scan_page_id: int,
    fact: PageFact,
    same_as: int | None,
    conflicts_with: int | None,
) -> int:
    capture = fact.capture
    if capture is None or fact.page_uid is None:
        raise ValueError("a capture needs its page, registered image, how it was identified")
    cur = conn.execute(
        "INSERT INTO captures (scan_page_id, page_uid, via, residual_mm, registered_as, same_as,"
        " conflicts_with, captured_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING capture_id",
        (
            scan_page_id, fact.page_uid, capture.via, capture.residual_mm,
            capture.registered_as, same_as, conflicts_with, now(),
        ),
    )  # fmt: skip
    capture_id = int(cur.fetchone()[0])
    conn.executemany(
        "INSERT INTO marks (capture_id, field_id, kind, state, score, flags, crop_left_px,"
        " crop_top_px, crop_right_px, crop_bottom_px) VALUES (?,?,?,?,?,?,?,?,?,?)",
        [
            (capture_id, m.field_id, m.kind, m.state, float(m.score), " ".join(m.flags), *m.crop_px)
            for m in capture.marks
        ],
    )
    conn.executemany(
        "INSERT INTO mark_metrics (capture_id, field_id, name, value) VALUES (?,?,?,?)",
        [
            (capture_id, m.field_id, name, float(value))
            for m in capture.marks
            for name, value in m.metrics.items()
        ],
    )
    return capture_id


def compare_capture(conn: Connection, fact: PageFact) -> tuple[ScanStatus, int | None, int | None]:
    """identified (first capture), duplicate (agrees with one) or conflict (with the first)."""
    earlier = [
        int(r[0])
        for r in conn.execute(
            "SELECT capture_id FROM captures WHERE page_uid = ? ORDER BY capture_id",
            (fact.page_uid,),
        )
    ]
    if not earlier:
        return ScanStatus.IDENTIFIED, None, None
    marks = fact.capture.marks if fact.capture else ()
    mine = {m.field_id: m.state for m in marks if m.state in CERTAIN_STATES}
    for capture_id in earlier:
        theirs = _certain_states(conn, capture_id)
        if all(theirs.get(f, s) == s for f, s in mine.items()):
            return ScanStatus.DUPLICATE, capture_id, None
    return ScanStatus.CONFLICT, None, earlier[0]


def _certain_states(conn: Connection, capture_id: int) -> dict[str, str]:
    found = conn.execute(
        "SELECT field_id, state FROM marks WHERE capture_id = ?", (capture_id,)
    ).fetchall()
    return {f: s for f, s in found if s in CERTAIN_STATES}


def ward_of(conn: Connection, page_uid: str | None) -> str | None:
    if page_uid is None:
        return None
    row = conn.execute(
        "SELECT k.ward FROM pages p JOIN packs k ON k.pack_id = p.pack_id WHERE p.page_uid = ?",
        (page_uid,),
    ).fetchone()
    return str(row[0]) if row else None


def _audit(conn: Connection, fact: PageFact, status: str) -> AuditEvent:
    detail = f"{fact.source} page {fact.source_page}: {status}"
    if fact.reason:
        detail += f" ({fact.reason})"
    return AuditEvent(
        action="scan.page",
        detail=detail,
        care_unit=ward_of(conn, fact.page_uid),
        patient=fact.patient,
        object_type="page" if fact.page_uid else "file",
        object_id=fact.page_uid or fact.file_sha256,
    )

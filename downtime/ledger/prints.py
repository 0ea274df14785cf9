"""Prints on demand: which pages of which pack were printed, when, by whom, on which printer.

A print is recorded before its job is sent (its pages, in ``print_pages``) and its outcome after
(``print_outcomes``: ``sent`` with the CUPS job id, or ``failed``). A print whose outcome never
came (the run stopped in between) counts as printed, since its pages may be on the ward. A
ward station's prints come to the central ledger through an export file; importing one again
adds nothing (the print id is the key).

Once a pack has prints (not failed), the report counts only the pages printed from it as issued
(:func:`printed_pages`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from downtime.ledger.audit import append_audit
from downtime.ledger.db import Connection, Ledger, chunks, iso, now, rows
from downtime.ledger.records import AuditEvent

OUTCOMES = ("sent", "failed")


@dataclass(frozen=True)
class PrintRecord:
    print_id: str  # random hex, made where it was printed
    pack_id: str
    ward: str
    printed_at: datetime
    printed_by: str
    station: str
    printer: str
    copies: int
    selection: str  # the forms and beds asked for, '' for the whole pack
    page_uids: tuple[str, ...]  # in the order printed
    outcome: str | None = None  # sent | failed | None: not known (the run stopped)
    job_id: str = ""
    detail: str = ""
    imported_at: datetime | None = None  # None: printed on this station


def record_print(
    ledger: Ledger, record: PrintRecord, audit: Sequence[AuditEvent], *, actor: str, station: str
) -> None:
    """The print and its pages, before its job is sent (its outcome comes later)."""

    def body(conn: Connection) -> None:
        conn.execute(
            "INSERT INTO prints (print_id, pack_id, ward, printed_at, printed_by, station,"
            " printer, copies, selection, imported_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            _print_row(record),
        )
        conn.executemany(
            "INSERT INTO print_pages (print_id, page_uid) VALUES (?, ?)",
            [(record.print_id, uid) for uid in record.page_uids],
        )
        append_audit(conn, audit, actor=actor, station=station)

    ledger.write(body)


def record_print_outcome(
    ledger: Ledger, print_id: str, outcome: str, *, job_id: str = "", detail: str = ""
) -> None:
    if outcome not in OUTCOMES:
        raise ValueError(f"a print's outcome is one of {OUTCOMES}")
    ledger.write(
        lambda conn: conn.execute(
            "INSERT INTO print_outcomes (print_id, outcome, job_id, detail, at)"
            " VALUES (?, ?, ?, ?, ?)",
            (print_id, outcome, job_id, detail, now()),
        ),
        audited=False,
    )


def print_records(
    ledger: Ledger, *, ward: str | None = None, limit: int | None = None
) -> list[PrintRecord]:
    """Prints, newest first (one ward's, if given; at most ``limit``)."""
    where, params = ("WHERE p.ward = ?", [ward]) if ward is not None else ("", [])
    found = rows(
        ledger,
        "SELECT p.*, o.outcome, o.job_id, o.detail FROM prints p"
        f" LEFT JOIN print_outcomes o USING (print_id) {where}"
        " ORDER BY p.printed_at DESC, p.print_id"
        + (f" LIMIT {int(limit)}" if limit is not None else ""),
        params,
    )
    pages: dict[str, list[str]] = {}
    for chunk, marks in chunks([r["print_id"] for r in found]):
        for r in rows(
            ledger,
            "SELECT q.print_id, q.page_uid FROM print_pages q JOIN pages g USING (page_uid)"
            f" WHERE q.print_id IN ({marks}) ORDER BY g.pdf_page",
            chunk,
        ):
            pages.setdefault(r["print_id"], []).append(r["page_uid"])
    return [
        PrintRecord(
            print_id=r["print_id"],
            pack_id=r["pack_id"],
            ward=r["ward"],
            printed_at=datetime.fromisoformat(r["printed_at"]),
            printed_by=r["printed_by"],
            station=r["station"],
            printer=r["printer"],
            copies=int(r["copies"]),
            selection=r["selection"],
            page_uids=tuple(pages.get(r["print_id"], ())),
            outcome=r["outcome"],
            job_id=r["job_id"] or "",
            detail=r["detail"] or "",
            imported_at=datetime.fromisoformat(r["imported_at"]) if r["imported_at"] else None,
        )
        for r in found
    ]


def printed_pages(ledger: Ledger, pack_ids: Sequence[str]) -> dict[str, frozenset[str]]:
    """For each of ``pack_ids`` with prints that did not fail: the pages printed from it."""
    out: dict[str, set[str]] = {}
    for chunk, marks in chunks(list(pack_ids)):
        for r in rows(
            ledger,
            "SELECT p.pack_id, q.page_uid FROM prints p JOIN print_pages q USING (print_id)"
            " LEFT JOIN print_outcomes o USING (print_id)"
            f" WHERE p.pack_id IN ({marks}) AND (o.outcome IS NULL OR o.outcome != 'failed')",
            chunk,
        ):
            out.setdefault(r["pack_id"], set()).add(r["page_uid"])
    return {k: frozenset(v) for k, v in out.items()}


def printed_between(ledger: Ledger, start: datetime, end: datetime | None) -> set[str]:
    """Packs printed from (not failed) between ``start`` and ``end`` (None: until now)."""
    found = rows(
        ledger,
        "SELECT DISTINCT p.pack_id, p.printed_at FROM prints p"
        " LEFT JOIN print_outcomes o USING (print_id)"
        " WHERE o.outcome IS NULL OR o.outcome != 'failed'",
    )
    return {
        r["pack_id"]
        for r in found
        if start <= datetime.fromisoformat(r["printed_at"])
        and (end is None or datetime.fromisoformat(r["printed_at"]) <= end)
    }


def known_prints(ledger: Ledger, print_ids: Iterable[str]) -> set[str]:
    known: set[str] = set()
    for chunk, marks in chunks(list(print_ids)):
        found = rows(ledger, f"SELECT print_id FROM prints WHERE print_id IN ({marks})", chunk)
        known.update(r["print_id"] for r in found)
    return known


def pack_pages(ledger: Ledger, pack_id: str) -> set[str]:
    """The page uids of a pack this ledger knows (empty: an unknown pack)."""
    return {r["page_uid"] for r in rows(ledger, "SELECT page_uid FROM pages WHERE pack_id = ?",
                                         (pack_id,))}  # fmt: skip


def import_prints(
    ledger: Ledger,
    records: Sequence[PrintRecord],
    audit: Sequence[AuditEvent],
    *,
    actor: str,
    station: str,
) -> None:
    """Add prints exported by a ward station, each with its pages and outcome, in one
    transaction; a print already here is left as it is."""
    at = now()

    def body(conn: Connection) -> None:
        for record in records:
            conn.execute(
                "INSERT INTO prints (print_id, pack_id, ward, printed_at, printed_by, station,"
                " printer, copies, selection, imported_at) VALUES (?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (print_id) DO NOTHING",
                (*_print_row(record)[:-1], at),
            )
            conn.executemany(
                "INSERT INTO print_pages (print_id, page_uid) VALUES (?, ?)"
                " ON CONFLICT (print_id, page_uid) DO NOTHING",
                [(record.print_id, uid) for uid in record.page_uids],
            )
            if record.outcome is not None:
                conn.execute(
                    "INSERT INTO print_outcomes (print_id, outcome, job_id, detail, at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (print_id) DO NOTHING",
                    (record.print_id, record.outcome, record.job_id, record.detail, at),
                )
        append_audit(conn, audit, actor=actor, station=station)

    ledger.write(body)


def _print_row(record: PrintRecord) -> tuple[object, ...]:
    return (
        record.print_id, record.pack_id, record.ward, iso(record.printed_at),
        record.printed_by, record.station, record.printer, record.copies, record.selection,
        iso(record.imported_at),
    )  # fmt: skip

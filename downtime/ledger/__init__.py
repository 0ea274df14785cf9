"""The ledger: every issued page, pack and audit event, in one SQLite file (the embedded default).

SQLite in WAL mode with ``synchronous=FULL``, writes in ``BEGIN IMMEDIATE`` transactions, the
file and its folder private to the user (0600 / 0700). Facts are appended: a later pack of the
same ward *supersedes* the earlier one by a new row, never by changing it. A SQLite ledger must
live on a local disk: WAL does not work over a network drive.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from downtime.errors import LedgerError
from downtime.ledger.migrations import MIGRATIONS
from downtime.model import FieldBox, Identifier, MedicationOrder, Patient

GENESIS = "0" * 64


@dataclass(frozen=True)
class PackRecord:
    pack_id: str
    site: str
    ward: str
    issued_at: datetime
    data_as_of: datetime | None
    valid_until: datetime
    lang: str
    census_source: str
    issued_by: str
    station: str
    key_id: str
    pdf_name: str
    pdf_sha256: str
    page_count: int


@dataclass(frozen=True)
class IssuedPage:
    page_uid: str
    serial: str
    pdf_page: int
    form: str
    form_code: int
    form_version: int
    page_no: int
    page_count: int
    patient: Identifier | None
    encounter: str
    key_id: str
    issued_at: datetime
    fields: tuple[FieldBox, ...]


@dataclass(frozen=True)
class AuditEvent:
    action: str  # "pack.print", "keys.rotate", …
    detail: str
    care_unit: str | None = None
    patient: Identifier | None = None
    object_type: str | None = None
    object_id: str | None = None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _create_private_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)


class Ledger:
    """One connection to the ledger. Use as a context manager, or call :meth:`close`."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path) -> Ledger:
        try:
            _create_private_file(path)
            conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
        except (OSError, sqlite3.Error) as e:
            raise LedgerError(
                f"the ledger {path.name} cannot be opened: {e}",
                hint="check that the data folder is on a local disk and writable (DOWNTIME_HOME)",
            ) from e
        ledger = cls(conn, path)
        ledger._migrate()
        return ledger

    @classmethod
    def open_readonly(cls, path: Path) -> Ledger:
        """A read-only connection (scan workers look pages up; only the main process writes)."""
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
            conn.row_factory = sqlite3.Row
        except sqlite3.Error as e:
            raise LedgerError(f"the ledger {path.name} cannot be opened: {e}") from e
        return cls(conn, path)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``: the write lock is taken at the start."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise LedgerError(f"the ledger is busy or read-only: {e}") from e
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _migrate(self) -> None:
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
        )
        done = {r["name"] for r in self._conn.execute("SELECT name FROM migrations")}
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            with self.transaction() as conn:
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO migrations VALUES (?, ?)", (name, datetime.now(UTC).isoformat())
                )

    def migrations(self) -> list[str]:
        return [r["name"] for r in self._conn.execute("SELECT name FROM migrations ORDER BY 1")]

    # -- packs --------------------------------------------------------------------------------

    def existing_serials(self, serials: Iterable[str]) -> set[str]:
        wanted = list(serials)
        found: set[str] = set()
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(f"SELECT serial FROM pages WHERE serial IN ({marks})", chunk)
            found.update(r["serial"] for r in rows)
        return found

    def record_pack(
        self,
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
        with self.transaction() as conn:
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
                "INSERT INTO packs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    pack.pack_id, pack.site, pack.ward, _iso(pack.issued_at),
                    _iso(pack.data_as_of), _iso(pack.valid_until), pack.lang,
                    pack.census_source, pack.issued_by, pack.station, pack.key_id,
                    pack.pdf_name, pack.pdf_sha256, pack.page_count,
                ),
            )  # fmt: skip
            now = datetime.now(UTC).isoformat()
            conn.executemany(
                "INSERT INTO pack_supersessions VALUES (?, ?, ?)",
                [(old, pack.pack_id, now) for old in earlier],
            )
            self._insert_patients(conn, pack.pack_id, patients, orders)
            self._insert_pages(conn, pack.pack_id, pages)
            conn.executemany(
                "INSERT INTO reserve_ids VALUES (?, ?, ?, ?)",
                [(r, pack.pack_id, pack.ward, _iso(pack.issued_at)) for r in reserve_ids],
            )
            append_audit(conn, audit, actor=actor, station=station)
        return earlier

    @staticmethod
    def _insert_patients(
        conn: sqlite3.Connection,
        pack_id: str,
        patients: Sequence[Patient],
        orders: Sequence[MedicationOrder],
    ) -> None:
        conn.executemany(
            "INSERT INTO pack_patients VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    pack_id, p.identifier.system, p.identifier.value, p.family_name,
                    p.given_name, p.birth_date.isoformat() if p.birth_date else None, p.sex,
                    p.bed, p.encounter_id, _iso(p.admitted_at), "; ".join(p.allergies),
                )
                for p in patients
            ],
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO pack_orders VALUES (?,?,?,?,?,?,?,?,?,?,?)",
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

    @staticmethod
    def _insert_pages(conn: sqlite3.Connection, pack_id: str, pages: Sequence[IssuedPage]) -> None:
        known: set[str] = set()
        page_rows: list[tuple[Any, ...]] = []
        ref_rows: list[tuple[Any, ...]] = []
        for page in pages:
            layout_id = _layout_id(page)
            if layout_id not in known:
                known.add(layout_id)
                conn.execute(
                    "INSERT OR IGNORE INTO layouts VALUES (?, ?, ?)",
                    (layout_id, page.form, page.form_version),
                )
                conn.executemany(
                    "INSERT OR IGNORE INTO layout_fields VALUES (?,?,?,?,?,?,?)",
                    [(layout_id, f.id, f.kind, *f.box_mm) for f in page.fields],
                )
            patient = page.patient
            page_rows.append(
                (
                    page.page_uid, page.serial, pack_id, page.pdf_page, page.form,
                    page.form_code, page.form_version, page.page_no, page.page_count,
                    patient.system if patient else None, patient.value if patient else None,
                    page.encounter, layout_id, page.key_id, _iso(page.issued_at),
                )
            )  # fmt: skip
            ref_rows.extend(
                (page.page_uid, f.id, f.ref.get("order_id"), f.ref.get("slot"))
                for f in page.fields
                if f.ref
            )
        conn.executemany("INSERT INTO pages VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", page_rows)
        conn.executemany("INSERT INTO page_field_refs VALUES (?,?,?,?)", ref_rows)

    # -- audit --------------------------------------------------------------------------------

    def audit(self, events: Sequence[AuditEvent], *, actor: str, station: str) -> None:
        with self.transaction() as conn:
            append_audit(conn, events, actor=actor, station=station)

    def verify_audit_chain(self) -> int | None:
        """The ``seq`` of the first audit row whose hash does not follow, or None if intact."""
        prev = GENESIS
        for r in self._conn.execute("SELECT * FROM audit_events ORDER BY seq"):
            values = (
                r["at"], r["actor"], r["station"], r["action"], r["care_unit"],
                r["patient_system"], r["patient_value"], r["object_type"], r["object_id"],
                r["detail"],
            )  # fmt: skip
            if r["prev_hash"] != prev or r["hash"] != _chain_hash(prev, values):
                return int(r["seq"])
            prev = r["hash"]
        return None

    # -- queries ------------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Read-only access for reports and tests."""
        return list(self._conn.execute(sql, params))

    def page(self, page_uid: str) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM pages WHERE page_uid = ?", (page_uid,))
        return rows[0] if rows else None

    def page_by_serial(self, serial: str) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM pages WHERE serial = ?", (serial,))
        return rows[0] if rows else None

    def pages_of_pack(self, pack_id: str) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM pages WHERE pack_id = ? ORDER BY pdf_page", (pack_id,))

    def page_fields(self, page_uid: str) -> list[FieldBox]:
        rows = self.query(
            "SELECT f.*, r.order_id, r.slot FROM pages p "
            "JOIN layout_fields f ON f.layout_id = p.layout_id "
            "LEFT JOIN page_field_refs r ON r.page_uid = p.page_uid AND r.field_id = f.field_id "
            "WHERE p.page_uid = ? ORDER BY f.top_mm, f.left_mm",
            (page_uid,),
        )
        return [
            FieldBox(
                r["field_id"],
                r["kind"],
                (r["left_mm"], r["top_mm"], r["width_mm"], r["height_mm"]),
                {k: r[k] for k in ("order_id", "slot") if r[k] is not None},
            )
            for r in rows
        ]

    def has_pack(self, pack_id: str) -> bool:
        return bool(self.query("SELECT 1 FROM packs WHERE pack_id = ?", (pack_id,)))

    def superseded_by(self, pack_id: str) -> str | None:
        row = self._conn.execute(
            "SELECT superseded_by FROM pack_supersessions WHERE pack_id = ?", (pack_id,)
        ).fetchone()
        return row["superseded_by"] if row else None

    def pages_per_key(self) -> dict[str, int]:
        rows = self.query("SELECT key_id, count(*) AS n FROM pages GROUP BY key_id")
        return {r["key_id"]: int(r["n"]) for r in rows}


def append_audit(
    conn: sqlite3.Connection, events: Sequence[AuditEvent], *, actor: str, station: str
) -> None:
    """Append audit events inside the caller's transaction, continuing the hash chain."""
    row = conn.execute("SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
    prev = row[0] if row else GENESIS
    at = datetime.now(UTC).isoformat()
    for e in events:
        values = (
            at, actor, station, e.action, e.care_unit,
            e.patient.system if e.patient else None,
            e.patient.value if e.patient else None,
            e.object_type, e.object_id, e.detail,
        )  # fmt: skip
        digest = _chain_hash(prev, values)
        conn.execute(
            "INSERT INTO audit_events (at, actor, station, action, care_unit, "
            "patient_system, patient_value, object_type, object_id, detail, prev_hash, hash)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (*values, prev, digest),
        )
        prev = digest


def _layout_id(page: IssuedPage) -> str:
    canonical = json.dumps(
        [page.form, page.form_version, [(f.id, f.kind, f.box_mm) for f in page.fields]],
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _chain_hash(prev: str, values: Sequence[Any]) -> str:
    payload = json.dumps([prev, *values], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _statements(sql: str) -> Iterator[str]:
    """Split a migration into statements, line by line, as SQLite's own parser sees them."""
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""
    if pending.strip():
        raise LedgerError("a migration ends in an incomplete SQL statement")


__all__ = ["AuditEvent", "IssuedPage", "Ledger", "PackRecord", "append_audit"]

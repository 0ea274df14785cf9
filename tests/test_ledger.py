"""The ledger: schema migrations, SQLite settings, private files, one transaction per pack, and
the hash-chained audit trail, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from backends import Backend, integrity_errors, new_ledger, tamper
from conftest import ledger_rows

from downtime import codes
from downtime.ledger import (
    AuditEvent,
    IssuedPage,
    Ledger,
    PackRecord,
    verify_audit_chain,
    write_audit,
)
from downtime.ledger.audit import chain_hash
from downtime.ledger.migrations import MIGRATIONS
from downtime.ledger.packs import record_pack, superseded_by
from downtime.ledger.pages import pages_of_pack
from downtime.model import FieldBox, Identifier, MedicationOrder, Patient

pytestmark = pytest.mark.backends
posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")

ISSUED = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
TOLVAN = Identifier("personnummer", "191212121212")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def count(ledger: Ledger, table: str, where: str = "1 = 1", params: tuple[str, ...] = ()) -> int:
    return int(
        ledger_rows(ledger, f"SELECT count(*) AS n FROM {table} WHERE {where}", params)[0]["n"]
    )


def pack_record(pack_id: str, ward: str = "MED42") -> PackRecord:
    return PackRecord(
        pack_id=pack_id,
        site="Exempelsjukhuset",
        ward=ward,
        issued_at=ISSUED,
        data_as_of=ISSUED,
        valid_until=ISSUED,
        lang="sv",
        census_source="patients.csv",
        issued_by="tester",
        station="host",
        key_id="0123abcd",
        pdf_name=f"{ward}.pdf",
        pdf_sha256="0" * 64,
        page_count=2,
    )


def issued_page(page_uid: str, serial: str, pdf_page: int, *, field_x: float = 15.0) -> IssuedPage:
    return IssuedPage(
        page_uid=page_uid,
        pack_id="",  # given by record()
        serial=serial,
        pdf_page=pdf_page,
        form="journal",
        form_code=1,
        form_version=1,
        page_no=pdf_page,
        page_count=2,
        patient=TOLVAN,
        encounter="E1",
        key_id="0123abcd",
        issued_at=ISSUED,
        fields=(
            FieldBox("entry1.text", "text", (field_x, 70.0, 180.0, 30.0), {"order_id": "O-1"}),
        ),
    )


PATIENT = Patient(TOLVAN, "Tolvansson", "Tolvan", None, "male", "MED42", "1", "E1", ISSUED)
ORDER = MedicationOrder(TOLVAN, "O-1", "Paracetamol", "1 g", "PO", "1×4", (), True, None)


def record(ledger: Ledger, pack: PackRecord, pages: list[IssuedPage]) -> list[str]:
    return record_pack(
        ledger,
        pack,
        [replace(page, pack_id=pack.pack_id) for page in pages],
        [PATIENT],
        [ORDER],
        [f"R-{pack.pack_id[:6]}"],
        [AuditEvent("pack.print", f"pack {pack.pack_id}", "MED42", TOLVAN, "pack", pack.pack_id)],
        actor="tester",
        station="host",
    )


@pytest.fixture
def path(tmp_path: Path, backend: Backend) -> Path | str:
    """A new ledger's place: a SQLite file, or a PostgreSQL database of this test's own."""
    return new_ledger(backend, tmp_path)


# --------------------------------------------------------------------------------------------
# Opening


def test_opening_twice_runs_the_migrations_once(path: Path | str) -> None:
    with Ledger.open(path) as ledger:
        assert ledger.migrations() == [name for name, _ in MIGRATIONS]
        applied = ledger_rows(ledger, "SELECT * FROM migrations")
        record(ledger, pack_record(codes.new_pack_id()), [issued_page("a" * 32, "S1", 1)])
    with Ledger.open(path) as ledger:
        assert ledger.migrations() == [name for name, _ in MIGRATIONS]
        assert [tuple(r) for r in ledger_rows(ledger, "SELECT * FROM migrations")] == [
            tuple(r) for r in applied
        ]
        assert count(ledger, "packs") == 1, "nothing was recreated"


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.sqlite3") as ledger:
        assert ledger.pragmas() == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1}
        assert ledger_rows(ledger, "PRAGMA journal_mode")[0][0] == "wal", "kept in the file"


def test_foreign_keys_are_enforced(path: Path | str) -> None:
    with Ledger.open(path) as ledger:
        with pytest.raises(integrity_errors()), ledger.transaction() as conn:
            conn.execute(
                "INSERT INTO pack_supersessions (pack_id, superseded_by, at) VALUES (?, ?, ?)",
                ("nope", "nope", "2026"),
            )
        assert count(ledger, "pack_supersessions") == 0


@posix_only
def test_the_ledger_file_and_its_folder_are_private(tmp_path: Path) -> None:
    path = tmp_path / "data" / "ledger.sqlite3"
    with Ledger.open(path) as ledger:
        record(ledger, pack_record(codes.new_pack_id()), [issued_page("a" * 32, "S1", 1)])
        assert mode(path) == 0o600
        assert mode(path.parent) == 0o700
        for extra in (path.with_name("ledger.sqlite3-wal"), path.with_name("ledger.sqlite3-shm")):
            assert extra.exists() and mode(extra) == 0o600, extra.name


# --------------------------------------------------------------------------------------------
# record_pack: all or nothing


def test_record_pack_is_one_transaction(path: Path | str) -> None:
    with Ledger.open(path) as ledger:
        first = pack_record(codes.new_pack_id())
        taken = codes.new_page_uid()
        record(ledger, first, [issued_page(taken, "S1", 1)])
        audit_rows = count(ledger, "audit_events")

        second = pack_record(codes.new_pack_id())
        fresh = codes.new_page_uid()
        pages = [
            issued_page(fresh, "S2", 1, field_x=20.0),  # a new layout, stored before the clash
            issued_page(taken, "S3", 2),  # the first pack's page_uid: the insert fails here
        ]
        with pytest.raises(integrity_errors()):
            record(ledger, second, pages)

        assert count(ledger, "packs", "pack_id = ?", (second.pack_id,)) == 0
        assert count(ledger, "pages", "pack_id = ?", (second.pack_id,)) == 0
        assert count(ledger, "pages", "page_uid = ?", (fresh,)) == 0
        assert count(ledger, "pack_patients", "pack_id = ?", (second.pack_id,)) == 0
        assert count(ledger, "pack_orders", "pack_id = ?", (second.pack_id,)) == 0
        assert count(ledger, "reserve_ids", "pack_id = ?", (second.pack_id,)) == 0
        assert count(ledger, "layouts") == 1, "the new layout was rolled back too"
        assert count(ledger, "audit_events") == audit_rows
        assert superseded_by(ledger, first.pack_id) is None, "the failed pack superseded nothing"
        [page] = pages_of_pack(ledger, first.pack_id)
        assert page.page_uid == taken and page.serial == "S1"
        assert verify_audit_chain(ledger) is None

        # the ledger is still usable, and the next pack of the ward supersedes the first one
        third = pack_record(codes.new_pack_id())
        assert record(ledger, third, [issued_page(fresh, "S2", 1)]) == [first.pack_id]
        assert superseded_by(ledger, first.pack_id) == third.pack_id


# --------------------------------------------------------------------------------------------
# The audit chain


def audited_ledger(path: Path | str, events: int = 5) -> None:
    with Ledger.open(path) as ledger:
        for n in range(events):
            write_audit(
                ledger, [AuditEvent("test", f"event {n + 1}")], actor="tester", station="host"
            )
        assert verify_audit_chain(ledger) is None


def test_audit_chain_finds_a_deleted_row(path: Path | str) -> None:
    audited_ledger(path)
    tamper(path, "DELETE FROM audit_events WHERE seq = 3")
    with Ledger.open(path) as ledger:
        assert verify_audit_chain(ledger) == 4  # the row after the gap no longer follows


def test_audit_chain_finds_an_altered_row(path: Path | str) -> None:
    audited_ledger(path)
    tamper(path, "UPDATE audit_events SET detail = 'event two' WHERE seq = 2")
    with Ledger.open(path) as ledger:
        assert verify_audit_chain(ledger) == 2


def test_audit_chain_finds_a_row_altered_with_its_hash_recomputed(path: Path | str) -> None:
    """Rewriting one row's hash to match its new content breaks the link to the next row."""
    audited_ledger(path)
    tamper(path, "UPDATE audit_events SET actor = 'someone else' WHERE seq = 2")
    [row] = ledger_rows(
        path,
        "SELECT at, actor, station, action, care_unit, patient_system, patient_value, "
        "object_type, object_id, detail, prev_hash FROM audit_events WHERE seq = 2",
    )
    row = tuple(row)
    tamper(path, "UPDATE audit_events SET hash = ? WHERE seq = 2", (chain_hash(row[-1], row[:-1]),))
    with Ledger.open(path) as ledger:
        assert verify_audit_chain(ledger) == 2  # the row edited: the next no longer follows it

"""A consistent copy of the ledger while it is written: SQLite's online backup, page by page,
of a snapshot (a scan writing meanwhile waits a moment or is copied whole, never half). And the
counts a backup is checked against after a restore.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from downtime import files
from downtime.errors import LedgerError
from downtime.ledger import postgres
from downtime.ledger.db import Connection, Ledger, rows

COUNTED = (  # tables a restore must bring back whole (by their row counts)
    "packs", "pages", "scan_files", "scan_pages", "captures", "marks", "quarantine",
    "held_items", "decisions", "postings", "posting_attempts", "voids", "audit_events",
    "prints", "print_pages", "print_outcomes",
)  # fmt: skip


def copy_sqlite(source: Path, target: Path) -> None:
    """Copy the SQLite ledger ``source`` to ``target`` (0600, written then moved into place),
    consistently while other processes write it."""
    temp = files.new_temp(target)
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=60.0)
        dst = sqlite3.connect(temp)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            dst.close()
            src.close()
        files.commit(temp, target)
    except sqlite3.Error as e:
        raise LedgerError(f"the ledger could not be copied: {e}") from e
    finally:
        temp.unlink(missing_ok=True)


def table_counts(ledger: Ledger) -> dict[str, int]:
    """Rows in each of :data:`COUNTED`."""
    return {t: int(rows(ledger, f"SELECT count(*) FROM {t}")[0][0]) for t in COUNTED}


def tables_with_rows(url: str) -> list[str]:
    """The tables of the database ``url`` names that hold a row (the ledger's migrations
    table aside), without migrating it: a restore goes only into a database with none."""
    with Ledger(postgres.connect(url), url) as ledger:
        tables = rows(
            ledger,
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
        )
        names = sorted(str(r[0]) for r in tables if r[0] != "migrations")
        return [t for t in names if rows(ledger, f'SELECT 1 FROM "{t}" LIMIT 1')]


def set_aside(url: str, stamp: str) -> str:
    """Keep what the database ``url`` names holds beside an empty schema of the same name
    (its schema renamed ``<schema>_before_<stamp>``); the new name."""
    with Ledger(postgres.connect(url), url) as ledger:
        [(schema,)] = rows(ledger, "SELECT current_schema()")
        kept = f"{schema}_before_{stamp}".lower()

        def rename(conn: Connection) -> None:
            conn.execute(f'ALTER SCHEMA "{schema}" RENAME TO "{kept}"', ())
            conn.execute(f'CREATE SCHEMA "{schema}"', ())

        ledger.write(rename)
    return kept

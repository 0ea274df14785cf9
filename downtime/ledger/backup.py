"""A consistent copy of the ledger while it is written: SQLite's online backup, page by page,
of a snapshot (a scan writing meanwhile waits a moment or is copied whole, never half). And the
counts a backup is checked against after a restore.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from downtime import files
from downtime.errors import LedgerError
from downtime.ledger.db import Ledger, rows

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

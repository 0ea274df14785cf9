"""The ledgers of bench/stations.py: a data folder's site.toml pointed at a database (or at its
own SQLite file), and a printed PostgreSQL ledger copied row for row into a new SQLite ledger,
so that both backends start from the same issued pages."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from backends import ledger_rows

from downtime.ledger import Ledger

SKIPPED = ("migrations", "sqlite_sequence")  # made by opening the new ledger


def site_with_database(site: Path | str, url: str) -> str:
    """The text of ``site`` (a site.toml, or none: "") without its ``database`` line, and with
    ``database = url`` unless ``url`` is empty (the SQLite file in the data folder)."""
    text = Path(site).read_text("utf-8") if site else ""
    lines = [line for line in text.splitlines() if not line.startswith("database")]
    if url:
        lines.append(f'database = "{url}"')
    return "".join(f"{line}\n" for line in lines)


def copy_to_sqlite(url: str, path: Path) -> None:
    """Every row of the database ``url`` names into a new SQLite ledger at ``path`` (migrated
    first: the same tables), table by table in the order the migrations made them, so that a
    row's foreign keys are there before it; ids as they were."""
    with Ledger.open(path):
        pass
    lite = sqlite3.connect(path, isolation_level=None)
    try:
        lite.execute("PRAGMA foreign_keys=ON")
        tables = [
            name
            for (name,) in lite.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid"
            )
            if name not in SKIPPED
        ]
        lite.execute("BEGIN IMMEDIATE")
        for table in tables:
            found = ledger_rows(url, f'SELECT * FROM "{table}" ORDER BY 1')
            if not found:
                continue
            columns = list(found[0].keys())
            lite.executemany(
                f'INSERT INTO "{table}" ({", ".join(columns)})'
                f" VALUES ({', '.join('?' * len(columns))})",
                [tuple(r) for r in found],
            )
        lite.execute("COMMIT")
    finally:
        lite.close()

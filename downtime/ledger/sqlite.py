"""The ledger's SQLite file: made private (0600) by whoever opens it first, in WAL mode with
synchronous commits and foreign keys, opened by several processes at once."""

from __future__ import annotations

import os
import random
import sqlite3
import time
from pathlib import Path

from downtime.errors import LedgerError


def _create_private_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return  # there already (made by another process opening it at the same moment)
    os.close(fd)


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the ledger file, made (0600, in a 0700 folder) if missing."""
    try:
        _create_private_file(path)
        conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        conn.row_factory = sqlite3.Row
        _write_ahead_log(conn)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
    except (OSError, sqlite3.Error) as e:
        raise LedgerError(
            f"the ledger {path.name} cannot be opened: {e}",
            hint="check that the data folder is on a local disk and writable (DOWNTIME_HOME)",
        ) from e
    return conn


def _write_ahead_log(conn: sqlite3.Connection, patience: float = 30.0) -> None:
    """Put the ledger in WAL mode (it stays so once set). Switching takes the file's exclusive
    lock, and SQLite answers "database is locked" at once, without waiting, when several
    processes open a new ledger at the same moment; so try again for a while."""
    deadline = time.monotonic() + patience
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            if conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal":
                return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError("the ledger could not be switched to WAL mode")
        time.sleep(random.uniform(0.005, 0.05))

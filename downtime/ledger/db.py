"""The ledger's connection: one SQLite file, opened, migrated, and written in transactions.

SQLite in WAL mode with ``synchronous=FULL``, writes in ``BEGIN IMMEDIATE`` transactions, the
file and its folder private to the user (0600 / 0700). A SQLite ledger must live on a local
disk: WAL does not work over a network drive.

Only the ledger's own modules run statements (:func:`rows`, :meth:`Ledger.transaction`); every
other stage calls their named functions, which take and return the ledger's dataclasses.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from downtime.errors import LedgerError
from downtime.ledger.migrations import MIGRATIONS

Row = sqlite3.Row
Connection = sqlite3.Connection


def _create_private_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return  # there already (made by another process opening it at the same moment)
    os.close(fd)


class Ledger:
    """One connection to the ledger. Use as a context manager, or call :meth:`close`."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

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

    def _read(self, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
        return list(self._conn.execute(sql, params))

    def _migrate(self) -> None:
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
        )
        done = {r["name"] for r in self._conn.execute("SELECT name FROM migrations")}
        unknown = sorted(done - {name for name, _ in MIGRATIONS})
        if unknown:  # a newer kit changed it: neither migrate it back nor misread it
            raise LedgerError(
                f"the ledger {self.path.name} was written by a newer version of downtime"
                f" (its schema has {', '.join(unknown)}): this version does not open it",
                hint="use the newer version, or restore a backup this version made",
            )
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            with self.transaction() as conn:
                # another process opening the ledger at the same moment may have applied it
                if conn.execute("SELECT 1 FROM migrations WHERE name = ?", (name,)).fetchone():
                    continue
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO migrations (name, applied_at) VALUES (?, ?)",
                    (name, datetime.now(UTC).isoformat()),
                )

    def migrations(self) -> list[str]:
        """The names of the migrations applied, in order."""
        return [r["name"] for r in self._conn.execute("SELECT name FROM migrations ORDER BY 1")]

    def pragmas(self) -> dict[str, Any]:
        """The settings this connection runs with (journal mode, synchronous, foreign keys)."""
        return {
            name: self._conn.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "synchronous", "foreign_keys")
        }


def rows(ledger: Ledger, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
    """Rows of one statement: how the ledger's modules read (nothing else runs SQL)."""
    return ledger._read(sql, params)


def chunks(values: Sequence[str], size: int = 500) -> Iterator[tuple[list[str], str]]:
    """``values`` in chunks under SQLite's bound-parameter limit, each with its placeholders."""
    for i in range(0, len(values), size):
        chunk = list(values[i : i + size])
        yield chunk, ",".join("?" * len(chunk))


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def now() -> str:
    return datetime.now(UTC).isoformat()


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

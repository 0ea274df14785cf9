"""The ledger's connection: opened, migrated, and written in transactions, on either backend.

- **SQLite** (the default: one file in the data folder): WAL mode with ``synchronous=FULL``,
  writes in ``BEGIN IMMEDIATE`` transactions, the file and its folder private to the user
  (0600 / 0700). A SQLite ledger must live on a local disk: WAL does not work over a network
  drive.
- **PostgreSQL** (several stations on one ledger: a ``postgresql://`` URL), through
  :mod:`~downtime.ledger.postgres`: writes in ``SERIALIZABLE`` transactions, run again when
  the server reports a serialization failure or a deadlock (:meth:`Ledger.write`). Writers
  that append to a table read in id order (the audit trail's hash chain above all) take turns
  at it, as SQLite's writers always do: every one of them reads the chain's head, so letting
  them run side by side only has all but one fail and run again.

The statements are the same on both, written in SQLite's dialect and translated where they
differ (:mod:`~downtime.ledger.dialect`). Only the ledger's own modules run statements
(:func:`rows`, :meth:`Ledger.write`); every other stage calls their named functions, which take
and return the ledger's dataclasses.
"""

from __future__ import annotations

import functools
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from downtime.errors import LedgerError
from downtime.ledger import postgres, sqlite
from downtime.ledger.dialect import POSTGRESQL, SQLITE, is_database_url, migration_sql, redacted
from downtime.ledger.migrations import MIGRATIONS

T = TypeVar("T")

# A write that keeps meeting serialization failures or deadlocks is run at most this often,
# waiting a random while between tries (up to the cap, doubling from the first wait).
WRITE_ATTEMPTS = 12
RETRY_FIRST_WAIT_S = 0.002
RETRY_MAX_WAIT_S = 0.25
BEGIN = {SQLITE: "BEGIN IMMEDIATE", POSTGRESQL: "BEGIN ISOLATION LEVEL SERIALIZABLE"}
MIGRATIONS_TABLE = "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
# Taken while migrations run on PostgreSQL, so that stations starting at once apply each once.
MIGRATION_LOCK = 0x646F776E74696D65  # "downtime"
AUDIT_TABLE = "audit_events"  # hash-chained: each row names the hash of the one before


class Row(Protocol):
    """A row read by column name or by index (``sqlite3.Row``, or PostgreSQL's :class:`Row`)."""

    def __getitem__(self, key: Any, /) -> Any: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __len__(self) -> int: ...
    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What a transaction body is given: statements with ``?`` placeholders."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...
    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any: ...
    def close(self) -> None: ...


class Ledger:
    """One connection to the ledger. Use as a context manager, or call :meth:`close`.

    ``target`` is what it was opened with: the SQLite file's path, or a PostgreSQL URL."""

    def __init__(self, conn: Connection, target: Path | str) -> None:
        self._conn = conn
        self.target = target
        self.dialect = POSTGRESQL if is_database_url(target) else SQLITE
        self.retries = 0  # writes run again after a serialization failure or a deadlock

    @property
    def path(self) -> Path | None:
        """The SQLite file (None on PostgreSQL)."""
        return None if isinstance(self.target, str) else self.target

    @property
    def identity(self) -> tuple[str, int]:
        """Which ledger this is, for caches kept per ledger: the SQLite file (its path and
        inode, so a file replaced by a restore is another ledger), or the database's URL."""
        if isinstance(self.target, str):
            return (redacted(self.target), 0)
        try:
            return (str(self.target.resolve()), self.target.stat().st_ino)
        except OSError:
            return (str(self.target), 0)

    @property
    def name(self) -> str:
        """The ledger as messages name it: the file's name, or the URL without a password."""
        return redacted(self.target) if isinstance(self.target, str) else self.target.name

    @classmethod
    def open(cls, target: Path | str) -> Ledger:
        """Open (and create, and migrate) the ledger: a SQLite file, or a PostgreSQL URL."""
        if is_database_url(target):
            ledger = cls(postgres.connect(str(target)), target)
        else:
            ledger = cls(sqlite.connect(Path(target)), Path(target))
        try:
            ledger._migrate()
        except BaseException:
            ledger.close()
            raise
        return ledger

    @classmethod
    def open_readonly(cls, target: Path | str) -> Ledger:
        """A read-only connection (scan workers look pages up; only the main process writes)."""
        if is_database_url(target):
            return cls(postgres.connect(str(target), readonly=True), target)
        path = Path(target)
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
            conn.row_factory = sqlite3.Row
        except sqlite3.Error as e:
            raise LedgerError(f"the ledger {path.name} cannot be opened: {e}") from e
        return cls(conn, path)

    def close(self) -> None:
        self._conn.close()

    @property
    def idle(self) -> bool:
        """Whether the connection is open and outside a transaction: fit to be used again."""
        if isinstance(self._conn, postgres.PgConnection):
            return self._conn.idle()
        if isinstance(self._conn, sqlite3.Connection):
            try:
                return not self._conn.in_transaction
            except sqlite3.ProgrammingError:  # closed
                return False
        return False

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction, run once: ``BEGIN IMMEDIATE`` on SQLite (the write lock is
        taken at the start), ``SERIALIZABLE`` on PostgreSQL. Prefer :meth:`write`, which runs
        the transaction again when PostgreSQL asks for that."""
        begin = BEGIN[self.dialect]
        try:
            self._conn.execute(begin)
        except Exception as e:
            if not self._driver_error(e):
                raise
            raise LedgerError(f"the ledger is busy or read-only: {e}") from e
        try:
            yield self._conn
        except BaseException:
            self._rollback()
            raise
        try:
            self._conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    @contextmanager
    def snapshot(self) -> Iterator[str | None]:
        """Reads that all see the ledger at one moment while others write (a read transaction);
        on PostgreSQL yields the snapshot's id, for ``pg_dump --snapshot`` to see the same."""
        if self.dialect == SQLITE:
            self._conn.execute("BEGIN", ())
            self._conn.execute("SELECT count(*) FROM migrations", ())  # the moment is now
            exported = None
        else:
            self._conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", ())
            exported = self._conn.execute("SELECT pg_export_snapshot()", ()).fetchone()[0]
        try:
            yield exported
        finally:
            self._rollback()

    def write(
        self,
        body: Callable[[Connection], T],
        *,
        in_order: Sequence[str] = (),
        audited: bool = True,
    ) -> T:
        """Run ``body`` in a write transaction and return what it returns. On PostgreSQL a
        serialization failure or a deadlock runs it again from the start (a bounded number of
        times): ``body`` must do nothing but its statements, and build its result anew.

        ``in_order``: tables whose readers take "every row after the last id I saw" as what is
        new (:func:`~downtime.ledger.postings.held_changes`); ``audited`` (the default): the
        body may append audit events, whose hash chain is such a table too. On SQLite writers
        take turns, so ids are given in the order rows are committed. On PostgreSQL the writers
        of such a table take turns at it (:func:`~downtime.ledger.postgres.turns`), so that a
        row never commits after a row with a higher id and two writers never read the same
        head of the audit chain."""
        tables = sorted({*in_order, *([AUDIT_TABLE] if audited else [])})
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                turns = postgres.turns(self._conn, tables) if self.dialect == POSTGRESQL else None
                with turns or nullcontext(), self.transaction() as conn:
                    return body(conn)
            except Exception as e:
                if not (self.dialect == POSTGRESQL and postgres.retryable(e)):
                    raise
                if attempt == WRITE_ATTEMPTS:
                    raise LedgerError(
                        f"the ledger stayed busy: {attempt} tries at a write conflicted with "
                        "other stations' writes",
                        hint="run the command again",
                    ) from e
                self.retries += 1
                wait = min(RETRY_MAX_WAIT_S, RETRY_FIRST_WAIT_S * 2**attempt)
                time.sleep(random.uniform(0, wait))
        raise AssertionError("unreachable")  # pragma: no cover

    def _rollback(self) -> None:
        try:
            self._conn.execute("ROLLBACK")
        except Exception as e:  # the connection itself failed: the server rolls back
            if not self._driver_error(e):
                raise

    def _driver_error(self, error: BaseException) -> bool:
        if self.dialect == SQLITE:
            return isinstance(error, sqlite3.Error)
        return postgres.is_error(error)

    def _no_such_table(self, error: BaseException) -> bool:
        if self.dialect == SQLITE:
            return isinstance(error, sqlite3.OperationalError) and "no such table" in str(error)
        return getattr(error, "sqlstate", None) == "42P01"  # undefined_table

    def _read(self, sql: str, params: Sequence[Any]) -> list[Row]:
        return list(self._conn.execute(sql, params))

    def _migrate(self) -> None:
        """Apply the migrations not applied yet. With none pending nothing is locked or created,
        so a station may connect as a role that can only read and append (README: "Several
        stations on one ledger")."""
        applied = self._applied()
        unknown = sorted(applied - {name for name, _ in MIGRATIONS})
        if unknown:  # a newer kit changed it: neither migrate it back nor misread it
            raise LedgerError(
                f"the ledger {self.name} was written by a newer version of downtime"
                f" (its schema has {', '.join(unknown)}): this version does not open it",
                hint="use the newer version, or restore a backup this version made",
            )
        if all(name in applied for name, _ in MIGRATIONS):
            return
        with self._migration_lock():
            self._conn.execute(migration_sql("", MIGRATIONS_TABLE, self.dialect), ())
            done = self._applied()
            for name, sql in MIGRATIONS:
                if name not in done:
                    self.write(functools.partial(self._apply, name=name, sql=sql), audited=False)

    def _applied(self) -> set[str]:
        try:
            found = self._conn.execute("SELECT name FROM migrations", ()).fetchall()
        except Exception as e:
            if not self._no_such_table(e):
                raise
            return set()  # a new ledger
        return {r["name"] for r in found}

    def _apply(self, conn: Connection, name: str, sql: str) -> None:
        if conn.execute("SELECT 1 FROM migrations WHERE name = ?", (name,)).fetchone():
            return  # another process applied it meanwhile
        for statement in _statements(migration_sql(name, sql, self.dialect)):
            conn.execute(statement, ())
        conn.execute(
            "INSERT INTO migrations (name, applied_at) VALUES (?, ?)",
            (name, datetime.now(UTC).isoformat()),
        )

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if self.dialect == SQLITE:
            yield
            return
        self._conn.execute("SELECT pg_advisory_lock(?)", (MIGRATION_LOCK,))
        try:
            yield
        finally:
            self._conn.execute("SELECT pg_advisory_unlock(?)", (MIGRATION_LOCK,))

    def migrations(self) -> list[str]:
        """The names of the migrations applied, in order."""
        found = self._conn.execute("SELECT name FROM migrations ORDER BY 1", ())
        return [r["name"] for r in found]

    def pragmas(self) -> dict[str, Any]:
        """The settings this connection runs with: on SQLite journal mode, synchronous and
        foreign keys; on PostgreSQL the server's version, commit durability and whether writes
        reach the disk."""
        if self.dialect == POSTGRESQL:
            return {
                name: self._conn.execute(f"SHOW {name}", ()).fetchone()[0]
                for name in ("server_version", "synchronous_commit", "fsync")
            }
        return {
            name: self._conn.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("journal_mode", "synchronous", "foreign_keys")
        }


def driver_errors() -> tuple[type[Exception], ...]:
    """What the database drivers raise: SQLite's, and psycopg's once it is loaded (a ledger on
    PostgreSQL was opened)."""
    psycopg = sys.modules.get("psycopg")
    return (sqlite3.Error, psycopg.Error) if psycopg is not None else (sqlite3.Error,)


def rows(ledger: Ledger, sql: str, params: Sequence[Any] = ()) -> list[Row]:
    """Rows of one statement: how the ledger's modules read (nothing else runs SQL)."""
    return ledger._read(sql, params)


def stream(ledger: Ledger, sql: str, size: int = 1000) -> Iterator[list[Row]]:
    """The rows of one statement, ``size`` at a time (a table too large to hold at once)."""
    cursor = ledger._conn.execute(sql, ())
    while batch := cursor.fetchmany(size):
        yield batch


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
    """Split a migration into statements, line by line, as SQLite's own parser sees them (the
    ledger's DDL is lexically the same in both dialects)."""
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""
    if pending.strip() and not all(
        not line.split("--", 1)[0].strip() for line in pending.splitlines()
    ):
        raise LedgerError("a migration ends in an incomplete SQL statement")

"""PostgreSQL through psycopg 3: the one module that imports the driver.

A connection here speaks to the ledger's modules as a SQLite connection does: ``execute`` and
``executemany`` with ``?`` placeholders (translated by :func:`~downtime.ledger.dialect.pyformat`),
rows read by column name or by index, ``rowcount``. It runs in autocommit: a read is a
statement of its own, and a write is an explicit ``SERIALIZABLE`` transaction
(:class:`~downtime.ledger.db.Ledger`), retried when PostgreSQL reports a serialization failure
or a deadlock (:func:`retryable`).

The password comes from a password file (``PGPASSFILE``, ``~/.pgpass``, or ``passfile=`` in the
URL), never from the URL itself (:mod:`downtime.settings` refuses one that carries it).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from downtime.errors import LedgerError
from downtime.ledger.dialect import multirow_insert, pyformat, redacted, statement_sizes

# SQLSTATEs after which a transaction may simply be run again: serialization_failure and
# deadlock_detected.
RETRYABLE = frozenset({"40001", "40P01"})
CONNECT_TIMEOUT_S = 10


class Row(Sequence[Any]):
    """One row, by index or by column name (as :class:`sqlite3.Row`); ``dict(row)`` works."""

    __slots__ = ("_names", "_values")

    def __init__(self, values: Sequence[Any], names: dict[str, int]) -> None:
        self._values = tuple(values)
        self._names = names

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            index = self._names.get(key)
            if index is None:
                index = self._names.get(key.lower())
            if index is None:
                raise IndexError(f"no such column: {key}")
            return self._values[index]
        return self._values[key]

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def keys(self) -> list[str]:
        return list(self._names)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Row):
            return self._values == other._values and self._names == other._names
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values)

    def __repr__(self) -> str:
        return f"Row({dict(zip(self._names, self._values, strict=False))!r})"


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], Row]:
    names: dict[str, int] = {}
    for i, column in enumerate(cursor.description or ()):
        names.setdefault(column.name, i)  # the first of two same-named columns, as SQLite
    return lambda values: Row(values, names)


class PgConnection:
    """A psycopg connection that takes the ledger's SQLite-style statements."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        return self._raw.execute(pyformat(sql), tuple(parameters))

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any:
        """``sql`` once per row of ``parameters``: an ``INSERT`` as a few statements of many
        rows each (:func:`~downtime.ledger.dialect.multirow_insert`), else row by row."""
        batch = [tuple(p) for p in parameters]
        if not batch or multirow_insert(sql, 1) is None:
            cursor = self._raw.cursor()
            if batch:
                cursor.executemany(pyformat(sql), batch)
            return cursor
        import psycopg

        cursor = psycopg.RawCursor(self._raw)  # placeholders numbered: sent as they are
        start = 0
        for size in statement_sizes(len(batch), len(batch[0])):
            chunk = batch[start : start + size]
            start += size
            cursor.execute(str(multirow_insert(sql, size)), [v for row in chunk for v in row])
        return cursor

    def close(self) -> None:
        self._raw.close()

    def idle(self) -> bool:
        """Open, in touch with the server, and outside a transaction."""
        import psycopg

        status = self._raw.info.transaction_status
        return not self._raw.closed and status == psycopg.pq.TransactionStatus.IDLE


class _NotAfterAFailedBatch(logging.Filter):
    """Drops psycopg's warning that ending a pipeline failed after a statement in it had
    failed (a batch of ``executemany`` hit a serialization failure): that failure is raised as
    it is, and the transaction run again, so the warning only repeats it on stderr."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("error ignored terminating")


def _quiet_failed_batches() -> None:
    driver_log = logging.getLogger("psycopg")
    if not any(isinstance(f, _NotAfterAFailedBatch) for f in driver_log.filters):
        driver_log.addFilter(_NotAfterAFailedBatch())


def connect(url: str, *, readonly: bool = False) -> PgConnection:
    """A connection to the database ``url`` names, in autocommit (see the module's doc)."""
    _quiet_failed_batches()
    try:
        import psycopg
    except ImportError as e:  # pragma: no cover - psycopg is a dependency
        raise LedgerError(
            "PostgreSQL needs the psycopg package",
            hint="pip install 'psycopg[binary]'",
        ) from e
    extra: dict[str, Any] = {"options": "-c default_transaction_read_only=on"} if readonly else {}
    try:
        raw = psycopg.connect(
            url,
            autocommit=True,
            row_factory=_row_factory,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name="downtime",
            **extra,
        )
    except psycopg.Error as e:
        raise LedgerError(
            f"the ledger database {redacted(url)} cannot be opened: {_first_line(e)}",
            hint="check the URL (DOWNTIME_DB or database in site.toml), that the server is "
            "running, and the password file (PGPASSFILE or ~/.pgpass, readable only by you)",
        ) from e
    return PgConnection(raw)


def retryable(error: BaseException) -> bool:
    """Whether ``error`` is a serialization failure or a deadlock: run the transaction again."""
    return getattr(error, "sqlstate", None) in RETRYABLE


def is_error(error: BaseException) -> bool:
    """Whether ``error`` comes from the database driver."""
    import psycopg

    return isinstance(error, psycopg.Error)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class Statements(Protocol):
    """A connection of the ledger's (:class:`PgConnection`, as the ledger holds it)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...


def turn_lock(table: str) -> int:
    """The advisory lock (a signed 64-bit key) that writers appending to ``table`` in id order
    take turns by (:func:`turns`)."""
    digest = hashlib.sha256(f"downtime.turn:{table}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def turns(conn: Statements, tables: Sequence[str]) -> Iterator[None]:
    """Wait for this connection's turn at each of ``tables`` (in name order, so that two
    writers never wait for each other), held until the transaction run inside has ended
    (:meth:`~downtime.ledger.db.Ledger.write`).

    The turns are advisory locks taken before ``BEGIN``: a ``SERIALIZABLE`` transaction sees
    the ledger as it was at its first statement, so a lock taken inside it would come too late
    (the rows the writer before committed stay unseen), and ``LOCK TABLE`` in a mode that keeps
    writers out needs more than the station role's SELECT and INSERT (README: "Several
    stations on one ledger"). A station that dies ends its session, and the server releases
    its turns with it."""
    taken: list[int] = []
    try:
        for table in sorted(tables):
            key = turn_lock(table)
            conn.execute("SELECT pg_advisory_lock(?)", (key,))
            taken.append(key)
        yield
    finally:
        for key in reversed(taken):
            try:
                conn.execute("SELECT pg_advisory_unlock(?)", (key,))
            except Exception as e:  # the connection failed: its turns went with it
                if not is_error(e):
                    raise

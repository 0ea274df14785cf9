"""The ledger's two backends in the tests: SQLite (a file in the data folder) and PostgreSQL
(a database of the test's own in a throwaway cluster, :mod:`pgcluster`).

A test module marked ``pytest.mark.backends`` runs each test that uses a data folder (the
``backend`` fixture, through ``home`` or the module's own fixtures) once per backend chosen with
``--backends`` (default: both). A data folder on PostgreSQL is an ordinary data folder whose
site.toml names its database; :func:`copy_home` copies the database with the folder, and
:func:`ledger_rows` reads either backend directly.
"""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pgcluster

from downtime.ledger import Ledger
from downtime.ledger.postgres import connect
from downtime.settings import SITE_FILE, resolve

SQLITE, POSTGRESQL = "sqlite", "postgresql"
BACKENDS = (SQLITE, POSTGRESQL)


@dataclass(frozen=True)
class Backend:
    name: str  # sqlite | postgresql

    @property
    def postgresql(self) -> bool:
        return self.name == POSTGRESQL

    def new_home(self, path: Path) -> Path:
        """A data folder at ``path`` with its ledger on this backend: on SQLite nothing is made
        (commands create the folder on first use); on PostgreSQL the folder and a site.toml
        naming a new, migrated database of its own."""
        if self.postgresql:
            url = pgcluster.shared().create()
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            add_site_lines(path, f'database = "{url}"')
        return path

    def __str__(self) -> str:
        return self.name


SQLITE_BACKEND = Backend(SQLITE)


def database_of(home: Path) -> str:
    """The database URL site.toml names ('' for a SQLite ledger)."""
    site = home / SITE_FILE
    if not site.exists():
        return ""
    return str(tomllib.loads(site.read_text("utf-8")).get("database", ""))


def add_site_lines(home: Path, *lines: str) -> None:
    """Append options to the data folder's site.toml (what is there stays, the database too)."""
    site = home / SITE_FILE
    text = site.read_text("utf-8") if site.exists() else ""
    site.write_text(text + "".join(f"{line}\n" for line in lines), "utf-8")


def write_site(home: Path, text: str) -> None:
    """Replace the data folder's site.toml by ``text``, keeping the database it names."""
    url = database_of(home)
    (home / SITE_FILE).write_text(text, "utf-8")
    if url:
        add_site_lines(home, f'database = "{url}"')


def copy_home(source: Path, to: Path) -> Path:
    """A copy of a data folder (ledger, keys, store): on PostgreSQL its database is copied too,
    and the copy's site.toml names the copy."""
    shutil.copytree(source, to)
    url = database_of(source)
    if url:
        copy = pgcluster.shared().clone(url)
        site = to / SITE_FILE
        site.write_text(site.read_text("utf-8").replace(url, copy), "utf-8")
    return to


def ledger_target(home: Path) -> Path | str:
    """Where a data folder's ledger is: its SQLite file or its database's URL."""
    return resolve(home).ledger_target


def open_ledger(home: Path) -> Ledger:
    """The data folder's ledger, opened as the kit opens it."""
    return Ledger.open(ledger_target(home))


def ledger_rows(ledger: Ledger | Path | str, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """What is stored, read with a connection of the test's own (read-only): tests check the
    ledger's tables directly, the code under test only through its functions. ``ledger``: an
    open ledger, a data folder, the SQLite file, or a database URL."""
    if isinstance(ledger, Ledger):
        target: Path | str = ledger.target
    elif isinstance(ledger, Path) and ledger.is_dir():
        target = ledger_target(ledger)
    else:
        target = ledger
    if isinstance(target, str):
        conn = connect(target, readonly=True)
        try:
            return list(conn.execute(sql, params))
        finally:
            conn.close()
    import sqlite3

    lite = sqlite3.connect(f"{Path(target).resolve().as_uri()}?mode=ro", uri=True)
    lite.row_factory = sqlite3.Row
    try:
        return list(lite.execute(sql, params))
    finally:
        lite.close()


def new_ledger(backend: Backend, folder: Path) -> Path | str:
    """Where a bare ledger goes on ``backend``: a SQLite file in ``folder``, or a new database."""
    if backend.postgresql:
        return pgcluster.shared().create()
    return folder / "ledger.sqlite3"


def tamper(target: Path | str, sql: str, params: Sequence[Any] = ()) -> None:
    """Change stored rows behind the kit's back, as an attacker who owns the database would:
    the audit trail's append-only triggers are switched off for the statement (on PostgreSQL
    ``ALTER TABLE … DISABLE TRIGGER``, on SQLite dropped), then put back."""
    if isinstance(target, str):
        conn = connect(target)
        try:
            conn.execute("BEGIN")
            conn.execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
            conn.execute(sql, params)
            conn.execute("ALTER TABLE audit_events ENABLE TRIGGER USER")
            conn.execute("COMMIT")
        finally:
            conn.close()
        return
    import sqlite3

    with sqlite3.connect(target) as lite:
        triggers = lite.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
            ("audit_events",),
        ).fetchall()
        for name, _ in triggers:
            lite.execute(f'DROP TRIGGER "{name}"')
        lite.execute(sql, params)
        for _, create in triggers:
            lite.execute(create)
    lite.close()


def integrity_errors() -> tuple[type[Exception], ...]:
    """What either driver raises for a broken constraint."""
    import sqlite3

    import psycopg

    return (sqlite3.IntegrityError, psycopg.IntegrityError)


def ledger_dump(home: Path) -> bytes:
    """Everything the data folder's ledger stores, as bytes to search: the SQLite file, or
    every row of every table of the database as text."""
    target = ledger_target(home)
    if isinstance(target, Path):
        return target.read_bytes()
    tables = ledger_rows(
        target,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    )
    text = [
        str(tuple(r))
        for (table,) in tables
        for r in ledger_rows(target, f'SELECT * FROM "{table}"')
    ]
    return "\n".join(text).encode("utf-8")


def replace_with_an_empty_ledger(home: Path) -> None:
    """Put a new, empty ledger where the data folder's ledger was (as a restore of an older
    backup would): the same file name, or the same database name."""
    target = ledger_target(home)
    if isinstance(target, str):
        pgcluster.shared().recreate(target)
        return
    empty = home / "empty-ledger"
    with Ledger.open(empty / "ledger.sqlite3"):
        pass
    target.unlink()
    for name in ("ledger.sqlite3-wal", "ledger.sqlite3-shm"):
        (home / name).unlink(missing_ok=True)
    shutil.move(empty / "ledger.sqlite3", target)
    shutil.rmtree(empty)

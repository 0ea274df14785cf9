"""Copying a whole ledger from SQLite to an empty PostgreSQL database (``downtime ledger copy``):
a site that started on one station moves to several.

Every table of the schema is copied, whatever migrations made it (the tables are read from the
database, not listed here), in the order their foreign keys need, each row with every column
as stored: ids, sequence numbers and SQLite's implicit ``rowid`` (an identity column of that
name on PostgreSQL) keep their values, and the target's identity sequences are moved past them
so that new rows carry on from there. The audit trail is copied row by row as it is, so its hash
chain and head are the same on both sides.

The source is read in one snapshot; the target is written in one transaction (all or nothing)
and must hold no row (a ledger migrated by the kit and never used). Afterwards both are
counted, table by table, and the target's audit chain checked and compared with the source's.
"""

from __future__ import annotations

from dataclasses import dataclass

from downtime.errors import InputError, LedgerError
from downtime.ledger.chain import ChainHead, chain_head, check_chain
from downtime.ledger.db import Connection, Ledger, rows, stream
from downtime.ledger.dialect import POSTGRESQL, SQLITE

BATCH = 1000  # rows per statement batch
NOT_COPIED = frozenset({"migrations"})  # the target's own, made by its migrations


@dataclass(frozen=True)
class CopySummary:
    counts: dict[str, int]  # rows in each table, the same on both sides
    audit: ChainHead  # the audit trail's length and head, the same on both sides


def copy_ledger(source: Ledger, target: Ledger) -> CopySummary:
    """Copy every row of the SQLite ledger ``source`` into the empty PostgreSQL ledger
    ``target`` (both opened, hence migrated, by this kit), then check the copy."""
    if source.dialect != SQLITE or target.dialect != POSTGRESQL:
        raise InputError("a ledger is copied from SQLite to PostgreSQL only")
    if source.migrations() != target.migrations():
        raise LedgerError(
            f"the two ledgers have different schemas ({source.name}, {target.name})",
            hint="open both with this version of downtime first",
        )
    tables = table_order(source)
    others = sorted(set(_target_tables(target)) - set(tables) - NOT_COPIED)
    if others:
        raise InputError(f"{target.name} has tables the ledger does not: {', '.join(others)}")
    used = [t for t in tables if rows(target, f'SELECT 1 FROM "{t}" LIMIT 1')]
    if used:
        raise InputError(
            f"{target.name} is not empty (rows in {', '.join(used[:5])}): nothing copied",
            hint="copy into a new, empty database (CREATE DATABASE …)",
        )
    with source.snapshot():
        expected = {t: _count(source, t) for t in tables}
        head = chain_head(source)
        with target.transaction() as conn:
            for table in tables:
                _copy_table(source, conn, table, _columns(source, target, table))
            _reset_identities(target, conn)
    counts = {t: _count(target, t) for t in tables}
    problems = [
        f"{t}: {counts[t]} rows copied of {n}" for t, n in expected.items() if counts[t] != n
    ]
    copied = chain_head(target)
    if (copied.events, copied.head) != (head.events, head.head):
        problems.append(f"the audit trail's head is {copied.short}, not {head.short}")
    problems += [str(f) for f in check_chain(target)]
    if problems:
        raise LedgerError(
            "the copy does not check out:\n  " + "\n  ".join(problems),
            hint="drop the target database, make it again and copy anew",
        )
    return CopySummary(counts, head)


def table_order(ledger: Ledger) -> list[str]:
    """Every table of a SQLite ledger but ``migrations``, each after the tables its foreign
    keys name (then in the order they were made)."""
    made = [
        str(r["name"])
        for r in rows(
            ledger,
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
        )
        if r["name"] not in NOT_COPIED
    ]
    needs = {
        t: {str(r["table"]) for r in rows(ledger, f'PRAGMA foreign_key_list("{t}")')} - {t}
        for t in made
    }
    ordered: list[str] = []
    while len(ordered) < len(made):
        ready = [t for t in made if t not in ordered and needs[t] <= set(ordered)]
        if not ready:
            raise LedgerError("the ledger's tables name each other in a loop: cannot order them")
        ordered.append(ready[0])
    return ordered


def _target_tables(target: Ledger) -> list[str]:
    return [
        str(r[0])
        for r in rows(
            target,
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
        )
    ]


def _columns(source: Ledger, target: Ledger, table: str) -> list[str]:
    """The target table's columns, each of which the source has (``rowid``: SQLite's own)."""
    there = [
        str(r[0])
        for r in rows(
            target,
            "SELECT column_name FROM information_schema.columns WHERE table_schema ="
            " current_schema() AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
    ]
    here = {str(r["name"]) for r in rows(source, f'PRAGMA table_info("{table}")')} | {"rowid"}
    missing = [c for c in there if c not in here]
    if not there or missing:
        raise LedgerError(f"{table}: the two ledgers' columns differ ({', '.join(missing)})")
    return there


def _copy_table(source: Ledger, conn: Connection, table: str, columns: list[str]) -> None:
    names = ", ".join(f'"{c}"' for c in columns)
    insert = f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'
    for batch in stream(source, f'SELECT {names} FROM "{table}" ORDER BY rowid', BATCH):
        conn.executemany(insert, [tuple(r) for r in batch])


def _reset_identities(target: Ledger, conn: Connection) -> None:
    """Move each identity column's sequence past the largest value copied into it."""
    identities = rows(
        target,
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES'",
    )
    for table, column in ((str(r[0]), str(r[1])) for r in identities):
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence(?, ?),"
            f' coalesce(max("{column}"), 0) + 1, false) FROM "{table}"',
            (f'"{table}"', column),
        )


def _count(ledger: Ledger, table: str) -> int:
    return int(rows(ledger, f'SELECT count(*) FROM "{table}"')[0][0])

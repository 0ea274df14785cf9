"""Checking the ledger and its image store: the database's own integrity check, the audit
chain (:mod:`~downtime.ledger.chain`), and every stored file against the rows that name it.

A file the ledger names must be in the store with the content its name is the hash of
(``missing`` or ``corrupt`` otherwise: a page image lost). A file in the store that no row
names is ``unlinked``: what a scan killed between storing a file and writing its row leaves
(files are written and synced before their rows, never after); scanning the original again
files it, and an unlinked registered page is made again by that scan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from downtime.errors import Said
from downtime.ledger.chain import check_chain
from downtime.ledger.db import Ledger, driver_errors, rows
from downtime.ledger.dialect import POSTGRESQL, SQLITE
from downtime.ledger.store import CHUNK, PREFIX, Store

INTEGRITY, AUDIT, MISSING, CORRUPT, UNLINKED = (
    "integrity", "audit", "missing-file", "corrupt-file", "unlinked-file",
)  # fmt: skip
PROBLEMS = frozenset({INTEGRITY, AUDIT, MISSING, CORRUPT})  # unlinked files lose nothing
APPEND_ONLY = "0013_audit_append_only"  # the migration that made the triggers below
_UPDATE_DELETE = {"audit_events_no_update", "audit_events_no_delete"}
GUARDS = {SQLITE: _UPDATE_DELETE, POSTGRESQL: _UPDATE_DELETE | {"audit_events_no_truncate"}}


@dataclass(frozen=True)
class CheckFinding:
    kind: str  # integrity | audit | missing-file | corrupt-file | unlinked-file
    where: str  # a store name (store/ab/…), an audit event, or the database
    what: str  # for a person: what is wrong and what to do
    said: Said | None = field(default=None, compare=False)  # ``what`` in the CLI's findings
    place: Said | None = field(default=None, compare=False)  # ``where`` there (else as it is)

    @property
    def problem(self) -> bool:
        return self.kind in PROBLEMS

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass(frozen=True)
class CheckSummary:
    files_named: int  # distinct store files the ledger names
    files_stored: int  # files in the store
    findings: tuple[CheckFinding, ...]

    @property
    def problems(self) -> tuple[CheckFinding, ...]:
        return tuple(f for f in self.findings if f.problem)


def check_ledger(ledger: Ledger, store: Store, *, hashes: bool = True) -> CheckSummary:
    """Everything :mod:`this module <downtime.ledger.check>` checks; ``hashes=False`` checks
    that each named file is there without reading it."""
    findings = [CheckFinding(INTEGRITY, "the ledger", m, Said("integrity", {"what": m}),
                             Said("the_ledger")) for m in _integrity(ledger)]  # fmt: skip
    findings += [CheckFinding(AUDIT, f"audit event {f.seq}" if f.seq else "audit trail", f.what,
                              f.said, f.place) for f in check_chain(ledger)]  # fmt: skip
    named = named_files(ledger)
    for name in sorted(named):
        path = store.path(name)
        if not path.is_file():
            what = "named by the ledger but not in the image store: restore it from a backup"
            findings.append(CheckFinding(MISSING, name, what, Said("file_missing")))
        elif hashes and _sha256(path) != Path(name).stem:
            what = "its content is not what its name says: restore it from a backup"
            findings.append(CheckFinding(CORRUPT, name, what, Said("file_corrupt")))
    stored = list(_stored(store))
    for name in stored:
        if name not in named:
            what = "no ledger row names it (left by a scan that was stopped): scan its original"
            said = Said("file_unlinked")
            findings.append(CheckFinding(UNLINKED, name, f"{what} again to file it", said))
    return CheckSummary(len(named), len(stored), tuple(findings))


def _integrity(ledger: Ledger) -> list[str]:
    """What is wrong with the database itself (empty: nothing found; :func:`integrity_scope`
    says what was looked at). SQLite: its own integrity check of the file. PostgreSQL (whose
    server has no such command): every table read whole (a damaged page, with the server's
    data checksums on, fails the read), every index valid and every constraint validated.
    Both: the audit trail's append-only triggers there and switched on."""
    if ledger.dialect == POSTGRESQL:
        problems = _postgresql_integrity(ledger)
    else:
        found = [str(r[0]) for r in rows(ledger, "PRAGMA integrity_check")]
        problems = [] if found == ["ok"] else found
    return problems + _append_only(ledger)


def integrity_facts(ledger: Ledger) -> tuple[bool, str | None]:
    """What :func:`integrity_scope` says: is the audit trail append-only, and the PostgreSQL
    server's data checksums (``None`` on SQLite)."""
    guarded = APPEND_ONLY in ledger.migrations()
    if ledger.dialect != POSTGRESQL:
        return guarded, None
    [(checksums,)] = rows(ledger, "SHOW data_checksums")
    return guarded, str(checksums)


def integrity_scope(ledger: Ledger) -> str:
    """What :func:`_integrity` checks on this ledger's database, for a person."""
    append_only, checksums = integrity_facts(ledger)
    guarded = "; the audit trail append-only" if append_only else ""
    if checksums is None:
        return f"SQLite's integrity check{guarded}"
    return (
        f"every table read whole, indexes and constraints valid{guarded}"
        f" (the server's data checksums: {checksums})"
    )


def _postgresql_integrity(ledger: Ledger) -> list[str]:
    problems = []
    tables = rows(
        ledger,
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    for (table,) in tables:
        try:
            rows(ledger, f'SELECT count(*) FROM "{table}"')
        except driver_errors() as e:
            problems.append(f"the table {table} cannot be read whole: {e}")
    invalid = rows(
        ledger,
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE c.relnamespace = current_schema()::regnamespace"
        " AND NOT (i.indisvalid AND i.indisready) ORDER BY 1",
    )
    problems += [f"the index {r[0]} is not valid: rebuild it (REINDEX)" for r in invalid]
    unchecked = rows(
        ledger,
        "SELECT conname FROM pg_constraint WHERE connamespace = current_schema()::regnamespace"
        " AND NOT convalidated ORDER BY 1",
    )
    problems += [f"the constraint {r[0]} is not validated" for r in unchecked]
    return problems


def _append_only(ledger: Ledger) -> list[str]:
    """The audit trail's triggers that refuse changes, unless their migration is still to run."""
    if APPEND_ONLY not in ledger.migrations():
        return []
    if ledger.dialect == POSTGRESQL:
        found = rows(
            ledger,
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_events'::regclass"
            " AND NOT tgisinternal AND tgenabled <> 'D'",
        )
    else:
        found = rows(
            ledger,
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
            ("audit_events",),
        )
    missing = sorted(GUARDS[ledger.dialect] - {str(r[0]) for r in found})
    if not missing:
        return []
    return [
        "the audit trail is no longer append-only: its trigger(s) "
        f"{', '.join(missing)} were dropped or switched off (`downtime audit verify` shows"
        " whether events were changed meanwhile)"
    ]


def named_files(ledger: Ledger) -> set[str]:
    """The store name of every file a ledger row names (originals, registered pages)."""
    return {
        str(r["name"])
        for r in rows(
            ledger,
            "SELECT stored_as AS name FROM scan_files UNION SELECT registered_as FROM captures",
        )
    }


def _stored(store: Store) -> Iterator[str]:
    """The store name of every file in the store (not temporary files being written)."""
    if not store.root.is_dir():
        return
    for folder in sorted(store.root.iterdir()):
        if len(folder.name) != 2 or not folder.is_dir() or folder.is_symlink():
            continue
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.name.startswith(folder.name) and len(path.stem) == 64:
                yield f"{PREFIX}{folder.name}/{path.name}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()

"""Backup and restore of a data folder (``downtime backup DEST``, ``downtime restore SRC``).

A backup is a folder: a consistent copy of the ledger (taken while scans may run: SQLite's
online backup, or ``pg_dump`` of a PostgreSQL ledger, :mod:`downtime.ledger.pgdump`), the keys
(the signing key too: keep backups as private as the data folder), ``site.toml``, the site's
forms and kept census files, every image the copied ledger names, and ``backup.json`` (what it
holds: row counts, the audit trail's length and head, the files). Files are written before the
ledger rows that name them, so every image the copy names is there to be copied.

A restore refuses a data folder that holds a ledger unless told (``force``: the ledger found
there is kept beside, renamed), then checks what it restored: the same row counts, the audit
chain intact and its head the one backed up, every image there with its content. A PostgreSQL
ledger is restored into the database the data folder names once restored (``DOWNTIME_DB``,
else the backup's site.toml), which must hold no rows unless told (``force``: its schema is
kept beside, renamed).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from downtime import __version__, files
from downtime.errors import InputError, LedgerError
from downtime.ledger import Ledger, pgdump
from downtime.ledger.backup import copy_sqlite, set_aside, table_counts, tables_with_rows
from downtime.ledger.chain import chain_head
from downtime.ledger.check import check_ledger, named_files
from downtime.ledger.dialect import redacted
from downtime.ledger.store import Store
from downtime.settings import LEDGER_FILE, SITE_FILE, resolve

SCHEMA = "downtime.backup/1"
MANIFEST = "backup.json"
DUMP_FILE = "ledger.pgdump"  # a PostgreSQL ledger, in pg_dump's custom format
SQLITE, POSTGRESQL = "sqlite", "postgresql"  # backup.json's "ledger" (absent: sqlite)
FOLDERS = ("keys", "forms", "census")  # copied whole when the data folder has them


@dataclass(frozen=True)
class BackupSummary:
    folder: Path
    counts: dict[str, int]
    audit_events: int
    audit_head: str
    images: int


def backup(home: Path | None, dest: Path) -> BackupSummary:
    """Copy the data folder ``home`` into the new (or empty) folder ``dest``."""
    settings = resolve(home)
    if not settings.database and not settings.ledger_path.is_file():
        raise InputError(f"no ledger in {settings.home.name} to back up")
    if dest.exists() and any(dest.iterdir()):
        raise InputError(f"{dest} is not empty", hint="back up into a new folder")
    files.private_folder(dest)
    if settings.database:  # pg_dump of the snapshot the counts and file names are read in
        with Ledger.open_readonly(settings.database) as live, live.snapshot() as snapshot:
            pgdump.dump(settings.database, dest / DUMP_FILE, snapshot=snapshot)
            counts, head, names = table_counts(live), chain_head(live), sorted(named_files(live))
    else:
        copy_sqlite(settings.ledger_path, dest / LEDGER_FILE)
        with Ledger.open_readonly(dest / LEDGER_FILE) as copy:
            counts, head, names = table_counts(copy), chain_head(copy), sorted(named_files(copy))
    _copy_config(settings.home, dest)
    source, target = Store(settings.home, settings.store_dir), Store(dest)
    for name in names:
        _copy_file(source.path(name), target.path(name), name)
    summary = BackupSummary(dest, counts, head.events, head.head, len(names))
    document = {
        "schema": SCHEMA,
        "created_at": datetime.now(UTC).isoformat(),
        "kit_version": __version__,
        "ledger": POSTGRESQL if settings.database else SQLITE,
        "counts": counts,
        "audit": {"events": head.events, "head": head.head},
        "images": len(names),
    }
    files.write_atomic(dest / MANIFEST, json.dumps(document, indent=2).encode("utf-8"))
    return summary


def restore(src: Path, home: Path | None, *, force: bool = False) -> BackupSummary:
    """Restore the backup ``src`` into the data folder ``home``, then check it."""
    document = _manifest(src)
    if document.get("ledger", SQLITE) == POSTGRESQL:
        return _restore_postgresql(src, home, document, force=force)
    settings = resolve(home)
    if settings.database:
        raise InputError(
            f"{src.name} holds a SQLite ledger, and {settings.home.name} names a PostgreSQL "
            "database: nothing restored",
            hint="restore into a data folder without database in site.toml (and without "
            "DOWNTIME_DB); then `downtime ledger copy` moves it to PostgreSQL",
        )
    if settings.ledger_path.exists():
        if not force:
            raise InputError(
                f"{settings.home.name} already holds a ledger: nothing restored",
                hint="restore into a new data folder, or add --force (the ledger found there"
                " is kept beside it)",
            )
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        settings.ledger_path.rename(settings.ledger_path.with_name(f"{LEDGER_FILE}.before-{stamp}"))
        for suffix in ("-wal", "-shm"):
            settings.ledger_path.with_name(LEDGER_FILE + suffix).unlink(missing_ok=True)
    files.private_folder(settings.home)
    _copy_config(src, settings.home)
    settings = resolve(home)  # the restored site.toml: where its image store is
    with Ledger.open_readonly(src / LEDGER_FILE) as copy:
        names = sorted(named_files(copy))
    source, target = Store(src), Store(settings.home, settings.store_dir)
    for name in names:
        if not target.path(name).is_file():
            _copy_file(source.path(name), target.path(name), name)
    copy_sqlite(src / LEDGER_FILE, settings.ledger_path)
    return _verify(settings.ledger_path, target, document)


def _restore_postgresql(
    src: Path, home: Path | None, document: dict[str, Any], *, force: bool
) -> BackupSummary:
    """The database the data folder names once restored (DOWNTIME_DB, else the backup's
    site.toml): refused if it holds rows, unless ``force`` (its schema is then kept beside)."""
    url = resolve(src).database
    if not url:
        raise InputError(
            f"{src.name} holds a PostgreSQL ledger, and neither DOWNTIME_DB nor its site.toml"
            " names a database to restore it into: nothing restored",
            hint="set DOWNTIME_DB=postgresql://USER@HOST/DB (an empty database) for the restore",
        )
    held = tables_with_rows(url)
    if held:
        if not force:
            raise InputError(
                f"the database {redacted(url)} already holds a ledger (rows in "
                f"{', '.join(held[:3])}): nothing restored",
                hint="restore into a new, empty database (DOWNTIME_DB=…), or add --force (what"
                " the database holds is kept beside, in a schema of its own)",
            )
        set_aside(url, datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
    pgdump.restore(url, src / DUMP_FILE)
    home_path = resolve(home).home
    files.private_folder(home_path)
    _copy_config(src, home_path)
    settings = resolve(home)
    target = Store(settings.home, settings.store_dir)
    with Ledger.open_readonly(url) as restored:
        names = sorted(named_files(restored))
    for name in names:
        if not target.path(name).is_file():
            _copy_file(Store(src).path(name), target.path(name), name)
    return _verify(url, target, document)


def _verify(where: Path | str, store: Store, document: dict[str, Any]) -> BackupSummary:
    with Ledger.open(where) as ledger:
        counts, head = table_counts(ledger), chain_head(ledger)
        problems = [str(p) for p in check_ledger(ledger, store).problems]
    expected = {str(k): int(v) for k, v in document["counts"].items()}
    problems += [
        f"{table}: {counts.get(table)} rows restored, {n} backed up"
        for table, n in expected.items()
        if counts.get(table) != n
    ]
    audit = document["audit"]
    if (head.events, head.head) != (audit["events"], audit["head"]):
        problems.append("the audit trail restored is not the one backed up")
    if problems:
        raise LedgerError(
            "the restore does not check out:\n  " + "\n  ".join(problems),
            hint="the backup may be damaged: restore an older one",
        )
    folder = store.home if isinstance(where, str) else where.parent
    return BackupSummary(folder, counts, head.events, head.head, document["images"])


def _manifest(src: Path) -> dict[str, Any]:
    path = src / MANIFEST
    try:
        document = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(
            f"{src} is not a downtime backup (no readable {MANIFEST})",
            hint="give the folder `downtime backup` made",
        ) from e
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise InputError(f"{path.name} is not a {SCHEMA} document: this kit cannot restore it")
    ledger = DUMP_FILE if document.get("ledger", SQLITE) == POSTGRESQL else LEDGER_FILE
    if not (src / ledger).is_file():
        raise InputError(f"{src} holds no {ledger}: the backup is incomplete")
    return document


def _copy_config(source: Path, target: Path) -> None:
    site = source / SITE_FILE
    if site.is_file():
        files.write_atomic(target / SITE_FILE, site.read_bytes())
    for name in FOLDERS:
        folder = source / name
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                relative = path.relative_to(source)
                files.private_folder((target / relative).parent)
                files.write_atomic(target / relative, path.read_bytes())


def _copy_file(source: Path, target: Path, name: str) -> None:
    """Copy one stored image, checking its content against its name on the way."""
    if not source.is_file():
        raise LedgerError(f"{name} is named by the ledger but missing: nothing is complete")
    files.private_folder(target.parent)
    temp = files.new_temp(target)
    try:
        digest = hashlib.sha256()
        with source.open("rb") as src, temp.open("wb") as dst:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                dst.write(chunk)
        if digest.hexdigest() != Path(name).stem:
            raise LedgerError(f"{name}: its content is not what its name says")
        files.commit(temp, target)
    finally:
        temp.unlink(missing_ok=True)

"""The data folder: opened (and created on first use) as settings, key store and ledger;
``downtime init``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from downtime import files
from downtime.app.sitefile import site_toml_after_init
from downtime.codes.keyfiles import KEYRING
from downtime.codes.keys import KeyStore
from downtime.ledger import AuditEvent, Ledger, write_audit
from downtime.settings import SITE_FILE, Settings, resolve

Log = Callable[[str], None]


class _Kept(threading.local):
    """One thread's kept ledger connections (see :func:`keep_ledgers_open`)."""

    def __init__(self) -> None:
        self.by: dict[str, tuple[tuple[str, int], Ledger]] = {}  # ledger → (identity, conn)
        self.busy: set[str] = set()  # ledgers whose kept connection a workspace is using


_kept: _Kept | None = None  # set by keep_ledgers_open()


@dataclass(frozen=True)
class DataFolder:
    """What ``downtime init`` made or found."""

    home: Path
    ledger: Path | str  # the SQLite file, or the PostgreSQL database's URL
    site_config: Path
    signing_key: str | None  # None: a scan station, which only verifies


@contextmanager
def workspace(
    home: Path | None, *, keys: str = "sign", **overrides: Any
) -> Iterator[tuple[Settings, KeyStore, Ledger]]:
    """The data folder, created on first use: settings, key store and ledger.

    ``keys``: ``sign`` makes a signing key on first use (the print host); ``station`` makes an
    empty key store (a scan station, which imports public keys); ``read`` only reads what is
    there. An existing key store is never given a signing key implicitly, so a scan station
    does not quietly become a signer.
    """
    settings = resolve(home, **overrides)
    files.private_folder(settings.home)
    store = _key_store(settings.keys_dir, keys)
    ledger, kept = _ledger(settings.ledger_target)
    try:
        yield settings, store, ledger
    finally:
        _release(ledger, kept)


def keep_ledgers_open() -> None:
    """From now on, this process keeps each thread's ledger connection open between
    workspaces, for a long-running process serving short requests (the review station):
    opening a connection, and closing the last one (SQLite then checkpoints its log into the
    file), cost more than such a request's own work. A connection is used again only when it
    is outside a transaction and its ledger is the same (a SQLite file replaced by a restore
    is another ledger); a workspace opened inside another gets a connection of its own."""
    global _kept
    if _kept is None:
        _kept = _Kept()


def _ledger(target: Path | str) -> tuple[Ledger, bool]:
    """A ledger connection, and whether it is this thread's kept one (then not closed)."""
    key = str(target)
    if _kept is None or key in _kept.busy:  # not kept, or a workspace inside another
        return Ledger.open(target), False
    found = _kept.by.get(key)
    if found is not None:
        identity, ledger = found
        if ledger.idle and ledger.identity == identity:
            _kept.busy.add(key)
            return ledger, True
        del _kept.by[key]
        ledger.close()
    ledger = Ledger.open(target)
    _kept.by[key] = (ledger.identity, ledger)
    _kept.busy.add(key)
    return ledger, True


def _release(ledger: Ledger, kept: bool) -> None:
    if not kept or _kept is None:
        ledger.close()
        return
    key = str(ledger.target)
    _kept.busy.discard(key)
    if not ledger.idle:  # left inside a transaction: not used again
        _kept.by.pop(key, None)
        ledger.close()


def _key_store(folder: Path, mode: str) -> KeyStore:
    if (folder / KEYRING).exists():
        return KeyStore.open(folder)
    if mode == "read":
        return KeyStore(folder, [])  # nothing on disk until a key is made or imported
    return KeyStore.create(folder, with_signing_key=mode == "sign")


def initialise(
    home: Path | None,
    *,
    site: str | None,
    lang: str | None,
    database: str | None = None,
    signing: bool = True,
) -> DataFolder:
    """Create (or update) the data folder; ``database`` names a PostgreSQL ledger for it.

    site.toml is written from the template when missing; an existing one keeps its comments,
    order and values, with only the options named here changed and the missing ones added.
    """
    changes: dict[str, Any] = {"site": site, "lang": lang, "database": database}
    changes = {k: v for k, v in changes.items() if v is not None}
    settings = resolve(home, **changes)  # validated, before anything is made or changed
    config, config_path = settings.config, settings.home / SITE_FILE
    text = site_toml_after_init(config_path, config, changes)
    mode = "sign" if signing else "station"
    with workspace(home, keys=mode, database=database) as (settings, keys, ledger):
        if text is not None:
            files.write_atomic(config_path, text.encode("utf-8"))
        write_audit(
            ledger,
            [AuditEvent("init", f"site={config.site} lang={config.lang}")],
            actor=settings.operator,
            station=settings.station,
        )
        active = [k.key_id for k in keys.public_keys() if k.status == "active"]
        return DataFolder(
            settings.home, ledger.name if ledger.path is None else ledger.path, config_path,
            active[0] if active else None,
        )  # fmt: skip

"""Keys: the table of signing keys, rotating the signing key, exporting and importing public
keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from downtime.app.workspace import workspace
from downtime.codes.keyfiles import KeyStatus
from downtime.errors import ConfigError
from downtime.ledger import AuditEvent, write_audit
from downtime.ledger.pages import pages_per_key


@dataclass(frozen=True)
class KeyRow:
    key_id: str
    status: KeyStatus
    created_at: datetime
    retired_at: datetime | None
    pages_signed: int


def key_table(home: Path | None) -> list[KeyRow]:
    with workspace(home, keys="read") as (_, keys, ledger):
        used = pages_per_key(ledger)
        return [
            KeyRow(k.key_id, k.status, k.created_at, k.retired_at, used.get(k.key_id, 0))
            for k in keys.public_keys()
        ]


def rotate_key(home: Path | None) -> str:
    """A new signing key; the old one keeps verifying. Returns the new key's id."""
    with workspace(home) as (settings, keys, ledger):
        old = [k.key_id for k in keys.public_keys() if k.status == "active"]
        new = keys.rotate()
        write_audit(
            ledger,
            [AuditEvent("keys.rotate", f"{','.join(old) or '-'} -> {new.key_id}")],
            actor=settings.operator,
            station=settings.station,
        )
        return new.key_id


def export_keys(home: Path | None) -> str:
    """Public keys still in use, as PEM: the active key and every key that signed issued pages.

    Until reconciliation records which pages are done, a key that signed pages stays in use.
    """
    with workspace(home, keys="read") as (_, keys, ledger):
        used = pages_per_key(ledger)
        wanted = [k.key_id for k in keys.public_keys() if k.status == "active" or k.key_id in used]
        if not wanted:
            raise ConfigError(
                "there are no public keys in use to export",
                hint="run `downtime init` on the print host first",
            )
        return keys.export_public_pem(wanted)


def import_keys(home: Path | None, pem: bytes) -> list[str]:
    """Add public keys; returns the ids of those not known before."""
    with workspace(home, keys="station") as (settings, keys, ledger):
        added = keys.import_public(pem)
        write_audit(
            ledger,
            [AuditEvent("keys.import", ",".join(k.key_id for k in added) or "-")],
            actor=settings.operator,
            station=settings.station,
        )
        return [k.key_id for k in added]

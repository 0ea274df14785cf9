"""Keys: the table of signing keys, rotating the signing key, exporting and importing public
keys."""

from __future__ import annotations

from pathlib import Path

from downtime.app.workspace import workspace
from downtime.errors import ConfigError
from downtime.ledger import AuditEvent


def key_table(home: Path | None) -> list[tuple[str, ...]]:
    with workspace(home, keys="read") as (_, keys, ledger):
        used = ledger.pages_per_key()
        rows: list[tuple[str, ...]] = [("key_id", "status", "created", "retired", "pages_signed")]
        for k in keys.public_keys():
            rows.append(
                (
                    k.key_id,
                    k.status,
                    k.created_at.isoformat(timespec="seconds"),
                    k.retired_at.isoformat(timespec="seconds") if k.retired_at else "-",
                    str(used.get(k.key_id, 0)),
                )
            )
        return rows


def rotate_key(home: Path | None) -> str:
    with workspace(home) as (settings, keys, ledger):
        old = [k.key_id for k in keys.public_keys() if k.status == "active"]
        new = keys.rotate()
        ledger.audit(
            [AuditEvent("keys.rotate", f"{','.join(old) or '-'} -> {new.key_id}")],
            actor=settings.operator,
            station=settings.station,
        )
        return f"active\t{new.key_id}"


def export_keys(home: Path | None) -> str:
    """Public keys still in use: the active key and every key that signed issued pages.

    Until reconciliation records which pages are done, a key that signed pages stays in use.
    """
    with workspace(home, keys="read") as (_, keys, ledger):
        used = ledger.pages_per_key()
        wanted = [k.key_id for k in keys.public_keys() if k.status == "active" or k.key_id in used]
        if not wanted:
            raise ConfigError(
                "there are no public keys in use to export",
                hint="run `downtime init` on the print host first",
            )
        return keys.export_public_pem(wanted)


def import_keys(home: Path | None, pem: bytes) -> list[str]:
    with workspace(home, keys="station") as (settings, keys, ledger):
        added = keys.import_public(pem)
        ledger.audit(
            [AuditEvent("keys.import", ",".join(k.key_id for k in added) or "-")],
            actor=settings.operator,
            station=settings.station,
        )
        return [k.key_id for k in added]

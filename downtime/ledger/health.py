"""What ``downtime doctor`` asks of the ledger besides its checks (:mod:`~downtime.ledger.check`):
the newest time it recorded, and whether this version of the kit knows its schema."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from downtime.ledger.db import Ledger, rows
from downtime.ledger.migrations import MIGRATIONS


def newest_recorded(ledger: Ledger) -> datetime | None:
    """The latest audit event's time (every change to the ledger writes one), aware; None
    when the ledger holds none. A computer whose clock is behind it would write facts that
    seem to come before those already there."""
    found = rows(ledger, "SELECT max(at) AS at FROM audit_events")
    text = found[0]["at"] if found else None
    if text is None:
        return None
    when = datetime.fromisoformat(str(text))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SchemaState:
    newer: tuple[str, ...]  # migrations applied that this version does not know (refused)
    pending: tuple[str, ...]  # migrations this version applies when it next opens it to write


def schema_state(ledger: Ledger) -> SchemaState:
    """The ledger's migrations against this version's, read without changing anything."""
    applied = set(ledger.migrations())
    known = [name for name, _ in MIGRATIONS]
    return SchemaState(
        tuple(sorted(applied - set(known))), tuple(n for n in known if n not in applied)
    )

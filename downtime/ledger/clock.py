"""The newest time the ledger recorded: a computer whose clock is behind it would write facts
that seem to come before those already there (``downtime doctor`` compares them)."""

from __future__ import annotations

from datetime import UTC, datetime

from downtime.ledger.db import Ledger, rows


def newest_recorded(ledger: Ledger) -> datetime | None:
    """The latest audit event's time (every change to the ledger writes one), aware; None
    when the ledger holds none."""
    found = rows(ledger, "SELECT max(at) AS at FROM audit_events")
    text = found[0]["at"] if found else None
    if text is None:
        return None
    when = datetime.fromisoformat(str(text))
    return when if when.tzinfo else when.replace(tzinfo=UTC)

"""The audit trail: who did what, when, for which care unit, to which patient's pages.

Each row's hash covers the previous row's hash, so a removed or altered row breaks the chain
(:mod:`~downtime.ledger.chain` finds what and where).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from downtime.ledger.db import Connection, Ledger
from downtime.ledger.records import AuditEvent

GENESIS = "0" * 64


def write_audit(ledger: Ledger, events: Sequence[AuditEvent], *, actor: str, station: str) -> None:
    """Append audit events in a transaction of their own."""
    ledger.write(lambda conn: append_audit(conn, events, actor=actor, station=station))


def append_audit(
    conn: Connection, events: Sequence[AuditEvent], *, actor: str, station: str
) -> None:
    """Append audit events inside the caller's transaction, continuing the hash chain."""
    row = conn.execute("SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
    prev = row[0] if row else GENESIS
    at = datetime.now(UTC).isoformat()
    for e in events:
        values = (
            at, actor, station, e.action, e.care_unit,
            e.patient.system if e.patient else None,
            e.patient.value if e.patient else None,
            e.object_type, e.object_id, e.detail,
        )  # fmt: skip
        digest = chain_hash(prev, values)
        conn.execute(
            "INSERT INTO audit_events (at, actor, station, action, care_unit, "
            "patient_system, patient_value, object_type, object_id, detail, prev_hash, hash)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (*values, prev, digest),
        )
        prev = digest


def chain_hash(prev: str, values: Sequence[Any]) -> str:
    payload = json.dumps([prev, *values], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()

"""Checking the audit trail (``downtime audit verify``): its hash chain, row by row, and
optionally against a chain head printed before (on a report), which a trail rewritten from
some point on no longer holds."""

from __future__ import annotations

from pathlib import Path

from downtime.app.workspace import workspace
from downtime.ledger.chain import ChainFinding, ChainHead, chain_head, check_chain

SCHEMA = "downtime.audit-verify/1"


def verify_audit(
    home: Path | None, *, expect_head: str | None = None
) -> tuple[ChainHead, list[ChainFinding]]:
    """The trail's length and head now, and everything wrong with it (empty: intact)."""
    with workspace(home, keys="read") as (_settings, _keys, ledger):
        return chain_head(ledger), check_chain(ledger, expect_head=expect_head)

"""Checking the ledger (``downtime ledger check``: the database, the audit trail, the image
store) and its audit trail alone (``downtime audit verify``: the hash chain, row by row, and
optionally against a chain head printed before, on a report, which a trail rewritten from some
point on no longer holds)."""

from __future__ import annotations

from pathlib import Path

from downtime.app.workspace import workspace
from downtime.ledger.chain import ChainFinding, ChainHead, chain_head, check_chain
from downtime.ledger.check import CheckSummary, check_ledger
from downtime.ledger.store import Store

SCHEMA = "downtime.audit-verify/1"


def verify_audit(
    home: Path | None, *, expect_head: str | None = None
) -> tuple[ChainHead, list[ChainFinding]]:
    """The trail's length and head now, and everything wrong with it (empty: intact)."""
    with workspace(home, keys="read") as (_settings, _keys, ledger):
        return chain_head(ledger), check_chain(ledger, expect_head=expect_head)


CHECK_SCHEMA = "downtime.ledger-check/1"


def check_data(home: Path | None, *, hashes: bool = True) -> CheckSummary:
    """The ledger's integrity, audit chain and image store (:mod:`downtime.ledger.check`)."""
    with workspace(home, keys="read") as (settings, _keys, ledger):
        return check_ledger(ledger, Store(settings.home, settings.store_dir), hashes=hashes)

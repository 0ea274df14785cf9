"""Reconciliation: every returned form into the record, to a FHIR server or the outbox."""

from __future__ import annotations

from pathlib import Path

from downtime.app.login import fhir_client
from downtime.app.workspace import Log, workspace
from downtime.record import Summary, Target, reconcile


def reconcile_forms(
    home: Path | None,
    *,
    fhir_url: str | None,
    token_file: Path | None,
    outbox: Path | None,
    dry_run: bool,
    max_entries: int,
    log: Log,
) -> Summary:
    with workspace(home, keys="read") as (settings, _keys, ledger):
        url = fhir_url or (settings.config.fhir.url if outbox is None else None)
        if url:
            target = Target(client=fhir_client(settings, url, token_file))
        else:
            target = Target(outbox=outbox or settings.home / "outbox")
        return reconcile(
            ledger, settings, target, dry_run=dry_run, max_entries=max_entries, log=log
        )

"""Reconciliation: every returned form into the record, to a FHIR server or the outbox."""

from __future__ import annotations

from pathlib import Path

from downtime.app.workspace import Log, workspace
from downtime.record import Summary, Target, reconcile
from downtime.record.client import FhirClient, read_token


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
        if fhir_url:
            client = FhirClient(fhir_url, token=read_token(token_file))
            target = Target(client=client)
        else:
            target = Target(outbox=outbox or settings.home / "outbox")
        return reconcile(
            ledger, settings, target, dry_run=dry_run, max_entries=max_entries, log=log
        )

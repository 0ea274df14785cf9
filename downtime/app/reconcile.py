"""Reconciliation: every returned form into the record, to a FHIR server or the outbox."""

from __future__ import annotations

import time
from pathlib import Path

from downtime import files
from downtime.app.login import fhir_client
from downtime.app.workspace import Log, workspace
from downtime.errors import DowntimeError, ExitCode
from downtime.record import Summary, Target, reconcile
from downtime.record.client import DEFAULT_TIMEOUT_S

LOCK_FILE = "reconcile.lock"
DEFAULT_TIME_LIMIT_MIN = 120.0  # a run stops starting requests after this long


class ReconcileBusy(DowntimeError):
    exit_code = ExitCode.TEMPFAIL


def reconcile_forms(
    home: Path | None,
    *,
    fhir_url: str | None,
    token_file: Path | None,
    outbox: Path | None,
    dry_run: bool,
    max_entries: int,
    log: Log,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    time_limit_min: float = DEFAULT_TIME_LIMIT_MIN,
) -> Summary:
    """One reconcile per data folder at a time: a second one, started while the first runs
    (two people, or a schedule and a person), is refused at once rather than posting the
    same bundles beside it."""
    with workspace(home, keys="read") as (settings, _keys, ledger):
        try:
            with files.exclusive(settings.home / LOCK_FILE):
                url = fhir_url or (settings.config.fhir.url if outbox is None else None)
                if url:
                    deadline = time.monotonic() + time_limit_min * 60.0
                    client = fhir_client(
                        settings, url, token_file, timeout_s=timeout_s, deadline=deadline
                    )
                    target = Target(client=client)
                else:
                    target = Target(outbox=outbox or settings.home / "outbox")
                return reconcile(
                    ledger, settings, target, dry_run=dry_run, max_entries=max_entries, log=log
                )
        except files.Busy as busy:
            raise ReconcileBusy(
                f"another reconcile is running on this data folder ({busy.holder or 'unknown'})",
                hint="wait for it to finish, then run reconcile again",
            ) from None

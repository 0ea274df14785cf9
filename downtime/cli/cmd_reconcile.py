"""``downtime reconcile``: every returned form into the record (FHIR R4)."""

from __future__ import annotations

from pathlib import Path

import click

from downtime.app.reconcile import DEFAULT_TIME_LIMIT_MIN
from downtime.cli.common import (
    EXISTING_FILE,
    LANG_OPTION,
    data_home,
    echo_err,
    handles_errors,
    say,
    speaks_site_language,
)
from downtime.errors import DowntimeError, ExitCode, Said
from downtime.record.client import DEFAULT_TIMEOUT_S


@click.command(short_help="Put every returned form into the record (FHIR R4), once.")
@click.option(
    "--fhir-url",
    help="Post to this FHIR R4 server (base URL). Default: [fhir] url in site.toml, "
    "else write bundles to the outbox.",
)
@click.option(
    "--token-file",
    type=EXISTING_FILE,
    help="File holding the server's bearer token (else $DOWNTIME_FHIR_TOKEN; never a flag). "
    "Not needed with SMART login ([fhir] client_id in site.toml).",
)
@click.option(
    "--outbox",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for transaction bundles (default: the data folder's outbox/), even when "
    "site.toml names a server.",
)
@click.option(
    "--dry-run", is_flag=True, help="Show what would be created, per patient; change nothing."
)
@click.option(
    "--max-entries",
    type=click.IntRange(4, 1000),
    default=8,
    show_default=True,
    help="Entries per transaction (Medplum allows 8 with conditional creates).",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(1, 600),
    default=DEFAULT_TIMEOUT_S,
    show_default=True,
    help="Seconds to wait for the server's answer to one request.",
)
@click.option(
    "--time-limit",
    "time_limit_min",
    type=click.FloatRange(1, 24 * 60),
    default=DEFAULT_TIME_LIMIT_MIN,
    show_default=True,
    help="Minutes after which the run starts no more requests (run it again to go on).",
)
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def reconcile(
    ctx: click.Context,
    fhir_url: str | None,
    token_file: Path | None,
    outbox: Path | None,
    dry_run: bool,
    max_entries: int,
    timeout_s: float,
    time_limit_min: float,
    lang: str | None,
) -> None:
    """Put every returned form into the digital record (FHIR R4), once.

    Each form becomes transaction bundles of conditional creates with deterministic
    identifiers: running it again creates nothing. Items that need a person first (a drug
    name written by hand, an uncertain box, captures that disagree) and items the record
    already holds in another form are held back, and listed by `downtime report`. So is an
    administration whose slot is later than its page's scan (it cannot have happened yet).

    Patients and encounters are the record's: referred to by identifier (conditional
    references; site.toml's encounter_system names the record's encounter system for a CSV
    census), never created but for a reserve-number admission. A form whose patient or
    encounter the server does not hold is held whole as unknown-in-record.

    A bundle counts as posted only when the server confirms it (or every resource of it is
    found there by identifier). A record check that cannot be made holds its form. Progress
    goes to stderr. One reconcile per data folder runs at a time.

    \b
    Exit codes: 0 everything delivered (items held for a person are listed by the report);
    7 something failed or was held because the record could not be checked (run again);
    75 stopped early: the server asks to wait, stopped answering, the time limit was
    reached, or another reconcile holds the data folder (run again later).

    With [fhir] url and client_id in site.toml it logs in by SMART Backend Services (the key
    from `downtime keys client-key new`); [fhir] ca_bundle and client_cert serve hospital PKI.

    \b
    downtime reconcile --dry-run
    downtime reconcile                                  # into the outbox folder (no [fhir] url)
    downtime reconcile --fhir-url https://fhir.example/R4 --token-file /etc/downtime/token
    downtime reconcile                      # to [fhir] url, logged in as [fhir] client_id
    """
    from downtime.app import reconcile_forms

    summary = reconcile_forms(
        data_home(ctx),
        fhir_url=fhir_url,
        token_file=token_file,
        outbox=outbox,
        dry_run=dry_run,
        max_entries=max_entries,
        log=echo_err,
        timeout_s=timeout_s,
        time_limit_min=time_limit_min,
    )
    w = say(ctx, lang)
    for planned in summary.plan:
        patient = planned.patient.display() if planned.patient else "-"
        made = ", ".join(f"{n} {t}" for t, n in planned.resources.items())
        line = f"{planned.ward}\t{patient}\t{planned.form}\t{made or w('reconcile_nothing')}"
        if planned.held:
            items = " | ".join(f"{h.item} ({h.kind}: {h.detail})" for h in planned.held)
            line += "\t" + w("reconcile_held", items=items)
        click.echo(line)
    s = summary
    click.echo(w("reconcile_summary", forms=s.forms, unchanged=s.unchanged, unused=s.unused,
                 bundles=s.bundles, resources=s.resources, held=s.held,
                 record_conflicts=s.record_conflicts, failed=s.failed,
                 unchecked=s.check_failed, retries=s.retries))  # fmt: skip
    if summary.stopped is not None:
        raise ReconcileStopped(
            f"stopped before the end: {summary.stopped}",
            hint="what was sent is recorded; run reconcile again later to go on",
            said=Said("reconcile_stopped", {"why": summary.stopped}),
        )
    if summary.not_delivered:
        raise NotDelivered(
            f"{summary.failed} bundle(s) failed and {summary.check_failed} form(s) were held "
            "because the record could not be checked",
            hint="`downtime report` lists them; run reconcile again once the server is fine",
            said=Said("not_delivered", {"failed": s.failed, "unchecked": s.check_failed}),
        )


class ReconcileStopped(DowntimeError):
    exit_code = ExitCode.TEMPFAIL


class NotDelivered(DowntimeError):
    exit_code = ExitCode.NOT_DELIVERED

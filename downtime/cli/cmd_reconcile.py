"""``downtime reconcile``: every returned form into the record (FHIR R4)."""

from __future__ import annotations

from pathlib import Path

import click

from downtime.cli.common import EXISTING_FILE, data_home, echo_err, handles_errors


@click.command()
@click.option(
    "--fhir-url",
    help="Post to this FHIR R4 server (base URL). Default: write bundles to the outbox.",
)
@click.option(
    "--token-file",
    type=EXISTING_FILE,
    help="File holding the server's bearer token (else $DOWNTIME_FHIR_TOKEN; never a flag).",
)
@click.option(
    "--outbox",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for transaction bundles (default: the data folder's outbox/).",
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
@click.pass_context
@handles_errors
def reconcile(
    ctx: click.Context,
    fhir_url: str | None,
    token_file: Path | None,
    outbox: Path | None,
    dry_run: bool,
    max_entries: int,
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

    \b
    downtime reconcile --dry-run
    downtime reconcile                                  # into the outbox folder
    downtime reconcile --fhir-url https://fhir.example/R4 --token-file /etc/downtime/token
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
    )
    for planned in summary.plan:
        patient = planned.patient.display() if planned.patient else "-"
        made = ", ".join(f"{n} {t}" for t, n in planned.resources.items()) or "nothing"
        line = f"{planned.ward}\t{patient}\t{planned.form}\t{made}"
        if planned.held:
            line += "\theld: " + " | ".join(
                f"{h.item} ({h.kind}: {h.detail})" for h in planned.held
            )
        click.echo(line)
    click.echo(
        f"forms {summary.forms}  unchanged {summary.unchanged}  unused {summary.unused}  "
        f"bundles {summary.bundles}  resources {summary.resources}  held {summary.held}  "
        f"record conflicts {summary.record_conflicts}  failed {summary.failed}  "
        f"retries {summary.retries}"
    )

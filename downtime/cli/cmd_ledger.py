"""``downtime ledger check``: the ledger and its image store, as a whole."""

from __future__ import annotations

import json
import sys

import click

from downtime.cli.common import data_home, handles_errors
from downtime.cli.help import Group
from downtime.errors import ExitCode


@click.group(cls=Group)
def ledger() -> None:
    """The ledger (every issued page, scan, decision, posting and audit event) and its image
    store."""


@ledger.command("check", short_help="Check the ledger, its audit chain and its image store.")
@click.option("--quick", is_flag=True, help="Check each stored file is there, without reading it.")
@click.option("--json", "as_json", is_flag=True, help="The result as one JSON object.")
@click.pass_context
@handles_errors
def ledger_check(ctx: click.Context, quick: bool, as_json: bool) -> None:
    """Check the ledger's database integrity, its audit chain, and every image it names: there,
    and with the content its name is the hash of. Files in the store that no row names (a scan
    stopped between storing a file and filing it) are listed. Exit code 1 when something is
    wrong (a listed file alone is not).

    \b
    downtime ledger check
    downtime ledger check --quick --json
    """
    from downtime.app.audit import CHECK_SCHEMA, check_data

    summary = check_data(data_home(ctx), hashes=not quick)
    if as_json:
        document = {
            "schema": CHECK_SCHEMA,
            "ok": not summary.problems,
            "files_named": summary.files_named,
            "files_stored": summary.files_stored,
            "findings": [
                {"kind": f.kind, "where": f.where, "what": f.what, "problem": f.problem}
                for f in summary.findings
            ],
        }
        click.echo(json.dumps(document, indent=2))
    else:
        for finding in summary.findings:
            click.echo(f"{finding.kind}\t{finding}")
        state = "ok" if not summary.problems else f"NOT OK: {len(summary.problems)} problem(s)"
        click.echo(
            f"ledger {state}: {summary.files_named} files named, {summary.files_stored} stored",
            err=True,
        )
    if summary.problems:
        sys.exit(int(ExitCode.CHECK_FAILED))

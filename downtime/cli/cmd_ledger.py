"""``downtime ledger check``: the ledger and its image store, as a whole."""

from __future__ import annotations

import json
import sys

import click

from downtime.cli.common import LANG_OPTION, data_home, handles_errors, say, speaks_site_language
from downtime.cli.help import Group
from downtime.errors import ExitCode

COPY_SCHEMA = "downtime.ledger-copy/1"


@click.group(cls=Group)
def ledger() -> None:
    """The ledger (every issued page, scan, decision, posting and audit event) and its image
    store."""


@ledger.command("check", short_help="Check the ledger, its audit chain and its image store.")
@click.option("--quick", is_flag=True, help="Check each stored file is there, without reading it.")
@click.option("--json", "as_json", is_flag=True, help="The result as one JSON object.")
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def ledger_check(ctx: click.Context, quick: bool, as_json: bool, lang: str | None) -> None:
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
        w = say(ctx, lang)
        for finding in summary.findings:
            click.echo(w.finding(finding))
        named, stored = summary.files_named, summary.files_stored
        if summary.problems:
            state = w.n("ledger_bad", len(summary.problems), named=named, stored=stored)
        else:
            state = w("ledger_ok", named=named, stored=stored)
        click.echo(state, err=True)
    if summary.problems:
        sys.exit(int(ExitCode.CHECK_FAILED))


@ledger.command("copy", short_help="Copy the SQLite ledger to an empty PostgreSQL database.")
@click.option(
    "--to",
    "url",
    required=True,
    metavar="postgresql://USER@HOST/DB",
    help="The empty database (no password in the URL: PGPASSFILE or ~/.pgpass).",
)
@click.option("--json", "as_json", is_flag=True, help="The result as one JSON object.")
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def ledger_copy(ctx: click.Context, url: str, as_json: bool, lang: str | None) -> None:
    """Copy the data folder's SQLite ledger, every table and row of it (packs, pages, scans,
    captures, decisions, prints, postings, users, the audit trail with its chain), into an
    empty PostgreSQL database, then check the copy: the same rows in every table, the same
    audit chain head. A database that holds any row is refused. The SQLite ledger is left
    as it was; stop every command that writes it first.

    \b
    downtime ledger copy --to 'postgresql://downtime_owner@db.example.se/downtime'
    """
    from downtime.app.ledger_copy import copy_to_postgresql
    from downtime.ledger.dialect import redacted

    done, w = copy_to_postgresql(data_home(ctx), url), say(ctx, lang)
    if as_json:
        document = {
            "schema": COPY_SCHEMA,
            "target": redacted(done.target),
            "counts": done.counts,
            "audit": {"events": done.audit.events, "head": done.audit.head},
        }
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(w("ledger_copied", tables=len(done.counts), rows=done.rows,
                     head=done.audit.short))  # fmt: skip
    click.echo(w("ledger_copy_next", events=done.audit.events, source=done.source.name,
                 target=redacted(done.target)), err=True)  # fmt: skip

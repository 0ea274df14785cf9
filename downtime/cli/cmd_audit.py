"""``downtime audit verify``: is the audit trail as it was written?"""

from __future__ import annotations

import json
import sys

import click

from downtime.cli.common import LANG_OPTION, data_home, handles_errors, say, speaks_site_language
from downtime.cli.help import Group
from downtime.errors import ExitCode


@click.group(cls=Group)
def audit() -> None:
    """The audit trail: who did what, when, to which patient's pages (hash-chained)."""


@audit.command("verify", short_help="Check the audit trail's hash chain, event by event.")
@click.option(
    "--expect-head",
    metavar="HASH",
    help="A chain head printed before (on a report: 16 hex digits or more); the trail must "
    "still hold it, else it was rewritten from some point on.",
)
@click.option("--json", "as_json", is_flag=True, help="The result as one JSON object.")
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def audit_verify(
    ctx: click.Context, expect_head: str | None, as_json: bool, lang: str | None
) -> None:
    """Check every audit event's hash and link, and say exactly which event was edited,
    which are missing, which are out of order. Exit code 1 when anything is wrong.

    \b
    downtime audit verify
    downtime audit verify --expect-head 3f9a0c1d2e4b5a69   (the head a report printed)
    """
    from downtime.app.audit import SCHEMA, verify_audit

    head, findings = verify_audit(data_home(ctx), expect_head=expect_head)
    if as_json:
        document = {
            "schema": SCHEMA,
            "events": head.events,
            "head": head.head,
            "intact": not findings,
            "findings": [{"seq": f.seq, "kind": f.kind, "what": f.what} for f in findings],
        }
        click.echo(json.dumps(document, indent=2))
    else:
        w = say(ctx, lang)
        for finding in findings:
            click.echo(w.finding(finding))
        if findings:
            state = w.n("audit_broken", len(findings), events=head.events, head=head.short)
        else:
            state = w("audit_intact", events=head.events, head=head.short)
        click.echo(state, err=True)
    if findings:
        sys.exit(int(ExitCode.CHECK_FAILED))

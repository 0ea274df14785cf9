"""``downtime doctor``: is this computer ready for a run?"""

from __future__ import annotations

import sys

import click

from downtime.cli.common import (
    LANG_OPTION,
    data_home,
    echo_err,
    handles_errors,
    say,
    speaks_site_language,
)
from downtime.cli.listing import DOCTOR, echo_document, json_option
from downtime.errors import ExitCode


@click.command(short_help="Check this PC and its data folder are ready for a run.")
@json_option(DOCTOR)
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def doctor(ctx: click.Context, as_json: bool, lang: str | None) -> None:
    """Check that this computer and its data folder are ready for a run, and say what to fix.

    \b
    One line per check: ok, warning or FAILED, what was found, and what to do:
      site-config, timezone, clock   site.toml, the site's time zone, the clock (not before
                                     the ledger's newest record)
      tesseract, zxing-cpp, zbar     Tesseract and its language data; the QR readers, each
                                     reading a page code made by the QR encoder in use
      qr-encoder, fonts              what packs are printed with
      permissions                    folders 0700, files 0600, all the kit user's
      ledger, audit-chain            integrity, every named image there, the audit chain
      keys                           which key signs, which verify, how old
      disk                           free space for the image store
      fhir                           the server in site.toml [fhir] url: it answers, takes
                                     transactions and conditional creates

    Exit code 1 when a check FAILED (something a run needs is missing or wrong); warnings
    alone exit 0. Nothing is changed: the ledger is opened read-only.

    \b
    downtime doctor
    downtime doctor --json
    """
    from downtime.app.doctor import diagnose

    found = diagnose(data_home(ctx))
    if as_json:
        checks = [
            {"check": c.name, "state": c.state, "what": c.what, "fix": c.fix or None}
            for c in found.checks
        ]
        echo_document(DOCTOR, ok=found.ok, checks=checks)
    else:
        w = say(ctx, lang)
        for c in found.checks:
            what, fix = w.check(c)
            fix = f" → {fix}" if fix else ""
            click.echo(f"{w.of('doctor_states', c.state):<8}{c.name:<13}{what}{fix}")
        passed = len(found.checks) - len(found.failed) - len(found.warnings)
        echo_err(w("doctor_summary", passed=passed, warnings=len(found.warnings),
                   failed=len(found.failed)))  # fmt: skip
    if not found.ok:
        sys.exit(int(ExitCode.CHECK_FAILED))

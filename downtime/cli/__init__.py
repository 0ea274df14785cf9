"""The ``downtime`` command: parse options, resolve settings, call one library function.

stdout carries data (file paths, tables, JSON, PEM); stderr carries messages. A
:class:`DowntimeError` becomes its message on stderr and its exit code.
"""

from __future__ import annotations

from pathlib import Path

import click

from downtime import __version__
from downtime.cli.cmd_audit import audit
from downtime.cli.cmd_backup import backup, restore
from downtime.cli.cmd_drill import drill
from downtime.cli.cmd_forms import forms
from downtime.cli.cmd_init import init
from downtime.cli.cmd_keys import keys
from downtime.cli.cmd_ledger import ledger
from downtime.cli.cmd_pack import pack, packs
from downtime.cli.cmd_reconcile import reconcile
from downtime.cli.cmd_report import outage, report, void
from downtime.cli.cmd_review import review
from downtime.cli.cmd_scan import quarantine, scan
from downtime.cli.cmd_users import users

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="downtime")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="DOWNTIME_HOME",
    help="Data folder (ledger, keys, site.toml, site forms). "
    "Default: $DOWNTIME_HOME, else the user's data directory.",
)
@click.pass_context
def main(ctx: click.Context, home: Path | None) -> None:
    """downtime: paper-fallback documentation for hospital record outages.

    \b
    Before an outage:  downtime pack --ward W -o W.pdf   (or --all-wards -o DIR)
    Scanning back:     downtime scan FILES… (or --watch DIR: the scanner's folder)
    Forms:             downtime forms list | show | check | preview
    Keys:              downtime keys list | rotate | export-public | import-public
    Record login:      downtime keys client-key new | show
    Review station:    downtime users add NAME --role clerk, then downtime review
    Audit trail:       downtime audit verify [--expect-head HASH]
    Ledger and images: downtime ledger check
    Backup:            downtime backup DEST, downtime restore SRC
    """
    ctx.ensure_object(dict)
    ctx.obj["home"] = home


main.add_command(init)
main.add_command(pack)
main.add_command(forms)
main.add_command(keys)
main.add_command(scan)
main.add_command(quarantine)
main.add_command(packs)
main.add_command(reconcile)
main.add_command(outage)
main.add_command(void)
main.add_command(report)
main.add_command(drill)
main.add_command(review)
main.add_command(users)
main.add_command(audit)
main.add_command(ledger)
main.add_command(backup)
main.add_command(restore)

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
from downtime.cli.cmd_doctor import doctor
from downtime.cli.cmd_drill import drill
from downtime.cli.cmd_forms import forms
from downtime.cli.cmd_init import init
from downtime.cli.cmd_keys import keys
from downtime.cli.cmd_ledger import ledger
from downtime.cli.cmd_pack import pack, packs
from downtime.cli.cmd_print import print_cmd, prints
from downtime.cli.cmd_reconcile import reconcile
from downtime.cli.cmd_report import outage, report, void
from downtime.cli.cmd_review import review
from downtime.cli.cmd_scan import quarantine, scan
from downtime.cli.cmd_station import station
from downtime.cli.cmd_users import users
from downtime.cli.help import Index

__all__ = ["main"]


@click.group(
    cls=Index, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120}
)
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
    Ward stations:     downtime station sync SOURCE | status | serve
    Print on demand:   downtime print --ward W [--forms F,…] [--beds 1,3]
    Scanning back:     downtime scan FILES… (or --watch DIR: the scanner's folder)
    Forms:             downtime forms list | show | check | preview
    Keys:              downtime keys list | rotate | export-public | import-public
    Record login:      downtime keys client-key new | show
    Review station:    downtime users add NAME --role clerk, then downtime review
    Audit trail:       downtime audit verify [--expect-head HASH]
    Ledger and images: downtime ledger check | copy --to postgresql://…
    Backup:            downtime backup DEST, downtime restore SRC
    Is this PC ready:  downtime doctor

    Listings print JSON with --json (each names its schema). Shell completion (bash):
    eval "$(_DOWNTIME_COMPLETE=bash_source downtime)" (zsh_source, fish_source for others).
    """
    ctx.ensure_object(dict)
    ctx.obj["home"] = home


# In the order of a run: set up and check, print, scan, settle, reconcile, report; then the
# tools around it. `downtime --help` lists them in this order.
for command in (
    init, doctor, pack, packs, station, print_cmd, prints, forms, keys, scan, quarantine,
    review, users, reconcile, outage, void, report, audit, ledger, backup, restore, drill,
):  # fmt: skip
    main.add_command(command)

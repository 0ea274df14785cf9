"""``downtime outage`` records the outage window, ``downtime void`` voids pages that will never
come back, and ``downtime report`` makes the outage report."""

from __future__ import annotations

from pathlib import Path

import click

from downtime.cli.common import OUTPUT_PATH, _home, handles_errors

AT_OPTION = click.option(
    "--at",
    "at_text",
    metavar="ISO8601",
    help="When (e.g. 2026-11-25T06:40; without an offset: site time). Default: now.",
)


@click.group()
def outage() -> None:
    """When the record system was down: the report covers the packs in use then."""


@outage.command("start")
@AT_OPTION
@click.pass_context
@handles_errors
def outage_start(ctx: click.Context, at_text: str | None) -> None:
    """Record that the record system went down (again while one lasts: corrects its start)."""
    from downtime.app import record_outage

    click.echo(record_outage(_home(ctx), "start", at_text))


@outage.command("end")
@AT_OPTION
@click.pass_context
@handles_errors
def outage_end(ctx: click.Context, at_text: str | None) -> None:
    """Record that the record system is back (again: corrects the end)."""
    from downtime.app import record_outage

    click.echo(record_outage(_home(ctx), "end", at_text))


@outage.command("show")
@click.pass_context
@handles_errors
def outage_show(ctx: click.Context) -> None:
    """Every recorded start and end, and the latest outage's window."""
    from downtime.app import outage_lines

    for line in outage_lines(_home(ctx)):
        click.echo(line)


@click.command()
@click.argument("serials", nargs=-1, required=True)
@click.option("--reason", required=True, help="Why the pages will never come back (audited).")
@click.pass_context
@handles_errors
def void(ctx: click.Context, serials: tuple[str, ...], reason: str) -> None:
    """Void issued pages that will never come back, by their printed SERIALS.

    An unused blank form thrown away stops counting as missing. A serial that is mistyped,
    names no issued page, or names a page already returned is refused, and then nothing is
    voided. Each voided page is audited with its ward and patient.
    """
    from downtime.app import void_pages

    for line in void_pages(_home(ctx), serials, reason):
        click.echo(line)


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "html"]),
    default="table",
    show_default=True,
    help="table for a terminal, csv for a spreadsheet, json for tools, html to print.",
)
@click.option("-o", "--output", type=OUTPUT_PATH, help="Write to FILE (0600), not stdout.")
@click.option("--ward", help="This ward only.")
@click.option("--all-packs", is_flag=True, help="Every pack, not only those of the outage.")
@click.pass_context
@handles_errors
def report(
    ctx: click.Context, fmt: str, output: Path | None, ward: str | None, all_packs: bool
) -> None:
    """The outage report: pages issued, returned, MISSING, voided, pending, posted, failed.

    Missing pages come first (referrals, then medication forms), with the serial to find each
    sheet by. The report names patients: keep its files private. Exit code 0 whenever the
    report was made; whether everything is accounted for is in the report ("complete").

    \b
    downtime report
    downtime report --format html -o outage-report.html
    downtime report --ward MED42 --format csv -o MED42.csv
    """
    from downtime.app import outage_report

    text = outage_report(_home(ctx), fmt=fmt, ward=ward, all_packs=all_packs, output=output)
    click.echo(text, nl=output is not None)

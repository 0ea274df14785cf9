"""``downtime print`` prints a ward's newest pack (or some of its forms or beds) through CUPS;
``downtime prints`` exports a station's print records and imports them centrally."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from downtime.cli.common import (
    EXISTING_FILE,
    LANG_OPTION,
    OUTPUT_PATH,
    data_home,
    echo_err,
    handles_errors,
    say,
    speaks_site_language,
)
from downtime.cli.help import Group
from downtime.cli.listing import local_time, site_timezone
from downtime.cli.words import Words
from downtime.errors import ExitCode

if TYPE_CHECKING:
    from downtime.app.printing import Printed

LIST_SCHEMA = "downtime.print-list/1"


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(t.strip() for t in (text or "").split(",") if t.strip())


@click.command("print", short_help="Print a ward's newest pack: A4, one-sided, at 100 %.")
@click.option("--ward", help="The ward whose newest pack to print.")
@click.option(
    "--forms", metavar="IDS", help="Only these forms, comma-separated (cover: the cover sheet)."
)
@click.option("--beds", metavar="BEDS", help="Only the patients in these beds, comma-separated.")
@click.option("--printer", help="The CUPS printer (default: this computer's default printer).")
@click.option("--copies", type=click.IntRange(1, 20), default=1, show_default=True)
@click.option(
    "--from",
    "packs",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A pack folder (the print host's -o DIR) instead of this station's copy.",
)
@click.option(
    "--continue",
    "continuation",
    is_flag=True,
    help="The next continuation pack held (the next day's administration records) not yet "
    "printed here.",
)
@click.option("--pack", "pack_id", metavar="ID", help="A pack held: the ward's or a continuation.")
@click.option("--list", "listing", is_flag=True, help="List the prints recorded here instead.")
@click.option("--json", "as_json", is_flag=True, help=f"With --list: JSON ({LIST_SCHEMA}).")
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def print_cmd(
    ctx: click.Context,
    ward: str | None,
    forms: str | None,
    beds: str | None,
    printer: str | None,
    copies: int,
    packs: Path | None,
    continuation: bool,
    pack_id: str | None,
    listing: bool,
    as_json: bool,
    lang: str | None,
) -> None:
    """Print the ward's newest pack on paper: A4, one-sided, at 100 % (never fit to page).

    The pack is the one this station holds (`downtime station sync`), checked again (its
    signatures and its PDF's SHA-256) before anything is printed; --from DIR prints from a
    pack folder instead (on the print host). --forms and --beds print only those pages, as
    they are in the pack (same page codes). Every print is recorded — who, when, which pack,
    which pages, which printer, the CUPS job — and audited per patient; once a pack has print
    records, the report counts only its printed pages as issued.

    --continue prints the next continuation pack this station holds for the ward and has not
    printed yet: the next day's administration records and journal pages, made ahead on the
    print host with the pack (signed there) and synced with it. --pack ID prints one pack held
    again (the ward's, or a continuation; `downtime station status` lists them).

    \b
    downtime print --ward MED42
    downtime print --ward MED42 --continue                 # day two; again on day three
    downtime print --ward MED42 --forms mar,journal --printer ward-42
    downtime print --ward MED42 --beds 3 --copies 2
    downtime print --list [--ward MED42] [--json]
    """
    if listing:
        _list(ctx, ward, as_json, say(ctx, lang))
        return
    if not ward:
        raise click.UsageError("give --ward W (or --list)")
    from downtime.app.printing import PrintRequest, print_pack

    if packs is not None and (continuation or pack_id):
        raise click.UsageError(
            "--continue and --pack choose among the packs this station holds, not --from"
        )
    if continuation and pack_id:
        raise click.UsageError("give --continue (the next continuation) or --pack ID, not both")
    request = PrintRequest(ward, _split(forms), _split(beds), printer, copies, packs, pack_id,
                           continuation)  # fmt: skip
    echo_printed(ctx, print_pack(data_home(ctx), request), say(ctx, lang))


def echo_printed(ctx: click.Context, done: Printed, w: Words) -> None:
    """What was printed (or written out), and whether the pack was still valid."""
    r, tz = done.record, site_timezone(ctx)
    if done.valid_until <= r.printed_at:
        until = done.valid_until.astimezone(tz)
        echo_err(w("print_expired", ward=r.ward, until=f"{until:%Y-%m-%d %H:%M}"))
    selection = f" ({r.selection})" if r.selection else ""
    click.echo(w("print_line", ward=r.ward, printed=len(r.page_uids),
                 pages=w.n("pages_n", done.pages_in_pack), selection=selection, pack=r.pack_id,
                 printer=r.printer, job=r.job_id, copies=r.copies))  # fmt: skip
    if done.window is not None:
        start, end = (t.astimezone(tz) for t in done.window)
        click.echo(w("print_window", ward=r.ward, start=f"{start:%Y-%m-%d %H:%M}",
                     end=f"{end:%Y-%m-%d %H:%M}"))  # fmt: skip


def _list(ctx: click.Context, ward: str | None, as_json: bool, w: Words) -> None:
    from downtime.app.printing import print_list

    found = print_list(data_home(ctx), ward=ward, limit=1000)
    if as_json:
        doc = {
            "schema": LIST_SCHEMA,
            "prints": [
                {"print_id": p.print_id, "pack_id": p.pack_id, "ward": p.ward,
                 "printed_at": p.printed_at.isoformat(), "printed_by": p.printed_by,
                 "station": p.station, "printer": p.printer, "copies": p.copies,
                 "selection": p.selection, "pages": list(p.page_uids), "outcome": p.outcome,
                 "job_id": p.job_id, "imported": p.imported_at is not None}
                for p in found
            ],
        }  # fmt: skip
        click.echo(json.dumps(doc, ensure_ascii=False, indent=1))
        return
    tz = site_timezone(ctx)
    click.echo(w("prints_heading"))
    for p in found:
        click.echo(
            "\t".join(
                (
                    local_time(p.printed_at, tz) or "",
                    p.ward,
                    p.pack_id,
                    str(len(p.page_uids)),
                    str(p.copies),
                    p.printer,
                    p.job_id or "-",
                    p.printed_by,
                    p.station,
                    p.outcome or w("print_outcome_unknown"),
                    p.selection or w("print_whole_pack"),
                )
            )
        )


@click.group(cls=Group)
def prints() -> None:
    """Print records: exported by a ward station, imported by the central ledger."""


@prints.command("export", short_help="Write this station's print records to a file.")
@click.option("-o", "--output", type=OUTPUT_PATH, required=True, help="The export file (JSON).")
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def prints_export(ctx: click.Context, output: Path, lang: str | None) -> None:
    """Write this station's print records to a file (downtime.prints/1)."""
    from downtime.app.printing import export_prints

    count, w = export_prints(data_home(ctx), output), say(ctx, lang)
    click.echo(w("prints_exported", file=output, prints=w.n("prints_n", count)))


@prints.command("import", short_help="Record ward stations' prints from their exports.")
@click.argument("exports", nargs=-1, required=True, type=EXISTING_FILE)
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def prints_import(ctx: click.Context, exports: tuple[Path, ...], lang: str | None) -> None:
    """Record ward stations' prints from their export files (after the outage).

    Importing a file again adds nothing. A print of a pack this ledger does not know is
    skipped (import the pack's manifest first: downtime packs import); exit code 3 then.
    """
    from downtime.app.printing import import_print_files

    skipped, w = False, say(ctx, lang)
    for done in import_print_files(data_home(ctx), exports):
        click.echo(w("prints_imported", file=done.file.name, added=done.added, known=done.known,
                     skipped=len(done.skipped)))  # fmt: skip
        for print_id, why in done.skipped:
            echo_err(w("print_skipped", print=print_id, file=done.file.name, why=why))
            skipped = True
    if skipped:
        ctx.exit(int(ExitCode.BAD_INPUT))

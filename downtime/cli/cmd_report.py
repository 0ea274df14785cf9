"""``downtime outage`` records the outage window, ``downtime void`` voids pages that will never
come back, and ``downtime report`` makes the outage report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from downtime.cli.common import (
    LANG,
    LANG_OPTION,
    OUTPUT_PATH,
    data_home,
    echo_err,
    handles_errors,
    say,
    speaks_site_language,
)
from downtime.cli.help import Group
from downtime.cli.listing import OUTAGE, echo_document, json_option, local_time, site_timezone
from downtime.report.safetext import visible, visible_tree

if TYPE_CHECKING:
    from downtime.app.outage import OutageRecorded, Voided
    from downtime.cli.words import Words
    from downtime.ledger.outage import PageToVoid

AT_OPTION = click.option(
    "--at",
    "at_text",
    metavar="ISO8601",
    help="When (e.g. 2026-11-25T06:40; without an offset: site time). Default: now.",
)


def _recorded(ctx: click.Context, done: OutageRecorded, lang: str | None) -> None:
    tz, w = site_timezone(ctx), say(ctx, lang)
    line = w(f"outage_recorded_{done.kind}", at=local_time(done.at, tz))
    if done.corrects is not None:
        line += "\t" + w(f"outage_corrects_{done.kind}", at=local_time(done.corrects, tz))
    click.echo(line)


@click.group(cls=Group)
def outage() -> None:
    """When the record system was down: the report covers the packs in use then."""


@outage.command("start", short_help="Record that the record system went down.")
@AT_OPTION
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def outage_start(ctx: click.Context, at_text: str | None, lang: str | None) -> None:
    """Record that the record system went down (again while one lasts: corrects its start)."""
    from downtime.app import record_outage

    _recorded(ctx, record_outage(data_home(ctx), "start", at_text), lang)


@outage.command("end", short_help="Record that the record system is back.")
@AT_OPTION
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def outage_end(ctx: click.Context, at_text: str | None, lang: str | None) -> None:
    """Record that the record system is back (again: corrects the end)."""
    from downtime.app import record_outage

    _recorded(ctx, record_outage(data_home(ctx), "end", at_text), lang)


@outage.command("show", short_help="Every recorded start and end; the latest window.")
@json_option(OUTAGE)
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def outage_show(ctx: click.Context, as_json: bool, lang: str | None) -> None:
    """Every recorded start and end, and the latest outage's window (site time)."""
    from downtime.app import outage_log

    log = outage_log(data_home(ctx))
    tz = site_timezone(ctx)
    latest = log.latest
    if as_json:
        events = [
            {
                "seq": e.seq,
                "kind": e.kind,
                "at": local_time(e.at, tz),
                "recorded_at": local_time(e.recorded_at, tz),
                "recorded_by": e.recorded_by,
            }
            for e in log.events
        ]
        window = (
            {"start": local_time(latest.start, tz), "end": local_time(latest.end, tz)}
            if latest is not None
            else None
        )
        echo_document(OUTAGE, timezone=tz.key, events=visible_tree(events), latest=window)
        return
    w = say(ctx, lang)
    for e in log.events:
        click.echo(w("outage_event", seq=e.seq, kind=w.of("outage_kinds", e.kind),
                     at=local_time(e.at, tz), recorded=local_time(e.recorded_at, tz),
                     by=visible(e.recorded_by)))  # fmt: skip
    if latest is None:
        click.echo(w("outage_none"))
        return
    end = local_time(latest.end, tz) or w("outage_not_ended")
    click.echo(w("outage_latest", start=local_time(latest.start, tz), end=end))


@click.command(short_help="Void issued pages, or whole packs' unused pages.")
@click.argument("serials", nargs=-1)
@click.option("--reason", required=True, help="Why the pages will never come back (audited).")
@click.option(
    "--pack", "pack_ids", multiple=True, metavar="ID", help="Every unused page of pack ID."
)
@click.option("--ward", help="With --before: every unused page of the ward's packs issued before.")
@click.option("--before", "before_text", metavar="ISO8601", help="With --ward (site time).")
@click.option("--even-current", is_flag=True, help="Also a ward's newest pack.")
@click.option("--yes", is_flag=True, help="Void the pages of whole packs without asking.")
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def void(
    ctx: click.Context,
    serials: tuple[str, ...],
    reason: str,
    pack_ids: tuple[str, ...],
    ward: str | None,
    before_text: str | None,
    even_current: bool,
    yes: bool,
    lang: str | None,
) -> None:
    """Void issued pages that will never come back: by their printed SERIALS, or every unused
    page (neither returned nor voided) of whole packs.

    An unused blank form thrown away stops counting as missing. A serial that is mistyped,
    names no issued page, or names a page already returned is refused, and then nothing is
    voided. Whole packs: the pages are listed first and voided once confirmed (--yes: without
    asking); a ward's newest pack only with --even-current, since its sheets may still be in
    use. Each voided page is audited with its ward and patient.

    \b
    downtime void DR4K-7MXA-PW3N --reason "unused blank admission form, shredded"
    downtime void --pack 3KQ9… --reason "outage over, unused sheets shredded"
    downtime void --ward MED42 --before 2026-11-26T07:00 --reason "superseded, shredded"
    """
    from downtime.app import void_pages
    from downtime.app.outage import unused_pack_pages, void_pack_pages

    bulk = bool(pack_ids) or ward is not None or before_text is not None
    if bool(serials) == bulk:
        raise click.UsageError("give either SERIALS or the packs (--pack, or --ward and --before)")
    home, w = data_home(ctx), say(ctx, lang)
    if serials:
        _voided(w, void_pages(home, serials, reason))
        return
    chosen = unused_pack_pages(home, pack_ids=pack_ids, ward=ward, before_text=before_text,
                               even_current=even_current)  # fmt: skip
    if not chosen.pages:
        click.echo(w("void_nothing", packs=", ".join(chosen.pack_ids)))
        return
    for p in chosen.pages:
        click.echo(w("void_unused", serial=p.serial, ward=p.ward, page=_page(w, p)))
    question = w("void_question", pages=w.n("pages_n", len(chosen.pages)),
                 packs=w.n("packs_n", len(chosen.pack_ids)))  # fmt: skip
    if not yes and not click.confirm(question, err=True, default=False):
        echo_err(w("error", message=w("void_not_done")))
        ctx.exit(1)
    _voided(w, void_pack_pages(home, chosen, reason))


def _page(w: Words, p: PageToVoid) -> str:
    return w("page_of", form=p.form, page=p.page_no, count=p.page_count)


def _voided(w: Words, done: list[Voided]) -> None:
    for v in done:
        p = v.page
        key = "voided_before" if v.before else "voided"
        click.echo(w(key, serial=p.serial, ward=p.ward, page=_page(w, p)))


@click.command(short_help="The outage report: what is missing, pending, posted.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "pending-csv", "json", "html"]),
    default="table",
    show_default=True,
    help="table for a terminal, csv for a spreadsheet (a row per form), pending-csv (a row per "
    "item held for a person), json for tools, html to print.",
)
@click.option(
    "--lang",
    type=LANG,
    help="Language of the table and HTML (default: site.toml's lang, else sv); of JSON's "
    "sentences only when given (else English). Keys, columns and codes never change.",
)
@click.option("-o", "--output", type=OUTPUT_PATH, help="Write to FILE (0600), not stdout.")
@click.option("--ward", help="This ward only.")
@click.option("--all-packs", is_flag=True, help="Every pack, not only those of the outage.")
@click.pass_context
@handles_errors
@speaks_site_language
def report(
    ctx: click.Context,
    fmt: str,
    lang: str | None,
    output: Path | None,
    ward: str | None,
    all_packs: bool,
) -> None:
    """The outage report: pages issued, returned, MISSING, voided, pending, posted, failed.

    Missing pages come first (referrals, then medication forms), with the serial to find each
    sheet by; then every pending item (held for a person: to review, in conflict, or not
    checked against the record) one by one, with its ward, bed, patient, form, page serial,
    why it is held and how long. Once nothing is missing, pending, in conflict, quarantined or
    failed, the report says "everything accounted for" (JSON: "complete": true). In Swedish
    or English: the site's language, or --lang. The report names patients: keep its files
    private. Exit code 0 whenever the report was made.

    \b
    downtime report
    downtime report --lang en
    downtime report --format html -o outage-report.html
    downtime report --ward MED42 --format csv -o MED42.csv
    downtime report --format pending-csv -o pending.csv
    """
    from downtime.app import outage_report

    text = outage_report(
        data_home(ctx), fmt=fmt, lang=lang, ward=ward, all_packs=all_packs, output=output
    )
    click.echo(text, nl=output is not None)

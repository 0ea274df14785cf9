"""``downtime review``: the review station, a local web application (:mod:`downtime.station`).

A group: bare ``downtime review`` serves the station; subcommands (the scriptable path) hang
off the same group."""

from __future__ import annotations

import json

import click

from downtime.cli.common import (
    LANG_OPTION,
    data_home,
    echo_err,
    handles_errors,
    say,
    speaks_site_language,
)
from downtime.cli.help import Group
from downtime.cli.listing import local_time, site_timezone
from downtime.errors import InputError
from downtime.report.safetext import visible, visible_tree
from downtime.review.items import QUEUES as QUEUE_NAMES


@click.group(
    cls=Group,
    invoke_without_command=True,
    short_help="Serve the review station (a local web application).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but this computer's own (loopback) address lets "
    "other computers reach the login page: only on a trusted ward network.",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="Port (default: a free one)."
)
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def review(ctx: click.Context, host: str, port: int, lang: str | None) -> None:
    """Serve the review station, where people settle what the kit holds for them.

    Prints the address to open in a browser, then serves until Ctrl+C. Log in with a user
    made by `downtime users add`; each sees the queues of their role.

    \b
    downtime review
    downtime review --port 8765
    """
    if ctx.invoked_subcommand is not None:
        return
    from downtime.station import open_station

    serving = open_station(data_home(ctx), host=host, port=port)
    w = say(ctx, lang)
    if serving.wide:
        echo_err(w("review_wide", host=host))
    click.echo(serving.url)
    echo_err(w("review_running"))
    try:
        serving.run()
    except KeyboardInterrupt:
        pass
    finally:
        serving.close()


@review.command("list", short_help="Every item waiting for a person, oldest first.")
@click.option("--queue", type=click.Choice(QUEUE_NAMES), help="Only this queue.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document (schema in --help).")
@click.pass_context
@handles_errors
def review_list(ctx: click.Context, queue: str | None, as_json: bool) -> None:
    """Every item waiting for a person, oldest first: its id (for `review decide`), queue,
    state, ward, bed, patient, form, page serial, item, why it is held and how long.

    \b
    Queues: transcription (handwriting to type), marks (boxes to read by eye), page-conflict
    (captures that disagree: keep one), record-conflict (post or skip), unknown-patient
    (a reserve number to link). States: open; awaiting-confirmation (a second person types
    the medication again); mismatch (the two entries differed: both shown, enter it anew).

    \b
    --json: {"schema": "downtime.review-items/1", "timezone", "items": [{"item_id",
    "queue", "state", "ward", "bed", "patient", "family_name", "given_name", "form",
    "serial", "page", "item", "held_as", "why", "held_since" (site time), "age", "fields",
    "entries": [{"by", "step", "action", "value"}]}]}; a record-conflict item also has
    "conflict": {"paper": SIDE or null, "record": [SIDE]}, what the paper would make beside
    what the record holds, each SIDE {"resource_type", "resource_id", "identifier", "status",
    "occurred_at", "medication", "dose", "who", "recorded_at", "note"} (null where the
    resource has none).
    """
    from downtime.app.decisions import SCHEMA, item_json, open_items

    tz = site_timezone(ctx)
    items = [item_json(i) for i in open_items(data_home(ctx), queue=queue)]
    for item in items:
        item["held_since"] = local_time(item["held_since"], tz)
    if as_json:
        document = {"schema": SCHEMA, "timezone": tz.key, "items": visible_tree(items)}
        click.echo(json.dumps(document, ensure_ascii=False, indent=1))
        return
    columns = ("item_id", "queue", "state", "ward", "bed", "patient", "form", "serial", "item",
               "age", "why")  # fmt: skip
    click.echo("\t".join(columns))
    for item in items:
        cells = (str(item[c]) if item[c] is not None else "-" for c in columns)
        click.echo("\t".join(visible(c) for c in cells))


@review.command("decide", short_help="Settle one item as the person running the command.")
@click.argument("item_id")
@click.argument("action", type=click.Choice(("boxes", "transcribe", "capture", "post", "skip")))
@click.argument("values", nargs=-1)
@click.option("--reason", default="", help="Why (required for skip and post).")
@click.option(
    "--confirm",
    is_flag=True,
    help="Confirm a medication entry: type it again, without looking at the first entry.",
)
@click.pass_context
@handles_errors
def review_decide(
    ctx: click.Context,
    item_id: str,
    action: str,
    values: tuple[str, ...],
    reason: str,
    confirm: bool,
) -> None:
    """Settle one item (ids from `review list`) as the person running the command.

    \b
    downtime review decide 3f2a9c1b0d4e boxes med1.t08.given=marked med1.t08.notgiven=empty
    downtime review decide 3f2a9c1b0d4e capture capture_id=17
    downtime review decide 3f2a9c1b0d4e post --reason "the record's entry is another dose"
    downtime review decide 3f2a9c1b0d4e skip --reason "crossed out on the paper"
    downtime review decide 3f2a9c1b0d4e transcribe drug=Furosemid dose="40 mg" route=IV \\
        frequency="1x2"
    downtime review decide 3f2a9c1b0d4e transcribe --confirm drug=Furosemid dose="40 mg" ...

    Medication typed from handwriting (new and changed orders, prescriptions, as-needed
    doses) counts only once a second, different person confirms it with the same values.
    """
    from downtime.app.decisions import settle

    pairs = {}
    for text in values:
        name, sep, value = text.partition("=")
        if not sep or not name:
            raise InputError(f"{text!r}: give values as NAME=VALUE")
        pairs[name] = value
    settled = settle(
        data_home(ctx), item_id, action=action, values=pairs, reason=reason, confirm=confirm
    )
    state = (
        "in force"
        if settled.in_force
        else "the confirmation differs from the entry: back in the queue with both"
        if settled.mismatch
        else "waits for a second person to confirm it"
    )
    click.echo(f"{item_id}\t{settled.item.item}\t{action}\t{state}")

"""``downtime station``: a ward station keeps its wards' newest packs (``sync``), says what it
holds (``status``); the print host serves its packs to stations (``serve``)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from downtime.cli.common import (
    EXISTING_FILE,
    LANG,
    LANG_OPTION,
    data_home,
    echo_err,
    handles_errors,
    say,
    speaks_site_language,
)
from downtime.cli.help import Group
from downtime.errors import ExitCode

STATUS_SCHEMA = "downtime.station-status/1"


@click.group(cls=Group)
def station() -> None:
    """Ward stations: the newest pack of each ward, kept on a PC of the unit.

    \b
    On the ward PC:    downtime keys import-public host-keys.pem   (once)
                       downtime station sync /mnt/downtime/packs --ward MED42
                       downtime station sync https://printhost:8443 --token-file F --ca-file C
                       downtime station status
                       downtime print --ward MED42 [--continue]   (day two, three)
    On the print host: downtime station serve --packs DIR --cert C --key K --token-file F
    """


@station.command("sync", short_help="Fetch, check and keep each ward's newest pack.")
@click.argument("source")
@click.option("--ward", "wards", multiple=True, help="A ward to hold (repeat for several).")
@click.option(
    "--token-file",
    type=EXISTING_FILE,
    help="The file holding the print host's token (with an https:// SOURCE).",
)
@click.option(
    "--ca-file",
    type=EXISTING_FILE,
    help="PEM certificate(s) the host's certificate is checked with (its own, if self-signed).",
)
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def station_sync(
    ctx: click.Context,
    source: str,
    wards: tuple[str, ...],
    token_file: Path | None,
    ca_file: Path | None,
    lang: str | None,
) -> None:
    """Fetch each ward's newest pack from SOURCE, check it, and keep it.

    SOURCE is a folder (the share the print host writes packs to with `downtime pack
    --all-wards -o DIR`) or the print host's service (https://HOST:PORT, `station serve`).
    A pack is kept only when it is newer than the one held and its manifest's signature,
    every page code and the PDF's SHA-256 check out with the public keys this station holds
    (`downtime keys import-public`); otherwise the pack held stays, and the line says why.
    Without --ward: the wards held already (on a first sync, every ward the source has).

    Exit code 0: every ward up to date; 1: a pack was refused; 75: the source (or a ward's
    pack) could not be reached (the next sync tries again).
    """
    from downtime.app.station import sync_station

    result = sync_station(
        data_home(ctx), source, wards=wards, token_file=token_file, ca_file=ca_file
    )
    for o in result.outcomes:
        click.echo(f"{o.ward}\t{o.outcome}\t{o.detail}")
    for c in result.continuations:
        click.echo(f"{c.ward}\tcontinuation-{c.outcome}\t{c.detail}")
    w = say(ctx, lang)
    for key in result.keys_not_held:
        echo_err(w("key_not_held", key=key.key_id, status=key.status, fingerprint=key.fingerprint))
    if result.any_refused:
        sys.exit(int(ExitCode.CHECK_FAILED))
    if result.any_unreachable:
        sys.exit(int(ExitCode.TEMPFAIL))


@station.command("status", short_help="Which pack this station holds, how old, until when.")
@click.option("--json", "as_json", is_flag=True, help=f"JSON ({STATUS_SCHEMA}).")
@click.option("--lang", type=LANG, help="Language (default: site.toml, else sv).")
@click.pass_context
@handles_errors
@speaks_site_language
def station_status_cmd(ctx: click.Context, as_json: bool, lang: str | None) -> None:
    """Which pack this station holds for each ward, how old its data is, until when it is
    valid, the latest sync, what was printed here today, and the continuation packs held (the
    next days' administration records), each printed here or not."""
    from downtime.app.station import station_status

    status = station_status(data_home(ctx))
    if as_json:
        click.echo(json.dumps(_status_json(status), ensure_ascii=False, indent=1))
        return
    from downtime.ward.words import pack_line, when, word

    lang = lang or status.lang
    tz, now = ZoneInfo(status.timezone), status.now
    if not status.wards:
        click.echo(word(lang, "empty"))
    for w in status.wards:
        held = (w.held.issued_at, w.held.data_as_of, w.held.valid_until) if w.held else None
        click.echo(pack_line(w.ward, held, now=now, tz=tz, lang=lang))
        if w.last_sync is not None:
            s = w.last_sync
            what = word(lang, s.outcome, detail=s.detail) if s.outcome in _OUTCOMES else s.detail
            click.echo("  " + word(lang, "checked", at=when(s.at, now, tz, lang), what=what))
        if w.prints_today:
            last = w.prints_today[0]
            pages = sum(len(p.page_uids) * p.copies for p in w.prints_today)
            click.echo(
                "  "
                + word(
                    lang,
                    "printed",
                    when=word(lang, "today"),
                    times=len(w.prints_today),
                    pages=pages,
                    at=when(last.printed_at, now, tz, lang),
                    who=last.printed_by,
                    printer=last.printer,
                )
            )
        elif w.held is not None:
            click.echo("  " + word(lang, "never_printed"))
        for n, c in enumerate(w.continuations, start=1):
            start, end = c.window or (c.held.issued_at, c.held.valid_until)
            state = "continuation_printed" if c.printed else "continuation_waiting"
            click.echo("  " + word(lang, "continuation", n=n, start=when(start, now, tz, lang),
                                   end=when(end, now, tz, lang),
                                   state=word(lang, state, ward=w.ward)))  # fmt: skip
        if w.held is not None and not w.continuations:
            click.echo("  " + word(lang, "no_continuation"))


_OUTCOMES = ("updated", "current", "kept", "refused", "absent", "unreachable")


def _status_json(status: Any) -> dict[str, Any]:
    def iso(when: datetime | None) -> str | None:
        return when.isoformat() if when else None

    return {
        "schema": STATUS_SCHEMA,
        "now": status.now.isoformat(),
        "timezone": status.timezone,
        "wards": [
            {
                "ward": w.ward,
                "pack_id": w.held.pack_id if w.held else None,
                "issued_at": iso(w.held.issued_at) if w.held else None,
                "data_as_of": iso(w.held.data_as_of) if w.held else None,
                "valid_until": iso(w.held.valid_until) if w.held else None,
                "valid": bool(w.held and w.held.valid_until > status.now),
                "data_age_seconds": int((status.now - w.held.data_as_of).total_seconds())
                if w.held
                else None,
                "last_sync": None
                if w.last_sync is None
                else {
                    "at": iso(w.last_sync.at),
                    "outcome": w.last_sync.outcome,
                    "detail": w.last_sync.detail,
                    "pack_id": w.last_sync.pack_id or None,
                },
                "continuations": [
                    {
                        "pack_id": c.held.pack_id,
                        "mar_from": iso(c.held.mar_from),
                        "mar_hours": c.held.mar_hours,
                        "valid_until": iso(c.held.valid_until),
                        "printed": c.printed,
                    }
                    for c in w.continuations
                ],
                "prints_today": [
                    {
                        "print_id": p.print_id,
                        "printed_at": iso(p.printed_at),
                        "printed_by": p.printed_by,
                        "printer": p.printer,
                        "pages": len(p.page_uids),
                        "copies": p.copies,
                        "job_id": p.job_id,
                        "outcome": p.outcome,
                    }
                    for p in w.prints_today
                ],
            }
            for w in status.wards
        ],
    }


@station.command("serve", short_help="Serve the newest packs to ward stations (HTTPS).")
@click.option(
    "--packs",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The folder packs are printed to (downtime pack --all-wards -o DIR).",
)
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")  # noqa: S104
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8443,
    show_default=True,
    help="0: any free port.",
)
@click.option("--cert", required=True, type=EXISTING_FILE, help="TLS certificate (PEM).")
@click.option("--key", required=True, type=EXISTING_FILE, help="Its private key (PEM).")
@click.option(
    "--token-file",
    required=True,
    type=EXISTING_FILE,
    help="The token ward stations must present (16+ characters; never a flag).",
)
@click.pass_context
@handles_errors
def station_serve(
    ctx: click.Context, packs: Path, host: str, port: int, cert: Path, key: Path, token_file: Path
) -> None:
    """Serve each ward's newest pack to ward stations over HTTPS (read-only).

    Only packs this data folder's ledger recorded with that very PDF are served, with their
    manifests and the fingerprints of this host's public keys. Every request needs the token;
    requests are logged on stderr (never the token). Runs until stopped (Ctrl-C, SIGTERM).
    """
    from downtime.app.station import open_pack_service
    from downtime.ward.serve import address, serve

    server = open_pack_service(data_home(ctx), packs=packs, host=host, port=port, cert=cert,
                               key=key, token_file=token_file, log=echo_err)  # fmt: skip
    bound_host, bound_port = address(server)
    click.echo(f"serving https://{bound_host}:{bound_port}/ (packs in {packs})")
    sys.stdout.flush()
    try:
        serve(server)
    except KeyboardInterrupt:
        echo_err("stopped")

"""The outage window (when the record system was down) and voided pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from downtime.app.workspace import workspace
from downtime.codes.serials import parse_serial
from downtime.errors import InputError, Problem, Said, SerialError, SerialsRefused
from downtime.ledger.outage import (
    Outage,
    OutageEvent,
    PageToVoid,
    latest_outage,
    outage_events,
    pages_by_serial,
    record_outage_event,
    record_voids,
    unreturned_pages,
)
from downtime.ledger.packs import pack_summaries
from downtime.settings import Settings


@dataclass(frozen=True)
class OutageRecorded:
    kind: str  # start | end
    at: datetime
    corrects: datetime | None = None  # the start or end this one corrects


@dataclass(frozen=True)
class OutageLog:
    events: list[OutageEvent]
    latest: Outage | None


@dataclass(frozen=True)
class Voided:
    page: PageToVoid
    before: bool  # voided earlier: left as it was


def _when(text: str | None, settings: Settings) -> datetime:
    """An ISO 8601 time as given (without an offset: site time); none given: now."""
    if text is None:
        return datetime.now(settings.tz).replace(microsecond=0)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError as e:
        raise InputError(
            f"'{text}' is not an ISO 8601 time",
            hint="e.g. 2026-11-25T06:40 (site time) or 2026-11-25T06:40+01:00",
            said=Said("not_a_time", {"text": text}),
        ) from e
    return when if when.tzinfo else when.replace(tzinfo=settings.tz)


def record_outage(home: Path | None, kind: str, at_text: str | None) -> OutageRecorded:
    """Record when the record system went down (``start``) or came back (``end``)."""
    with workspace(home, keys="read") as (settings, _keys, ledger):
        at = _when(at_text, settings)
        current = latest_outage(outage_events(ledger))
        corrects = None
        if kind == "end":
            if current is None:
                raise InputError(
                    "no outage start is recorded",
                    hint="record it first: `downtime outage start`",
                    said=Said("no_outage_start"),
                )
            if at < current.start:
                raise InputError(
                    f"the end ({at.isoformat()}) is before the outage's start "
                    f"({current.start.isoformat()})",
                    hint="give the end with --at, or correct the start (`downtime outage start`)",
                )
            corrects = current.end
        elif current is not None and current.end is None:
            corrects = current.start
        record_outage_event(ledger, kind, at, actor=settings.operator, station=settings.station)
        return OutageRecorded(kind, at, corrects)


def outage_log(home: Path | None) -> OutageLog:
    """Every recorded outage event, and the latest outage's window."""
    with workspace(home, keys="read") as (_settings, _keys, ledger):
        events = outage_events(ledger)
    return OutageLog(events, latest_outage(events))


def void_pages(home: Path | None, serial_texts: Sequence[str], reason: str) -> list[Voided]:
    """Void issued pages that will never come back, by their printed serials: all or none.

    A mistyped serial, a serial no issued page has, or a page already returned is refused and
    nothing is written; a page voided before is left as it was.
    """
    reason = " ".join(reason.split())
    if not reason:
        raise InputError("give the reason the pages will never come back (--reason)")
    serials: list[str] = []
    typos: list[Problem] = []
    for n, text in enumerate(serial_texts, start=1):
        try:
            serials.append(parse_serial(text))
        except SerialError as e:
            typos.append(Problem(f"serial {n} of {len(serial_texts)}", e.message))
    if typos:
        raise SerialsRefused(
            "nothing voided: serials misread",
            typos,
            hint="read the serials again from the page footers",
            said=Said("void_misread", {"n": len(typos)}),
        )
    serials = list(dict.fromkeys(serials))
    with workspace(home, keys="read") as (settings, _keys, ledger):
        found = pages_by_serial(ledger, serials)
        problems = [Problem(s, "no issued page has this serial") for s in serials if s not in found]
        problems += [
            Problem(s, f"{found[s][0].form} page {found[s][0].page_no} was returned: a returned "
                    "page is never voided")
            for s in serials
            if s in found and found[s][1]
        ]  # fmt: skip
        if problems:
            raise SerialsRefused(
                "nothing voided:", problems, said=Said("void_refused", {"n": len(problems)})
            )
        pages = [found[s][0] for s in serials]
        done = set(
            record_voids(ledger, pages, reason, actor=settings.operator, station=settings.station)
        )
    return [Voided(p, before=p.serial not in done) for p in pages]


@dataclass(frozen=True)
class PackPages:
    """The unused pages (neither returned nor voided) of the packs chosen, to void at once."""

    pack_ids: tuple[str, ...]
    pages: tuple[PageToVoid, ...]


def unused_pack_pages(
    home: Path | None,
    *,
    pack_ids: Sequence[str] = (),
    ward: str | None = None,
    before_text: str | None = None,
    even_current: bool = False,
) -> PackPages:
    """The unused pages of the packs ``pack_ids``, or of ``ward``'s packs issued before
    ``before_text`` (site time unless it has an offset). A ward's newest pack is refused
    unless ``even_current``: its sheets may still be in use on the ward."""
    if bool(pack_ids) == (ward is not None or before_text is not None):
        raise InputError("choose the packs with --pack ID, or with --ward W --before TIME")
    if (ward is None) != (before_text is None):
        raise InputError("--ward and --before go together: the ward's packs issued before then")
    with workspace(home, keys="read") as (settings, _keys, ledger):
        packs = pack_summaries(ledger)
        if ward is not None:
            before = _when(before_text, settings)
            chosen = [p for p in packs if p.ward == ward and p.issued_at < before]
            if not chosen:
                raise InputError(f"ward {ward} has no pack issued before {before.isoformat()}")
        else:
            known = {p.pack_id: p for p in packs}
            unknown = [i for i in dict.fromkeys(pack_ids) if i not in known]
            if unknown:
                raise InputError(
                    f"no pack {', '.join(unknown)}",
                    hint="`downtime packs list` shows the packs",
                    said=Said("no_pack_id", {"packs": ", ".join(unknown)}),
                )
            chosen = [known[i] for i in dict.fromkeys(pack_ids)]
        current = [p for p in chosen if p.superseded_by is None]
        if current and not even_current:
            raise InputError(
                f"{', '.join(p.pack_id for p in current)} is its ward's newest pack: its sheets"
                " may still be in use on the ward",
                hint="once the ward is done with it, add --even-current",
            )
        ids = tuple(p.pack_id for p in chosen)
        return PackPages(ids, tuple(unreturned_pages(ledger, ids)))


def void_pack_pages(home: Path | None, chosen: PackPages, reason: str) -> list[Voided]:
    """Void the pages :func:`unused_pack_pages` found, each audited with the reason (a page
    returned or voided since is left as it is)."""
    reason = " ".join(reason.split())
    if not reason:
        raise InputError("give the reason the pages will never come back (--reason)")
    with workspace(home, keys="read") as (settings, _keys, ledger):
        still = {p.page_uid for p in unreturned_pages(ledger, chosen.pack_ids)}
        pages = [p for p in chosen.pages if p.page_uid in still]
        done = set(
            record_voids(ledger, pages, reason, actor=settings.operator, station=settings.station)
        )
    return [Voided(p, before=p.serial not in done) for p in pages]

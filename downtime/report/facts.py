"""Reading the ledger: the facts the report is built from (the only I/O of the report)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from downtime.ledger import Ledger
from downtime.ledger.chain import ChainHead, chain_head
from downtime.ledger.outage import latest_outage, outage_events
from downtime.ledger.packs import ahead_continuations, pack_summaries, returned_pack_ids
from downtime.ledger.pages import serials_of_packs
from downtime.ledger.postings import OpenHeld, bundle_outcomes, open_held_items
from downtime.ledger.prints import printed_between, printed_pages
from downtime.ledger.quarantine import (
    QuarantineItem,
    SetAsidePage,
    quarantine_items,
    set_aside_pages,
)
from downtime.ledger.returns import IssuedForm, issued_forms
from downtime.model import Identifier, IdSystem
from downtime.report.model import PackInfo, PatientRef, QuarantineLine, Scope
from downtime.report.scope import choose_scope


@dataclass(frozen=True)
class Facts:
    site: str
    generated_at: datetime
    timezone: str
    scope: Scope
    forms: tuple[IssuedForm, ...]
    pages: Mapping[str, tuple[str, int]]  # page uid → (form serial, page number), in scope
    bundles: Mapping[str, Mapping[str, int]]  # form key → latest attempt outcome → bundles
    held: Mapping[str, tuple[OpenHeld, ...]]  # form key → its items held for a person now
    quarantine: tuple[QuarantineLine, ...]  # open items
    known_wards: frozenset[str]
    audit: ChainHead  # the audit trail's length and last hash


def read_facts(
    ledger: Ledger, *, site: str, timezone: str, now: datetime, all_packs: bool = False
) -> Facts:
    packs = [
        PackInfo(p.pack_id, p.site, p.ward, p.issued_at, p.superseded_by)
        for p in pack_summaries(ledger)
    ]
    returned = returned_pack_ids(ledger)
    outage = latest_outage(outage_events(ledger))
    during = printed_between(ledger, outage.start, outage.end) if outage else set()
    scope = choose_scope(packs, returned, outage, all_packs=all_packs, now=now, printed=during)
    ids = [s.pack.pack_id for s in scope.packs]
    printed = printed_pages(ledger, ids)
    for pack_id in ahead_continuations(ledger, ids) - set(printed):
        printed[pack_id] = frozenset()  # made ahead, never printed (yet): only what came back
    scope = replace(
        scope,
        packs=tuple(
            replace(s, printed_pages=len(printed[s.pack.pack_id]))
            if s.pack.pack_id in printed
            else s
            for s in scope.packs
        ),
    )
    forms = [
        form
        for i in range(0, len(ids), 500)
        for f in issued_forms(ledger, ids[i : i + 500])
        if (form := printed_only(f, printed.get(f.pack_id))) is not None
    ]
    keys = {f.form_key for f in forms}
    held: dict[str, list[OpenHeld]] = {}
    for item in open_held_items(ledger):
        if item.form_key in keys:
            held.setdefault(item.form_key, []).append(item)
    return Facts(
        site=site,
        generated_at=now,
        timezone=timezone,
        scope=scope,
        forms=tuple(forms),
        pages=serials_of_packs(ledger, ids),
        bundles={k: v for k, v in bundle_outcomes(ledger).items() if k in keys},
        held={k: tuple(v) for k, v in held.items()},
        quarantine=tuple(_open_quarantine(ledger)),
        known_wards=frozenset(p.ward for p in packs),
        audit=chain_head(ledger),
    )


def printed_only(form: IssuedForm, printed: frozenset[str] | None) -> IssuedForm | None:
    """The form as far as it was issued: of a pack with print records (or a continuation made
    ahead, printed or not: ``printed`` is then empty without any), its pages printed or
    returned (a page back on paper was printed, recorded or not); None if none of them. A page
    generated but never printed never counts as missing. Without print records: as made."""
    if printed is None:
        return form
    back = {p.page_uid for p in form.returned}
    kept = tuple(u for u in form.page_uids if u in printed or u in back)
    if not kept:
        return None
    return replace(form, page_uids=kept, voided=tuple(u for u in form.voided if u in kept))


def _open_quarantine(ledger: Ledger) -> list[QuarantineLine]:
    named = set_aside_pages(ledger)
    return [
        _quarantine_line(item, named.get(item.item_id))
        for item in quarantine_items(ledger, open_only=True)
    ]


def _quarantine_line(item: QuarantineItem, page: SetAsidePage | None) -> QuarantineLine:
    """The item, and what its verified code says about the page when this ledger issued it."""
    base = (item.item_id, item.source, item.source_page, item.reason, item.message,
            item.created_at)  # fmt: skip
    if page is None:
        return QuarantineLine(*base)
    patient = PatientRef(
        patient_kind(page.form, page.patient), page.patient, page.family_name, page.given_name,
        page.bed,
    )  # fmt: skip
    return QuarantineLine(
        *base, page.ward, page.serial, page.form, page.page_no, page.page_count, patient
    )


def patient_kind(form: str, identifier: Identifier | None) -> str:
    if identifier is None:
        return "ward"
    if form == "admission" or identifier.system == IdSystem.DOWNTIME_RESERVE:
        return "admission"
    return "patient"

"""Building the report from the facts (pure): forms per patient per ward, counts, the missing
pages in the order to look for them, and every item held for a person."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from downtime.ledger.postings import DELIVERED, OpenHeld
from downtime.ledger.returns import IssuedForm
from downtime.model import Identifier
from downtime.report.facts import Facts, patient_kind
from downtime.report.model import (
    CATEGORIES,
    CONFLICT_KINDS,
    FAILED_KINDS,
    FORM_ORDER,
    Counts,
    FormLine,
    MissingPage,
    PatientRef,
    PatientSection,
    PendingItem,
    QuarantineLine,
    Report,
    WardSection,
)


def build_report(facts: Facts, *, ward: str | None = None) -> Report:
    """The report over ``facts``; ``ward``: that ward only (items set aside that cannot be
    attributed to any ward are kept: they may be its pages)."""
    lines: dict[str, dict[tuple[str, Identifier | None], list[tuple[IssuedForm, FormLine]]]] = {}
    for form in facts.forms:
        if ward is not None and form.ward != ward:
            continue
        who = form.patient.identifier if form.patient else None
        key = (patient_kind(form.form, who), who)
        lines.setdefault(form.ward, {}).setdefault(key, []).append((form, _line(form, facts)))
    quarantined: dict[str, list[QuarantineLine]] = {}
    unattributed = []
    for item in facts.quarantine:
        if item.ward is None:
            unattributed.append(item)
        elif ward is None or item.ward == ward:
            quarantined.setdefault(item.ward, []).append(item)
    wards = []
    for name in sorted(set(lines) | set(quarantined)):
        patients = [_section(kind, forms) for (kind, _), forms in lines.get(name, {}).items()]
        patients.sort(key=lambda s: _patient_order(s.patient))
        wards.append(
            WardSection(
                name,
                tuple(p for p in facts.scope.packs if p.pack.ward == name),
                tuple(patients),
                tuple(quarantined.get(name, ())),
            )
        )
    shown = tuple(p for p in facts.scope.packs if ward is None or p.pack.ward == ward)
    return Report(
        site=facts.site,
        generated_at=facts.generated_at,
        timezone=facts.timezone,
        ward_filter=ward,
        scope=replace(facts.scope, packs=shown),
        missing=tuple(sorted(_missing(wards, facts), key=_missing_order)),
        wards=tuple(wards),
        unattributed=tuple(unattributed),
        pending=tuple(_pending(wards, facts)),
        audit_events=facts.audit.events,
        audit_head=facts.audit.head,
    )


def _line(form: IssuedForm, facts: Facts) -> FormLine:
    back = {p.page_uid for p in form.returned}
    held = facts.held.get(form.form_key, ())
    bundles = facts.bundles.get(form.form_key, {})
    counts = Counts(
        issued=len(form.page_uids),
        returned=len(back),
        missing=len(form.missing),
        voided=sum(1 for u in form.voided if u not in back),
        pending_review=sum(1 for h in held if h.kind not in CONFLICT_KINDS | FAILED_KINDS),
        conflicts=len(_conflicts(form, held)),
        posted=bundles.get("posted", 0),
        written=bundles.get("written", 0),
        # not delivered: failed, stopped while waiting to retry, or never sent (a run killed
        # between writing its posting row and its first attempt): none reached the record
        failed=sum(n for outcome, n in bundles.items() if outcome not in DELIVERED)
        + sum(1 for h in held if h.kind in FAILED_KINDS),
    )
    return FormLine(
        form=form.form,
        form_key=form.form_key,
        pack_id=form.pack_id,
        issued_at=form.issued_at,
        serials=tuple(_serial(facts, u) for u in form.page_uids),
        missing_serials=tuple(_serial(facts, u) for u in form.missing),
        counts=counts,
        bundle_outcomes=dict(sorted(bundles.items())),
    )


def _conflicts(form: IssuedForm, held: Sequence[OpenHeld]) -> set[str]:
    """Pages whose captures disagree (named "page N", as reconciliation names the item it
    holds for such a page: counted once) and held items in conflict."""
    pages = {f"page {p.page_no}" for p in form.returned if p.in_conflict}
    return pages | {h.item for h in held if h.kind in CONFLICT_KINDS}


def _serial(facts: Facts, page_uid: str) -> str:
    return facts.pages.get(page_uid, ("?", 0))[0]


def _section(kind: str, forms: Sequence[tuple[IssuedForm, FormLine]]) -> PatientSection:
    """One patient's forms (across packs); name and bed as in the newest pack."""
    newest = max(forms, key=lambda f: f[0].issued_at)[0].patient
    patient = PatientRef(
        kind,
        newest.identifier if newest else None,
        newest.family_name if newest else None,
        newest.given_name if newest else None,
        newest.bed if newest else None,
    )
    ordered = sorted(forms, key=lambda f: (_form_order(f[1].form), f[1].issued_at))
    return PatientSection(patient, tuple(line for _, line in ordered))


def _missing(wards: Sequence[WardSection], facts: Facts) -> Iterable[MissingPage]:
    by_key = {f.form_key: f for f in facts.forms}
    for ward in wards:
        for section in ward.patients:
            for line in section.forms:
                for uid in by_key[line.form_key].missing:
                    serial, page_no = facts.pages.get(uid, ("?", 0))
                    form = by_key[line.form_key]
                    yield MissingPage(
                        serial, uid, ward.ward, section.patient, line.form, page_no,
                        form.page_count, line.pack_id, line.issued_at,
                    )  # fmt: skip


def _pending(wards: Sequence[WardSection], facts: Facts) -> Iterable[PendingItem]:
    """Every open held item of the forms shown, in the order of the ward tables, then by page
    (a page's own conflict first) and item, numbers in order (dose2 before dose10)."""
    by_key = {f.form_key: f for f in facts.forms}
    for ward in wards:
        for section in ward.patients:
            for line in section.forms:
                form = by_key[line.form_key]
                issued = {
                    facts.pages.get(u, ("?", 0))[1]: _serial(facts, u) for u in form.page_uids
                }
                back = tuple(issued.get(p, "?") for p in sorted(p.page_no for p in form.returned))
                for h in sorted(facts.held.get(line.form_key, ()), key=_item_order):
                    page_no = _page_of(h.item, form.page_count)
                    serials = back if page_no is None else (issued.get(page_no, "?"),)
                    yield PendingItem(
                        ward.ward, section.patient, line.form, line.form_key, line.pack_id,
                        page_no, form.page_count, serials, h.item, h.kind, h.detail, h.since,
                    )  # fmt: skip


_PAGE_ITEM = re.compile(r"page (\d+)(?:/|$)")


def _page_of(item: str, page_count: int) -> int | None:
    """The page an item is on: named in it ("page 2/med1.t08", "page 1"), the only page of a
    one-page form, or none (the whole form: "form", "patient", "encounter")."""
    named = _PAGE_ITEM.match(item)
    if named:
        return int(named.group(1))
    return 1 if page_count == 1 else None


def _item_order(h: OpenHeld) -> tuple[Any, ...]:
    named = _PAGE_ITEM.match(h.item)
    whole_page = named is not None and named.end() == len(h.item)  # "page 2": its captures
    return (int(named.group(1)) if named else 0, not whole_page, _natural(h.item))


def _natural(text: str) -> tuple[tuple[int, int, str], ...]:
    return tuple(
        (1, int(part), "") if part.isdigit() else (0, 0, part)
        for part in re.findall(r"\d+|\D+", text)
    )


def _form_order(form: str) -> tuple[int, str]:
    return (
        (FORM_ORDER.index(form), "") if form in FORM_ORDER else (FORM_ORDER.index("journal"), form)
    )


def _bed_order(bed: str | None) -> tuple[int, int, str]:
    if bed is None:
        return (2, 0, "")
    return (0, int(bed), "") if bed.isdigit() else (1, 0, bed)


_KIND_ORDER = {"patient": 0, "admission": 1, "ward": 2}


def _patient_order(p: PatientRef) -> tuple[Any, ...]:
    return (_KIND_ORDER[p.kind], _bed_order(p.bed), p.identifier.display() if p.identifier else "")


def _missing_order(m: MissingPage) -> tuple[Any, ...]:
    return (
        CATEGORIES.index(m.category),
        m.ward,
        _patient_order(m.patient),
        _form_order(m.form),
        m.issued_at,
        m.page_no,
    )

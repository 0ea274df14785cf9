"""Choosing the pages of a pack to print: some forms, some beds, or the whole pack (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from downtime.errors import InputError
from downtime.ward.verify import PackPage


def choose_pages(
    pages: Sequence[PackPage], *, forms: Sequence[str] = (), beds: Sequence[str] = ()
) -> tuple[PackPage, ...]:
    """The pages to print, in pack order.

    No forms and no beds: every page. ``forms``: the pages of those forms (``cover`` is the
    ward cover sheet). ``beds``: the pages of the patients in those beds; a page without a bed
    (the cover sheet, a blank admission form) only when its form is named in ``forms``.
    """
    have_forms = list(dict.fromkeys(p.form for p in pages))
    have_beds = sorted({p.bed for p in pages if p.bed}, key=_bed_order)
    unknown_forms = [f for f in forms if f not in have_forms]
    if unknown_forms:
        raise InputError(
            f"this pack has no form {', '.join(unknown_forms)}",
            hint=f"its forms: {', '.join(have_forms)}",
        )
    unknown_beds = [b for b in beds if b not in have_beds]
    if unknown_beds:
        raise InputError(
            f"this pack has no patient in bed {', '.join(unknown_beds)}",
            hint=f"its beds: {', '.join(have_beds) or 'none'}",
        )
    chosen = tuple(
        p
        for p in pages
        if (not forms or p.form in forms)
        and (not beds or p.bed in beds or (not p.bed and p.form in forms))
    )
    if not chosen:
        raise InputError("no page of this pack is of those forms and beds")
    return chosen


def selection_text(forms: Sequence[str], beds: Sequence[str]) -> str:
    """How a selection is recorded: ``forms=mar,journal beds=1,3``; '' for the whole pack."""
    parts = [f"forms={','.join(forms)}" if forms else "", f"beds={','.join(beds)}" if beds else ""]
    return " ".join(p for p in parts if p)


def _bed_order(bed: str) -> tuple[int, int, str]:
    return (0, int(bed), "") if bed.isdigit() else (1, 0, bed)

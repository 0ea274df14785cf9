"""Planning a pack (pure): which forms, which rows, which time slots, and the cover sheet;
text the font cannot print is refused."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from downtime.census.printable import unprintable_message
from downtime.errors import CensusError, ConfigError, Problem
from downtime.forms import FormDef
from downtime.forms.layout import PageLayout, labels, layout_form
from downtime.model import Census, Identifier, MedicationOrder, Patient, SkippedRow
from downtime.pack import fonts
from downtime.pack.cover import CoverInput, CoverRow, layout_cover
from downtime.pack.model import PackContext, PackPlan, PlannedPage
from downtime.settings import Settings


def plan_pack(
    census: Census,
    ctx: PackContext,
    forms: Mapping[str, FormDef],
    settings: Settings,
    *,
    reserve_ids: Sequence[str],
    skip_invalid: bool = False,
) -> PackPlan:
    config = settings.config
    ward = ctx.ward
    patients = sorted(
        (p for p in census.patients if p.ward == ward), key=lambda p: (_bed_key(p.bed), p.bed)
    )
    if not patients and not census.patients:
        raise CensusError(f"census {census.source} has no patients", [])
    patients, skipped = _printable(patients, census, skip_invalid)
    ids = {p.identifier for p in patients}
    orders = tuple(o for o in census.orders if o.patient in ids)
    window = ctx.mar_start
    pages: list[PlannedPage] = []
    patient_forms = [_form(forms, form_id, "patient") for form_id in config.patient_forms]
    fixed: dict[tuple[str, tuple[str, ...]], list[PageLayout]] = {}  # forms without data rows
    for patient in patients:
        own = census.orders_for(patient.identifier)
        for form in patient_forms:
            data_bound = any(g.source for g in form.groups)
            key = (form.id, patient.allergies if form.show_allergies else ())
            layouts = None if data_bound else fixed.get(key)
            if layouts is None:
                layouts = layout_form(
                    form,
                    config.lang,
                    orders=own,
                    allergies=patient.allergies,
                    window_start=window,
                    window_hours=config.mar_hours,
                )
                if not data_bound:
                    fixed[key] = layouts
            pages.extend(PlannedPage(form, layout, patient=patient) for layout in layouts)
    admission = _form(forms, "admission", "admission")
    for rid in reserve_ids:
        for layout in layout_form(admission, config.lang):
            pages.append(PlannedPage(admission, layout, reserve_id=rid))
    all_skipped = (*census.skipped, *skipped)
    cover = _cover_pages(
        forms, ctx, config.patient_forms, patients, pages, reserve_ids, all_skipped
    )
    return PackPlan(
        ward, tuple(patients), orders, (*cover, *pages), tuple(reserve_ids), all_skipped
    )


def _form(forms: Mapping[str, FormDef], form_id: str, subject: str) -> FormDef:
    form = forms.get(form_id)
    if form is None:
        raise ConfigError(
            f"form '{form_id}' is not defined",
            hint="see `downtime forms list`; patient_forms in site.toml names forms by id",
        )
    if form.subject != subject:
        raise ConfigError(
            f"form '{form_id}' is a {form.subject} form, not a {subject} form",
            hint='patient_forms in site.toml lists forms with subject = "patient" only',
        )
    return form


def _bed_key(bed: str) -> tuple[int, ...]:
    """Natural order: bed 2 before bed 10."""
    return tuple(int(n) for n in re.findall(r"\d+", bed)) or (10**9,)


def _printable(
    patients: Sequence[Patient], census: Census, skip_invalid: bool
) -> tuple[list[Patient], list[SkippedRow]]:
    """Refuse (or, with skip_invalid, skip) patients whose text the embedded font cannot print."""
    keep: list[Patient] = []
    problems: list[Problem] = []
    skipped: list[SkippedRow] = []
    for p in patients:
        found = list(_unprintable_fields(p, census.orders_for(p.identifier)))
        if not found:
            keep.append(p)
            continue
        source = Path(census.source).name
        for column, chars in found:
            what = f"column {column}: {chars}"
            problems.append(Problem(f"{source} line {p.source_line}", what))
            skipped.append(SkippedRow(p.source_line, f"{source}: {what}"))
    if problems and not skip_invalid:
        raise CensusError(
            f"census {census.source}: {len(problems)} value(s) cannot be printed; no pack was made",
            problems,
            hint="check for mistyped characters, or pass --skip-invalid to print the rest",
        )
    return keep, skipped


def _unprintable_fields(p: Patient, orders: Iterable[MedicationOrder]) -> Iterable[tuple[str, str]]:
    texts = {
        "family_name": p.family_name,
        "given_name": p.given_name,
        "bed": p.bed,
        "ward": p.ward,
        "encounter_id": p.encounter_id,
        "allergies": " ".join(p.allergies),
    }
    for o in orders:
        texts[f"medication order {o.order_id}"] = f"{o.medication} {o.dose} {o.route} {o.frequency}"
    for column, text in texts.items():
        missing = fonts.unprintable(text)
        if missing:
            yield column, unprintable_message(missing)
    missing = fonts.unprintable(p.identifier.display(), (fonts.MONO,))
    if missing:
        yield "patient_id", unprintable_message(missing)


def _cover_pages(
    forms: Mapping[str, FormDef],
    ctx: PackContext,
    patient_forms: Sequence[str],
    patients: Sequence[Patient],
    pages: Sequence[PlannedPage],
    reserve_ids: Sequence[str],
    skipped: Sequence[SkippedRow],
) -> list[PlannedPage]:
    lang = ctx.lang
    words = labels(lang)
    cover = _form(forms, "cover", "ward")
    counts: dict[Identifier, dict[str, int]] = {p.identifier: {} for p in patients}
    for page in pages:
        if page.patient is not None and page.layout.page == 1:
            counts[page.patient.identifier][page.form.id] = page.layout.page_count
    columns = [(f, forms[f].short_title(lang)) for f in patient_forms]
    summary = words["cover_summary"].format(
        patients=len(patients), pages=len(pages), admissions=len(reserve_ids)
    )
    data = CoverInput(
        lang=lang,
        form_columns=columns,
        rows=[CoverRow(p, counts[p.identifier]) for p in patients],
        reserve_ids=reserve_ids,
        skipped=skipped,
        summary=summary,
        valid_line=(
            f"{words['data_as_of']} {ctx.local(ctx.data_as_of)}  ·  {words['valid_until']} "
            f"{ctx.local(ctx.valid_until)}  ·  {words['cover_pack']} {ctx.pack_id}"
        ),
        note=_cover_note(ctx, words),
    )
    return [PlannedPage(cover, layout) for layout in layout_cover(data)]


def _cover_note(ctx: PackContext, words: Mapping[str, str]) -> str:
    """What the ward does with earlier printouts: discard them, or (a continuation) keep them,
    since they are handed in too."""
    if ctx.continues is None:
        return words["superseded_note"]
    return words["continuation_note"].format(pack=ctx.continues, start=ctx.local(ctx.mar_start))

"""Heads: what each page says about whose it is."""

from __future__ import annotations

from downtime.forms.layout import labels
from downtime.model import Identifier, IdSystem
from downtime.pack.model import PackContext, PlannedPage
from downtime.pack.render import PageHead


def page_head(page: PlannedPage, ctx: PackContext, serial: str, code_text: str) -> PageHead:
    words = labels(ctx.lang)
    as_of = f"{words['data_as_of']} {ctx.local(ctx.data_as_of)}"
    common = {
        "title": page.form.title[ctx.lang],
        "subject": page.form.subject,
        "page": page.layout.page,
        "page_count": page.layout.page_count,
        "serial": serial,
        "data_as_of": as_of,
        "code_text": code_text,
    }
    if page.patient is not None:
        p = page.patient
        born = p.birth_date.isoformat() if p.birth_date else "–"
        details = (
            f"{words['born']} {born}  ·  {words['ward']} {p.ward}  ·  {words['bed']} "
            f"{p.bed or '–'}  ·  {words['encounter']} {p.encounter_id}"
        )
        return PageHead(
            name_line=f"{p.family_name}, {p.given_name}",
            id_label=words.get(p.identifier.system, words["other_id"]),
            id_text=p.identifier.display(),
            details=details,
            **common,  # type: ignore[arg-type]
        )
    if page.reserve_id is not None:
        return PageHead(
            name_line=words["new_patient"],
            id_label=words[IdSystem.DOWNTIME_RESERVE],
            id_text=page.reserve_id,
            details=f"{words['ward']} {ctx.ward}  ·  {words['reserve_hint']}",
            **common,  # type: ignore[arg-type]
        )
    return PageHead(
        name_line=f"{words['ward']} {ctx.ward}",
        id_label=words["site"],
        id_text=ctx.site,
        details=(
            f"{words['valid_until']} {ctx.local(ctx.valid_until)}  ·  "
            f"{words['cover_pack']} {ctx.pack_id}"
        ),
        **common,  # type: ignore[arg-type]
    )


def page_patient(page: PlannedPage) -> Identifier | None:
    if page.patient is not None:
        return page.patient.identifier
    if page.reserve_id is not None:
        return Identifier(IdSystem.DOWNTIME_RESERVE, page.reserve_id)
    return None

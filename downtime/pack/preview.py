"""A form preview: a fictional patient's pages, signed with a throwaway key.

Nothing is recorded and the key is thrown away, so a printed preview that reaches a scanner
is set aside as ``unknown-key`` rather than filed to anyone.
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, date, datetime, time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from downtime import codes
from downtime.codes import serials
from downtime.forms import FormDef
from downtime.forms.layout import labels
from downtime.model import Census, Identifier, IdSystem, MedicationOrder, Patient
from downtime.pack import PackContext, page_head, page_patient, plan_pack
from downtime.pack.render import PackRenderer
from downtime.settings import Settings, SiteConfig

TOLVAN = Identifier(IdSystem.PERSONNUMMER, "191212121212")


def sample_census() -> Census:
    """One fictional patient (Skatteverket's test identity) with typical orders."""
    patient = Patient(
        identifier=TOLVAN,
        family_name="Tolvansson",
        given_name="Tolvan",
        birth_date=date(1912, 12, 12),
        sex="male",
        ward="MED42",
        bed="3",
        encounter_id="E-2026-0001",
        admitted_at=datetime(2026, 11, 20, 14, 5, tzinfo=UTC),
        allergies=("Penicillin",),
        source_line=2,
    )
    rows = [
        ("O-1", "Paracetamol 500 mg tablett", "1 g", "PO", "1×4", (6, 12, 18, 22), False),
        ("O-2", "Furosemid 10 mg/ml injektion", "40 mg", "IV", "1×2", (8, 14), False),
        ("O-3", "Enoxaparin 40 mg/0,4 ml", "40 mg", "SC", "1×1", (20,), False),
        ("O-4", "Morfin 10 mg/ml", "2,5 mg", "SC", "vid behov", (), True),
    ]
    orders = tuple(
        MedicationOrder(
            TOLVAN, oid, med, dose, route, freq, tuple(time(h) for h in hours), prn, None
        )
        for oid, med, dose, route, freq, hours, prn in rows
    )
    return Census((patient,), orders, source="preview", data_as_of=datetime.now(UTC))


def render_preview(form: FormDef, lang: str, forms: dict[str, FormDef]) -> bytes:
    census = sample_census()
    patient_forms = (form.id,) if form.subject == "patient" else ()
    settings = Settings(home=Path(), config=SiteConfig(lang=lang, patient_forms=patient_forms))
    now = datetime.now(UTC).replace(microsecond=0)
    ctx = PackContext(
        pack_id=codes.new_pack_id(),
        site=settings.config.site,
        ward="MED42",
        lang=lang,
        tz=settings.tz,
        issued_at=now,
        data_as_of=now,
        valid_until=now,
    )
    reserve = [serials.new_reserve_id()] if form.subject == "admission" else []
    plan = plan_pack(census, ctx, {**forms, form.id: form}, settings, reserve_ids=reserve)
    key = Ed25519PrivateKey.generate()
    buf = io.BytesIO()
    renderer = PackRenderer(buf, lang=lang, title=f"downtime preview {form.id}")
    marker = labels(lang)["preview"]
    for page in plan.pages:
        if page.form.id != form.id:
            continue
        uid = codes.new_page_uid()
        code = codes.PageCode(
            page_uid=uid,
            form_code=form.code,
            form_version=form.version,
            page=page.layout.page,
            page_count=page.layout.page_count,
            issued_at=now,
            pack_id=ctx.pack_id,
            patient=page_patient(page),
            encounter=page.patient.encounter_id if page.patient else "",
        )
        head = page_head(page, ctx, serials.serial_for_page(uid), codes.encode(code, key))
        renderer.page(replace(head, title=f"{head.title} – {marker}"), page.layout)
    renderer.close()
    return buf.getvalue()

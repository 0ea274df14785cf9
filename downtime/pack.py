"""A ward's downtime pack: census + forms → one signed PDF, its manifest, and ledger rows.

Order of work, so that nothing printable exists that the ledger does not know:

1. plan every page (pure: which forms, which rows, which time slots) and refuse text the
   font cannot print;
2. give each page a random uid and the serial derived from it (unique in the ledger);
3. sign each page's code and draw the pages into a private temporary PDF;
4. write the manifest beside it, record the pack, its pages and the audit events in one ledger
   transaction, and only then move the PDF and manifest to their final names.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from downtime import codes, files, fonts, serials
from downtime.cover import CoverInput, CoverRow, layout_cover
from downtime.errors import CensusError, ConfigError, Problem
from downtime.forms import FormDef
from downtime.keys import KeyStore
from downtime.layout import PageLayout, labels, layout_form
from downtime.ledger import AuditEvent, IssuedPage, Ledger, PackRecord
from downtime.manifest import build_manifest, manifest_bytes
from downtime.model import Census, Identifier, IdSystem, MedicationOrder, Patient, SkippedRow
from downtime.render import PackRenderer, PageHead
from downtime.settings import Settings


@dataclass(frozen=True)
class PlannedPage:
    form: FormDef
    layout: PageLayout
    patient: Patient | None = None  # None on the cover sheet and admission forms
    reserve_id: str | None = None  # admission forms


@dataclass(frozen=True)
class PackPlan:
    ward: str
    patients: tuple[Patient, ...]
    orders: tuple[MedicationOrder, ...]
    pages: tuple[PlannedPage, ...]  # in print order: cover first
    reserve_ids: tuple[str, ...]
    skipped: tuple[SkippedRow, ...]


@dataclass(frozen=True)
class PackResult:
    pack_id: str
    ward: str
    pdf: Path
    manifest: Path
    pages: int
    patients: int
    admission_forms: int
    superseded: tuple[str, ...]
    skipped: tuple[SkippedRow, ...] = field(default=())


# --------------------------------------------------------------------------------------------
# Planning (pure)


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
    window = ctx.issued_at.astimezone(ctx.tz).replace(minute=0, second=0, microsecond=0)
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
            what = f"column {column}: the form font cannot print {chars}"
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
            yield column, ", ".join(str(m) for m in missing)
    missing = fonts.unprintable(p.identifier.display(), (fonts.MONO,))
    if missing:
        yield "patient_id", ", ".join(str(m) for m in missing)


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
    )
    return [PlannedPage(cover, layout) for layout in layout_cover(data)]


# --------------------------------------------------------------------------------------------
# Heads: what each page says about whose it is


@dataclass(frozen=True)
class PackContext:
    pack_id: str
    site: str
    ward: str
    lang: str
    tz: ZoneInfo
    issued_at: datetime
    data_as_of: datetime
    valid_until: datetime

    def local(self, when: datetime) -> str:
        return when.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")


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


# --------------------------------------------------------------------------------------------
# Making the pack (the edge: keys, ledger, files)


@dataclass(frozen=True)
class PackJob:
    """Everything needed to draw one pack, picklable so another process can do it."""

    ctx: PackContext
    plan: PackPlan
    uids: tuple[str, ...]
    key_id: str
    private_key: bytes  # raw Ed25519 private key; never written anywhere by the job
    temp_pdf: Path  # a private (0600) temporary file beside the final PDF
    encoder: str


@dataclass(frozen=True)
class PreparedPack:
    job: PackJob
    out_pdf: Path
    census_source: str
    data_as_of: datetime | None


@dataclass(frozen=True)
class DrawnPack:
    issued: tuple[IssuedPage, ...]
    pdf_sha256: str


def prepare_pack(
    census: Census,
    ward: str,
    out_pdf: Path,
    *,
    settings: Settings,
    forms: Mapping[str, FormDef],
    keys: KeyStore,
    ledger: Ledger,
    issued_at: datetime,
    skip_invalid: bool = False,
    taken_serials: set[str] | None = None,
) -> PreparedPack:
    """Plan a pack and reserve its identities; nothing is printed or recorded yet.

    ``taken_serials`` collects the serials of packs prepared in the same run, so that two
    packs not yet in the ledger never share one.
    """
    config = settings.config
    issued_at = issued_at.replace(microsecond=0)
    key_id, private_key = keys.signing_key()
    ctx = PackContext(
        pack_id=codes.new_pack_id(),
        site=config.site,
        ward=ward,
        lang=config.lang,
        tz=settings.tz,
        issued_at=issued_at,
        data_as_of=census.data_as_of or issued_at,
        valid_until=issued_at + timedelta(hours=config.validity_hours),
    )
    reserve_ids = _fresh(ledger, (serials.new_reserve_id() for _ in range(config.admission_forms)))
    plan = plan_pack(
        census, ctx, forms, settings, reserve_ids=reserve_ids, skip_invalid=skip_invalid
    )
    uids = _page_uids(ledger, len(plan.pages), set() if taken_serials is None else taken_serials)
    out_pdf.parent.mkdir(parents=True, exist_ok=True)
    job = PackJob(
        ctx=ctx,
        plan=plan,
        uids=tuple(uids),
        key_id=key_id,
        private_key=private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()),
        temp_pdf=files.new_temp(out_pdf),
        encoder=config.qr_encoder,
    )
    return PreparedPack(job, out_pdf, Path(census.source).name, census.data_as_of)


def draw_pack(job: PackJob) -> DrawnPack:
    """Sign every page's code and draw the pack into ``job.temp_pdf``."""
    private_key = Ed25519PrivateKey.from_private_bytes(job.private_key)
    issued: list[IssuedPage] = []
    with job.temp_pdf.open("wb") as handle:
        renderer = PackRenderer(
            handle,
            lang=job.ctx.lang,
            title=f"downtime pack {job.ctx.site} {job.ctx.ward}",
            encoder=job.encoder,
        )
        for n, (page, uid) in enumerate(zip(job.plan.pages, job.uids, strict=True), start=1):
            issued.append(_issue(page, uid, n, job.ctx, job.key_id, private_key, renderer))
        renderer.close()
    digest = hashlib.sha256(job.temp_pdf.read_bytes()).hexdigest()
    return DrawnPack(tuple(issued), digest)


def record_pack(
    prepared: PreparedPack, drawn: DrawnPack, *, settings: Settings, ledger: Ledger
) -> PackResult:
    """Record the pack in the ledger, then give the PDF and manifest their final names."""
    job, out_pdf = prepared.job, prepared.out_pdf
    ctx, plan = job.ctx, job.plan
    manifest_path = out_pdf.with_name(out_pdf.stem + ".manifest.json")
    record = PackRecord(
        pack_id=ctx.pack_id,
        site=ctx.site,
        ward=ctx.ward,
        issued_at=ctx.issued_at.astimezone(ctx.tz),
        data_as_of=prepared.data_as_of,
        valid_until=ctx.valid_until.astimezone(ctx.tz),
        lang=ctx.lang,
        census_source=prepared.census_source,
        issued_by=settings.operator,
        station=settings.station,
        key_id=job.key_id,
        pdf_name=out_pdf.name,
        pdf_sha256=drawn.pdf_sha256,
        page_count=len(drawn.issued),
    )
    superseded = ledger.record_pack(
        record,
        drawn.issued,
        plan.patients,
        plan.orders,
        plan.reserve_ids,
        _audit_events(plan, ctx, out_pdf.name),
        actor=settings.operator,
        station=settings.station,
    )
    files.write_atomic(manifest_path, manifest_bytes(build_manifest(record, drawn.issued)))
    files.commit(job.temp_pdf, out_pdf)
    return PackResult(
        pack_id=ctx.pack_id,
        ward=ctx.ward,
        pdf=out_pdf,
        manifest=manifest_path,
        pages=len(drawn.issued),
        patients=len(plan.patients),
        admission_forms=len(plan.reserve_ids),
        superseded=tuple(superseded),
        skipped=plan.skipped,
    )


def make_packs(
    prepared: Sequence[PreparedPack],
    *,
    settings: Settings,
    ledger: Ledger,
    jobs: int = 1,
) -> list[PackResult]:
    """Draw prepared packs (in ``jobs`` processes when there are several) and record them.

    Temporary files of packs that were not recorded are removed, whatever happens.
    """
    try:
        if jobs > 1 and len(prepared) > 1:
            with ProcessPoolExecutor(max_workers=min(jobs, len(prepared))) as pool:
                # each pack is recorded as soon as it is drawn, while the others draw on
                drawn = pool.map(draw_pack, [p.job for p in prepared])
                return [
                    record_pack(p, d, settings=settings, ledger=ledger)
                    for p, d in zip(prepared, drawn, strict=True)
                ]
        return [
            record_pack(p, draw_pack(p.job), settings=settings, ledger=ledger) for p in prepared
        ]
    finally:
        for p in prepared:
            p.job.temp_pdf.unlink(missing_ok=True)


def _issue(
    page: PlannedPage,
    uid: str,
    pdf_page: int,
    ctx: PackContext,
    key_id: str,
    private_key: Ed25519PrivateKey,
    renderer: PackRenderer,
) -> IssuedPage:
    patient = page_patient(page)
    encounter = page.patient.encounter_id if page.patient is not None else ""
    layout = page.layout
    code = codes.PageCode(
        page_uid=uid,
        form_code=page.form.code,
        form_version=page.form.version,
        page=layout.page,
        page_count=layout.page_count,
        issued_at=ctx.issued_at.astimezone(UTC),
        pack_id=ctx.pack_id,
        patient=patient,
        encounter=encounter,
    )
    text = codes.encode(code, private_key)
    serial = serials.serial_for_page(uid)
    renderer.page(page_head(page, ctx, serial, text), layout)
    return IssuedPage(
        page_uid=uid,
        serial=serial,
        pdf_page=pdf_page,
        form=page.form.id,
        form_code=page.form.code,
        form_version=page.form.version,
        page_no=layout.page,
        page_count=layout.page_count,
        patient=patient,
        encounter=encounter,
        key_id=key_id,
        issued_at=ctx.issued_at,
        fields=layout.fields,
    )


def _page_uids(ledger: Ledger, count: int, taken: set[str]) -> list[str]:
    """Random page uids whose serials are unused in the ledger and in ``taken`` (updated)."""
    uids: list[str] = []
    while len(uids) < count:
        batch = [codes.new_page_uid() for _ in range(count - len(uids))]
        by_serial = {serials.serial_for_page(u): u for u in batch}
        clash = ledger.existing_serials(by_serial) | taken
        for serial, uid in by_serial.items():
            if serial not in clash:
                uids.append(uid)
                taken.add(serial)
    return uids


def _fresh(ledger: Ledger, candidates: Iterable[str]) -> tuple[str, ...]:
    wanted = list(candidates)
    rows = ledger.query(
        f"SELECT reserve_id FROM reserve_ids WHERE reserve_id IN ({','.join('?' * len(wanted))})",
        wanted,
    )
    used = {r["reserve_id"] for r in rows}
    fresh = [r for r in wanted if r not in used]
    while len(fresh) < len(wanted):  # a collision among 21**10 ids: draw again
        fresh.extend(_fresh(ledger, [serials.new_reserve_id()]))
    return tuple(fresh)


def _audit_events(plan: PackPlan, ctx: PackContext, pdf_name: str) -> list[AuditEvent]:
    """One event per patient whose pages were printed (who, what, care unit, which patient)."""
    per_patient: dict[Identifier, list[str]] = {}
    for page in plan.pages:
        if page.patient is not None and page.layout.page == 1:
            per_patient.setdefault(page.patient.identifier, []).append(
                f"{page.form.id}:{page.layout.page_count}"
            )
    events = [
        AuditEvent(
            action="pack.print",
            detail=" ".join(forms),
            care_unit=ctx.ward,
            patient=patient,
            object_type="pack",
            object_id=ctx.pack_id,
        )
        for patient, forms in per_patient.items()
    ]
    events.append(
        AuditEvent(
            action="pack.issue",
            detail=f"{pdf_name}: {len(plan.pages)} pages, {len(plan.reserve_ids)} admission forms",
            care_unit=ctx.ward,
            object_type="pack",
            object_id=ctx.pack_id,
        )
    )
    return events


__all__ = [
    "PackPlan",
    "PackResult",
    "make_packs",
    "plan_pack",
    "prepare_pack",
]

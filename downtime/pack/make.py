"""Making the pack (the edge: keys, ledger, files): reserve its identities, sign and draw its
pages, record it, and only then give the PDF and manifest their final names."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from downtime import codes, files
from downtime.codes import serials
from downtime.codes.keys import KeyStore
from downtime.forms import FormDef
from downtime.ledger import AuditEvent, IssuedPage, Ledger, PackRecord
from downtime.ledger.packs import Continuation, used_reserve_ids
from downtime.ledger.packs import record_pack as record_pack_rows
from downtime.ledger.pages import existing_serials
from downtime.model import Census, Identifier
from downtime.pack.heads import page_head, page_patient
from downtime.pack.manifest import build_manifest, manifest_bytes, sign_manifest
from downtime.pack.model import PackContext, PackPlan, PackResult, PlannedPage
from downtime.pack.plan import plan_pack
from downtime.pack.render import PackRenderer
from downtime.settings import Settings


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
    continues: Continuation | None = None


@dataclass(frozen=True)
class DrawnPack:
    issued: tuple[IssuedPage, ...]
    pdf_sha256: str
    codes: tuple[str, ...] = ()  # each page's signed page code, as printed
    beds: tuple[str, ...] = ()  # each page's patient's bed ('' if none)


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
    continues: Continuation | None = None,
) -> PreparedPack:
    """Plan a pack and reserve its identities; nothing is printed or recorded yet.

    ``continues``: a continuation pack, of that pack, its administration record from that
    window on (it supersedes no pack).

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
        valid_until=_valid_until(issued_at, config.validity_hours, continues),
        continues=continues.continues if continues is not None else None,
        mar_from=continues.mar_from if continues is not None else None,
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
    return PreparedPack(job, out_pdf, Path(census.source).name, census.data_as_of, continues)


def draw_pack(job: PackJob) -> DrawnPack:
    """Sign every page's code and draw the pack into ``job.temp_pdf``."""
    private_key = Ed25519PrivateKey.from_private_bytes(job.private_key)
    issued: list[IssuedPage] = []
    texts: list[str] = []
    with job.temp_pdf.open("wb") as handle:
        renderer = PackRenderer(
            handle,
            lang=job.ctx.lang,
            title=f"downtime pack {job.ctx.site} {job.ctx.ward}",
            encoder=job.encoder,
        )
        for n, (page, uid) in enumerate(zip(job.plan.pages, job.uids, strict=True), start=1):
            done, text = _issue(page, uid, n, job.ctx, job.key_id, private_key, renderer)
            issued.append(done)
            texts.append(text)
        renderer.close()
    digest = hashlib.sha256(job.temp_pdf.read_bytes()).hexdigest()
    beds = tuple((p.patient.bed or "") if p.patient is not None else "" for p in job.plan.pages)
    return DrawnPack(tuple(issued), digest, tuple(texts), beds)


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
    superseded = record_pack_rows(
        ledger,
        record,
        drawn.issued,
        plan.patients,
        plan.orders,
        plan.reserve_ids,
        _audit_events(plan, ctx, out_pdf.name),
        actor=settings.operator,
        station=settings.station,
        continues=prepared.continues,
    )
    document = build_manifest(record, drawn.issued, drawn.codes, drawn.beds, prepared.continues)
    signed = sign_manifest(document, Ed25519PrivateKey.from_private_bytes(job.private_key))
    files.write_atomic(manifest_path, manifest_bytes(signed))
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
        ahead=prepared.continues is not None and prepared.continues.ahead,
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
) -> tuple[IssuedPage, str]:
    """The page as issued, and its signed code."""
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
    issued = IssuedPage(
        page_uid=uid,
        pack_id=ctx.pack_id,
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
    return issued, text


def _page_uids(ledger: Ledger, count: int, taken: set[str]) -> list[str]:
    """Random page uids whose serials are unused in the ledger and in ``taken`` (updated)."""
    uids: list[str] = []
    while len(uids) < count:
        batch = [codes.new_page_uid() for _ in range(count - len(uids))]
        by_serial = {serials.serial_for_page(u): u for u in batch}
        clash = existing_serials(ledger, list(by_serial)) | taken
        for serial, uid in by_serial.items():
            if serial not in clash:
                uids.append(uid)
                taken.add(serial)
    return uids


def _fresh(ledger: Ledger, candidates: Iterable[str]) -> tuple[str, ...]:
    wanted = list(candidates)
    used = used_reserve_ids(ledger, wanted)
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


def _valid_until(issued_at: datetime, hours: int, continues: Continuation | None) -> datetime:
    """Valid ``hours`` from issue; a continuation at least until its window's end (it is
    printed ahead of the hours it covers)."""
    until = issued_at + timedelta(hours=hours)
    if continues is not None:
        until = max(until, continues.mar_from + timedelta(hours=continues.mar_hours))
    return until

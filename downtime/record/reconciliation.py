"""Reconciliation: returned forms → FHIR transaction bundles → an outbox folder or a server.

Idempotent by construction:

* every resource has a deterministic identifier and is a conditional create (downtime.record.fhir);
* a posting row is written to the ledger *before* a bundle is written or sent, and every
  attempt is appended after;
* a form whose content has not changed since it was delivered is skipped;
* after a lost response (a timeout, a dropped connection) the resources are searched for by
  identifier before anything is sent again;
* a form whose content changed after delivery (a page returned late, a recapture) is sent as a
  revision: its already-delivered resources are updated with ``If-Match`` on the version the
  server gave them, never silently overwritten.

Before posting to a server, what the record already holds is checked (an administration
documented for the same slot since recovery, an active order for the same drug, a patient
merged away); such items are held back as ``record-conflict`` for a person. The patient and
encounter a form refers to must be in the record (``unknown-in-record`` otherwise: nothing of
the form is posted, and nothing is created in their place). Nothing is ever discontinued by
the kit.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from downtime import files
from downtime.census.druglist import site_drug_list
from downtime.ledger import AuditEvent, Ledger
from downtime.ledger.packs import returned_pack_ids
from downtime.ledger.postings import (
    HeldFact,
    PostingPlan,
    begin_postings,
    delivered,
    posted_locations,
    record_deliveries,
)
from downtime.ledger.returns import IssuedForm, issued_forms
from downtime.ledger.store import Store
from downtime.model import Identifier
from downtime.record import fhir
from downtime.record.checks import CHECK_FAILED, find_record_conflicts
from downtime.record.client import RunStopped
from downtime.record.delivery import Delivery, Log, Target, deliver
from downtime.record.revisions import as_revision
from downtime.settings import Settings

BATCH_FORMS = 64  # forms recorded per ledger transaction (each commit is an fsync)
PROGRESS_S = 10.0  # seconds between progress lines on stderr


@dataclass(frozen=True)
class PlannedForm:
    """A dry run's plan for one form: what would be created, and what is held back."""

    ward: str
    patient: Identifier | None
    form: str
    resources: dict[str, int]  # resource type → how many (Patient, Encounter, Provenance aside)
    held: tuple[fhir.HeldItem, ...]


@dataclass
class Summary:
    forms: int = 0  # forms with returned pages looked at
    unused: int = 0  # returned blank: nothing to post
    unchanged: int = 0  # delivered before, nothing new
    bundles: int = 0  # bundles written or posted now
    resources: int = 0
    failed: int = 0
    held: int = 0
    record_conflicts: int = 0
    check_failed: int = 0  # forms held whole: the record could not be checked
    retries: int = 0  # requests sent again (after a 429/503, or no answer to a search)
    stopped: str | None = None  # why the run stopped before the end (rerun later)
    plan: list[PlannedForm] = field(default_factory=list)  # the dry run's, per form

    @property
    def not_delivered(self) -> int:
        """Bundles that failed and forms held because the record could not be checked."""
        return self.failed + self.check_failed


def reconcile(
    ledger: Ledger,
    settings: Settings,
    target: Target,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    max_entries: int = 8,
    log: Log = lambda _: None,
) -> Summary:
    """Post every returned form that has not been delivered in its current state."""
    now = (now or datetime.now(UTC)).astimezone(settings.tz).replace(microsecond=0)
    ctx = fhir.PostingContext(
        now=now,
        enterer=settings.operator,
        station=settings.station,
        site=settings.config.site,
        max_entries=max_entries,
        encounter_system=settings.config.encounter_system,
        drugs=site_drug_list(settings),  # a bad list stops the run here, before anything
    )
    store = Store(settings.home, settings.store_dir)
    summary = Summary()
    if target.outbox is not None and not dry_run:
        files.remove_stale_temps(target.outbox)  # left by a run that was killed
    forms = _returned_forms(ledger)
    progress = _Progress(len(forms), summary, log)
    batch: list[_Work] = []
    try:
        for form in forms:
            summary.forms += 1
            work = _prepare(ledger, store, target, form, ctx, summary, dry_run=dry_run)
            if work is not None:
                batch.append(work)
            if len(batch) >= BATCH_FORMS:
                _send(ledger, settings, target, batch, summary, log)
                batch = []
            progress.tick()
        _send(ledger, settings, target, batch, summary, log)
    except RunStopped as stop:
        summary.stopped = stop.message
        log(f"stopped: {stop.message}")
    if target.client is not None:
        summary.retries = target.client.retries
    progress.done()
    return summary


class _Progress:
    """A line on stderr every ``PROGRESS_S`` seconds while forms are looked at and sent."""

    def __init__(self, total: int, summary: Summary, log: Log) -> None:
        self._total, self._summary, self._log = total, summary, log
        self._last = time.monotonic()

    def tick(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._last < PROGRESS_S:
            return
        self._last = time.monotonic()
        s = self._summary
        self._log(
            f"{s.forms}/{self._total} forms looked at; bundles: {s.bundles} delivered, "
            f"{s.failed} failed; forms held unchecked: {s.check_failed}"
        )

    def done(self) -> None:
        if self._total:
            self.tick(force=True)


@dataclass(frozen=True)
class _Work:
    form: IssuedForm
    source: str
    held: tuple[fhir.HeldItem, ...]
    bundles: tuple[tuple[str, dict[str, Any]], ...]  # (bundle key, bundle)


def _prepare(
    ledger: Ledger,
    store: Store,
    target: Target,
    form: IssuedForm,
    ctx: fhir.PostingContext,
    summary: Summary,
    *,
    dry_run: bool,
) -> _Work | None:
    """The bundles to deliver for one form; None when there is nothing to send."""
    source = source_hash(form)
    if delivered(ledger, form.form_key, source, target.name):
        summary.unchanged += 1
        return None
    built = fhir.form_bundles(form, _pdfs(store, form), ctx)
    if built.unused:
        summary.unused += 1
        return None
    bundles, conflicts = _check_record(target, form, built)
    held = (*built.held, *conflicts)
    summary.held += len(built.held)
    unchecked = sum(1 for h in conflicts if h.kind == CHECK_FAILED)
    summary.record_conflicts += len(conflicts) - unchecked
    summary.check_failed += unchecked
    if dry_run:
        summary.plan.append(_planned(form, bundles, held))
        return None
    earlier = posted_locations(ledger, form.form_key, target.name)
    bundles = as_revision(bundles, earlier, source, on_server=target.client is not None)
    where = _short(target.name)[:6]
    keys = [f"{_short(form.form_key)}:{source[:12]}:{where}:{i}" for i in range(len(bundles))]
    return _Work(form, source, held, tuple(zip(keys, bundles, strict=True)))


def _send(
    ledger: Ledger,
    settings: Settings,
    target: Target,
    batch: Sequence[_Work],
    summary: Summary,
    log: Log,
) -> None:
    """Record the batch's postings, deliver them, record what happened: two commits."""
    if not batch:
        return
    plans = [
        PostingPlan(
            work.form.form_key,
            work.source,
            tuple(HeldFact(h.item, h.kind, h.detail, h.sides) for h in work.held),
            tuple((key, len(bundle.get("entry", []))) for key, bundle in work.bundles),
        )
        for work in batch
    ]
    attempts = begin_postings(ledger, plans, target.name)
    results: list[tuple[_Work, list[Delivery]]] = []
    stopped: RunStopped | None = None
    for work in batch:
        delivered_now: list[Delivery] = []
        for key, bundle in work.bundles:
            if stopped is None:
                delivered_now.append(deliver(target, key, attempts[key], bundle, log))
                stopped = delivered_now[-1].stopped
        results.append((work, delivered_now))
    if target.outbox is not None:
        files.fsync_folder(target.outbox)
    # What was not sent (the run stopped) keeps its posting row without an attempt: the next
    # run looks for it by identifier before sending it.
    record_deliveries(
        ledger,
        [d.fact() for _, delivered_now in results for d in delivered_now],
        [_audit_event(work.form, target) for work, delivered_now in results if delivered_now],
        actor=settings.operator,
        station=settings.station,
    )
    for _work, delivered_now in results:
        for result in delivered_now:
            summary.bundles += result.ok
            summary.failed += not result.ok
            summary.resources += result.ok * result.entries
    if stopped is not None:
        raise stopped


def _returned_forms(ledger: Ledger) -> list[IssuedForm]:
    packs = returned_pack_ids(ledger)
    return [f for f in issued_forms(ledger, packs) if f.returned and f.patient is not None]


# --------------------------------------------------------------------------------------------
# What a form is, now


def source_hash(form: IssuedForm) -> str:
    """A digest of what was read from the form's returned pages and what people decided about
    it: unchanged ⇒ nothing to post."""
    parts = [
        [
            p.page_uid,
            p.capture_id,
            p.in_conflict,
            sorted((f, r.state, list(r.flags)) for f, r in p.readings.items()),
        ]
        for p in form.returned
    ]
    decided = sorted((item, d.decision_id) for item, d in form.decisions.items())
    return hashlib.sha256(json.dumps([form.form_key, parts, decided]).encode()).hexdigest()


def pages_pdf(store: Store, form: IssuedForm, *, only: int | None = None) -> bytes:
    """The returned pages' registered images as one A4 PDF. The stored JPEGs are embedded as
    they are (PDFium, no re-encoding): fast, and the record shows exactly what was read."""
    import pypdfium2 as pdfium

    width, height = 595.28, 841.89  # A4 in points
    pdf = pdfium.PdfDocument.new()
    try:
        for page in form.returned:
            if only is not None and page.page_no != only:
                continue
            sheet = pdf.new_page(width, height)
            image = pdfium.PdfImage.new(pdf)
            image.load_jpeg(str(store.path(page.registered_as)), inline=True)
            image.set_matrix(pdfium.PdfMatrix().scale(width, height))
            sheet.insert_obj(image)
            sheet.gen_content()
            sheet.close()
        buffer = io.BytesIO()
        pdf.save(buffer)
        return buffer.getvalue()
    finally:
        pdf.close()


# A PDF larger than this goes into one attachment per page instead (Medplum refuses strings
# over 1 MB; base64 makes 4 characters of 3 bytes).
MAX_ATTACHMENT_BYTES = 700_000


def _pdfs(store: Store, form: IssuedForm) -> bytes | list[bytes]:
    whole = pages_pdf(store, form)
    if len(whole) <= MAX_ATTACHMENT_BYTES or len(form.returned) == 1:
        return whole
    return [pages_pdf(store, form, only=page.page_no) for page in form.returned]


def _short(form_key: str) -> str:
    return hashlib.sha256(form_key.encode()).hexdigest()[:16]


def _audit_event(form: IssuedForm, target: Target) -> AuditEvent:
    return AuditEvent(
        "reconcile.form",
        f"{form.form} ({len(form.returned)} of {form.page_count} pages) -> {target.name}",
        care_unit=form.ward,
        patient=form.patient.identifier if form.patient else None,
        object_type="form",
        object_id=_short(form.form_key),
    )


# --------------------------------------------------------------------------------------------
# Conflicts with the record


def _check_record(
    target: Target, form: IssuedForm, built: fhir.FormBundles
) -> tuple[list[dict[str, Any]], list[fhir.HeldItem]]:
    """Hold back what the record already holds in another form, or a form whose patient or
    encounter it does not hold (server target only; the outbox's receiver resolves them)."""
    if target.client is None or form.patient is None:
        return list(built.bundles), []
    labels = dict(built.labels)
    return find_record_conflicts(target.client, form, built.bundles, labels, built.references)


def _planned(
    form: IssuedForm, bundles: Sequence[dict[str, Any]], held: Sequence[fhir.HeldItem]
) -> PlannedForm:
    counts: dict[str, int] = {}
    for bundle in bundles:
        for entry in bundle.get("entry", []):
            rtype = entry["resource"]["resourceType"]
            if rtype not in ("Patient", "Encounter", "Provenance"):
                counts[rtype] = counts.get(rtype, 0) + 1
    patient = form.patient.identifier if form.patient else None
    return PlannedForm(form.ward, patient, form.form, dict(sorted(counts.items())), tuple(held))

"""Reconciliation: returned forms → FHIR transaction bundles → an outbox folder or a server.

Idempotent by construction:

* every resource has a deterministic identifier and is a conditional create (downtime.fhir);
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
merged away); such items are held back as ``record-conflict`` for a person. Nothing is ever
discontinued by the kit.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from downtime import files
from downtime.ledger import AuditEvent, Ledger, append_audit
from downtime.ledger.returns import IssuedForm, issued_forms
from downtime.ledger.store import Store
from downtime.record import fhir
from downtime.record.client import FhirClient, FhirError
from downtime.settings import Settings

Log = Callable[[str], None]
BATCH_FORMS = 64  # forms recorded per ledger transaction (each commit is an fsync)


@dataclass(frozen=True)
class Target:
    """Where bundles go: an outbox folder (the default) or a FHIR server."""

    outbox: Path | None = None
    client: FhirClient | None = None

    @property
    def name(self) -> str:
        return self.client.base_url if self.client is not None else "outbox"


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
    retries: int = 0
    lines: list[str] = field(default_factory=list)  # the dry run's plan, per patient


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
    )
    store = Store(settings.home)
    summary = Summary()
    batch: list[_Work] = []
    for form in _returned_forms(ledger):
        summary.forms += 1
        work = _prepare(ledger, store, target, form, ctx, summary, dry_run=dry_run)
        if work is not None:
            batch.append(work)
        if len(batch) >= BATCH_FORMS:
            _send(ledger, settings, target, batch, summary, log)
            batch = []
    _send(ledger, settings, target, batch, summary, log)
    if target.client is not None:
        summary.retries = target.client.retries
    return summary


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
    if _delivered(ledger, form.form_key, source, target):
        summary.unchanged += 1
        return None
    built = fhir.form_bundles(form, _pdfs(store, form), ctx)
    if built.unused:
        summary.unused += 1
        return None
    bundles, conflicts = _check_record(target, form, list(built.bundles), dict(built.labels))
    held = (*built.held, *conflicts)
    summary.held += len(built.held)
    summary.record_conflicts += len(conflicts)
    if dry_run:
        summary.lines.append(_plan_line(form, bundles, held))
        return None
    bundles = _as_revision(ledger, form.form_key, target, source, bundles)
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
    with ledger.transaction() as conn:
        attempts = {k: n for work in batch for k, n in _begin(conn, work, target).items()}
    results = [
        (work, [_deliver(target, key, attempts[key], bundle, log) for key, bundle in work.bundles])
        for work in batch
    ]
    if target.outbox is not None:
        files.fsync_folder(target.outbox)
    with ledger.transaction() as conn:
        for work, delivered in results:
            _finish(conn, settings, work.form, target, delivered)
            for result, (_, bundle) in zip(delivered, work.bundles, strict=True):
                summary.bundles += result.ok
                summary.failed += not result.ok
                summary.resources += result.ok * len(bundle.get("entry", []))


def _returned_forms(ledger: Ledger) -> list[IssuedForm]:
    packs = [
        r["pack_id"]
        for r in ledger.query(
            "SELECT DISTINCT p.pack_id FROM captures c JOIN pages p USING (page_uid)"
        )
    ]
    return [f for f in issued_forms(ledger, packs) if f.returned and f.patient is not None]


# --------------------------------------------------------------------------------------------
# What a form is, now


def source_hash(form: IssuedForm) -> str:
    """A digest of what was read from the form's returned pages: unchanged ⇒ nothing to post."""
    parts = [
        [
            p.page_uid,
            p.capture_id,
            p.in_conflict,
            sorted((f, r.state, list(r.flags)) for f, r in p.readings.items()),
        ]
        for p in form.returned
    ]
    return hashlib.sha256(json.dumps([form.form_key, parts]).encode()).hexdigest()


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


# --------------------------------------------------------------------------------------------
# The ledger's bookkeeping


def _delivered(ledger: Ledger, form_key: str, source: str, target: Target) -> bool:
    rows = ledger.query(
        "SELECT p.bundle_key, (SELECT outcome FROM posting_attempts a WHERE a.bundle_key ="
        " p.bundle_key ORDER BY attempt DESC LIMIT 1) AS outcome FROM postings p"
        " WHERE p.form_key = ? AND p.content_sha256 = ? AND p.target = ?",
        (form_key, source, target.name),
    )
    return bool(rows) and all(r["outcome"] in ("posted", "written") for r in rows)


@dataclass
class _Delivery:
    """What happened to one bundle, recorded after it left (one transaction per form)."""

    key: str
    attempts: list[tuple[int, str, int | None, str]] = field(default_factory=list)
    found: list[tuple[str, str, str | None]] = field(default_factory=list)
    ok: bool = False

    def attempt(self, number: int, outcome: str, status: int | None, detail: str) -> None:
        self.attempts.append((number, outcome, status, detail[:1000]))

    def delivered(
        self,
        number: int,
        outcome: str,
        status: int | None,
        detail: str,
        found: Sequence[tuple[str, str, str | None]],
    ) -> _Delivery:
        self.found = list(found)
        self.attempt(number, outcome, status, detail)
        self.ok = True
        return self


def _begin(conn: sqlite3.Connection, work: _Work, target: Target) -> dict[str, int]:
    """Before anything leaves: the held items and a posting row per bundle. Returns each
    bundle's next attempt number (1 for a new posting; more after a crash or a failure)."""
    now = datetime.now(UTC).isoformat()
    key = work.form.form_key
    for h in work.held:
        conn.execute(
            "INSERT INTO held_items SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM"
            " held_items WHERE form_key = ? AND item = ? AND kind = ? AND detail = ?)",
            (key, h.item, h.kind, h.detail, now, key, h.item, h.kind, h.detail),
        )
    numbers = {}
    for bundle_key, bundle in work.bundles:
        cur = conn.execute(
            "INSERT OR IGNORE INTO postings VALUES (?, ?, ?, ?, ?, ?)",
            (bundle_key, key, work.source, target.name, len(bundle.get("entry", [])), now),
        )
        row = conn.execute(
            "SELECT coalesce(max(attempt), 0) FROM posting_attempts WHERE bundle_key = ?",
            (bundle_key,),
        ).fetchone()
        # A posting row already there, even without attempts, means it may have been sent
        # before a crash: its next attempt is at least 2, which searches before sending.
        numbers[bundle_key] = max(int(row[0]) + 1, 1 if cur.rowcount else 2)
    return numbers


def _finish(
    conn: sqlite3.Connection,
    settings: Settings,
    form: IssuedForm,
    target: Target,
    results: Sequence[_Delivery],
) -> None:
    now = datetime.now(UTC).isoformat()
    for r in results:
        conn.executemany(
            "INSERT INTO posting_attempts VALUES (?, ?, ?, ?, ?, ?)",
            [(r.key, n, now, outcome, status, detail) for n, outcome, status, detail in r.attempts],
        )
        conn.executemany(
            "INSERT OR REPLACE INTO posted_resources VALUES (?, ?, ?, ?)",
            [(r.key, rtype, ident, location) for rtype, ident, location in r.found],
        )
    event = AuditEvent(
        "reconcile.form",
        f"{form.form} ({len(form.returned)} of {form.page_count} pages) -> {target.name}",
        care_unit=form.ward,
        patient=form.patient.identifier if form.patient else None,
        object_type="form",
        object_id=_short(form.form_key),
    )
    append_audit(conn, [event], actor=settings.operator, station=settings.station)


# --------------------------------------------------------------------------------------------
# Delivery


def _deliver(target: Target, key: str, attempt: int, bundle: dict[str, Any], log: Log) -> _Delivery:
    result = _Delivery(key)
    if target.client is None:
        assert target.outbox is not None
        files.private_folder(target.outbox)
        path = target.outbox / f"{_safe(key)}.json"
        files.write_atomic(path, _bundle_bytes(bundle), sync_folder=False)  # folder: per batch
        written = [(rtype, ident, None) for _, rtype, ident in _identified(bundle)]
        return result.delivered(attempt, "written", None, f"{_safe(key)}.json", written)
    client = target.client
    if attempt > 1:
        # Sent before, no outcome recorded (a crash): look before sending again.
        found = _search_all(client, bundle)
        if found is not None:
            return result.delivered(
                attempt, "posted", None, "found by identifier before resending", found
            )
    for _ in range(2):  # a lost response: look, then send again once
        try:
            reply = client.transaction(bundle)
        except FhirError as e:
            if not e.lost:
                result.attempt(attempt, "failed", e.status, e.message)
                log(f"failed: {e.message}")
                return result
            result.attempt(attempt, "retry", None, f"response lost: {e.message}")
            attempt += 1
            found = _search_all(client, bundle)
            if found is not None:
                return result.delivered(attempt, "posted", None, "found by identifier", found)
            continue
        found = _locations(bundle, reply.body)
        return result.delivered(attempt, "posted", reply.status, "transaction accepted", found)
    result.attempt(attempt, "failed", None, "no response, twice")
    return result


def _identifier(resource: dict[str, Any]) -> str | None:
    """``system|value`` of a resource's first identifier (Provenance has none in R4)."""
    ids = resource.get("identifier")
    first = ids[0] if isinstance(ids, list) and ids else None
    return f"{first['system']}|{first['value']}" if first else None


def _identified(bundle: dict[str, Any]) -> list[tuple[int, str, str]]:
    """(entry index, resource type, identifier) of every entry with an identifier."""
    out = []
    for i, entry in enumerate(bundle.get("entry", [])):
        ident = _identifier(entry["resource"])
        if ident is not None:
            out.append((i, entry["resource"]["resourceType"], ident))
    return out


def _search_all(
    client: FhirClient, bundle: dict[str, Any]
) -> list[tuple[str, str, str | None]] | None:
    """Each resource of the bundle found on the server by identifier, or None if any is not."""
    found: list[tuple[str, str, str | None]] = []
    for _, rtype, ident in _identified(bundle):
        try:
            hits = client.search(rtype, {"identifier": ident})
        except FhirError:
            return None
        if not hits:
            return None
        version = hits[0].get("meta", {}).get("versionId", "")
        found.append((rtype, ident, f"{rtype}/{hits[0]['id']}/_history/{version}"))
    return found


def _locations(bundle: dict[str, Any], reply: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    answers = reply.get("entry", [])
    return [
        (rtype, ident, _location(answers[i]) if i < len(answers) else None)
        for i, rtype, ident in _identified(bundle)
    ]


def _location(answer: dict[str, Any]) -> str | None:
    """``Type/id/_history/version`` of a transaction answer. Medplum's ``location`` has no
    version: it is taken from ``etag`` or the resource returned (a revision needs it for
    ``If-Match``)."""
    response = answer.get("response", {})
    location: str | None = response.get("location")
    if not location or "/_history/" in location:
        return location
    etag = re.fullmatch(r'W/"([^"]+)"', response.get("etag") or "")
    version = etag[1] if etag else answer.get("resource", {}).get("meta", {}).get("versionId")
    return f"{location}/_history/{version}" if version else location


def _safe(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", key)


def _bundle_bytes(bundle: dict[str, Any]) -> bytes:
    return (json.dumps(bundle, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


# --------------------------------------------------------------------------------------------
# Revisions and conflicts with the record


def _as_revision(
    ledger: Ledger,
    form_key: str,
    target: Target,
    source: str,
    bundles: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """A form delivered before in an earlier state. On a server, resources delivered before
    become updates with ``If-Match`` on the version the server gave them. In the outbox, where
    no version is known, they become new resources (a revision suffix on the identifier) that
    say which one they replace: never an update that could overwrite silently."""
    rows = ledger.query(
        "SELECT r.identifier, r.location FROM posted_resources r JOIN postings p"
        " USING (bundle_key) WHERE p.form_key = ? AND p.target = ?",
        (form_key, target.name),
    )
    earlier = {r["identifier"]: r["location"] for r in rows}
    if not earlier:
        return bundles
    out = []
    for bundle in bundles:
        entries = []
        for entry in bundle.get("entry", []):
            resource = entry["resource"]
            key = _identifier(resource)
            revised = resource["resourceType"] not in ("Patient", "Encounter")
            if key is not None and key in earlier and revised:
                if target.client is not None:
                    entry = _update_entry(entry, resource["resourceType"], key, earlier[key])
                else:
                    entry = _replacing_entry(entry, key, source)
            entries.append(entry)
        out.append({**bundle, "entry": entries})
    return out


def _replacing_entry(entry: dict[str, Any], ident: str, source: str) -> dict[str, Any]:
    """A new resource replacing the one delivered as ``ident`` (outbox revisions)."""
    system, value = ident.split("|", 1)
    new_value = f"{value}-r{source[:8]}"
    resource = {**entry["resource"], "identifier": [{"system": system, "value": new_value}]}
    if resource["resourceType"] == "DocumentReference":
        old = {"identifier": {"system": system, "value": value}}
        resource["relatesTo"] = [{"code": "replaces", "target": old}]
    request = {**entry["request"], "ifNoneExist": f"identifier={system}|{new_value}"}
    return {**entry, "resource": resource, "request": request}


def _update_entry(
    entry: dict[str, Any], rtype: str, ident: str, location: str | None
) -> dict[str, Any]:
    request: dict[str, Any] = {"method": "PUT", "url": f"{rtype}?identifier={ident}"}
    match = re.fullmatch(r"(\w+)/([^/]+)/_history/([^/]+)", location or "")
    if match:
        request = {"method": "PUT", "url": f"{match[1]}/{match[2]}", "ifMatch": f'W/"{match[3]}"'}
        entry = {**entry, "resource": {**entry["resource"], "id": match[2]}}
    return {**entry, "request": request}


def _check_record(
    target: Target, form: IssuedForm, bundles: list[dict[str, Any]], labels: dict[str, str]
) -> tuple[list[dict[str, Any]], list[fhir.HeldItem]]:
    """Hold back what the record already holds in another form (server target only)."""
    if target.client is None or form.patient is None:
        return bundles, []
    from downtime.record.checks import find_record_conflicts

    return find_record_conflicts(target.client, form, bundles, labels)


def _plan_line(
    form: IssuedForm, bundles: Sequence[dict[str, Any]], held: Sequence[fhir.HeldItem]
) -> str:
    counts: dict[str, int] = {}
    for bundle in bundles:
        for entry in bundle.get("entry", []):
            rtype = entry["resource"]["resourceType"]
            if rtype not in ("Patient", "Encounter", "Provenance"):
                counts[rtype] = counts.get(rtype, 0) + 1
    patient = form.patient.identifier.display() if form.patient else "-"
    made = ", ".join(f"{n} {t}" for t, n in sorted(counts.items())) or "nothing"
    line = f"{form.ward}\t{patient}\t{form.form}\t{made}"
    if held:
        line += "\theld: " + " | ".join(f"{h.item} ({h.kind}: {h.detail})" for h in held)
    return line

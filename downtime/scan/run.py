"""A scan run: input files → stored originals → pages processed in workers → ledger → records.

The main process owns the ledger and the store of originals; worker processes
(:mod:`downtime.scan.workers`, :mod:`downtime.scan.page`) identify, register and read the
pages. A page whose reading raises is set aside as ``worker-error``, one that crashes a worker
even when read alone as ``worker-crash``; the run goes on.

Idempotency keys on (file content hash, page index): the same file again adds nothing and its
pages are reported as ``duplicate``. Another capture of an already-returned page is compared
with the earlier captures: the same reading is linked to it (``duplicate``), a different one is
a ``conflict`` — both kept, for a person to decide.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from downtime.codes.keys import KeyStore
from downtime.forms import FormDef
from downtime.ledger import AuditEvent, Ledger, write_audit
from downtime.ledger import scans as scan_ledger
from downtime.ledger.store import Store
from downtime.model import Identifier
from downtime.scan import images
from downtime.scan.outcome import PageOutcome, PageTask, WorkerConfig
from downtime.scan.workers import outcomes as read_pages
from downtime.settings import Settings
from downtime.vocab import Reason, ScanStatus


@dataclass(frozen=True)
class ScanOptions:
    jobs: int = 1
    debug_dir: Path | None = None
    ocr: bool = True


@dataclass(frozen=True)
class PageRecord:
    """One line of ``downtime scan --json`` (contract; see ARCHITECTURE)."""

    source: str
    source_page: int
    status: ScanStatus
    reason: Reason | None = None
    page_uid: str | None = None
    form: str | None = None
    page: int | None = None
    patient: dict[str, str] | None = None
    rotation: int = 0
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    via: str | None = None
    residual_mm: float | None = None
    quarantine_item: int | None = None
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "source_page": self.source_page,
            "status": self.status,
            "reason": self.reason,
        }
        if self.page_uid is not None:
            out |= {"page_uid": self.page_uid, "form": self.form, "page": self.page}
            out["patient"] = self.patient
        out["rotation"] = self.rotation
        out["fields"] = self.fields
        for key in ("via", "residual_mm", "quarantine_item", "message"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass
class ScanSummary:
    run_id: str
    pages: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    skipped: list[images.Skipped] = field(default_factory=list)  # folder entries not read
    stopped: bool = False  # asked to stop: the pages after the last one recorded were not read

    def add(self, record: PageRecord) -> None:
        self.pages += 1
        self.by_status[record.status] = self.by_status.get(record.status, 0) + 1
        if record.status == ScanStatus.QUARANTINED and record.reason:
            reasons = self.quarantined_by_reason
            reasons[record.reason] = reasons.get(record.reason, 0) + 1


def run_scan(
    paths: Sequence[Path],
    *,
    settings: Settings,
    keys: KeyStore,
    ledger: Ledger,
    forms: Mapping[str, FormDef],
    options: ScanOptions,
    emit: Callable[[PageRecord], None],
    progress: Callable[[int, int], None] = lambda done, total: None,
    stop: Callable[[], bool] = lambda: False,
) -> ScanSummary:
    """Scan the given files and folders; every page is emitted as a record, in input order.

    ``stop`` is asked before each page is read: once it says yes, the pages being read are
    still recorded, the others are not read (``summary.stopped``), and the run ends.
    """
    started = datetime.now(UTC)
    inputs, skipped = images.list_inputs(paths)
    run_id = secrets.token_hex(8)
    summary = ScanSummary(run_id, skipped=skipped)
    store = Store(settings.home, settings.store_dir)
    store.remove_stale_temps()  # left by a run that was killed
    scan_ledger.start_run(ledger, run_id, settings.operator, settings.station, started)
    form_ids = {f.code: f.id for f in forms.values()}

    def done(record: PageRecord) -> None:
        summary.add(record)
        emit(record)

    slots: list[Slot] = []  # in input order
    seen: set[str] = set()  # the same bytes under two names in one run are read once
    for item in inputs:
        slots.extend(_file_slots(item, store, ledger, run_id, form_ids, settings, seen))
    tasks = [s for s in slots if isinstance(s, PageTask)]
    config = WorkerConfig(
        home=settings.home,
        ledger=settings.ledger_target,
        store_dir=settings.store_dir,
        public_keys=tuple(
            k.public_bytes(Encoding.Raw, PublicFormat.Raw) for k in keys.verification_keys()
        ),
        debug_dir=options.debug_dir,
        ocr=options.ocr,
    )
    outcomes = read_pages(tasks, config, options.jobs, stop)
    for n, slot in enumerate(slots, start=1):
        if isinstance(slot, PageRecord):
            done(slot)
            continue
        if isinstance(slot, SameFileInRun):
            done(_same_file_in_run(ledger, slot, settings, form_ids))
            continue
        outcome = next(outcomes, None) if isinstance(slot, PageTask) else slot
        if outcome is None:  # stopped: the pages after those being read were not read
            summary.stopped = True
            break
        done(_record(ledger, run_id, outcome, settings, form_ids))
        progress(n, len(slots))
    outcomes.close()
    summary.seconds = (datetime.now(UTC) - started).total_seconds()
    return summary


# --------------------------------------------------------------------------------------------
# Into the ledger, out as records


def _record(
    ledger: Ledger,
    run_id: str,
    outcome: PageOutcome,
    settings: Settings,
    form_ids: Mapping[int, str],
) -> PageRecord:
    result = scan_ledger.record_outcome(
        ledger, run_id, outcome.fact(), actor=settings.operator, station=settings.station
    )
    fields = {
        r.field_id: {"state": r.state, "score": round(r.score, 3)}
        | ({"flags": list(r.flags)} if r.flags else {})
        for r in outcome.readings
    }
    identified = outcome.status == ScanStatus.IDENTIFIED
    patient = outcome.patient
    return PageRecord(
        source=outcome.source,
        source_page=outcome.source_page,
        status=result.status,
        reason=outcome.reason,
        page_uid=outcome.page_uid,
        form=form_ids.get(outcome.form_code or 0) if identified else None,
        page=outcome.page if identified else None,
        patient=_patient_json(patient),
        rotation=outcome.rotation,
        fields=fields,
        via=outcome.via,
        residual_mm=outcome.residual_mm,
        quarantine_item=result.quarantine_item,
        message=outcome.message or None,
    )


@dataclass(frozen=True)
class SameFileInRun:
    """A page of a file whose bytes came earlier in this run under another name: reported
    when its first copy has been recorded, as a duplicate of what that copy turned out to be."""

    item: images.InputFile
    number: int


Slot = PageTask | PageOutcome | PageRecord | SameFileInRun


def _file_slots(
    item: images.InputFile,
    store: Store,
    ledger: Ledger,
    run_id: str,
    form_ids: Mapping[int, str],
    settings: Settings,
    seen: set[str],
) -> list[Slot]:
    """What to do with each page of one input file. The original is stored first.

    A page of a file scanned before adds nothing (``duplicate``, reason ``same-file``), unless
    it was set aside for a reason a rescan can cure: then it is read again.
    """
    try:
        sha, stored_as = store.put_file(item.path)
    except OSError:
        return [_unstored(item, "the file cannot be read: check that it exists and is readable")]
    if sha != item.sha256:
        return [_unstored(item, "the file changed while it was scanned: scan it again")]
    stored = replace(item, path=store.path(stored_as))
    scanned = scan_ledger.ScannedFile(item.sha256, item.size, item.kind, item.source)
    scan_ledger.record_file(ledger, run_id, scanned, stored_as)
    numbers, problems = images.page_numbers(stored)
    if sha in seen:
        return [SameFileInRun(item, n) for n in numbers or [p.source_page for p in problems]]
    seen.add(sha)
    slots: list[Slot] = []
    for number, problem in [(n, None) for n in numbers] + [(p.source_page, p) for p in problems]:
        earlier = scan_ledger.earlier_page(ledger, item.sha256, number)
        if earlier is not None and not earlier.read_again:
            scan_ledger.record_sighting(
                ledger, item.source, number, earlier, actor=settings.operator,
                station=settings.station,
            )  # fmt: skip
            slots.append(_duplicate_file_page(item, number, earlier, form_ids))
        elif problem is not None:
            slots.append(_problem(item, problem.source_page, problem.reason, problem.message))
        else:
            slots.append(PageTask(stored, number))
    return slots


def _same_file_in_run(
    ledger: Ledger, slot: SameFileInRun, settings: Settings, form_ids: Mapping[int, str]
) -> PageRecord:
    """Its first copy came earlier in input order, so its outcome is in the ledger by now:
    report the page it was (``page_uid``, form, patient), like a file scanned in an earlier run.
    """
    item, number = slot.item, slot.number
    earlier = scan_ledger.earlier_page(ledger, item.sha256, number)
    message = "the same file was given twice in this run (under another name); read once"
    if earlier is None:  # not recorded (the file could not be stored): nothing to say more
        return PageRecord(
            item.source, number, ScanStatus.DUPLICATE, Reason.SAME_FILE, message=message
        )
    scan_ledger.record_sighting(
        ledger, item.source, number, earlier, actor=settings.operator, station=settings.station
    )
    return replace(_duplicate_file_page(item, number, earlier, form_ids), message=message)


def _unstored(item: images.InputFile, message: str) -> PageRecord:
    """A file that could not even be copied into the store: reported, nothing recorded."""
    return PageRecord(
        item.source, 0, ScanStatus.QUARANTINED, Reason.UNREADABLE_FILE, message=message
    )


def _problem(item: images.InputFile, page: int, reason: Reason, message: str) -> PageOutcome:
    return PageOutcome(item.source, page, item.sha256, ScanStatus.QUARANTINED, reason, message)


def _duplicate_file_page(
    item: images.InputFile,
    index: int,
    earlier: scan_ledger.EarlierPage,
    form_ids: Mapping[int, str],
) -> PageRecord:
    """The same file was scanned before: report what that page was, add nothing."""
    return PageRecord(
        source=item.source,
        source_page=index,
        status=ScanStatus.DUPLICATE,
        reason=Reason.SAME_FILE,
        page_uid=earlier.page_uid,
        form=earlier.form,
        page=earlier.page,
        patient=_patient_json(earlier.patient),
        rotation=earlier.rotation or 0,
    )


def log_event(ledger: Ledger, settings: Settings, summary: ScanSummary) -> None:
    write_audit(
        ledger,
        [
            AuditEvent(
                "scan.run",
                " ".join(f"{k}={v}" for k, v in sorted(summary.by_status.items())) or "empty",
                object_type="scan_run",
                object_id=summary.run_id,
            )
        ],
        actor=settings.operator,
        station=settings.station,
    )


def _patient_json(patient: Identifier | None) -> dict[str, str] | None:
    return {"system": patient.system, "value": patient.value} if patient else None

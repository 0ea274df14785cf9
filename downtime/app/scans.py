"""Scans: reading scanned pages into the ledger, and the pages set aside in quarantine,
assigned by their printed serial."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from downtime.app.forms import site_forms_for
from downtime.app.workspace import workspace
from downtime.codes.keys import KeyStore
from downtime.codes.serials import parse_serial
from downtime.errors import ConfigError, InputError, Said
from downtime.ledger import Ledger
from downtime.ledger.pages import page_by_serial
from downtime.ledger.quarantine import (
    QuarantineItem,
    quarantine_items,
    record_assignment,
    record_rejection,
)
from downtime.ledger.store import Store
from downtime.scan.outcome import PageOutcome
from downtime.scan.run import PageRecord, ScanOptions, ScanSummary, log_event, run_scan
from downtime.settings import Settings
from downtime.vocab import ASSIGNABLE, ScanStatus


@dataclass(frozen=True)
class Assignment:
    """A set-aside page attached to its issued page by the printed serial."""

    item_id: int
    serial: str
    form: str
    page_no: int
    page_count: int
    status: ScanStatus  # identified, or duplicate / conflict of a capture before it


def scan_files(
    paths: Sequence[Path],
    *,
    home: Path | None,
    options: ScanOptions,
    emit: Callable[[PageRecord], None],
    progress: Callable[[int, int], None],
) -> ScanSummary:
    with workspace(home, keys="read") as (settings, keys, ledger):
        require_public_keys(keys)
        summary = run_scan(
            paths,
            settings=settings,
            keys=keys,
            ledger=ledger,
            forms=site_forms_for(settings),
            options=options,
            emit=emit,
            progress=progress,
        )
        log_event(ledger, settings, summary)
        return summary


def require_public_keys(keys: KeyStore) -> None:
    """Scanning needs a public key to verify page codes with."""
    if not keys.public_keys():
        raise ConfigError(
            "this station has no public keys to verify page codes with",
            hint="on the print host run `downtime keys export-public > keys.pem`, then "
            "here `downtime keys import-public keys.pem`",
        )


def quarantine_list(home: Path | None, *, include_assigned: bool) -> list[QuarantineItem]:
    with workspace(home, keys="read") as (_, _keys, ledger):
        return quarantine_items(ledger, open_only=not include_assigned)


def quarantine_assign(
    home: Path | None, item_id: int, serial_text: str, *, actor: str | None = None
) -> Assignment:
    """Attach a set-aside page to the issued page with the printed serial (check characters
    verified), read like any other page; audited as ``actor`` (default: the operator)."""
    serial = parse_serial(serial_text)
    with workspace(home, keys="read") as (settings, keys, ledger):
        item = _item(ledger, item_id)
        if item.assigned_serial is not None:
            raise InputError(
                f"quarantine item {item_id} was already assigned to {item.assigned_serial}"
            )
        if item.resolved is not None:
            raise InputError(f"quarantine item {item_id} needs no assignment: {item.resolved}")
        if item.reason not in ASSIGNABLE:
            raise InputError(
                f"quarantine item {item_id} was set aside as '{item.reason}': such a page is "
                "never assigned by its serial",
                hint="check the paper original; a genuine page with a foreign key verifies "
                "once that key is imported (`downtime keys import-public`) and it is rescanned",
                said=Said("not_assignable", {"item": item_id, "reason": item.reason}),
            )
        page = page_by_serial(ledger, serial)
        if page is None:
            raise InputError(
                f"no issued page has the serial {serial}",
                hint="read the serial again from the page footer",
                said=Said("no_serial", {"serial": serial}),
            )
        outcome = _assigned_outcome(settings, keys, ledger, item, page.page_uid)
        if outcome.status != ScanStatus.IDENTIFIED:
            raise InputError(f"quarantine item {item_id}: {outcome.message}")
        result = record_assignment(
            ledger, item, serial, outcome.fact(), actor=actor or settings.operator,
            station=settings.station,
        )  # fmt: skip
        return Assignment(item_id, serial, page.form, page.page_no, page.page_count, result.status)


def quarantine_reject(
    home: Path | None, item_id: int, reason: str, *, actor: str | None = None
) -> QuarantineItem:
    """Decide that an open set-aside page is not one to file, with the reason (audited as
    ``actor``, default: the operator). It leaves the open items; the report stops counting it."""
    reason = " ".join(reason.split())
    if not reason:
        raise InputError("a rejection needs a reason", hint="say why the page is not filed")
    with workspace(home, keys="read") as (settings, _keys, ledger):
        item = _item(ledger, item_id)
        if item.resolved is not None:
            raise InputError(f"quarantine item {item_id} is resolved already: {item.resolved}")
        record_rejection(
            ledger, item, reason, actor=actor or settings.operator, station=settings.station
        )
        return _item(ledger, item_id)


def _item(ledger: Ledger, item_id: int) -> QuarantineItem:
    item = next((i for i in quarantine_items(ledger) if i.item_id == item_id), None)
    if item is None:
        raise InputError(
            f"no quarantine item {item_id}",
            hint="see `downtime quarantine list`",
            said=Said("no_quarantine_item", {"item": item_id}),
        )
    return item


def _assigned_outcome(
    settings: Settings, keys: KeyStore, ledger: Ledger, item: QuarantineItem, page_uid: str
) -> PageOutcome:
    from downtime.scan import images
    from downtime.scan.outcome import PageTask, WorkerConfig
    from downtime.scan.page import read_assigned
    from downtime.scan.workers import error_name

    stored = Store(settings.home, settings.store_dir).path(item.stored_as)
    found = images.find_inputs([stored])[0]
    task = PageTask(
        images.InputFile(item.source, stored, found.sha256, found.size, found.kind),
        item.source_page,
    )
    page = images.read_page(task.file, task.index, verify=False)
    if isinstance(page, images.PageProblem):
        raise InputError(f"quarantine item {item.item_id}: {page.message}")
    config = WorkerConfig(settings.home, settings.ledger_target, settings.store_dir, ())
    try:
        return read_assigned(page.image, page.dpi, task, page_uid, config, ledger)
    except Exception as exc:  # a reader's error: the item stays as it was, said in one line
        raise InputError(
            f"quarantine item {item.item_id}: reading the page failed ({error_name(exc)}); it "
            "stays in quarantine",
            hint="scan the paper again (a new scan file), or reject the item with a reason; "
            "if it happens again, report it",
        ) from None

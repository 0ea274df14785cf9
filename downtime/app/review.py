"""What the review station reads and records, per queue: here, the pages set aside.

The station (:mod:`downtime.station`) calls only these functions and those of
:mod:`downtime.app.scans` and :mod:`downtime.app.users`; every view of a patient's page image
is an audit event naming who saw it, the ward, and the patient where the page is known.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from downtime.app.workspace import workspace
from downtime.ledger import AuditEvent, Ledger, write_audit
from downtime.ledger.quarantine import (
    QuarantineItem,
    SetAsidePage,
    quarantine_event,
    quarantine_items,
    set_aside_pages,
)
from downtime.ledger.store import Store
from downtime.settings import Settings
from downtime.vocab import ASSIGNABLE

IMAGE_WIDTH = 1400  # pixels: the page image as shown (a serial stays legible)


@dataclass(frozen=True)
class QuarantineEntry:
    item: QuarantineItem
    ward: str | None  # where its verified code names an issued page
    assignable: bool  # a serial may be typed for it (see vocab.ASSIGNABLE)


def open_quarantine(home: Path | None) -> list[QuarantineEntry]:
    """The open set-aside pages, oldest first."""
    with workspace(home, keys="read") as (_settings, _keys, ledger):
        named = set_aside_pages(ledger)
        return [_entry(i, named.get(i.item_id)) for i in quarantine_items(ledger, open_only=True)]


def quarantine_count(home: Path | None) -> int:
    with workspace(home, keys="read") as (_settings, _keys, ledger):
        return len(quarantine_items(ledger, open_only=True))


def quarantine_entry(home: Path | None, item_id: int) -> QuarantineEntry | None:
    with workspace(home, keys="read") as (_settings, _keys, ledger):
        item = next((i for i in quarantine_items(ledger) if i.item_id == item_id), None)
        return None if item is None else _entry(item, set_aside_pages(ledger).get(item_id))


def quarantine_image(home: Path | None, item_id: int, *, actor: str) -> bytes | None:
    """The set-aside page as its file holds it, a JPEG ``IMAGE_WIDTH`` wide at most (None:
    no page image can be read from the file); the view is audited."""
    with workspace(home, keys="read") as (settings, _keys, ledger):
        item = next((i for i in quarantine_items(ledger) if i.item_id == item_id), None)
        if item is None:
            return None
        jpeg = _page_jpeg(settings, item)
        if jpeg is not None:
            page = set_aside_pages(ledger).get(item_id)
            _audit_view(ledger, settings, item, page, actor)
        return jpeg


def record_station_event(home: Path | None, event: AuditEvent, *, actor: str) -> None:
    """An audit event of the station itself (a refusal, a sign-out)."""
    with workspace(home, keys="read") as (settings, _keys, ledger):
        write_audit(ledger, [event], actor=actor, station=settings.station)


def _entry(item: QuarantineItem, page: SetAsidePage | None) -> QuarantineEntry:
    return QuarantineEntry(item, page.ward if page else None, item.reason in ASSIGNABLE)


def _audit_view(
    ledger: Ledger, settings: Settings, item: QuarantineItem, page: SetAsidePage | None, actor: str
) -> None:
    event = quarantine_event(
        "review.view-page", item, page, f"quarantine item {item.item_id} ({item.reason})"
    )
    write_audit(ledger, [event], actor=actor, station=settings.station)


def _page_jpeg(settings: Settings, item: QuarantineItem) -> bytes | None:
    from PIL import Image

    from downtime.scan import images

    stored = Store(settings.home, settings.store_dir).path(item.stored_as)
    if item.source_page < 1 or not stored.is_file():
        return None  # the whole file failed: there is no page to show
    found = images.find_inputs([stored])[0]
    file = images.InputFile(item.source, stored, found.sha256, found.size, found.kind)
    page = images.read_page(file, item.source_page, verify=False)
    if isinstance(page, images.PageProblem):
        return None
    picture = Image.fromarray(page.image)
    if picture.width > IMAGE_WIDTH:
        height = round(picture.height * IMAGE_WIDTH / picture.width)
        picture = picture.resize((IMAGE_WIDTH, height), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    return out.getvalue()

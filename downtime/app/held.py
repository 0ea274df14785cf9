"""What the review station shows of held items (:mod:`downtime.review`): the open items of a
queue, one item, and the registered page around it.

Every image of a patient's page the station shows (a crop around an item's fields, the whole
page, a capture of a page in conflict) comes from here and is an audit event naming who saw
it, the ward and the patient. Decisions go through :func:`downtime.app.decisions.settle`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from downtime.app.workspace import workspace
from downtime.census.druglist import drug_key, matching, site_drug_list
from downtime.geometry import PX_PER_MM, box_px
from downtime.ledger import AuditEvent, Ledger, write_audit
from downtime.ledger.decisions import CaptureInfo, capture_states, captures_of
from downtime.ledger.packs import drug_names
from downtime.ledger.postings import held_item_key
from downtime.ledger.store import Store
from downtime.model import FieldBox
from downtime.review import QUEUES, ReviewItem, find_item, review_counts
from downtime.settings import Settings, resolve

CROP_MARGIN_MM = 14.0  # around the item's fields: enough of the row to see what it is
CROP_WIDTH = 1100  # pixels, as shown beside the inputs (the browser scales the crop to it)
PAGE_WIDTH = 1400  # the whole page as shown
VIEWS = ("crop", "page", "capture")
HIGHLIGHT = (44, 90, 133)  # the station's accent colour


def held_counts(home: Path | None) -> dict[str, int]:
    """How many items wait in each queue (every queue named, zero where none does)."""
    with workspace(home, keys="read") as (_settings, _keys, ledger):
        found = review_counts(ledger)
        return {q: found.get(q, 0) for q in QUEUES}


def held_item(home: Path | None, item_id: str) -> ReviewItem | None:
    """The open item ``item_id`` (None: settled already, or no such item)."""
    with workspace(home, keys="read") as (_settings, _keys, ledger):
        return find_item(ledger, item_id)


def was_held(home: Path | None, item_id: str) -> bool:
    """Whether ``item_id`` names an item ever held (open or settled by now)."""
    with workspace(home, keys="read") as (_settings, _keys, ledger):
        return held_item_key(ledger, item_id) is not None


def item_captures(home: Path | None, item: ReviewItem) -> list[CaptureInfo]:
    """Every capture of the item's page, first first (two or more: a page in conflict)."""
    if item.page is None:
        return []
    with workspace(home, keys="read") as (_settings, _keys, ledger):
        return captures_of(ledger, item.page.page_uid)


def site_drugs(home: Path | None) -> tuple[str, ...]:
    """The entries of the site's drug list as shown (``Paracetamol 500 mg tablett``), read and
    checked once when the station starts (a bad list stops it); none when site.toml names no
    list."""
    return site_drug_list(resolve(home)).displays


def drug_suggestions(
    home: Path | None, listed: Sequence[str], typed: str | None = None, limit: int = 25
) -> list[str]:
    """What the station suggests for a drug name: the medication names of every printed
    pack's census and the site drug list's entries (``listed``), each once (case and spacing
    aside; the list's spelling kept), sorted; with ``typed``, the first ``limit`` of them
    that match what was typed so far (:func:`~downtime.census.druglist.matching`)."""
    with workspace(home, keys="read") as (_settings, _keys, ledger):
        census = drug_names(ledger)
    found = {drug_key(name): name for name in census}
    found.update((drug_key(name), name) for name in listed)
    if typed is not None:
        return matching(found.values(), typed, limit)
    return sorted(found.values(), key=str.casefold)


def item_image(
    home: Path | None,
    wanted: ReviewItem | str,
    view: str,
    *,
    actor: str,
    capture_id: int | None = None,
) -> bytes | None:
    """A JPEG of the registered page an item is on, its fields outlined: ``crop`` (the fields
    and a margin around them), ``page`` (the whole page) or ``capture`` (the whole page as
    ``capture_id`` registered it). ``wanted``: the item as found a moment ago (the station
    has just found it), or its id. None: no such item, view or capture, or no image stored.
    The view is audited."""
    if view not in VIEWS:
        return None
    with workspace(home, keys="read") as (settings, _keys, ledger):
        item = find_item(ledger, wanted) if isinstance(wanted, str) else wanted
        if item is None or item.page is None:
            return None
        stored = item.page.registered_as
        if view == "capture":
            known = {c.capture_id: c for c in captures_of(ledger, item.page.page_uid)}
            if capture_id not in known:
                return None
            stored = known[capture_id].registered_as
        fields = item.fields
        if item.queue == "page-conflict":  # outline only where the captures read differently
            fields = _differing(ledger, item) or fields
        jpeg = _render(Store(settings.home, settings.store_dir).path(stored), fields,
                       crop=view == "crop")  # fmt: skip
        if jpeg is not None:
            _audit_view(ledger, settings, item, view, capture_id, actor)
        return jpeg


def _differing(ledger: Ledger, item: ReviewItem) -> tuple[FieldBox, ...]:
    """The item's fields that the captures of its page read differently."""
    assert item.page is not None
    read = [capture_states(ledger, c.capture_id) for c in captures_of(ledger, item.page.page_uid)]
    return tuple(f for f in item.fields if len({states.get(f.id) for states in read}) > 1)


def _audit_view(
    ledger: Ledger,
    settings: Settings,
    item: ReviewItem,
    view: str,
    capture_id: int | None,
    actor: str,
) -> None:
    what = f"capture {capture_id}" if view == "capture" else view
    event = AuditEvent(
        "review.view-page",
        f"{what} of {item.item} ({item.form.form}, {item.queue})",
        care_unit=item.form.ward,
        patient=item.patient.identifier if item.patient else None,
        object_type="item",
        object_id=item.item_id,
    )
    write_audit(ledger, [event], actor=actor, station=settings.station)


def _render(path: Path, fields: tuple[FieldBox, ...], *, crop: bool) -> bytes | None:
    """The page (or the crop around ``fields``) with the fields outlined, as a JPEG. A crop is
    cut before anything else is done to the page, and shown at the page's own resolution
    unless over twice :data:`CROP_WIDTH` wide (the browser fits it to its box)."""
    from PIL import Image, ImageDraw

    if not path.is_file():
        return None
    boxes = [box_px(f.box_mm) for f in fields]
    width, origin = PAGE_WIDTH, (0, 0)
    with Image.open(path) as opened:
        if crop and boxes:
            margin = round(CROP_MARGIN_MM * PX_PER_MM)
            left = max(min(b[0] for b in boxes) - margin, 0)
            top = max(min(b[1] for b in boxes) - margin, 0)
            right = min(max(b[2] for b in boxes) + margin, opened.width)
            bottom = min(max(b[3] for b in boxes) + margin, opened.height)
            picture, origin = opened.crop((left, top, right, bottom)), (left, top)
            width = 2 * CROP_WIDTH
        else:
            picture = opened.copy()
    picture = picture.convert("RGB")
    draw = ImageDraw.Draw(picture)
    line = max(2, round(0.4 * PX_PER_MM))
    pad = line + 2
    for left, top, right, bottom in boxes:
        x, y = left - origin[0], top - origin[1]
        draw.rectangle((x - pad, y - pad, x + right - left + pad, y + bottom - top + pad),
                       outline=HIGHLIGHT, width=line)  # fmt: skip
    if picture.width > width:
        height = round(picture.height * width / picture.width)
        picture = picture.resize((width, height), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=88)
    return out.getvalue()

"""The conflict queues. Page conflicts: a page scanned more than once whose captures read
differently; both registered captures side by side, keep one. Record conflicts: what the
paper says beside why the record check held it (an administration already documented for the
slot, a newer order…); post it anyway or skip it, with a reason either way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from downtime.app.held import item_captures
from downtime.review import ReviewItem
from downtime.station.queue_held import HeldQueue
from downtime.station.queues import Desk


class PageConflictQueue(HeldQueue):
    slug = "page-conflict"
    title = "page_conflict"
    template = "page_conflict_item.html"

    def decision(
        self, desk: Desk, item: ReviewItem, form: Mapping[str, str]
    ) -> tuple[str, dict[str, str], bool]:
        return "capture", {"capture_id": form.get("capture_id", "")}, False

    def shown(self, desk: Desk, item: ReviewItem) -> dict[str, Any]:
        base = f"/q/{self.slug}/{item.item_id}"
        captures = [
            (c, f"{base}/capture-{c.capture_id}.jpg") for c in item_captures(desk.home, item)
        ]
        return {"captures": captures}


class RecordConflictQueue(HeldQueue):
    slug = "record-conflict"
    title = "record_conflict"
    template = "record_conflict_item.html"

    def decision(
        self, desk: Desk, item: ReviewItem, form: Mapping[str, str]
    ) -> tuple[str, dict[str, str], bool]:
        return ("post" if form.get("action") == "post" else "skip"), {}, False

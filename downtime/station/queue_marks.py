"""The Marks queue: boxes and writing areas the scan read uncertain, corrected, flagged or
ticked both ways. A person looks at the crop and sets every field of the item (``marked`` /
``empty`` for a tick box, ``written`` / ``blank`` for a writing area), or skips it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from downtime.review import ReviewItem
from downtime.station.queue_held import HeldQueue, skip_or
from downtime.station.queues import Desk

BOX, AREA = ("marked", "empty"), ("written", "blank")
KEYS = {"marked": "m", "empty": "e", "written": "w", "blank": "b"}


def states_of(kind: str) -> tuple[str, str]:
    return BOX if kind == "checkbox" else AREA


class MarksQueue(HeldQueue):
    slug = "marks"
    title = "marks"
    template = "marks_item.html"

    def decision(
        self, desk: Desk, item: ReviewItem, form: Mapping[str, str]
    ) -> tuple[str, dict[str, str], bool]:
        action = skip_or("boxes", form)
        if action == "skip":
            return action, {}, False
        return action, {f.id: form.get(f"state:{f.id}", "") for f in item.fields}, False

    def shown(self, desk: Desk, item: ReviewItem) -> dict[str, Any]:
        readings = item.page.readings if item.page else {}
        controls = [(f, states_of(f.kind), readings.get(f.id)) for f in item.fields]
        return {"controls": controls, "keys": KEYS}

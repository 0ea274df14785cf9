"""The queues of held items (:mod:`downtime.review`): what a person settles so that
reconciliation can post it. Each is a :class:`HeldQueue`: the list (ward, bed, patient, form,
serial, item, why, age), one item's page with the registered page around it, and a decision
recorded by :func:`downtime.app.decisions.settle` as the station's user. A refused decision
shows the library's own message beside what was typed.

Images (``/q/SLUG/ITEM/crop.jpg``, ``page.jpg``, ``capture-N.jpg``) come from
:func:`downtime.app.held.item_image`, which audits each view.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Request, Response

from downtime.app.decisions import next_open, open_items, settle
from downtime.app.held import held_counts, held_item, item_image, was_held
from downtime.errors import DowntimeError
from downtime.review import ReviewItem, age
from downtime.station.queues import REVIEW, Desk, Queue

IMAGES = {"crop.jpg": "crop", "page.jpg": "page"}
LISTED = 200  # rows a queue's list shows at most, oldest first (the counter says how many)


class HeldQueue(Queue):
    """A queue of held items; a subclass sets ``slug``, ``title``, ``template`` and
    :meth:`decision`, and may add to what its item page shows (:meth:`shown`)."""

    template = ""
    roles = REVIEW

    def count(self, desk: Desk) -> int:
        return held_counts(desk.home)[self.slug]

    def listing(self, desk: Desk, request: Request) -> Response:
        now = datetime.now(UTC)
        found = open_items(desk.home, queue=self.slug, limit=LISTED)
        rows = [(i, age(i, now)) for i in found]
        return desk.page("held_list.html", rows=rows, queue=self, left=self.count(desk))

    def item(self, desk: Desk, request: Request, item_id: str) -> Response:
        return self.item_page(desk, self.find(desk, item_id))

    def part(self, desk: Desk, request: Request, item_id: str, part: str) -> Response:
        item = self.find(desk, item_id)
        view, capture = IMAGES.get(part), None
        if part.startswith("capture-") and part.endswith(".jpg") and part[8:-4].isdigit():
            view, capture = "capture", int(part[8:-4])
        if view is None:
            raise NotFound()
        jpeg = item_image(desk.home, item, view, actor=desk.user, capture_id=capture)
        if jpeg is None:
            raise NotFound()
        return Response(jpeg, mimetype="image/jpeg")

    def act(self, desk: Desk, request: Request, item_id: str) -> Response:
        found = held_item(desk.home, item_id) if item_id.isalnum() else None
        if found is None and item_id.isalnum() and was_held(desk.home, item_id):
            desk.notify(desk.words("settled_meanwhile"))  # by someone else, a moment ago
            return desk.redirect(f"/q/{self.slug}")
        if found is None or found.queue != self.slug:
            raise NotFound()
        item = found
        form = request.form
        try:
            action, values, confirm = self.decision(desk, item, form)
            reason = form.get("reason", "")
            seen = int(form["seen"]) if form.get("seen", "").isdigit() else None
            done = settle(desk.home, item, action=action, values=values, reason=reason,
                          confirm=confirm, user=desk.user, seen=seen)  # fmt: skip
        except DowntimeError as e:  # a missing value, the same person confirming: say so
            return self.item_page(desk, item, problem=e.message, typed=form, status=422)
        key = "decided" if done.in_force else "differs" if done.mismatch else "awaits_second"
        desk.notify(desk.words(key, item=item.item, form=item.form.form))
        return desk.redirect(self.next_path(desk, item))

    def decision(
        self, desk: Desk, item: ReviewItem, form: Mapping[str, str]
    ) -> tuple[str, dict[str, str], bool]:
        """(action, values, confirm) from the submitted form."""
        raise NotImplementedError

    def shown(self, desk: Desk, item: ReviewItem) -> dict[str, Any]:
        return {}

    def find(self, desk: Desk, item_id: str) -> ReviewItem:
        item = held_item(desk.home, item_id) if item_id.isalnum() else None
        if item is None or item.queue != self.slug:
            raise NotFound()
        return item

    def item_page(
        self,
        desk: Desk,
        item: ReviewItem,
        *,
        problem: str | None = None,
        typed: Mapping[str, str] | None = None,
        status: int = 200,
    ) -> Response:
        base = f"/q/{self.slug}/{item.item_id}"
        return desk.page(
            self.template,
            status=status,
            item=item,
            queue=self,
            crop=f"{base}/crop.jpg",
            whole=f"{base}/page.jpg",
            problem=problem,
            typed=typed or {},
            left=self.count(desk),
            **self.shown(desk, item),
        )

    def next_path(self, desk: Desk, done: ReviewItem) -> str:
        """The next open item after this one (else the first), or the list when none is."""
        found = next_open(desk.home, done)
        return f"/q/{self.slug}/{found}" if found else f"/q/{self.slug}"


def skip_or(action: str, form: Mapping[str, str]) -> str:
    """``skip`` when the skip button sent the form, else ``action``."""
    return "skip" if form.get("action") == "skip" else action

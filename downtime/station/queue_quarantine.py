"""The Quarantine queue: pages the scan set aside. Assign one by its printed serial (the
library checks the check characters and reads the page), or reject it with a reason."""

from __future__ import annotations

from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Request, Response

from downtime.app.review import (
    QuarantineEntry,
    open_quarantine,
    quarantine_count,
    quarantine_entry,
    quarantine_image,
)
from downtime.app.scans import quarantine_assign, quarantine_reject
from downtime.errors import DowntimeError
from downtime.station.queues import REVIEW, Desk, Queue

PAGE_IMAGE = "page.jpg"


class QuarantineQueue(Queue):
    slug = "quarantine"
    title = "quarantine"
    roles = REVIEW

    def count(self, desk: Desk) -> int:
        return quarantine_count(desk.home)

    def listing(self, desk: Desk, request: Request) -> Response:
        return desk.page("quarantine_list.html", entries=open_quarantine(desk.home), queue=self)

    def item(self, desk: Desk, request: Request, item_id: str) -> Response:
        return self._item_page(desk, self._entry(desk, item_id))

    def part(self, desk: Desk, request: Request, item_id: str, part: str) -> Response:
        entry = self._entry(desk, item_id)
        if part != PAGE_IMAGE:
            raise NotFound()
        jpeg = quarantine_image(desk.home, entry.item.item_id, actor=desk.user)
        if jpeg is None:
            raise NotFound()
        return Response(jpeg, mimetype="image/jpeg")

    def act(self, desk: Desk, request: Request, item_id: str) -> Response:
        entry = self._entry(desk, item_id)
        if entry.item.resolved is not None:
            return desk.redirect(self._next_path(desk, entry.item.item_id))
        action = request.form.get("action", "")
        try:
            if action == "assign":
                serial = request.form.get("serial", "")
                done = quarantine_assign(desk.home, entry.item.item_id, serial, actor=desk.user)
                words = {"item": done.item_id, "serial": done.serial, "form": done.form}
                words |= {"page_no": done.page_no, "page_count": done.page_count}
                desk.notify(desk.words("assigned", **words))
            elif action == "reject":
                reason = request.form.get("reason", "")
                quarantine_reject(desk.home, entry.item.item_id, reason, actor=desk.user)
                desk.notify(desk.words("rejected", item=entry.item.item_id))
            else:
                raise NotFound()
        except DowntimeError as e:  # a mistyped serial, an empty reason: say so, keep the input
            return self._item_page(desk, entry, problem=e.message, form=request.form, status=422)
        return desk.redirect(self._next_path(desk, entry.item.item_id))

    def _entry(self, desk: Desk, item_id: str) -> QuarantineEntry:
        entry = quarantine_entry(desk.home, int(item_id)) if item_id.isdigit() else None
        if entry is None:
            raise NotFound()
        return entry

    def _item_page(
        self,
        desk: Desk,
        entry: QuarantineEntry,
        *,
        problem: str | None = None,
        form: object = None,
        status: int = 200,
    ) -> Response:
        return desk.page(
            "quarantine_item.html",
            status=status,
            entry=entry,
            queue=self,
            image=f"/q/{self.slug}/{entry.item.item_id}/{PAGE_IMAGE}",
            problem=problem,
            typed=form or {},
            left=self.count(desk),
        )

    def _next_path(self, desk: Desk, after: int) -> str:
        """The next open item (after this one, else the first), or the list when none is."""
        remaining = [e.item.item_id for e in open_quarantine(desk.home)]
        later = [i for i in remaining if i > after] or remaining
        return f"/q/{self.slug}/{later[0]}" if later else f"/q/{self.slug}"

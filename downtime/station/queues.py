"""A queue of the review station: a name, the roles that see it, a counter, and its pages.

Adding a queue is one module and its templates:

1. Subclass :class:`Queue` in ``downtime/station/queue_NAME.py``: set ``slug`` (its URL part,
   ``/q/SLUG``), ``title`` (a key of ``words.toml``, in both languages) and ``roles``;
   implement :meth:`~Queue.count` (what is left), :meth:`~Queue.listing` (GET ``/q/SLUG``),
   :meth:`~Queue.item` (GET ``/q/SLUG/ITEM``) and :meth:`~Queue.act` (POST ``/q/SLUG/ITEM``),
   and :meth:`~Queue.part` for anything else an item shows (GET ``/q/SLUG/ITEM/PART``: an
   image, a crop). Each gets a :class:`Desk` (who asks, in which language, how to render) and
   calls the library (:mod:`downtime.app`) for data and decisions, with ``desk.user`` as the
   actor of every audit event. A view of a patient's page image is audited by the library
   function that returns it.
2. Add an instance to ``QUEUES`` in :mod:`downtime.station.web`.

The station checks before a queue method runs: a live session, the role (``roles``), and for
:meth:`~Queue.act` the CSRF token. ITEM is an opaque id that carries no patient data (a row
number, say): it appears in URLs, which browsers keep in their history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Request, Response

CLERK, CONFIRMER, ADMIN = "clerk", "confirmer", "admin"
REVIEW = frozenset({CLERK, CONFIRMER, ADMIN})  # every user reviews
CONFIRM = frozenset({CONFIRMER, ADMIN})  # the second person for medication
ADMINS = frozenset({ADMIN})


@dataclass
class Desk:
    """One request's context for a queue: who, in which language, and how to answer."""

    home: Path | None
    user: str
    role: str
    lang: str
    csrf: str
    words: Callable[..., str]  # words(key, **values): the station's words in ``lang``
    render: Callable[[str, Mapping[str, Any], int], Response]  # template, values, status
    redirect: Callable[[str], Response]  # 303 to a path of the station
    notify: Callable[[str], None]  # a notice shown once on the next page
    local_time: Callable[[str], str]  # an ISO 8601 time as the site's wall-clock time
    drugs: tuple[str, ...] = ()  # the site drug list's entries as shown, read at start

    def page(self, template: str, status: int = 200, **values: Any) -> Response:
        return self.render(template, values, status)


class Queue:
    slug: str = ""
    title: str = ""
    roles: frozenset[str] = REVIEW

    def count(self, desk: Desk) -> int:
        raise NotImplementedError

    def listing(self, desk: Desk, request: Request) -> Response:
        raise NotImplementedError

    def item(self, desk: Desk, request: Request, item_id: str) -> Response:
        raise NotImplementedError

    def act(self, desk: Desk, request: Request, item_id: str) -> Response:
        raise NotImplementedError

    def part(self, desk: Desk, request: Request, item_id: str, part: str) -> Response:
        raise NotFound()

    def allows(self, role: str | None) -> bool:
        return role in self.roles


def redirect(path: str) -> Response:
    """303 See Other to a path of the station (after a POST: the next page is a GET)."""
    response = Response("", 303)
    response.headers["Location"] = path
    return response

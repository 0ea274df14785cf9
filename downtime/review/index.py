"""The open items of every queue, kept up to date as rows arrive instead of worked out afresh.

A station asks after every decision how many items are left in each queue and which comes
next; working that out from every held row and decision takes a third of a second per question
on a ledger of 20,000 held items. An :class:`OpenIndex` works it out once, then on each question
asks the ledger only which forms have held rows or decisions newer than what it has seen
(:func:`~downtime.ledger.postings.held_changes`: both tables only ever grow) and works those
forms out again. What it answers is therefore always what the ledger says at the time of the
question, whoever wrote to it (another station, a reconcile run): it is a cache of the ledger,
never a second truth.

One index per ledger, kept for the life of the process (:func:`index_of`); safe to share
between a station's request threads.
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from collections.abc import Callable, Collection, Sequence

from downtime.ledger import Ledger
from downtime.ledger.postings import HeldStamp, held_changes, held_stamp

# (since, form_key, item, item_id): the queue's order, oldest first
Place = tuple[str, str, str, str]


class OpenIndex:
    """The open items of a ledger by queue, in order. ``evaluate(ledger, form_keys)`` works
    out the open items of those forms (all forms: ``None``) as ``(place, queue, entry)``."""

    def __init__(
        self,
        evaluate: Callable[[Ledger, Collection[str] | None], Sequence[tuple[Place, str, object]]],
    ) -> None:
        self._evaluate = evaluate
        self._lock = threading.Lock()
        self._stamp: HeldStamp | None = None
        self._by_form: dict[str, list[tuple[Place, str]]] = {}
        self._entries: dict[str, object] = {}  # item id → what evaluate made of it
        self._order: dict[str, list[Place]] = {}  # queue → places, sorted

    def refresh(self, ledger: Ledger) -> None:
        """Bring the index up to what the ledger holds now."""
        with self._lock:
            changed: set[str] | None = None
            if self._stamp is not None:
                stamp, changed = held_changes(ledger, self._stamp)
            if changed is None:  # the first time, or another ledger in the same place
                stamp = held_stamp(ledger)  # before reading: what comes after is read again
                self._load(self._evaluate(ledger, None), None)
            elif changed:
                self._load(self._evaluate(ledger, changed), changed)
            self._stamp = stamp

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter({q: len(places) for q, places in self._order.items() if places})

    def ids(self, queue: str | None = None) -> list[str]:
        """Item ids in order: of one queue, or of all (oldest first)."""
        with self._lock:
            if queue is not None:
                return [p[3] for p in self._order.get(queue, [])]
            return [p[3] for p in sorted(p for ps in self._order.values() for p in ps)]

    def entries(self, queue: str | None = None) -> list[object]:
        with self._lock:
            ids = [p[3] for p in self._order.get(queue, [])] if queue is not None else None
            if ids is None:
                ids = [p[3] for p in sorted(p for ps in self._order.values() for p in ps)]
            return [self._entries[i] for i in ids]

    def entry(self, item_id: str) -> object | None:
        with self._lock:
            return self._entries.get(item_id)

    def after(self, queue: str, item_id: str, place: Place | None) -> str | None:
        """The next open item of ``queue`` after ``place`` (the item just settled), wrapping
        round to the first; None when the queue is empty or holds only ``item_id``."""
        with self._lock:
            places = self._order.get(queue, [])
            start = bisect.bisect_right(places, place) if place is not None else 0
            for p in places[start:] + places[:start]:
                if p[3] != item_id:
                    return p[3]
            return None

    def _load(
        self, found: Sequence[tuple[Place, str, object]], forms: Collection[str] | None
    ) -> None:
        if forms is None:
            self._by_form, self._entries, self._order = {}, {}, {}
        else:
            for key in forms:
                for place, queue in self._by_form.pop(key, []):
                    places = self._order[queue]
                    at = bisect.bisect_left(places, place)
                    if at < len(places) and places[at] == place:
                        del places[at]
                    self._entries.pop(place[3], None)
        for place, queue, entry in found:
            self._by_form.setdefault(place[1], []).append((place, queue))
            self._entries[place[3]] = entry
            if forms is None:
                self._order.setdefault(queue, []).append(place)
            else:
                bisect.insort(self._order.setdefault(queue, []), place)
        if forms is None:
            for places in self._order.values():
                places.sort()


_INDEXES: dict[tuple[str, int], OpenIndex] = {}
_INDEXES_LOCK = threading.Lock()


def index_of(ledger: Ledger, make: Callable[[], OpenIndex]) -> OpenIndex:
    """The process's index of this ledger (made by ``make`` the first time), up to date. A
    ledger file replaced by another (a restore) gets a new index."""
    identity = ledger.identity
    with _INDEXES_LOCK:
        index = _INDEXES.get(identity)
        if index is None:
            index = _INDEXES[identity] = make()
    index.refresh(ledger)
    return index

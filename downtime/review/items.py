"""What waits for a person: every held item a person can settle, in its queue, with the form,
page, patient and fields it concerns.

Queues (:data:`QUEUES`), from what reconciliation held and why:

* ``transcription``: handwriting that must become data (an as-needed dose's time, a new or
  changed order, a paper prescription, a referral's receiving unit);
* ``marks``: boxes or areas read uncertain, corrected, flagged, or muddled (both *given* and
  *not given*);
* ``page-conflict``: a page whose captures read differently (item ``page N``): keep one;
* ``record-conflict``: what the record already holds beside what the paper says: post or skip;
* ``unknown-patient``: an admission on a reserve number, to be linked to a real identity.

Items held on a page in conflict follow that page's decision; forms held because the record
could not be checked, or whose patient the record does not hold, are IT's and the record's,
not a reviewer's. An item a person has settled leaves the queue (reconciliation then posts it
and clears it); a medication entry waits for its second person (``awaiting-confirmation``),
and one whose confirmation differed is back (``mismatch``, both entries shown). An item held
anew after it was settled (a typed time after the page was scanned, say) is back too, with
what was decided.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from downtime.ledger import Ledger
from downtime.ledger.conflicts import ConflictSide, conflict_sides
from downtime.ledger.decisions import Decision, by_item, decisions_of
from downtime.ledger.pages import page_fields
from downtime.ledger.postings import OpenHeld, held_item_id, held_item_key, open_held_items
from downtime.ledger.returns import (
    IssuedForm,
    PatientInfo,
    ReturnedPage,
    issued_form_keys,
    issued_forms,
)
from downtime.model import FieldBox
from downtime.record.fhir.decided import page_of
from downtime.record.fhir.model import (
    WHY_ADMISSION,
    WHY_CHANGE,
    WHY_NEW,
    WHY_PRN,
    WHY_RX,
    WHY_TO,
)
from downtime.review.index import OpenIndex, Place, index_of

QUEUES = ("transcription", "marks", "page-conflict", "record-conflict", "unknown-patient")
TRANSCRIBED = frozenset({WHY_PRN, WHY_CHANGE, WHY_NEW, WHY_RX, WHY_TO})
OPEN, AWAITING, MISMATCH = "open", "awaiting-confirmation", "mismatch"


@dataclass(frozen=True)
class ReviewItem:
    item_id: str  # opaque, stable: names no patient (for URLs and the command line)
    queue: str
    state: str  # open | awaiting-confirmation | mismatch
    held: OpenHeld  # form key, item, kind, why, since
    form: IssuedForm
    page: ReturnedPage | None  # the page it is on (None: the form as a whole)
    fields: tuple[FieldBox, ...]  # the fields of that page it concerns
    entries: tuple[Decision, ...] = ()  # the entry (and a differing confirmation)
    seen: int = 0  # the item's latest decision id as it is shown (0: none): see decide()
    sides: tuple[ConflictSide, ...] = ()  # a record conflict: the paper's, then the record's

    @property
    def item(self) -> str:
        return self.held.item

    @property
    def patient(self) -> PatientInfo | None:
        return self.form.patient


def item_id(form_key: str, item: str) -> str:
    return held_item_id(form_key, item)


def queue_of(held: OpenHeld) -> str | None:
    """The queue a held item goes to, or None when it is not a reviewer's to settle."""
    if held.kind == "record-conflict":
        return "record-conflict"
    if held.kind == "conflict":
        whole_page = held.item.startswith("page ") and "/" not in held.item
        return "page-conflict" if whole_page else None
    if held.kind != "pending-review":
        return None
    if held.detail == WHY_ADMISSION:
        return "unknown-patient"
    return "transcription" if held.detail in TRANSCRIBED else "marks"


def review_items(
    ledger: Ledger, *, queue: str | None = None, limit: int | None = None
) -> list[ReviewItem]:
    """Every item waiting for a person (in ``queue`` only, if given; the first ``limit`` only,
    if given), oldest first."""
    found = _index(ledger).entries(queue)
    return _items(ledger, [o for o in found if isinstance(o, _Open)][:limit])


def find_item(ledger: Ledger, wanted: str) -> ReviewItem | None:
    """The open item ``wanted``: only its form is read (not every held item's)."""
    key = held_item_key(ledger, wanted)
    if key is None:  # held before items had ids, if at all
        known = _index(ledger).entry(wanted)
        key = (known.held.form_key, known.held.item) if isinstance(known, _Open) else None
    if key is None:
        return None
    found = [o for o in _open(ledger, [key[0]]) if item_id(o.held.form_key, o.held.item) == wanted]
    return next(iter(_items(ledger, found)), None)


def review_counts(ledger: Ledger) -> Counter[str]:
    """How many items wait in each queue (as :func:`review_items` would list them), without
    reading their forms."""
    return _index(ledger).counts()


def open_item_ids(ledger: Ledger, *, queue: str | None = None) -> list[str]:
    """The ids of :func:`review_items`, in its order, without reading their forms."""
    return _index(ledger).ids(queue)


def next_item_id(ledger: Ledger, done: ReviewItem) -> str | None:
    """The open item of ``done``'s queue that comes after it (else the first), if any."""
    return _index(ledger).after(done.queue, done.item_id, _place(done.held))


@dataclass(frozen=True)
class _Open:
    held: OpenHeld
    queue: str
    state: str
    entries: tuple[Decision, ...]
    seen: int


def _index(ledger: Ledger) -> OpenIndex:
    return index_of(ledger, lambda: OpenIndex(_placed))


def _place(held: OpenHeld) -> Place:
    since = held.since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return (since, held.form_key, held.item, item_id(held.form_key, held.item))


def _placed(ledger: Ledger, form_keys: Collection[str] | None) -> list[tuple[Place, str, object]]:
    return [(_place(o.held), o.queue, o) for o in _open(ledger, form_keys)]


def _open(ledger: Ledger, form_keys: Collection[str] | None) -> list[_Open]:
    """The open items of these forms (of every form: None), from the held items and decisions
    alone (no form is read)."""
    held = [(h, q) for h in open_held_items(ledger, form_keys=form_keys) if (q := queue_of(h))]
    if not held:
        return []
    keys = issued_form_keys(ledger, {h.form_key for h, _ in held})
    decided = decisions_of(ledger, keys)
    states = {k: by_item(decided.get(k, [])) for k in keys}
    out = []
    for h, q in held:
        if h.form_key not in keys:
            continue
        state = states[h.form_key].get(h.item)
        status = OPEN
        entries: tuple[Decision, ...] = ()
        in_force = state.in_force if state is not None else None
        if in_force is not None:
            if h.latest <= in_force.decided_at:
                continue  # settled: reconciliation posts it next
            entries = (in_force,)  # held anew after it was decided (a typed time cannot be)
        elif state is not None and state.awaiting_confirmation:
            status = AWAITING
        elif state is not None and state.mismatch:
            status = MISMATCH
            entries = tuple(d for d in (state.entry, state.confirmation) if d is not None)
        out.append(_Open(h, q, status, entries, state.latest_id if state is not None else 0))
    return out


def _items(ledger: Ledger, opened: Sequence[_Open]) -> list[ReviewItem]:
    if not opened:
        return []
    forms = _forms(ledger, {o.held.form_key for o in opened})
    conflicts = [o.held.form_key for o in opened if o.queue == "record-conflict"]
    sides = conflict_sides(ledger, conflicts) if conflicts else {}
    out = []
    for o in opened:
        form = forms.get(o.held.form_key)
        if form is None:
            continue
        h = o.held
        page = _page(form, h.item)
        fields = tuple(_fields(ledger, page, h.item)) if page is not None else ()
        out.append(ReviewItem(item_id(h.form_key, h.item), o.queue, o.state, h, form, page,
                              fields, o.entries, o.seen,
                              sides.get((h.form_key, h.item), ())))  # fmt: skip
    return out


def _forms(ledger: Ledger, keys: Iterable[str]) -> dict[str, IssuedForm]:
    packs = sorted({k.split("/", 1)[0] for k in keys})
    wanted = set(keys)
    return {f.form_key: f for f in issued_forms(ledger, packs, only=wanted)}


def _page(form: IssuedForm, item: str) -> ReturnedPage | None:
    number = page_of(item)
    if number is None and item.startswith("page ") and item[5:].isdigit():
        number = int(item[5:])  # a whole page in conflict
    if number is None:
        number = 1 if form.page_count == 1 or item == "patient" else None
    return next((p for p in form.returned if p.page_no == number), None)


def _fields(ledger: Ledger, page: ReturnedPage, item: str) -> Sequence[FieldBox]:
    """The page's fields the item concerns: all of them for a whole page or a patient, else
    those whose id is the item's name or starts with it and a dot."""
    everything = page_fields(ledger, page.page_uid)
    name = item.split("/", 1)[1] if "/" in item else item
    if name == "patient" or (name.startswith("page ") and name[5:].isdigit()):
        return everything
    return [f for f in everything if f.id == name or f.id.startswith(f"{name}.")]


def age(item: ReviewItem, now: datetime) -> str:
    """How long it has waited, briefly: ``35 min``, ``4 h``, ``2 d``."""
    seconds = max((now - item.held.since).total_seconds(), 0.0)
    if seconds < 3600:
        return f"{seconds // 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600:.0f} h"
    return f"{seconds // 86400:.0f} d"

"""What people settle about held items, as the command line and the station use it: the open
items of every queue, and a decision about one (:mod:`downtime.review`). The person deciding is
the one running the command (``$DOWNTIME_USER`` or the login name), or the station's user."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from downtime.app.workspace import workspace
from downtime.errors import InputError
from downtime.ledger.conflicts import PAPER, RECORD, ConflictSide
from downtime.review import (
    QUEUES,
    ReviewItem,
    Settled,
    age,
    decide,
    next_item_id,
    open_item_ids,
    review_items,
)

SCHEMA = "downtime.review-items/1"
# Items of the record-conflict queue carry ``conflict`` besides (an optional field added in
# /1): {"paper": SIDE | null, "record": [SIDE, …]}, each SIDE {"resource_type",
# "resource_id", "identifier", "status", "occurred_at", "medication", "dose", "who",
# "recorded_at", "note"} (null: not in the resource); "record" is empty for an item held
# before the kit kept what the record holds.


def open_items(
    home: Path | None, *, queue: str | None = None, limit: int | None = None
) -> list[ReviewItem]:
    """Every item waiting for a person (of ``queue`` only, if given; the ``limit`` oldest
    only, if given), oldest first."""
    if queue is not None and queue not in QUEUES:
        raise InputError(f"no queue {queue!r}: the queues are {', '.join(QUEUES)}")
    with workspace(home, keys="read") as (_settings, _keys, ledger):
        return review_items(ledger, queue=queue, limit=limit)


def open_ids(home: Path | None, *, queue: str | None = None) -> list[str]:
    """The ids of :func:`open_items`, in its order (quicker: no form is read)."""
    if queue is not None and queue not in QUEUES:
        raise InputError(f"no queue {queue!r}: the queues are {', '.join(QUEUES)}")
    with workspace(home, keys="read") as (_settings, _keys, ledger):
        return open_item_ids(ledger, queue=queue)


def next_open(home: Path | None, done: ReviewItem) -> str | None:
    """The id of the open item of ``done``'s queue after it (else the first), if any."""
    with workspace(home, keys="read") as (_settings, _keys, ledger):
        return next_item_id(ledger, done)


def settle(
    home: Path | None,
    wanted: ReviewItem | str,
    *,
    action: str,
    values: Mapping[str, str],
    reason: str = "",
    confirm: bool = False,
    user: str | None = None,
    seen: int | None = None,
) -> Settled:
    """Record a decision about one open item (as found a moment ago, or its id) by ``user``
    (default: who runs the command), who saw it with ``seen`` its latest decision (None: as it
    is now)."""
    with workspace(home, keys="read") as (settings, _keys, ledger):
        return decide(
            ledger,
            wanted,
            action=action,
            value=values,
            reason=reason,
            confirm=confirm,
            user=user or settings.operator,
            station=settings.station,
            seen=seen,
        )


def item_json(item: ReviewItem, now: datetime | None = None) -> dict[str, Any]:
    """One item as ``downtime review list --json`` shows it (see :data:`SCHEMA`)."""
    at = now or datetime.now(UTC)
    patient = item.patient
    found: dict[str, Any] = {
        "item_id": item.item_id,
        "queue": item.queue,
        "state": item.state,
        "ward": item.form.ward,
        "bed": patient.bed if patient else None,
        "patient": patient.identifier.display() if patient else None,
        "family_name": patient.family_name if patient else None,
        "given_name": patient.given_name if patient else None,
        "form": item.form.form,
        "serial": item.page.serial if item.page else None,
        "page": item.page.page_no if item.page else None,
        "item": item.item,
        "held_as": item.held.kind,
        "why": item.held.detail,
        "held_since": item.held.since.isoformat(timespec="seconds"),
        "age": age(item, at),
        "fields": [f.id for f in item.fields],
        "entries": [
            {"by": d.decided_by, "step": d.step, "action": d.action, "value": dict(d.value)}
            for d in item.entries
        ],
    }
    if item.queue == "record-conflict":
        paper = [side_json(s) for s in item.sides if s.side == PAPER]
        record = [side_json(s) for s in item.sides if s.side == RECORD]
        found["conflict"] = {"paper": paper[0] if paper else None, "record": record}
    return found


def side_json(side: ConflictSide) -> dict[str, str | None]:
    """One side of a record conflict as ``review list --json`` shows it."""
    return {k: v or None for k, v in asdict(side).items() if k != "side"}

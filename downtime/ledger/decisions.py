"""Decisions: what people settled about held items, appended, never changed.

An item is what reconciliation held (``held_items``: ``med1.t08``, ``page 2/new1``, ``page 1``,
``form``…) of one form. Every decision about it is a new row; the latest *decide* row is the one
in force. What becomes medication from handwriting (``two_people``) is in force only once a
second, different person has typed it again without seeing the first entry (a *confirm* row
after the latest *decide* row) and both say the same; a confirmation that differs sends the item
back with both entries shown (:attr:`ItemDecisions.mismatch`). The same person confirming their
own entry is refused here, in the transaction that would record it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from downtime.errors import DowntimeError, ExitCode
from downtime.ledger.audit import append_audit
from downtime.ledger.db import Connection, Ledger, now, rows
from downtime.ledger.records import AuditEvent

DECIDE, CONFIRM = "decide", "confirm"
ACTIONS = frozenset({"boxes", "skip", "post", "capture", "transcribe"})
# Items whose transcription becomes a MedicationRequest or MedicationAdministration: a new
# order, a changed order, a paper prescription, an as-needed dose (on any page of the form).
MEDICATION_ITEM = re.compile(r"(page \d+/)?(new\d+|active\d+|rx\d+|prn\d+\.dose\d+)")


def needs_two_people(item: str, action: str) -> bool:
    """Whether a decision of ``action`` about ``item`` is in force only once confirmed."""
    return action == "transcribe" and MEDICATION_ITEM.fullmatch(item) is not None


class DecisionRefused(DowntimeError):
    """A decision the two-person rule or the item's state does not allow."""

    exit_code = ExitCode.BAD_INPUT


@dataclass(frozen=True)
class Decision:
    decision_id: int
    form_key: str
    item: str
    step: str  # decide | confirm
    action: str  # boxes | skip | post | capture | transcribe
    value: Mapping[str, Any]
    reason: str
    decided_by: str
    decided_at: datetime
    confirmed_by: str | None = None  # in force: the second person, where one was needed


@dataclass(frozen=True)
class ItemDecisions:
    """Every decision about one item, oldest first, and what is in force."""

    form_key: str
    item: str
    history: tuple[Decision, ...]

    @property
    def latest_id(self) -> int:
        """The id of the latest decision about the item (0: none yet)."""
        return self.history[-1].decision_id if self.history else 0

    @property
    def two_people(self) -> bool:
        entry = self.entry
        return entry is not None and needs_two_people(self.item, entry.action)

    @property
    def entry(self) -> Decision | None:
        """The latest *decide* row."""
        return next((d for d in reversed(self.history) if d.step == DECIDE), None)

    @property
    def confirmation(self) -> Decision | None:
        """The latest *confirm* row after the latest entry."""
        entry = self.entry
        if entry is None:
            return None
        later = [d for d in self.history if d.step == CONFIRM and d.decision_id > entry.decision_id]
        return later[-1] if later else None

    @property
    def in_force(self) -> Decision | None:
        """The decision reconciliation follows, or None while it waits for a person."""
        entry = self.entry
        if entry is None or not self.two_people:
            return entry
        confirmation = self.confirmation
        if confirmation is None or not same(entry, confirmation):
            return None
        return replace(entry, confirmed_by=confirmation.decided_by)

    @property
    def awaiting_confirmation(self) -> bool:
        return self.two_people and self.entry is not None and self.confirmation is None

    @property
    def mismatch(self) -> bool:
        confirmation, entry = self.confirmation, self.entry
        return entry is not None and confirmation is not None and not same(entry, confirmation)


def same(a: Decision, b: Decision) -> bool:
    return (a.action, dict(a.value)) == (b.action, dict(b.value))


def record_decision(
    ledger: Ledger, decision: Decision, *, audit: AuditEvent, station: str, seen: int
) -> int:
    """Append ``decision`` (its id and time are given here) and its audit event in one
    transaction; the two-person rule is checked against what the ledger holds at that moment,
    and so is what the person deciding saw: ``seen``, the item's latest decision id when it
    was shown to them (0: none). A decision recorded since by someone else refuses this one:
    two people deciding the same item at once, one wins and the other is told. Returns the new
    decision id."""

    def body(conn: Connection) -> int:
        found = conn.execute(
            "SELECT decision_id, form_key, item, step, action, value, reason, decided_by,"
            " decided_at FROM decisions WHERE form_key = ? AND item = ? ORDER BY decision_id",
            (decision.form_key, decision.item),
        ).fetchall()
        state = ItemDecisions(decision.form_key, decision.item, tuple(_decision(r) for r in found))
        if state.latest_id != seen:
            last = state.history[-1]
            raise DecisionRefused(
                f"{decision.item} was decided meanwhile by {last.decided_by}: nothing of yours"
                " was recorded; look at it again",
                hint="`downtime review list` shows what it waits for now",
            )
        if decision.step == CONFIRM:
            _may_confirm(state, decision)
        cur = conn.execute(
            "INSERT INTO decisions (form_key, item, step, action, value, reason, decided_by,"
            " decided_at, station) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING decision_id",
            (
                decision.form_key, decision.item, decision.step, decision.action,
                json.dumps(dict(decision.value), sort_keys=True, ensure_ascii=False),
                decision.reason, decision.decided_by, now(), station,
            ),
        )  # fmt: skip
        decision_id = int(cur.fetchone()[0])
        append_audit(conn, [audit], actor=decision.decided_by, station=station)
        return decision_id

    return ledger.write(body, in_order=("decisions",))


def _may_confirm(state: ItemDecisions, decision: Decision) -> None:
    entry = state.entry
    if entry is None:
        raise DecisionRefused(f"{decision.item} has no entry to confirm yet")
    if not state.two_people:
        raise DecisionRefused(f"{decision.item} needs no confirmation: it is decided already")
    if state.in_force is not None:
        raise DecisionRefused(f"{decision.item} is already confirmed")
    if entry.decided_by == decision.decided_by:
        raise DecisionRefused(
            f"{decision.item} was entered by {decision.decided_by}: a second, different person "
            "must confirm it"
        )


def decisions_of(ledger: Ledger, form_keys: Iterable[str]) -> dict[str, list[Decision]]:
    """Every decision about the items of these forms, per form key, oldest first."""
    keys = list(dict.fromkeys(form_keys))
    out: dict[str, list[Decision]] = {}
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        marks = ",".join("?" * len(chunk))
        for r in rows(
            ledger,
            "SELECT decision_id, form_key, item, step, action, value, reason, decided_by,"
            f" decided_at FROM decisions WHERE form_key IN ({marks}) ORDER BY decision_id",
            chunk,
        ):
            out.setdefault(r["form_key"], []).append(_decision(r))
    return out


def by_item(decisions: Sequence[Decision]) -> dict[str, ItemDecisions]:
    """One form's decisions grouped per item."""
    grouped: dict[str, list[Decision]] = {}
    for d in decisions:
        grouped.setdefault(d.item, []).append(d)
    return {
        item: ItemDecisions(found[0].form_key, item, tuple(found))
        for item, found in grouped.items()
    }


def _decision(r: Any) -> Decision:
    return Decision(
        decision_id=int(r["decision_id"]),
        form_key=r["form_key"],
        item=r["item"],
        step=r["step"],
        action=r["action"],
        value=json.loads(r["value"]),
        reason=r["reason"],
        decided_by=r["decided_by"],
        decided_at=datetime.fromisoformat(r["decided_at"]),
    )


@dataclass(frozen=True)
class CaptureInfo:
    capture_id: int
    captured_at: datetime
    via: str
    registered_as: str


def captures_of(ledger: Ledger, page_uid: str) -> list[CaptureInfo]:
    """Every capture of a page, first first."""
    return [
        CaptureInfo(
            int(r["capture_id"]),
            datetime.fromisoformat(r["captured_at"]),
            r["via"],
            r["registered_as"],
        )
        for r in rows(
            ledger,
            "SELECT capture_id, captured_at, via, registered_as FROM captures"
            " WHERE page_uid = ? ORDER BY capture_id",
            (page_uid,),
        )
    ]


def capture_states(ledger: Ledger, capture_id: int) -> dict[str, str]:
    """Field id → what one capture read there (marked, empty, written, blank, uncertain)."""
    found = rows(ledger, "SELECT field_id, state FROM marks WHERE capture_id = ?", (capture_id,))
    return {str(r["field_id"]): str(r["state"]) for r in found}

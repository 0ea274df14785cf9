"""Settling an item: what a person may decide about it, checked, then recorded and audited.

Actions, by queue:

* ``boxes`` (marks): the state of every box or area of the item a person read, ``marked`` /
  ``empty`` for a tick box, ``written`` / ``blank`` for a writing area;
* ``capture`` (page conflicts): which capture of the page is right;
* ``post`` / ``skip`` (record conflicts): post the paper's item anyway, or leave it out;
* ``transcribe`` (transcriptions, unknown patients): the values typed from the handwriting
  (:data:`TRANSCRIPTIONS`); medication needs a second person who types it again (``confirm``);
* ``skip`` (any queue but page conflicts): nothing of the item goes to the record.

``skip`` and ``post`` need a reason. Nothing here guesses: a value that is missing or does not
parse is refused with what to do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from downtime.census.ids import IdentifierError, parse_patient_id
from downtime.ledger import AuditEvent, Ledger
from downtime.ledger.decisions import (
    CONFIRM,
    DECIDE,
    Decision,
    DecisionRefused,
    by_item,
    captures_of,
    decisions_of,
    needs_two_people,
    record_decision,
)
from downtime.review.items import ReviewItem, find_item
from downtime.vocab import FieldKind

ALLOWED = {
    "transcription": ("transcribe", "skip"),
    "marks": ("boxes", "skip"),
    "page-conflict": ("capture",),
    "record-conflict": ("post", "skip"),
    "unknown-patient": ("transcribe", "skip"),
}
# What is typed for each kind of handwritten item: (required, optional) value names.
TRANSCRIPTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "prn": (("given_at",), ("dose",)),  # an as-needed dose: when (local "YYYY-MM-DD HH:MM")
    "new": (("drug", "dose", "route", "frequency"), ("prescriber",)),  # a new order
    "change": (("dose",), ("frequency",)),  # the new dose of a changed order
    "rx": (  # a paper prescription; date: YYYY-MM-DD, when it was written
        ("drug", "strength", "dosage"),
        ("form", "amount", "purpose", "dispensings", "prescriber", "date"),
    ),
    "referral": (("to",), ()),  # the receiving unit
    "patient": (("identifier",), ()),  # the real identity of a reserve-number admission
}
_KIND = (
    (re.compile(r"prn\d+\.dose\d+"), "prn"),
    (re.compile(r"new\d+"), "new"),
    (re.compile(r"active\d+"), "change"),
    (re.compile(r"rx\d+"), "rx"),
    (re.compile(r"referral\.to"), "referral"),
    (re.compile(r"patient"), "patient"),
)
BOX_STATES = {FieldKind.CHECKBOX: ("marked", "empty")}
AREA_STATES = ("written", "blank")
MAX_TEXT = 200


@dataclass(frozen=True)
class Settled:
    decision_id: int
    item: ReviewItem
    in_force: bool  # False: it waits for a second person, or the two entries differ
    action: str
    mismatch: bool = False  # a confirmation that differs from the entry: back in the queue


def transcription_kind(item: str) -> str | None:
    name = item.split("/", 1)[1] if "/" in item else item
    return next((kind for pattern, kind in _KIND if pattern.fullmatch(name)), None)


def decide(
    ledger: Ledger,
    wanted: ReviewItem | str,
    *,
    action: str,
    value: Mapping[str, str] | None = None,
    reason: str = "",
    confirm: bool = False,
    user: str,
    station: str,
    today: date | None = None,
    seen: int | None = None,
) -> Settled:
    """Record ``user``'s decision about the open item ``wanted`` (``confirm``: the second
    person's blind entry of a medication transcription): the item as found a moment ago (the
    station has just found it to check it), or its id. ``seen``: the item's latest decision
    id when it was shown to the person (:attr:`ReviewItem.seen`; None: as the item was
    found); a decision recorded since refuses this one."""
    item = find_item(ledger, wanted) if isinstance(wanted, str) else wanted
    if item is None:
        raise DecisionRefused(
            f"no open item {wanted}: it may be settled already (`downtime review list`)"
        )
    if action not in ALLOWED[item.queue]:
        raise DecisionRefused(
            f"{action} does not settle a {item.queue} item: use {' or '.join(ALLOWED[item.queue])}"
        )
    reason = _text(reason, "reason")
    if action in ("skip", "post") and not reason:
        raise DecisionRefused(f"{action} needs a reason (--reason): why, in a few words")
    checked = _checked_value(ledger, item, action, dict(value or {}), today or date.today())
    step = CONFIRM if confirm else DECIDE
    if confirm and not needs_two_people(item.item, action):
        raise DecisionRefused(f"{item.item} needs no second person: decide it without confirm")
    decision = Decision(0, item.held.form_key, item.item, step, action, checked, reason, user,
                        datetime.now(UTC))  # fmt: skip
    patient = item.patient.identifier if item.patient else None
    audit = AuditEvent(
        f"review.{step}",
        f"{action} {item.item} ({item.form.form}, {item.queue})",
        care_unit=item.form.ward,
        patient=patient,
        object_type="item",
        object_id=item.item_id,
    )
    seen = item.seen if seen is None else seen
    decision_id = record_decision(ledger, decision, audit=audit, station=station, seen=seen)
    # what the ledger now says, not what this call hoped: a confirmation may differ
    state = by_item(decisions_of(ledger, [item.held.form_key]).get(item.held.form_key, []))
    now = state[item.item]
    return Settled(decision_id, item, now.in_force is not None, action, now.mismatch)


def _checked_value(
    ledger: Ledger, item: ReviewItem, action: str, value: dict[str, str], today: date
) -> dict[str, object]:
    if action in ("skip", "post"):
        if value:
            raise DecisionRefused(f"{action} takes no values, only a reason")
        return {}
    if action == "boxes":
        return {"states": _boxes(item, value)}
    if action == "capture":
        return {"capture_id": _capture(ledger, item, value)}
    return _transcribed(item, value, today)


def _boxes(item: ReviewItem, value: Mapping[str, str]) -> dict[str, str]:
    fields = {f.id: f.kind for f in item.fields}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise DecisionRefused(
            f"{', '.join(unknown)}: not a field of {item.item} (its fields: {', '.join(fields)})"
        )
    missing = sorted(set(fields) - set(value))
    if missing:
        raise DecisionRefused(f"give every field of {item.item} a state: {', '.join(missing)}")
    for field_id, state in value.items():
        allowed = BOX_STATES.get(FieldKind(fields[field_id]), AREA_STATES)
        if state not in allowed:
            raise DecisionRefused(f"{field_id}: {state!r} is not one of {', '.join(allowed)}")
    return dict(sorted(value.items()))


def _capture(ledger: Ledger, item: ReviewItem, value: Mapping[str, str]) -> int:
    if item.page is None:
        raise DecisionRefused(f"{item.item} is not on a returned page")
    known = [c.capture_id for c in captures_of(ledger, item.page.page_uid)]
    text = value.get("capture_id", "")
    if set(value) != {"capture_id"} or not text.isdigit() or int(text) not in known:
        raise DecisionRefused(
            f"choose one of the page's captures: capture_id={' or '.join(map(str, known))}"
        )
    return int(text)


def _transcribed(item: ReviewItem, value: Mapping[str, str], today: date) -> dict[str, object]:
    kind = transcription_kind(item.item)
    if kind is None:
        raise DecisionRefused(f"{item.item} has nothing to transcribe: decide it otherwise")
    required, optional = TRANSCRIPTIONS[kind]
    unknown = sorted(set(value) - set(required) - set(optional))
    if unknown:
        names = ", ".join((*required, *optional))
        raise DecisionRefused(f"{', '.join(unknown)}: not a value of {item.item} ({names})")
    out: dict[str, object] = {}
    for name in (*required, *optional):
        text = _text(value.get(name, ""), name)
        if name in required and not text:
            raise DecisionRefused(
                f"{name} is required for {item.item}: type what the paper says, or skip the "
                "item with a reason if it cannot be read"
            )
        if text:
            out[name] = text
    if kind == "prn":
        out["given_at"] = _local_time(str(out["given_at"]))
    if "date" in out:
        out["date"] = _date(str(out["date"]))
    if kind == "patient":
        try:
            identity = parse_patient_id(str(out["identifier"]), today=today)
        except IdentifierError as e:
            raise DecisionRefused(f"identifier: {e}") from None
        out["identifier"] = f"{identity.system}|{identity.value}"
    return out


def _local_time(text: str) -> str:
    """``YYYY-MM-DD HH:MM`` as typed (the site's local time), normalised."""
    try:
        when = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M")
    except ValueError:
        raise DecisionRefused(
            "given_at: type the date and time as YYYY-MM-DD HH:MM (the time on the paper)"
        ) from None
    return when.strftime("%Y-%m-%d %H:%M")


def _date(text: str) -> str:
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise DecisionRefused("date: type it as YYYY-MM-DD (the date on the paper)") from None


def _text(text: str, name: str) -> str:
    cleaned = " ".join(text.split())
    if len(cleaned) > MAX_TEXT:
        raise DecisionRefused(f"{name}: at most {MAX_TEXT} characters")
    if any(not ch.isprintable() for ch in cleaned):
        raise DecisionRefused(f"{name}: remove control or format characters")
    return cleaned

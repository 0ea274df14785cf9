"""referral: anything marked or written → a ServiceRequest with its scan as supporting info;
the receiving unit, written by hand, is held for transcription."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from downtime.ledger.decisions import Decision
from downtime.ledger.returns import Reading, ReturnedPage
from downtime.record.fhir.common import Derived, Env, unit
from downtime.record.fhir.model import CATEGORIES, PRIORITIES, WHY_PAGE, WHY_REFERRAL, WHY_TO
from downtime.record.fhir.readings import choice_of, inked
from downtime.vocab import MarkState


def referral(env: Env, derived: Derived) -> None:
    for page in env.pages:
        readings = {k.removeprefix("referral."): r for k, r in page.readings.items()}
        to = env.transcribed(page, "referral.to")
        if inked([readings.get("to")]) and to is None:
            derived.hold(env, page, "referral.to", WHY_TO)
        if any(r.state in (MarkState.MARKED, MarkState.WRITTEN) for r in readings.values()):
            _service_request(env, derived, page, readings, to)
        elif inked(readings.values()) or page.in_conflict:
            derived.hold(env, page, "referral", WHY_REFERRAL)


def _service_request(
    env: Env,
    derived: Derived,
    page: ReturnedPage,
    readings: Mapping[str, Reading],
    to: Decision | None = None,
) -> None:
    """``to``: the receiving unit as a person transcribed it (its performer)."""
    types = ("lab", "radiology", "consultation", "other")
    category = _ticked(env, derived, page, readings, "type", types)
    priority = _ticked(env, derived, page, readings, "priority", tuple(PRIORITIES))
    resource = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "category": [_category(category)] if category else None,
        "priority": PRIORITIES[priority] if priority else None,
        "code": {"text": "Referral (paper form)"},
        "subject": env.subject,
        "encounter": env.encounter,
        "performer": [{"display": str(to.value["to"])}] if to is not None else None,
        "supportingInfo": [env.document],
        "note": [
            {
                "text": "Written on a paper referral form during a record outage. The "
                "receiving unit, the question and the history are handwritten on the "
                "attached scan (supportingInfo)."
            }
        ],
    }
    derived.units.append(unit(env, resource, "referral", decision=to))


def _ticked(
    env: Env,
    derived: Derived,
    page: ReturnedPage,
    readings: Mapping[str, Reading],
    group: str,
    options: Sequence[str],
) -> str | None:
    """The one option of a referral's tick group, or None (held when it is not clear)."""
    boxes = {o: readings.get(f"{group}.{o}") for o in options}
    if page.in_conflict:
        if inked(boxes.values()):
            derived.hold(env, page, f"referral.{group}", WHY_PAGE)
        return None
    choice = choice_of(boxes)
    if choice.why is not None:
        derived.hold(env, page, f"referral.{group}", choice.why)
    return choice.chosen


def _category(option: str) -> dict[str, Any]:
    if option not in CATEGORIES:
        return {"text": "Other"}
    system, code, display = CATEGORIES[option]
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}

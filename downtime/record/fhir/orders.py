"""medication-orders: an active row stopped on paper → a stopped MedicationRequest; a changed
row, once its new dose is transcribed, → that stop and a new MedicationRequest; a new order
written by hand, once transcribed → a MedicationRequest (its drug coded when it is exactly an
entry of the site's drug list); anything else written is held."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from downtime.ledger.decisions import Decision
from downtime.ledger.returns import OrderInfo, Reading, ReturnedPage
from downtime.record.fhir.common import Derived, Env, unit
from downtime.record.fhir.made import logical_ref
from downtime.record.fhir.mar import medication
from downtime.record.fhir.model import (
    ACTIVE_ROW,
    NEW_ROW,
    ON_PAPER,
    ORDER_SYSTEM,
    WHY_CHANGE,
    WHY_INITIALS,
    WHY_NEW,
    WHY_NO_ORDER,
    WHY_PAGE,
)
from downtime.record.fhir.readings import choice_of, grouped, inked


def orders(env: Env, derived: Derived) -> None:
    for page in env.pages:
        for key, row in grouped(page.readings, ACTIVE_ROW):
            _active_row(env, derived, page, key, row)
        for key, row in grouped(page.readings, NEW_ROW):
            if not inked(row.values()):
                continue
            decided = env.transcribed(page, key)
            if decided is None:
                derived.hold(env, page, key, WHY_NEW)
            elif page.in_conflict:
                derived.hold(env, page, key, WHY_PAGE)
            else:
                _new_order(env, derived, page, key, decided)


def _active_row(
    env: Env, derived: Derived, page: ReturnedPage, key: str, row: Mapping[str, Reading]
) -> None:
    boxes = {name: row.get(name) for name in ("continue", "change", "stop")}
    choice = choice_of(boxes, beside=[row.get("initials")])
    if choice.why is not None:
        derived.hold(env, page, key, choice.why)
    elif choice.chosen is None:
        if inked([row.get("initials")]):
            derived.hold(env, page, key, WHY_INITIALS)
    elif choice.chosen == "change":
        decided = env.transcribed(page, key)
        if decided is None:
            derived.hold(env, page, key, WHY_CHANGE)
        elif _stop(env, derived, page, key):
            _changed(env, derived, page, key, decided)
    elif choice.chosen == "stop":
        _stop(env, derived, page, key)


def _order(page: ReturnedPage, env: Env, key: str) -> OrderInfo | None:
    ref = page.refs.get(f"{key}.stop") or page.refs.get(f"{key}.continue") or {}
    return env.form.orders.get(ref.get("order_id", ""))


def _stop(env: Env, derived: Derived, page: ReturnedPage, key: str) -> bool:
    """The paper's stop of a pre-printed order (False: held instead)."""
    order = _order(page, env, key)
    if page.in_conflict:
        derived.hold(env, page, key, WHY_PAGE)
        return False
    if order is None:
        derived.hold(env, page, key, WHY_NO_ORDER)
        return False
    resource = {
        "resourceType": "MedicationRequest",
        "status": "stopped",
        "intent": "order",
        "medicationCodeableConcept": {"text": medication(order)},
        "subject": env.subject,
        "encounter": env.encounter,
        "priorPrescription": logical_ref("MedicationRequest", ORDER_SYSTEM, order.order_id),
        "dosageInstruction": [{"text": f"{order.dose} {order.route} {order.frequency}".strip()}],
        "note": [
            {
                "text": "Stopped on paper during a record outage; "
                "discontinue the original order in the record"
            }
        ],
    }
    derived.units.append(unit(env, resource, f"{page.page_uid}/{key}", label=env.item(page, key)))
    return True


def _changed(env: Env, derived: Derived, page: ReturnedPage, key: str, decided: Decision) -> None:
    """A changed order: its new dose (and frequency) as typed, a new MedicationRequest after
    the stopped one."""
    order = _order(page, env, key)
    assert order is not None  # _stop held the row otherwise
    value = decided.value
    new = replace(order, dose=str(value["dose"]), frequency=str(value.get("frequency") or
                  order.frequency))  # fmt: skip
    concept = {"text": medication(new)}  # the census's drug, as the pack printed it
    resource = _request(env, concept, f"{new.dose} {new.route} {new.frequency}", value)
    resource["priorPrescription"] = logical_ref("MedicationRequest", ORDER_SYSTEM, order.order_id)
    item = f"{page.page_uid}/{key}/new"
    derived.units.append(unit(env, resource, item, label=env.item(page, key), decision=decided))


def _new_order(env: Env, derived: Derived, page: ReturnedPage, key: str, decided: Decision) -> None:
    value = decided.value
    concept = env.typed_medication(f"{value['drug']} {value['dose']}", str(value["drug"]))
    dosage = f"{value['dose']} {value['route']} {value['frequency']}"
    resource = _request(env, concept, dosage, value)
    item = f"{page.page_uid}/{key}"
    derived.units.append(unit(env, resource, item, label=env.item(page, key), decision=decided))


def _request(
    env: Env, concept: dict[str, Any], dosage: str, value: Mapping[str, object]
) -> dict[str, Any]:
    """An active order written on paper, as transcribed."""
    prescriber = value.get("prescriber")
    return {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": concept,
        "subject": env.subject,
        "encounter": env.encounter,
        "requester": {"display": str(prescriber)} if prescriber else None,
        "dosageInstruction": [{"text": dosage}],
        "note": [{"text": f"{ON_PAPER}; transcribed from the paper order by two people"}],
    }

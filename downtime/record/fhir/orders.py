"""medication-orders: an active row stopped on paper → a stopped MedicationRequest; anything
else written on a row is held."""

from __future__ import annotations

from collections.abc import Mapping

from downtime.ledger.returns import Reading, ReturnedPage
from downtime.record.fhir.common import Derived, Env, unit
from downtime.record.fhir.made import logical_ref
from downtime.record.fhir.mar import medication
from downtime.record.fhir.model import (
    ACTIVE_ROW,
    NEW_ROW,
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
            if inked(row.values()):
                derived.hold(env, page, key, WHY_NEW)


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
        derived.hold(env, page, key, WHY_CHANGE)
    elif choice.chosen == "stop":
        _stop(env, derived, page, key)


def _stop(env: Env, derived: Derived, page: ReturnedPage, key: str) -> None:
    ref = page.refs.get(f"{key}.stop") or page.refs.get(f"{key}.continue") or {}
    order = env.form.orders.get(ref.get("order_id", ""))
    if page.in_conflict:
        derived.hold(env, page, key, WHY_PAGE)
        return
    if order is None:
        derived.hold(env, page, key, WHY_NO_ORDER)
        return
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

"""medication-orders: an active row stopped on paper → a stopped MedicationRequest; anything
else written on a row is held."""

from __future__ import annotations

from collections.abc import Mapping

from downtime.ledger.returns import Reading, ReturnedPage
from downtime.record.fhir.common import _Derived, _Env, _unit
from downtime.record.fhir.made import _logical
from downtime.record.fhir.mar import _medication
from downtime.record.fhir.model import (
    _ACTIVE_ROW,
    _NEW_ROW,
    _WHY_CHANGE,
    _WHY_INITIALS,
    _WHY_NEW,
    _WHY_NO_ORDER,
    _WHY_PAGE,
    ORDER_SYSTEM,
)
from downtime.record.fhir.readings import _choice, _grouped, _inked


def _orders(env: _Env, derived: _Derived) -> None:
    for page in env.pages:
        for key, row in _grouped(page.readings, _ACTIVE_ROW):
            _active_row(env, derived, page, key, row)
        for key, row in _grouped(page.readings, _NEW_ROW):
            if _inked(row.values()):
                derived.hold(env, page, key, _WHY_NEW)


def _active_row(
    env: _Env, derived: _Derived, page: ReturnedPage, key: str, row: Mapping[str, Reading]
) -> None:
    boxes = {name: row.get(name) for name in ("continue", "change", "stop")}
    choice = _choice(boxes, beside=[row.get("initials")])
    if choice.why is not None:
        derived.hold(env, page, key, choice.why)
    elif choice.chosen is None:
        if _inked([row.get("initials")]):
            derived.hold(env, page, key, _WHY_INITIALS)
    elif choice.chosen == "change":
        derived.hold(env, page, key, _WHY_CHANGE)
    elif choice.chosen == "stop":
        _stop(env, derived, page, key)


def _stop(env: _Env, derived: _Derived, page: ReturnedPage, key: str) -> None:
    ref = page.refs.get(f"{key}.stop") or page.refs.get(f"{key}.continue") or {}
    order = env.form.orders.get(ref.get("order_id", ""))
    if page.in_conflict:
        derived.hold(env, page, key, _WHY_PAGE)
        return
    if order is None:
        derived.hold(env, page, key, _WHY_NO_ORDER)
        return
    resource = {
        "resourceType": "MedicationRequest",
        "status": "stopped",
        "intent": "order",
        "medicationCodeableConcept": {"text": _medication(order)},
        "subject": env.subject,
        "encounter": env.encounter,
        "priorPrescription": _logical("MedicationRequest", ORDER_SYSTEM, order.order_id),
        "dosageInstruction": [{"text": f"{order.dose} {order.route} {order.frequency}".strip()}],
        "note": [
            {
                "text": "Stopped on paper during a record outage; "
                "discontinue the original order in the record"
            }
        ],
    }
    derived.units.append(_unit(env, resource, f"{page.page_uid}/{key}", label=env.item(page, key)))

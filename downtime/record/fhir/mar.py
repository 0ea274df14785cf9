"""mar: each cell's given / not given → a MedicationAdministration, or held."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from downtime.ledger.returns import OrderInfo, Reading, ReturnedPage
from downtime.record.fhir.common import _Derived, _Env, _unit
from downtime.record.fhir.made import _instant, _logical
from downtime.record.fhir.model import (
    _MAR_CELL,
    _ON_PAPER,
    _PRN_CELL,
    _SIMPLE_DOSE,
    _WHY_INITIALS,
    _WHY_NO_ORDER,
    _WHY_NO_SLOT,
    _WHY_PAGE,
    _WHY_PRN,
    ORDER_SYSTEM,
)
from downtime.record.fhir.readings import _choice, _grouped, _inked


def _mar(env: _Env, derived: _Derived) -> None:
    for page in env.pages:
        for key, cell in _grouped(page.readings, _MAR_CELL):
            _mar_cell(env, derived, page, key, cell)
        for key, cell in _grouped(page.readings, _PRN_CELL):
            if _inked(cell.values()):
                derived.hold(env, page, key, _WHY_PRN)


def _mar_cell(
    env: _Env, derived: _Derived, page: ReturnedPage, key: str, cell: Mapping[str, Reading]
) -> None:
    boxes = {"given": cell.get("given"), "notgiven": cell.get("notgiven")}
    choice = _choice(boxes, beside=[cell.get("initials")])
    if choice.why is not None:
        derived.hold(env, page, key, choice.why)
    elif choice.chosen is None:
        if _inked([cell.get("initials")]):
            derived.hold(env, page, key, _WHY_INITIALS)
    elif page.in_conflict:
        derived.hold(env, page, key, _WHY_PAGE)
    else:
        _administration(env, derived, page, key, completed=choice.chosen == "given")


def _administration(
    env: _Env, derived: _Derived, page: ReturnedPage, key: str, *, completed: bool
) -> None:
    ref = page.refs.get(f"{key}.given") or page.refs.get(f"{key}.notgiven") or {}
    order = env.form.orders.get(ref.get("order_id", ""))
    slot = _slot(ref.get("slot"))
    if order is None:
        derived.hold(env, page, key, _WHY_NO_ORDER)
        return
    if slot is None:
        derived.hold(env, page, key, _WHY_NO_SLOT)
        return
    resource = {
        "resourceType": "MedicationAdministration",
        "status": "completed" if completed else "not-done",
        "statusReason": None if completed else [{"text": "not given (marked on paper)"}],
        "medicationCodeableConcept": {"text": _medication(order)},
        "subject": env.subject,
        "context": env.encounter,
        "effectiveDateTime": _instant(slot),
        "request": _logical("MedicationRequest", ORDER_SYSTEM, order.order_id),
        "note": [{"text": _ON_PAPER}],
        "dosage": _dosage(order),
    }
    label = env.item(page, key)
    derived.units.append(_unit(env, resource, f"{page.page_uid}/{key}", slot, label))


def _slot(text: str | None) -> datetime | None:
    try:
        slot = datetime.fromisoformat(text or "")
    except ValueError:
        return None
    return slot if slot.utcoffset() is not None else None


def _dosage(order: OrderInfo) -> dict[str, Any] | None:
    """The ordered dose as given, when it reads as a number and a unit ("1 g", "0,5 mg").

    R4 (mad-1) wants ``dosage.dose`` whenever there is a dosage; a dose like "1-2 tabl" has
    none, so then there is no dosage (the medication text carries the dose as printed).
    """
    match = _SIMPLE_DOSE.fullmatch(order.dose.strip())
    if match is None:
        return None
    number = float(match[1].replace(",", "."))
    value = int(number) if number.is_integer() else number
    dose = {"value": value, "unit": match[2]}
    return {"text": order.dose, "route": {"text": order.route}, "dose": dose}


def _medication(order: OrderInfo) -> str:
    return f"{order.medication} {order.dose}".strip()

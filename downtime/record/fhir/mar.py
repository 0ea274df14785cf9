"""mar: each cell's given / not given → a MedicationAdministration, or held."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from downtime.ledger.decisions import Decision
from downtime.ledger.returns import OrderInfo, Reading, ReturnedPage
from downtime.record.fhir.common import Derived, Env, unit
from downtime.record.fhir.made import instant, logical_ref
from downtime.record.fhir.model import (
    MAR_CELL,
    ON_PAPER,
    ORDER_SYSTEM,
    PRN_CELL,
    SIMPLE_DOSE,
    WHY_AFTER_SCAN,
    WHY_BEFORE_PACK,
    WHY_INITIALS,
    WHY_NO_ORDER,
    WHY_NO_SLOT,
    WHY_PAGE,
    WHY_PRN,
)
from downtime.record.fhir.readings import choice_of, grouped, inked


def mar(env: Env, derived: Derived) -> None:
    for page in env.pages:
        for key, cell in grouped(page.readings, MAR_CELL):
            _mar_cell(env, derived, page, key, cell)
        for key, cell in grouped(page.readings, PRN_CELL):
            if not inked(cell.values()):
                continue
            decided = env.form.decisions.get(env.item(page, key))
            if decided is not None and decided.action == "transcribe":
                _as_needed(env, derived, page, key, decided)
            else:
                derived.hold(env, page, key, WHY_PRN)


def _mar_cell(
    env: Env, derived: Derived, page: ReturnedPage, key: str, cell: Mapping[str, Reading]
) -> None:
    boxes = {"given": cell.get("given"), "notgiven": cell.get("notgiven")}
    choice = choice_of(boxes, beside=[cell.get("initials")])
    if choice.why is not None:
        derived.hold(env, page, key, choice.why)
    elif choice.chosen is None:
        if inked([cell.get("initials")]):
            derived.hold(env, page, key, WHY_INITIALS)
    elif page.in_conflict:
        derived.hold(env, page, key, WHY_PAGE)
    else:
        _administration(env, derived, page, key, completed=choice.chosen == "given")


def _administration(
    env: Env, derived: Derived, page: ReturnedPage, key: str, *, completed: bool
) -> None:
    ref = page.refs.get(f"{key}.given") or page.refs.get(f"{key}.notgiven") or {}
    order = env.form.orders.get(ref.get("order_id", ""))
    slot = _slot(ref.get("slot"))
    if order is None:
        derived.hold(env, page, key, WHY_NO_ORDER)
        return
    if slot is None:
        derived.hold(env, page, key, WHY_NO_SLOT)
        return
    if slot > page.captured_at:  # it cannot have happened yet: a wrong day's column, say
        derived.hold(env, page, key, WHY_AFTER_SCAN)
        return
    resource = {
        "resourceType": "MedicationAdministration",
        "status": "completed" if completed else "not-done",
        "statusReason": None if completed else [{"text": "not given (marked on paper)"}],
        "medicationCodeableConcept": {"text": medication(order)},
        "subject": env.subject,
        "context": env.encounter,
        "effectiveDateTime": instant(slot),
        "request": logical_ref("MedicationRequest", ORDER_SYSTEM, order.order_id),
        "note": [{"text": ON_PAPER}],
        "dosage": _dosage(order),
    }
    label = env.item(page, key)
    derived.units.append(unit(env, resource, f"{page.page_uid}/{key}", slot, label))


def _as_needed(env: Env, derived: Derived, page: ReturnedPage, key: str, decided: Decision) -> None:
    """An as-needed dose whose handwritten time a person typed (and a second confirmed):
    a MedicationAdministration at that time, the typed dose if one was typed. A time after the
    page was scanned, or before its pack was printed, cannot be right: held."""
    ref = page.refs.get(f"{key}.time") or page.refs.get(f"{key}.initials") or {}
    order = env.form.orders.get(ref.get("order_id", ""))
    if order is None:
        derived.hold(env, page, key, WHY_NO_ORDER)
        return
    typed = datetime.strptime(str(decided.value["given_at"]), "%Y-%m-%d %H:%M")
    given = typed.replace(tzinfo=env.ctx.now.tzinfo)
    if given > page.captured_at:
        derived.hold(env, page, key, WHY_AFTER_SCAN)
        return
    if given < env.form.issued_at:
        derived.hold(env, page, key, WHY_BEFORE_PACK)
        return
    dose = str(decided.value.get("dose") or order.dose)
    given_order = replace(order, dose=dose)
    resource = {
        "resourceType": "MedicationAdministration",
        "status": "completed",
        "medicationCodeableConcept": {"text": medication(given_order)},
        "subject": env.subject,
        "context": env.encounter,
        "effectiveDateTime": instant(given),
        "request": logical_ref("MedicationRequest", ORDER_SYSTEM, order.order_id),
        "note": [{"text": f"{ON_PAPER}; as needed, time transcribed from the paper"}],
        "dosage": _dosage(given_order),
    }
    label = env.item(page, key)
    derived.units.append(
        unit(env, resource, f"{page.page_uid}/{key}", given, label, decision=decided)
    )


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
    match = SIMPLE_DOSE.fullmatch(order.dose.strip())
    if match is None:
        return None
    number = float(match[1].replace(",", "."))
    value = int(number) if number.is_integer() else number
    dose = {"value": value, "unit": match[2]}
    return {"text": order.dose, "route": {"text": order.route}, "dose": dose}


def medication(order: OrderInfo) -> str:
    return f"{order.medication} {order.dose}".strip()

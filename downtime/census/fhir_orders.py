"""FHIR census orders: active MedicationRequest entries, dose, timing and start as printed on
the forms."""

from __future__ import annotations

import re
from datetime import date, time
from decimal import Decimal

from downtime.census.bundle import (
    _Bundle,
    _business_id,
    _concept_text,
    _Entry,
    _JsonObject,
    _obj,
    _objects,
    _string,
    _strings,
)
from downtime.census.findings import _Findings, _Invalid, _Issue
from downtime.census.values import (
    _attempt,
    _check,
    _clean_text,
    _iso_date,
    _required_text,
    _sorted_times,
)
from downtime.model import Identifier, MedicationOrder

_FHIR_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FHIR_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d):([0-5]\d)")


def _decimal_text(value: object) -> str:
    """A FHIR decimal as printed on Swedish forms: decimal comma, no exponent."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _Invalid("value is not a number")
    return format(value, "f").replace(".", ",") if isinstance(value, Decimal) else str(value)


def _quantity_text(quantity: _JsonObject) -> str:
    unit = _string(quantity.get("unit")) or _string(quantity.get("code"))
    return f"{_decimal_text(quantity.get('value'))} {unit}".strip()


def _dose(dosage: _JsonObject) -> str:
    """doseQuantity (``0,5 mg``), else doseRange (``1-2 tablett``), else the dosage text."""
    for dose_and_rate in _objects(dosage.get("doseAndRate"))[:1]:
        quantity = _obj(dose_and_rate.get("doseQuantity"))
        if quantity:
            return _quantity_text(quantity)
        dose_range = _obj(dose_and_rate.get("doseRange"))
        if dose_range:
            low, high = _obj(dose_range.get("low")), _obj(dose_range.get("high"))
            unit = _string(high.get("unit")) or _string(low.get("unit"))
            return (
                f"{_decimal_text(low.get('value'))}-{_decimal_text(high.get('value'))} {unit}"
            ).strip()
    text = _string(dosage.get("text")).strip()
    if not text:
        raise _Invalid("has no doseQuantity, doseRange or text")
    return text


_PERIOD_UNITS = frozenset({"s", "min", "h", "d", "wk", "mo", "a"})  # FHIR UnitsOfTime


def _frequency(timing: _JsonObject) -> str:
    """Timing.code as text, else ``repeat`` as ``3×/d`` or ``1×/8 h``; empty when neither."""
    text = _concept_text(timing.get("code"))
    if text:
        return text
    repeat = _obj(timing.get("repeat"))
    count, period = repeat.get("frequency"), repeat.get("period")
    unit = _string(repeat.get("periodUnit"))
    if isinstance(count, int) and period is not None and unit in _PERIOD_UNITS:
        span = unit if period == 1 else f"{_decimal_text(period)} {unit}"
        return f"{count}×/{span}"
    return ""


def _times_of_day(timing: _JsonObject) -> tuple[time, ...]:
    times: list[time] = []
    for raw in _strings(_obj(timing.get("repeat")).get("timeOfDay")):
        match = _FHIR_TIME.fullmatch(raw)
        if match is None:
            raise _Invalid("timeOfDay is not a time (write hh:mm:ss)")
        hour, minute, second = (int(part) for part in match.groups())
        times.append(time(hour, minute, second))
    return _sorted_times(times)


def _medication_text(resource: _JsonObject, bundle: _Bundle) -> str:
    text = _concept_text(resource.get("medicationCodeableConcept"))
    reference = _obj(resource.get("medicationReference"))
    text = text or _string(reference.get("display")).strip()
    medication = bundle.resolve(reference, "Medication")
    if not text and medication is not None:
        text = _concept_text(medication.resource.get("code"))
    if not text:
        raise _Invalid("has no text or display")
    return _clean_text(text)


def _start_date(resource: _JsonObject) -> date | None:
    """dispenseRequest.validityPeriod.start, else authoredOn: the date part."""
    validity = _obj(_obj(resource.get("dispenseRequest")).get("validityPeriod"))
    for raw in (_string(validity.get("start")), _string(resource.get("authoredOn"))):
        match = _FHIR_DATE.match(raw)
        if match:
            return _iso_date(match[0])
    return None


def _fhir_order(
    entry: _Entry, identifier: Identifier, bundle: _Bundle
) -> tuple[MedicationOrder | None, list[_Issue]]:
    resource, issues = entry.resource, list[_Issue]()
    dosage = (_objects(resource.get("dosageInstruction")) or [{}])[0]
    timing = _obj(dosage.get("timing"))
    order_id = _check(issues, "identifier", _required_text, _business_id(resource))
    medication = _attempt(issues, "medication", lambda: _medication_text(resource, bundle))
    dose = _attempt(issues, "dosageInstruction.dose", lambda: _clean_text(_dose(dosage)))
    route = _check(
        issues, "dosageInstruction.route", _clean_text, _concept_text(dosage.get("route"))
    )
    frequency = _attempt(
        issues, "dosageInstruction.timing", lambda: _clean_text(_frequency(timing))
    )
    times = _attempt(issues, "dosageInstruction.timing", lambda: _times_of_day(timing))
    prn = dosage.get("asNeededBoolean") is True or bool(_obj(dosage.get("asNeededCodeableConcept")))
    start = _attempt(issues, "authoredOn", lambda: _start_date(resource))
    if not prn and times == ():
        issues.append(
            _Issue(
                "dosageInstruction.timing",
                "a scheduled (not as-needed) order needs repeat.timeOfDay",
            )
        )
    if issues:
        return None, issues
    assert order_id is not None and medication is not None and dose is not None
    assert route is not None and frequency is not None and times is not None
    order = MedicationOrder(
        patient=identifier,
        order_id=order_id,
        medication=medication,
        dose=dose,
        route=route,
        frequency=frequency,
        times=times,
        prn=prn,
        start_date=start,
    )
    return order, []


def _fhir_orders(
    bundle: _Bundle, good: dict[int, Identifier], bad: set[int], findings: _Findings
) -> list[MedicationOrder]:
    orders: list[MedicationOrder] = []
    first: dict[str, int] = {}
    for entry in bundle.of_type("MedicationRequest"):
        resource = entry.resource
        if resource.get("status") != "active" or resource.get("intent") != "order":
            continue
        patient = bundle.resolve(resource.get("subject"), "Patient")
        if patient is not None and patient.number in bad:
            findings.dependent(
                entry.number, f"{entry.where}: its patient (entry {patient.number}) was skipped"
            )
            continue
        if patient is None or patient.number not in good:
            findings.bad_entry(
                entry.where, entry.number, [_Issue("subject", "is not a Patient in this bundle")]
            )
            continue
        order, issues = _fhir_order(entry, good[patient.number], bundle)
        order_id = _business_id(resource)
        if order_id and order_id in first:
            issues.append(_Issue("identifier", f"same order id as entry {first[order_id]}"))
        elif order_id:
            first[order_id] = entry.number
        if issues:
            findings.bad_entry(entry.where, entry.number, issues)
        elif order is not None:
            orders.append(order)
    return orders

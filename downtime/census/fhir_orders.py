"""FHIR census orders: active MedicationRequest entries, dose, timing and start as printed on
the forms."""

from __future__ import annotations

import re
from datetime import date, time
from decimal import Decimal

from downtime.census.bundle import (
    Bundle,
    Entry,
    JsonObject,
    business_id,
    concept_text,
    obj,
    objects,
    string,
    strings,
)
from downtime.census.findings import Findings, Invalid, Issue
from downtime.census.values import (
    attempt,
    check,
    iso_date,
    printable_text,
    required_text,
    sorted_times,
)
from downtime.model import Identifier, MedicationOrder

_FHIR_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FHIR_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d):([0-5]\d)")


def _decimal_text(value: object) -> str:
    """A FHIR decimal as printed on Swedish forms: decimal comma, no exponent."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise Invalid("value is not a number")
    return format(value, "f").replace(".", ",") if isinstance(value, Decimal) else str(value)


def _quantity_text(quantity: JsonObject) -> str:
    unit = string(quantity.get("unit")) or string(quantity.get("code"))
    return f"{_decimal_text(quantity.get('value'))} {unit}".strip()


def _dose(dosage: JsonObject) -> str:
    """doseQuantity (``0,5 mg``), else doseRange (``1-2 tablett``), else the dosage text."""
    for dose_and_rate in objects(dosage.get("doseAndRate"))[:1]:
        quantity = obj(dose_and_rate.get("doseQuantity"))
        if quantity:
            return _quantity_text(quantity)
        dose_range = obj(dose_and_rate.get("doseRange"))
        if dose_range:
            low, high = obj(dose_range.get("low")), obj(dose_range.get("high"))
            unit = string(high.get("unit")) or string(low.get("unit"))
            return (
                f"{_decimal_text(low.get('value'))}-{_decimal_text(high.get('value'))} {unit}"
            ).strip()
    text = string(dosage.get("text")).strip()
    if not text:
        raise Invalid("has no doseQuantity, doseRange or text")
    return text


_PERIOD_UNITS = frozenset({"s", "min", "h", "d", "wk", "mo", "a"})  # FHIR UnitsOfTime


def _frequency(timing: JsonObject) -> str:
    """Timing.code as text, else ``repeat`` as ``3×/d`` or ``1×/8 h``; empty when neither."""
    text = concept_text(timing.get("code"))
    if text:
        return text
    repeat = obj(timing.get("repeat"))
    count, period = repeat.get("frequency"), repeat.get("period")
    unit = string(repeat.get("periodUnit"))
    if isinstance(count, int) and period is not None and unit in _PERIOD_UNITS:
        span = unit if period == 1 else f"{_decimal_text(period)} {unit}"
        return f"{count}×/{span}"
    return ""


def _times_of_day(timing: JsonObject) -> tuple[time, ...]:
    times: list[time] = []
    for raw in strings(obj(timing.get("repeat")).get("timeOfDay")):
        match = _FHIR_TIME.fullmatch(raw)
        if match is None:
            raise Invalid("timeOfDay is not a time (write hh:mm:ss)")
        hour, minute, second = (int(part) for part in match.groups())
        times.append(time(hour, minute, second))
    return sorted_times(times)


def _medication_text(resource: JsonObject, bundle: Bundle) -> str:
    text = concept_text(resource.get("medicationCodeableConcept"))
    reference = obj(resource.get("medicationReference"))
    text = text or string(reference.get("display")).strip()
    medication = bundle.resolve(reference, "Medication")
    if not text and medication is not None:
        text = concept_text(medication.resource.get("code"))
    if not text:
        raise Invalid("has no text or display")
    return printable_text(text)


def _start_date(resource: JsonObject) -> date | None:
    """dispenseRequest.validityPeriod.start, else authoredOn: the date part."""
    validity = obj(obj(resource.get("dispenseRequest")).get("validityPeriod"))
    for raw in (string(validity.get("start")), string(resource.get("authoredOn"))):
        match = _FHIR_DATE.match(raw)
        if match:
            return iso_date(match[0])
    return None


def _fhir_order(
    entry: Entry, identifier: Identifier, bundle: Bundle
) -> tuple[MedicationOrder | None, list[Issue]]:
    resource, issues = entry.resource, list[Issue]()
    dosage = (objects(resource.get("dosageInstruction")) or [{}])[0]
    timing = obj(dosage.get("timing"))
    order_id = check(issues, "identifier", required_text, business_id(resource))
    medication = attempt(issues, "medication", lambda: _medication_text(resource, bundle))
    dose = attempt(issues, "dosageInstruction.dose", lambda: printable_text(_dose(dosage)))
    route_text = concept_text(dosage.get("route"))
    route = check(issues, "dosageInstruction.route", printable_text, route_text)
    frequency = attempt(
        issues, "dosageInstruction.timing", lambda: printable_text(_frequency(timing))
    )
    times = attempt(issues, "dosageInstruction.timing", lambda: _times_of_day(timing))
    prn = dosage.get("asNeededBoolean") is True or bool(obj(dosage.get("asNeededCodeableConcept")))
    start = attempt(issues, "authoredOn", lambda: _start_date(resource))
    if not prn and times == ():
        issues.append(
            Issue(
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


def fhir_orders(
    bundle: Bundle, good: dict[int, Identifier], bad: set[int], findings: Findings
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
                entry.where, entry.number, [Issue("subject", "is not a Patient in this bundle")]
            )
            continue
        order, issues = _fhir_order(entry, good[patient.number], bundle)
        order_id = business_id(resource)
        if order_id and order_id in first:
            issues.append(Issue("identifier", f"same order id as entry {first[order_id]}"))
        elif order_id:
            first[order_id] = entry.number
        if issues:
            findings.bad_entry(entry.where, entry.number, issues)
        elif order is not None:
            orders.append(order)
    return orders

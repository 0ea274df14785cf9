"""FHIR census patients: Patient entries with their one active Encounter (ward, bed) and their
active allergies."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial

from downtime.census.bundle import (
    Bundle,
    Entry,
    JsonObject,
    business_id,
    concept_text,
    has_code,
    obj,
    objects,
    string,
    strings,
)
from downtime.census.findings import Findings, Invalid, Issue
from downtime.census.ids import from_fhir, known_system
from downtime.census.values import (
    attempt,
    birth_date,
    check,
    iso_date,
    name_fits,
    optional_datetime,
    parse_sex,
    printable_identifier,
    printable_text,
    required_printable,
)
from downtime.model import Identifier, IdSystem, Patient

_ACTIVE_ENCOUNTER = ("in-progress", "arrived")
_PRIORITY = (
    IdSystem.PERSONNUMMER,
    IdSystem.SAMORDNINGSNUMMER,
    IdSystem.RESERVNUMMER,
    IdSystem.DOWNTIME_RESERVE,
)
_LOCATION_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/location-physical-type"


def _fhir_identifier(patient: JsonObject, today: date) -> Identifier:
    """By known system: personnummer, samordningsnummer, reservnummer, downtime reserve id;
    else the first identifier with a system and a value, kept as it is."""
    candidates = [
        (string(item.get("system")), string(item.get("value")))
        for item in objects(patient.get("identifier"))
        if item.get("use") != "old"
    ]
    candidates = [(system, value) for system, value in candidates if system and value]
    for wanted in _PRIORITY:
        for system, value in candidates:
            if known_system(system) == wanted:
                return from_fhir(system, value, today=today)
    if not candidates:
        raise Invalid("has no identifier with a system and a value")
    return from_fhir(*candidates[0], today=today)


def _fhir_name(patient: JsonObject) -> JsonObject:
    """The official name, else the first name that is not old, else the first name."""
    names = objects(patient.get("name"))
    for wanted in (("official",), (None, "usual", "temp", "nickname", "anonymous")):
        for name in names:
            if name.get("use") in wanted:
                return name
    return names[0] if names else {}


def _fhir_birth_date(raw: str) -> date | None:
    """A full FHIR date; a partial one (``1950`` or ``1950-03``) counts as unknown."""
    if not raw or re.fullmatch(r"\d{4}(-\d{2})?", raw):
        return None
    return iso_date(raw)


@dataclass(frozen=True)
class _Stay:
    """What the active Encounter says about where the patient is."""

    ward: str
    bed: str
    encounter_id: str
    encounter_system: str  # the identifier's system; "" for an id or an identifier without one
    admitted_at: datetime | None


def _location_kind(item: JsonObject, location: Entry | None) -> str | None:
    """The physical type code (``wa`` ward, ``bd`` bed, ``ro`` room…) of an Encounter.location."""
    for concept in (
        item.get("physicalType"),
        (location.resource if location else {}).get("physicalType"),
    ):
        for coding in objects(obj(concept).get("coding")):
            if coding.get("system") in (None, _LOCATION_TYPE_SYSTEM) and coding.get("code"):
                return string(coding.get("code"))
    return None


def _location_name(item: JsonObject, location: Entry | None) -> str:
    display = string(obj(item.get("location")).get("display")).strip()
    if display or location is None:
        return display
    return string(location.resource.get("name")).strip()


def _ward_and_bed(encounter: JsonObject, bundle: Bundle) -> tuple[str, str]:
    """The ward and bed of an Encounter (see :func:`load_fhir_census` for the rule)."""
    typed: list[tuple[str | None, str]] = []
    for item in objects(encounter.get("location")):
        if item.get("status") in ("planned", "completed"):
            continue
        location = bundle.resolve(item.get("location"), "Location")
        typed.append((_location_kind(item, location), _location_name(item, location)))
    ward = next((name for kind, name in typed if kind == "wa" and name), "")
    ward = ward or next((name for kind, name in typed if kind is None and name), "")
    provider = obj(encounter.get("serviceProvider"))
    ward = ward or string(provider.get("display")).strip()
    ward = ward or string(obj(provider.get("identifier")).get("value")).strip()
    bed = next((name for kind, name in typed if kind == "bd" and name), "")
    return ward, bed


def _stay(encounter: Entry, bundle: Bundle, issues: list[Issue]) -> _Stay | None:
    """Where the patient is, or ``None`` with the Encounter's issues added to ``issues``."""
    resource = encounter.resource
    ward_name, bed_name = _ward_and_bed(resource, bundle)
    prefix = f"Encounter (entry {encounter.number})"
    before = len(issues)
    if not ward_name:
        issues.append(Issue(None, f"{prefix} names no ward (location display or serviceProvider)"))
    encounter_id = business_id(resource)
    if not encounter_id:
        issues.append(Issue(None, f"{prefix} has neither identifier nor id"))
    start = string(obj(resource.get("period")).get("start"))
    admitted = check(issues, f"{prefix} period.start", optional_datetime, start)
    ward = check(issues, f"{prefix} ward (location)", printable_text, ward_name)
    bed = check(issues, f"{prefix} bed (location)", printable_text, bed_name)
    stay_id = check(issues, f"{prefix} identifier", printable_text, encounter_id)
    if len(issues) > before or ward is None or bed is None or stay_id is None:
        return None
    return _Stay(ward, bed, stay_id, _encounter_system(resource), admitted)


def _encounter_system(encounter: JsonObject) -> str:
    """The system of the identifier :func:`business_id` takes the encounter id from ("" when
    the id is the resource's own, or the identifier has no system)."""
    for identifier in objects(encounter.get("identifier")):
        if string(identifier.get("value")).strip():
            return string(identifier.get("system")).strip()
    return ""


def _patient_stays(bundle: Bundle, findings: Findings) -> dict[int, list[Entry]]:
    """Active Encounters by the entry number of their Patient; others reported as bad."""
    stays: dict[int, list[Entry]] = {}
    for entry in bundle.of_type("Encounter"):
        if entry.resource.get("status") not in _ACTIVE_ENCOUNTER:
            continue
        patient = bundle.resolve(entry.resource.get("subject"), "Patient")
        if patient is None:
            findings.bad_entry(
                entry.where, entry.number, [Issue("subject", "is not a Patient in this bundle")]
            )
            continue
        stays.setdefault(patient.number, []).append(entry)
    return stays


def _allergy_text(resource: JsonObject) -> str:
    text = concept_text(resource.get("code"))
    if not text:
        raise Invalid("has no text or display")
    return printable_text(text)


def _patient_allergies(
    bundle: Bundle, findings: Findings
) -> tuple[dict[int, list[str]], dict[int, int]]:
    """Active allergies by Patient entry; and, per patient, the first bad allergy entry.

    An AllergyIntolerance without clinicalStatus is taken as active: leaving out an allergy is
    the dangerous mistake.
    """
    allergies: dict[int, list[str]] = {}
    bad: dict[int, int] = {}
    for entry in bundle.of_type("AllergyIntolerance"):
        resource = entry.resource
        status = resource.get("clinicalStatus")
        if status is not None and not has_code(status, ("active",)):
            continue
        if has_code(resource.get("verificationStatus"), ("entered-in-error", "refuted")):
            continue
        issues: list[Issue] = []
        patient = bundle.resolve(resource.get("patient"), "Patient")
        if patient is None:
            issues.append(Issue("patient", "is not a Patient in this bundle"))
        text = attempt(issues, "code", partial(_allergy_text, resource))
        if issues:
            findings.bad_entry(entry.where, entry.number, issues)
            if patient is not None:
                bad.setdefault(patient.number, entry.number)
        elif patient is not None and text is not None:
            allergies.setdefault(patient.number, []).append(text)
    return allergies, bad


def _fhir_patient(
    entry: Entry,
    stays: list[Entry],
    allergies: list[str],
    bundle: Bundle,
    today: date,
) -> tuple[Patient | None, Identifier | None, list[Issue]]:
    resource, issues = entry.resource, list[Issue]()
    identifier = attempt(issues, "identifier", lambda: _fhir_identifier(resource, today))
    printable_identifier(issues, "identifier", identifier)
    name = _fhir_name(resource)
    family = check(issues, "name.family", required_printable, string(name.get("family")))
    given = check(issues, "name.given", required_printable, " ".join(strings(name.get("given"))))
    name_fits(issues, family, given)
    stated = check(issues, "birthDate", _fhir_birth_date, string(resource.get("birthDate")))
    born = birth_date(issues, "birthDate", stated, identifier, today)
    sex = check(issues, "gender", parse_sex, string(resource.get("gender")))
    stay: _Stay | None = None
    if not stays:
        issues.append(Issue(None, "has no active Encounter (in-progress or arrived)"))
    elif len(stays) > 1:
        numbers = ", ".join(str(stay_entry.number) for stay_entry in stays)
        issues.append(Issue(None, f"has several active Encounters (entries {numbers})"))
    else:
        stay = _stay(stays[0], bundle, issues)
    if issues:
        return None, identifier, issues
    assert identifier is not None and family is not None and given is not None
    assert sex is not None and stay is not None
    patient = Patient(
        identifier=identifier,
        family_name=family,
        given_name=given,
        birth_date=born,
        sex=sex,
        ward=stay.ward,
        bed=stay.bed,
        encounter_id=stay.encounter_id,
        encounter_system=stay.encounter_system,
        admitted_at=stay.admitted_at,
        allergies=tuple(allergies),
    )
    return patient, identifier, []


def fhir_patients(
    bundle: Bundle, today: date, findings: Findings
) -> tuple[list[Patient], dict[int, Identifier], set[int]]:
    """Patients in entry order; the identifier of each good Patient entry; the bad ones."""
    stays = _patient_stays(bundle, findings)
    allergies, bad_allergy = _patient_allergies(bundle, findings)
    patients: list[Patient] = []
    good: dict[int, Identifier] = {}
    bad: set[int] = set()
    first: dict[Identifier, int] = {}
    for entry in bundle.of_type("Patient"):
        patient, identifier, issues = _fhir_patient(
            entry, stays.get(entry.number, []), allergies.get(entry.number, []), bundle, today
        )
        if identifier is not None and identifier in first:
            issues.append(Issue("identifier", f"same patient as entry {first[identifier]}"))
        elif identifier is not None:
            first[identifier] = entry.number
        if issues:
            findings.bad_entry(entry.where, entry.number, issues)
            bad.add(entry.number)
        elif entry.number in bad_allergy:
            findings.dependent(
                entry.number,
                f"{entry.where}: its allergy entry {bad_allergy[entry.number]} is bad",
            )
            bad.add(entry.number)
        elif patient is not None:
            patients.append(patient)
            good[entry.number] = patient.identifier
    return patients, good, bad

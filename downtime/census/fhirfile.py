"""The FHIR census: a FHIR R4 Bundle (JSON) read into a census."""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING

from downtime.census.bundle import bundle_time, read_bundle
from downtime.census.fhir_orders import fhir_orders
from downtime.census.fhir_patients import fhir_patients
from downtime.census.findings import Findings
from downtime.model import Census

if TYPE_CHECKING:
    from pathlib import Path


def load_fhir_census(bundle: Path, *, skip_invalid: bool = False, today: date) -> Census:
    """Read a FHIR R4 Bundle (JSON; type collection, searchset, batch or transaction).

    Entries are numbered from 1 in problems: ``<file> entry N (Type/id)``, with the element
    named in the problem's text. References resolve by ``fullUrl`` or by ``Type/id``.

    * Patient: the identifier by known system (personnummer, then samordningsnummer, then
      reservnummer, then the kit's reserve id; else the first identifier, kept as it is); the
      official name (else the first), family and the given names joined by spaces; birthDate
      (a partial date counts as unknown; the identifier's date is used then); gender.
    * Encounter, status in-progress or arrived, subject a Patient: exactly one per patient, or
      the patient is a bad entry. The **ward** is the display (else the referenced Location's
      name) of the first current ``location`` whose physical type is ward (``wa``); else of the
      first current location with no physical type; else ``serviceProvider.display``; else
      ``serviceProvider.identifier.value``. Locations whose status is planned or completed are
      not current; typed locations other than wards (bed, room, building…) are never the ward.
      The **bed** is the name of the first current location whose physical type is bed
      (``bd``). Physical types come from the Encounter.location entry or the Location resource.
      encounter_id is the Encounter's first identifier value (encounter_system that
      identifier's system, which reconciliation refers to the encounter by), else its id (no
      system); admitted_at its ``period.start`` (a date and time with offset).
    * AllergyIntolerance, clinicalStatus active (or absent) and not entered-in-error or
      refuted: code text or display, appended to the patient's allergies in bundle order. A bad
      allergy entry leaves its patient out too.
    * MedicationRequest, status active, intent order: order_id from identifier, else id;
      medication from medicationCodeableConcept (or a referenced Medication) text or display;
      from ``dosageInstruction[0]``: dose from doseQuantity (value with a decimal comma, and
      unit), doseRange, or text; route text or display; frequency from timing.code, else
      ``repeat`` as ``3×/d``; times from ``repeat.timeOfDay``; prn from asNeededBoolean (or an
      asNeededCodeableConcept); start_date from dispenseRequest.validityPeriod.start, else
      authoredOn.

    :attr:`Census.data_as_of` is Bundle.timestamp, else Bundle.meta.lastUpdated, else the file's
    modification time. Bad entries raise :class:`~downtime.errors.CensusError` unless
    ``skip_invalid``, as for CSV; a skipped row's ``line`` is then its entry number.
    """
    findings = Findings(bundle.name)
    parsed, raw_bundle = read_bundle(bundle)
    data_as_of = bundle_time(bundle, raw_bundle)
    patients, good, bad = fhir_patients(parsed, today, findings)
    orders = fhir_orders(parsed, good, bad, findings)
    if not skip_invalid:
        findings.problems.sort(key=lambda problem: _entry_number(problem.where))
        findings.raise_if_bad("entry")
    return Census(
        patients=tuple(patients),
        orders=tuple(orders),
        source=str(bundle),
        data_as_of=data_as_of,
        skipped=tuple(sorted(findings.skipped, key=lambda row: row.line)),
    )


def _entry_number(where: str) -> int:
    match = re.search(r" entry (\d+) ", where)
    return int(match[1]) if match else 0

"""The CSV census: ``patients.csv`` and optionally ``medications.csv``."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from downtime.census.findings import Findings, Issue
from downtime.census.ids import IdentifierError, parse_patient_id
from downtime.census.textfiles import modified_at, read_text, unreadable
from downtime.census.values import (
    birth_date,
    boolean,
    check,
    name_fits,
    optional_date,
    optional_datetime,
    parse_allergies,
    parse_sex,
    parse_times,
    printable_identifier,
    printable_text,
    required_printable,
    required_text,
)
from downtime.errors import CensusError, Problem, Said
from downtime.model import Census, Identifier, MedicationOrder, Patient

if TYPE_CHECKING:
    from pathlib import Path

PATIENT_COLUMNS = (
    "patient_id",
    "family_name",
    "given_name",
    "birth_date",
    "sex",
    "ward",
    "bed",
    "encounter_id",
    "admitted_at",
    "allergies",
)
MEDICATION_COLUMNS = (
    "patient_id",
    "order_id",
    "medication",
    "dose",
    "route",
    "frequency",
    "times",
    "prn",
    "start_date",
)


@dataclass(frozen=True)
class _Row:
    line: int  # physical line the record starts on (header = 1)
    cells: dict[str, str]  # by column name; a short row lacks the last columns
    misshapen: str | None = None  # what is wrong with the row's number of cells


def _read_csv(path: Path, columns: tuple[str, ...]) -> list[_Row]:
    """The data rows of a CSV file with exactly ``columns`` (in any order); blank rows skipped."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    try:
        header = [cell.strip() for cell in next(reader)]
        _check_header(path, header, columns)
        rows: list[_Row] = []
        end_of_previous = reader.line_num
        for cells in reader:
            line, end_of_previous = end_of_previous + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            misshapen = None
            if len(cells) != len(header):
                misshapen = f"has {len(cells)} cells; the header has {len(header)}"
            rows.append(_Row(line, dict(zip(header, cells, strict=False)), misshapen))
    except csv.Error:
        raise unreadable(path, f"line {reader.line_num} is not valid CSV") from None
    return rows


def _check_header(path: Path, header: list[str], columns: tuple[str, ...]) -> None:
    problems: list[Problem] = []
    where = f"{path.name} line 1"
    if not set(header) & set(columns):
        # Line 1 is not a header (perhaps a patient's row): say so without repeating it.
        problems.append(Problem(where, "no header row: line 1 names none of the columns"))
    else:
        repeated = sorted({name for name in header if header.count(name) > 1})
        missing = [name for name in columns if name not in header]
        unknown = [name for name in header if name not in columns]
        if repeated:
            problems.append(Problem(where, f"repeated columns: {', '.join(repeated)}"))
        if missing:
            problems.append(Problem(where, f"missing columns: {', '.join(missing)}"))
        if unknown:
            problems.append(Problem(where, f"unknown columns: {', '.join(unknown)}"))
    if problems:
        raise CensusError(
            f"census {path.name}: the header row is wrong; no pack was made",
            problems,
            hint=f"the columns are: {','.join(columns)} (in any order)",
            said=Said("census_header", {"file": path.name, "columns": ",".join(columns)}),
        )


def _patient_from_row(row: _Row, today: date) -> tuple[Patient | None, list[Issue]]:
    if row.misshapen:
        return None, [Issue(None, row.misshapen)]
    cells, issues = row.cells, list[Issue]()
    identifier = check(
        issues, "patient_id", lambda raw: parse_patient_id(raw, today=today), cells["patient_id"]
    )
    printable_identifier(issues, "patient_id", identifier)
    family = check(issues, "family_name", required_printable, cells["family_name"])
    given = check(issues, "given_name", required_printable, cells["given_name"])
    name_fits(issues, family, given)
    stated_birth = check(issues, "birth_date", optional_date, cells["birth_date"])
    sex = check(issues, "sex", parse_sex, cells["sex"])
    ward = check(issues, "ward", required_printable, cells["ward"])
    bed = check(issues, "bed", printable_text, cells["bed"])
    encounter = check(issues, "encounter_id", required_printable, cells["encounter_id"])
    admitted = check(issues, "admitted_at", optional_datetime, cells["admitted_at"])
    allergies = check(issues, "allergies", parse_allergies, cells["allergies"])
    born = birth_date(issues, "birth_date", stated_birth, identifier, today)
    if issues:
        return None, issues
    assert identifier is not None and family is not None and given is not None
    assert sex is not None and ward is not None and bed is not None and encounter is not None
    assert allergies is not None
    patient = Patient(
        identifier=identifier,
        family_name=family,
        given_name=given,
        birth_date=born,
        sex=sex,
        ward=ward,
        bed=bed,
        encounter_id=encounter,
        admitted_at=admitted,
        allergies=allergies,
        source_line=row.line,
    )
    return patient, []


@dataclass
class _PatientIndex:
    """The first line of each patient identifier, and which patients made it into the census."""

    first: dict[Identifier, int] = field(default_factory=dict)
    good: set[Identifier] = field(default_factory=set)


def _csv_patients(
    path: Path, today: date, findings: Findings
) -> tuple[list[Patient], _PatientIndex]:
    rows = _read_csv(path, PATIENT_COLUMNS)
    if not rows:
        raise unreadable(path, "no patient rows after the header")
    patients: list[Patient] = []
    index = _PatientIndex()
    for row in rows:
        patient, issues = _patient_from_row(row, today)
        identifier = patient.identifier if patient else _identifier_of(row, today)
        if identifier is not None and identifier in index.first:
            issues.append(Issue("patient_id", f"same patient as line {index.first[identifier]}"))
        elif identifier is not None:
            index.first[identifier] = row.line
        if issues:
            findings.bad_line(path.name, row.line, issues)
        elif patient is not None:
            patients.append(patient)
            index.good.add(patient.identifier)
    return patients, index


def _identifier_of(row: _Row, today: date) -> Identifier | None:
    try:
        return parse_patient_id(row.cells.get("patient_id", ""), today=today)
    except IdentifierError:
        return None


def _order_from_row(row: _Row, today: date) -> tuple[MedicationOrder | None, list[Issue]]:
    if row.misshapen:
        return None, [Issue(None, row.misshapen)]
    cells, issues = row.cells, list[Issue]()
    identifier = check(
        issues, "patient_id", lambda raw: parse_patient_id(raw, today=today), cells["patient_id"]
    )
    order_id = check(issues, "order_id", required_text, cells["order_id"])
    medication = check(issues, "medication", required_printable, cells["medication"])
    dose = check(issues, "dose", required_printable, cells["dose"])
    route = check(issues, "route", printable_text, cells["route"])
    frequency = check(issues, "frequency", printable_text, cells["frequency"])
    times = check(issues, "times", parse_times, cells["times"])
    prn = check(issues, "prn", boolean, cells["prn"])
    start = check(issues, "start_date", optional_date, cells["start_date"])
    if prn is False and times == ():
        issues.append(Issue("times", "a scheduled (not prn) order needs at least one time"))
    if issues:
        return None, issues
    assert identifier is not None and order_id is not None and medication is not None
    assert dose is not None and route is not None and frequency is not None
    assert times is not None and prn is not None
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
        source_line=row.line,
    )
    return order, []


def _csv_orders(
    path: Path, patients_file: str, index: _PatientIndex, today: date, findings: Findings
) -> list[MedicationOrder]:
    orders: list[MedicationOrder] = []
    first_order: dict[str, int] = {}
    for row in _read_csv(path, MEDICATION_COLUMNS):
        order, issues = _order_from_row(row, today)
        order_id = row.cells.get("order_id", "").strip()
        if order_id and order_id in first_order:
            issues.append(Issue("order_id", f"same order_id as line {first_order[order_id]}"))
        elif order_id:
            first_order[order_id] = row.line
        if order is not None and order.patient not in index.first:
            issues.append(
                Issue("patient_id", f"no patient with this identifier in {patients_file}")
            )
        if issues:
            findings.bad_line(path.name, row.line, issues)
        elif order is not None and order.patient not in index.good:
            patient_line = index.first[order.patient]
            findings.dependent(
                row.line,
                f"{path.name}: its patient was skipped ({patients_file} line {patient_line})",
            )
        elif order is not None:
            orders.append(order)
    return orders


def load_csv_census(
    patients: Path,
    medications: Path | None = None,
    *,
    skip_invalid: bool = False,
    today: date,
) -> Census:
    """Read ``patients.csv`` and, if given, ``medications.csv``.

    Both files are UTF-8 (a byte order mark is tolerated) with a header row naming exactly the
    columns :data:`PATIENT_COLUMNS` and :data:`MEDICATION_COLUMNS`, in any order. Line numbers
    are physical lines (the header is line 1; a record with a quoted line break counts from the
    line it starts on).

    Patients: ``patient_id`` as :func:`~downtime.census.ids.parse_patient_id` reads it (a repeated
    patient is a bad row, naming the line it repeats); names required, trimmed and
    NFC-normalised; ``birth_date`` ``YYYY-MM-DD``, or empty to take it from a personnummer or
    samordningsnummer (empty for an identifier without one leaves it unknown); ``sex`` female,
    male, other or unknown (empty means unknown); ``ward`` and ``encounter_id`` required, ``bed``
    optional; ``admitted_at`` ISO 8601 with a UTC offset, or empty; ``allergies`` separated by
    ``;``.

    Every printed text (names, ward, bed, encounter_id, allergies, medication, dose, route,
    frequency) is refused if it holds a control, format or line-break character or one the
    form fonts cannot print; a name (``family, given``) of more than
    :data:`~downtime.census.printable.NAME_MAX_CHARS` characters is refused (a row issue).

    Medications: ``order_id`` unique; ``patient_id`` one of the patients; ``medication`` and
    ``dose`` required (the dose text is kept as written, e.g. ``0,5 mg``); ``route`` and
    ``frequency`` free text; ``times`` like ``08;14;20`` or ``08:00;14:30``; ``prn`` true/false
    (yes/no, 1/0); a scheduled order needs a time, an as-needed one may have none;
    ``start_date`` ``YYYY-MM-DD`` or empty.

    Any bad row raises :class:`~downtime.errors.CensusError` listing every problem, unless
    ``skip_invalid``: then bad rows, and the orders of skipped patients, are left out and listed
    in :attr:`Census.skipped` (each with the line in its own file).

    :attr:`Census.data_as_of` is the patients file's modification time (UTC), which stands for
    the time the census was exported; :attr:`Census.source` is the patients file as given.
    """
    findings = Findings(patients.name)
    patient_list, index = _csv_patients(patients, today, findings)
    orders: list[MedicationOrder] = []
    if medications is not None:
        orders = _csv_orders(medications, patients.name, index, today, findings)
    if not skip_invalid:
        findings.raise_if_bad("row")
    return Census(
        patients=tuple(patient_list),
        orders=tuple(orders),
        source=str(patients),
        data_as_of=modified_at(patients),
        skipped=tuple(findings.skipped),
    )

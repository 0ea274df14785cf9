"""Census files → :class:`~downtime.model.Census`.

Two inputs are read:

* a CSV pair, ``patients.csv`` and optionally ``medications.csv`` (:func:`load_csv_census`);
* a FHIR R4 Bundle in JSON (:func:`load_fhir_census`).

:func:`load_census` picks one by looking at the file's first character.

Every problem names where it is (file, line and column, or bundle entry) and what is wrong,
never a patient's name or identifier. By default one bad row stops the pack: a
:class:`~downtime.errors.CensusError` lists all problems at once. With ``skip_invalid`` the bad
rows are left out and returned in :attr:`Census.skipped` for the cover sheet.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import partial
from itertools import pairwise
from typing import TYPE_CHECKING, Any, TypeVar

from downtime.errors import CensusError, Problem
from downtime.ids import IdentifierError, birth_date_of, from_fhir, known_system, parse_patient_id
from downtime.model import Census, Identifier, IdSystem, MedicationOrder, Patient, SkippedRow

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from pathlib import Path

__all__ = [
    "MEDICATION_COLUMNS",
    "PATIENT_COLUMNS",
    "load_census",
    "load_csv_census",
    "load_fhir_census",
]

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
SEXES = ("female", "male", "other", "unknown")

_SKIP_HINT = (
    "fix the rows, or pass --skip-invalid to print the rest and list the skipped rows "
    "on the cover sheet"
)
_READ_HINT = "export the census again as UTF-8 CSV with a header row, or as a FHIR R4 Bundle"

T = TypeVar("T")


class _Invalid(ValueError):
    """One field is wrong. The message is ours, never a library's (those can echo the value)."""


@dataclass(frozen=True)
class _Issue:
    column: str | None  # CSV column or FHIR element; None for the row or entry as a whole
    what: str


@dataclass
class _Findings:
    """Bad rows (or bundle entries) found so far, as problems and as skipped rows."""

    file: str
    problems: list[Problem] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)
    bad: int = 0

    def bad_line(self, file: str, line: int, issues: Sequence[_Issue]) -> None:
        """A bad CSV row: one problem per issue, located by line and column."""
        self.bad += 1
        for issue in issues:
            column = f", column {issue.column}" if issue.column else ""
            self.problems.append(Problem(f"{file} line {line}{column}", issue.what))
        details = "; ".join(
            f"column {issue.column}: {issue.what}" if issue.column else issue.what
            for issue in issues
        )
        self.skipped.append(SkippedRow(line, f"{file}: {details}"))

    def bad_entry(self, where: str, number: int, issues: Sequence[_Issue]) -> None:
        """A bad bundle entry: located as ``<file> entry N (Type/id)``, the element in ``what``."""
        self.bad += 1
        whats = [f"{i.column}: {i.what}" if i.column else i.what for i in issues]
        self.problems.extend(Problem(where, what) for what in whats)
        self.skipped.append(SkippedRow(number, f"{where}: {'; '.join(whats)}"))

    def dependent(self, line: int, what: str) -> None:
        """A row left out only because a row it depends on was bad (not counted as bad)."""
        self.skipped.append(SkippedRow(line, what))

    def raise_if_bad(self, noun: str) -> None:
        if self.bad:
            plural = noun if self.bad == 1 else ("entries" if noun == "entry" else f"{noun}s")
            raise CensusError(
                f"census {self.file}: {self.bad} bad {plural}; no pack was made",
                self.problems,
                hint=_SKIP_HINT,
            )


# --- field parsers (shared by CSV and FHIR) -----------------------------------------------------


def _attempt(issues: list[_Issue], column: str, compute: Callable[[], T]) -> T | None:
    """``compute()``, or ``None`` with an issue recorded for ``column`` ("" for none)."""
    try:
        return compute()
    except (_Invalid, IdentifierError) as exc:
        issues.append(_Issue(column or None, str(exc)))
        return None


def _check(issues: list[_Issue], column: str, parse: Callable[[str], T], raw: str) -> T | None:
    """``parse(raw)``, or ``None`` with an issue recorded for ``column``."""
    return _attempt(issues, column, partial(parse, raw))


def _clean_text(raw: str) -> str:
    """Trimmed, NFC-normalised text without control characters or line breaks."""
    text = unicodedata.normalize("NFC", raw.strip())
    for char in text:
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            raise _Invalid("contains a control character or line break")
    return text


def _required_text(raw: str) -> str:
    text = _clean_text(raw)
    if not text:
        raise _Invalid("is empty")
    return text


_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def _iso_date(raw: str) -> date:
    match = _ISO_DATE.fullmatch(raw.strip())
    if match is None:
        raise _Invalid("is not a date (write YYYY-MM-DD)")
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        raise _Invalid("is not a real calendar date") from None


def _optional_date(raw: str) -> date | None:
    return _iso_date(raw) if raw.strip() else None


def _aware_datetime(raw: str) -> datetime:
    """An ISO 8601 date and time with a UTC offset (``Z`` or ``+02:00``)."""
    text = raw.strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*", text):
        raise _Invalid("is not a date and time (write e.g. 2026-05-04T08:30+02:00)")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _Invalid("is not a date and time (write e.g. 2026-05-04T08:30+02:00)") from None
    if moment.tzinfo is None:
        raise _Invalid("has no UTC offset (write e.g. 2026-05-04T08:30+02:00)")
    return moment


def _optional_datetime(raw: str) -> datetime | None:
    return _aware_datetime(raw) if raw.strip() else None


def _sex(raw: str) -> str:
    sex = raw.strip().lower()
    if not sex:
        return "unknown"
    if sex not in SEXES:
        raise _Invalid("must be female, male, other or unknown")
    return sex


def _allergies(raw: str) -> tuple[str, ...]:
    return tuple(text for text in (_clean_text(part) for part in raw.split(";")) if text)


_TIME = re.compile(r"(\d{1,2})(?::(\d{2}))?")


def _times(raw: str) -> tuple[time, ...]:
    """``08;14;20`` or ``08:00;14:30``: sorted times of day."""
    times: list[time] = []
    for part in (p.strip() for p in raw.split(";")):
        if not part:
            continue
        match = _TIME.fullmatch(part)
        if match is None:
            raise _Invalid("is not a list of times of day (write e.g. 08;14;20 or 08:00;14:30)")
        hour, minute = int(match[1]), int(match[2] or 0)
        if hour > 23 or minute > 59:
            raise _Invalid(f"{part} is not a time of day")
        times.append(time(hour, minute))
    return _sorted_times(times)


def _sorted_times(times: Iterable[time]) -> tuple[time, ...]:
    ordered = sorted(times)
    for earlier, later in pairwise(ordered):
        if earlier == later:
            raise _Invalid(f"{earlier:%H:%M} is given twice")
    return tuple(ordered)


_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _boolean(raw: str) -> bool:
    value = _BOOLEANS.get(raw.strip().lower())
    if value is None:
        raise _Invalid("must be true or false (or yes/no, 1/0)")
    return value


def _birth_date(
    issues: list[_Issue],
    column: str,
    given: date | None,
    identifier: Identifier | None,
    today: date,
) -> date | None:
    """The stated birth date checked against ``today`` and the identifier; else the derived one."""
    derived = birth_date_of(identifier) if identifier is not None else None
    if given is None:
        return derived
    if given > today:
        issues.append(_Issue(column, "is in the future"))
    elif derived is not None and derived != given:
        issues.append(_Issue(column, "does not match the birth date in the patient identifier"))
    return given


# --- reading files ------------------------------------------------------------------------------


def _unreadable(path: Path, what: str) -> CensusError:
    return CensusError(
        f"census {path.name}: cannot be read; no pack was made",
        [Problem(path.name, what)],
        hint=_READ_HINT,
    )


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise _unreadable(path, "no such file") from None
    except IsADirectoryError:
        raise _unreadable(path, "is a folder, not a file") from None
    except PermissionError:
        raise _unreadable(path, "permission denied") from None
    except OSError as exc:
        raise _unreadable(path, f"cannot be read ({exc.strerror})") from None


def _read_text(path: Path) -> str:
    """The file's text: UTF-8, a byte order mark tolerated; an empty file is an error."""
    data = _read_bytes(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _unreadable(path, f"line {line} is not UTF-8 text") from None
    if not text.strip():
        raise _unreadable(path, "the file is empty")
    return text


def _modified_at(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)


# --- CSV ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    line: int  # physical line the record starts on (header = 1)
    cells: dict[str, str]  # by column name; a short row lacks the last columns
    misshapen: str | None = None  # what is wrong with the row's number of cells


def _read_csv(path: Path, columns: tuple[str, ...]) -> list[_Row]:
    """The data rows of a CSV file with exactly ``columns`` (in any order); blank rows skipped."""
    reader = csv.reader(io.StringIO(_read_text(path), newline=""))
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
        raise _unreadable(path, f"line {reader.line_num} is not valid CSV") from None
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
        )


def _patient_from_row(row: _Row, today: date) -> tuple[Patient | None, list[_Issue]]:
    if row.misshapen:
        return None, [_Issue(None, row.misshapen)]
    cells, issues = row.cells, list[_Issue]()
    identifier = _check(
        issues, "patient_id", lambda raw: parse_patient_id(raw, today=today), cells["patient_id"]
    )
    family = _check(issues, "family_name", _required_text, cells["family_name"])
    given = _check(issues, "given_name", _required_text, cells["given_name"])
    stated_birth = _check(issues, "birth_date", _optional_date, cells["birth_date"])
    sex = _check(issues, "sex", _sex, cells["sex"])
    ward = _check(issues, "ward", _required_text, cells["ward"])
    bed = _check(issues, "bed", _clean_text, cells["bed"])
    encounter = _check(issues, "encounter_id", _required_text, cells["encounter_id"])
    admitted = _check(issues, "admitted_at", _optional_datetime, cells["admitted_at"])
    allergies = _check(issues, "allergies", _allergies, cells["allergies"])
    born = _birth_date(issues, "birth_date", stated_birth, identifier, today)
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
    path: Path, today: date, findings: _Findings
) -> tuple[list[Patient], _PatientIndex]:
    rows = _read_csv(path, PATIENT_COLUMNS)
    if not rows:
        raise _unreadable(path, "no patient rows after the header")
    patients: list[Patient] = []
    index = _PatientIndex()
    for row in rows:
        patient, issues = _patient_from_row(row, today)
        identifier = patient.identifier if patient else _identifier_of(row, today)
        if identifier is not None and identifier in index.first:
            issues.append(_Issue("patient_id", f"same patient as line {index.first[identifier]}"))
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


def _order_from_row(row: _Row, today: date) -> tuple[MedicationOrder | None, list[_Issue]]:
    if row.misshapen:
        return None, [_Issue(None, row.misshapen)]
    cells, issues = row.cells, list[_Issue]()
    identifier = _check(
        issues, "patient_id", lambda raw: parse_patient_id(raw, today=today), cells["patient_id"]
    )
    order_id = _check(issues, "order_id", _required_text, cells["order_id"])
    medication = _check(issues, "medication", _required_text, cells["medication"])
    dose = _check(issues, "dose", _required_text, cells["dose"])
    route = _check(issues, "route", _clean_text, cells["route"])
    frequency = _check(issues, "frequency", _clean_text, cells["frequency"])
    times = _check(issues, "times", _times, cells["times"])
    prn = _check(issues, "prn", _boolean, cells["prn"])
    start = _check(issues, "start_date", _optional_date, cells["start_date"])
    if prn is False and times == ():
        issues.append(_Issue("times", "a scheduled (not prn) order needs at least one time"))
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
    path: Path, patients_file: str, index: _PatientIndex, today: date, findings: _Findings
) -> list[MedicationOrder]:
    orders: list[MedicationOrder] = []
    first_order: dict[str, int] = {}
    for row in _read_csv(path, MEDICATION_COLUMNS):
        order, issues = _order_from_row(row, today)
        order_id = row.cells.get("order_id", "").strip()
        if order_id and order_id in first_order:
            issues.append(_Issue("order_id", f"same order_id as line {first_order[order_id]}"))
        elif order_id:
            first_order[order_id] = row.line
        if order is not None and order.patient not in index.first:
            issues.append(
                _Issue("patient_id", f"no patient with this identifier in {patients_file}")
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

    Patients: ``patient_id`` as :func:`~downtime.ids.parse_patient_id` reads it (a repeated
    patient is a bad row, naming the line it repeats); names required, trimmed and
    NFC-normalised; ``birth_date`` ``YYYY-MM-DD``, or empty to take it from a personnummer or
    samordningsnummer (empty for an identifier without one leaves it unknown); ``sex`` female,
    male, other or unknown (empty means unknown); ``ward`` and ``encounter_id`` required, ``bed``
    optional; ``admitted_at`` ISO 8601 with a UTC offset, or empty; ``allergies`` separated by
    ``;``.

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
    findings = _Findings(patients.name)
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
        data_as_of=_modified_at(patients),
        skipped=tuple(findings.skipped),
    )


# --- FHIR ---------------------------------------------------------------------------------------

_BUNDLE_TYPES = ("collection", "searchset", "batch", "transaction")
_ACTIVE_ENCOUNTER = ("in-progress", "arrived")
_PRIORITY = (
    IdSystem.PERSONNUMMER,
    IdSystem.SAMORDNINGSNUMMER,
    IdSystem.RESERVNUMMER,
    IdSystem.DOWNTIME_RESERVE,
)
_LOCATION_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/location-physical-type"
_FHIR_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FHIR_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d):([0-5]\d)")
# A resource id that may carry a personnummer is not printed (see _Entry.where).
_NUMBER_LIKE = re.compile(r"\d{10}|\d{6}[-+]\d{4}")

_JsonObject = dict[str, Any]


def _obj(value: object) -> _JsonObject:
    return value if isinstance(value, dict) else {}


def _objects(value: object) -> list[_JsonObject]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


def _strings(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


@dataclass(frozen=True)
class _Entry:
    number: int  # 1-based position in Bundle.entry
    resource: _JsonObject
    full_url: str
    file: str

    @property
    def type(self) -> str:
        return _string(self.resource.get("resourceType"))

    @property
    def id(self) -> str:
        return _string(self.resource.get("id"))

    @property
    def where(self) -> str:
        """``<file> entry N (Type/id)``; an id that looks like a personal number is withheld."""
        rid = self.id or "no id"
        if _NUMBER_LIKE.search(rid):
            rid = "id withheld"
        return f"{self.file} entry {self.number} ({self.type}/{rid})"


@dataclass
class _Bundle:
    entries: list[_Entry]
    by_url: dict[str, _Entry] = field(default_factory=dict)
    by_type_id: dict[str, _Entry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for entry in self.entries:
            if entry.full_url:
                self.by_url.setdefault(entry.full_url, entry)
            if entry.type and entry.id:
                self.by_type_id.setdefault(f"{entry.type}/{entry.id}", entry)

    def of_type(self, resource_type: str) -> list[_Entry]:
        return [entry for entry in self.entries if entry.type == resource_type]

    def resolve(self, reference: object, resource_type: str) -> _Entry | None:
        """The entry a ``Reference`` points at (by fullUrl or ``Type/id``), if of that type."""
        target = _string(_obj(reference).get("reference")).strip()
        if not target:
            return None
        entry = self.by_url.get(target)
        if entry is None:
            match = re.search(r"([A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]*)?$", target)
            entry = self.by_type_id.get(f"{match[1]}/{match[2]}") if match else None
        return entry if entry is not None and entry.type == resource_type else None


def _parse_float(text: str) -> Decimal:
    return Decimal(text)


def _no_constants(text: str) -> object:
    raise ValueError(text)


def _read_bundle(path: Path) -> tuple[_Bundle, _JsonObject]:
    try:
        data = json.loads(_read_text(path), parse_float=_parse_float, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise _unreadable(path, f"not valid JSON (near line {exc.lineno})") from None
    except ValueError:
        raise _unreadable(path, "not valid JSON (NaN and Infinity are not JSON numbers)") from None
    bundle = _obj(data)
    if bundle.get("resourceType") != "Bundle":
        raise _unreadable(path, "not a FHIR Bundle (resourceType must be Bundle)")
    if bundle.get("type") not in _BUNDLE_TYPES:
        raise _unreadable(path, f"Bundle.type must be one of {', '.join(_BUNDLE_TYPES)}")
    entries = [
        _Entry(number, _obj(item.get("resource")), _string(item.get("fullUrl")), path.name)
        for number, item in enumerate(_objects(bundle.get("entry")), start=1)
    ]
    return _Bundle(entries), bundle


def _bundle_time(path: Path, bundle: _JsonObject) -> datetime:
    """Bundle.timestamp, else Bundle.meta.lastUpdated, else the file's modification time."""
    for name, value in (
        ("Bundle.timestamp", bundle.get("timestamp")),
        ("Bundle.meta.lastUpdated", _obj(bundle.get("meta")).get("lastUpdated")),
    ):
        if value is None:
            continue
        try:
            return _aware_datetime(_string(value)).astimezone(UTC)
        except _Invalid as exc:
            raise _unreadable(path, f"{name} {exc}") from None
    return _modified_at(path)


def _concept_text(concept: object) -> str:
    """A CodeableConcept's text, else its first coding's display."""
    concept = _obj(concept)
    text = _string(concept.get("text")).strip()
    if text:
        return text
    for coding in _objects(concept.get("coding")):
        display = _string(coding.get("display")).strip()
        if display:
            return display
    return ""


def _has_code(concept: object, codes: Sequence[str]) -> bool:
    return any(coding.get("code") in codes for coding in _objects(_obj(concept).get("coding")))


def _business_id(resource: _JsonObject) -> str:
    """The first identifier's value, else the resource id."""
    for identifier in _objects(resource.get("identifier")):
        value = _string(identifier.get("value")).strip()
        if value:
            return value
    return _string(resource.get("id")).strip()


def _fhir_identifier(patient: _JsonObject, today: date) -> Identifier:
    """By known system: personnummer, samordningsnummer, reservnummer, downtime reserve id;
    else the first identifier with a system and a value, kept as it is."""
    candidates = [
        (_string(item.get("system")), _string(item.get("value")))
        for item in _objects(patient.get("identifier"))
        if item.get("use") != "old"
    ]
    candidates = [(system, value) for system, value in candidates if system and value]
    for wanted in _PRIORITY:
        for system, value in candidates:
            if known_system(system) == wanted:
                return from_fhir(system, value, today=today)
    if not candidates:
        raise _Invalid("has no identifier with a system and a value")
    return from_fhir(*candidates[0], today=today)


def _fhir_name(patient: _JsonObject) -> _JsonObject:
    """The official name, else the first name that is not old, else the first name."""
    names = _objects(patient.get("name"))
    for wanted in (("official",), (None, "usual", "temp", "nickname", "anonymous")):
        for name in names:
            if name.get("use") in wanted:
                return name
    return names[0] if names else {}


def _fhir_birth_date(raw: str) -> date | None:
    """A full FHIR date; a partial one (``1950`` or ``1950-03``) counts as unknown."""
    if not raw or re.fullmatch(r"\d{4}(-\d{2})?", raw):
        return None
    return _iso_date(raw)


@dataclass(frozen=True)
class _Stay:
    """What the active Encounter says about where the patient is."""

    ward: str
    bed: str
    encounter_id: str
    admitted_at: datetime | None


def _location_kind(item: _JsonObject, location: _Entry | None) -> str | None:
    """The physical type code (``wa`` ward, ``bd`` bed, ``ro`` room…) of an Encounter.location."""
    for concept in (
        item.get("physicalType"),
        (location.resource if location else {}).get("physicalType"),
    ):
        for coding in _objects(_obj(concept).get("coding")):
            if coding.get("system") in (None, _LOCATION_TYPE_SYSTEM) and coding.get("code"):
                return _string(coding.get("code"))
    return None


def _location_name(item: _JsonObject, location: _Entry | None) -> str:
    display = _string(_obj(item.get("location")).get("display")).strip()
    if display or location is None:
        return display
    return _string(location.resource.get("name")).strip()


def _ward_and_bed(encounter: _JsonObject, bundle: _Bundle) -> tuple[str, str]:
    """The ward and bed of an Encounter (see :func:`load_fhir_census` for the rule)."""
    typed: list[tuple[str | None, str]] = []
    for item in _objects(encounter.get("location")):
        if item.get("status") in ("planned", "completed"):
            continue
        location = bundle.resolve(item.get("location"), "Location")
        typed.append((_location_kind(item, location), _location_name(item, location)))
    ward = next((name for kind, name in typed if kind == "wa" and name), "")
    ward = ward or next((name for kind, name in typed if kind is None and name), "")
    provider = _obj(encounter.get("serviceProvider"))
    ward = ward or _string(provider.get("display")).strip()
    ward = ward or _string(_obj(provider.get("identifier")).get("value")).strip()
    bed = next((name for kind, name in typed if kind == "bd" and name), "")
    return ward, bed


def _stay(encounter: _Entry, bundle: _Bundle) -> _Stay:
    resource = encounter.resource
    ward, bed = _ward_and_bed(resource, bundle)
    prefix = f"Encounter (entry {encounter.number})"
    if not ward:
        raise _Invalid(f"{prefix} names no ward (location display or serviceProvider)")
    encounter_id = _business_id(resource)
    if not encounter_id:
        raise _Invalid(f"{prefix} has neither identifier nor id")
    start = _string(_obj(resource.get("period")).get("start"))
    try:
        admitted = _optional_datetime(start)
    except _Invalid as exc:
        raise _Invalid(f"{prefix} period.start {exc}") from None
    return _Stay(_clean_text(ward), _clean_text(bed), _clean_text(encounter_id), admitted)


def _patient_stays(bundle: _Bundle, findings: _Findings) -> dict[int, list[_Entry]]:
    """Active Encounters by the entry number of their Patient; others reported as bad."""
    stays: dict[int, list[_Entry]] = {}
    for entry in bundle.of_type("Encounter"):
        if entry.resource.get("status") not in _ACTIVE_ENCOUNTER:
            continue
        patient = bundle.resolve(entry.resource.get("subject"), "Patient")
        if patient is None:
            findings.bad_entry(
                entry.where, entry.number, [_Issue("subject", "is not a Patient in this bundle")]
            )
            continue
        stays.setdefault(patient.number, []).append(entry)
    return stays


def _allergy_text(resource: _JsonObject) -> str:
    text = _concept_text(resource.get("code"))
    if not text:
        raise _Invalid("has no text or display")
    return _clean_text(text)


def _patient_allergies(
    bundle: _Bundle, findings: _Findings
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
        if status is not None and not _has_code(status, ("active",)):
            continue
        if _has_code(resource.get("verificationStatus"), ("entered-in-error", "refuted")):
            continue
        issues: list[_Issue] = []
        patient = bundle.resolve(resource.get("patient"), "Patient")
        if patient is None:
            issues.append(_Issue("patient", "is not a Patient in this bundle"))
        text = _attempt(issues, "code", partial(_allergy_text, resource))
        if issues:
            findings.bad_entry(entry.where, entry.number, issues)
            if patient is not None:
                bad.setdefault(patient.number, entry.number)
        elif patient is not None and text is not None:
            allergies.setdefault(patient.number, []).append(text)
    return allergies, bad


def _fhir_patient(
    entry: _Entry,
    stays: list[_Entry],
    allergies: list[str],
    bundle: _Bundle,
    today: date,
) -> tuple[Patient | None, Identifier | None, list[_Issue]]:
    resource, issues = entry.resource, list[_Issue]()
    identifier = _attempt(issues, "identifier", lambda: _fhir_identifier(resource, today))
    name = _fhir_name(resource)
    family = _check(issues, "name.family", _required_text, _string(name.get("family")))
    given = _check(issues, "name.given", _required_text, " ".join(_strings(name.get("given"))))
    stated = _check(issues, "birthDate", _fhir_birth_date, _string(resource.get("birthDate")))
    born = _birth_date(issues, "birthDate", stated, identifier, today)
    sex = _check(issues, "gender", _sex, _string(resource.get("gender")))
    stay: _Stay | None = None
    if not stays:
        issues.append(_Issue(None, "has no active Encounter (in-progress or arrived)"))
    elif len(stays) > 1:
        numbers = ", ".join(str(stay_entry.number) for stay_entry in stays)
        issues.append(_Issue(None, f"has several active Encounters (entries {numbers})"))
    else:
        stay = _attempt(issues, "", lambda: _stay(stays[0], bundle))
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
        admitted_at=stay.admitted_at,
        allergies=tuple(allergies),
    )
    return patient, identifier, []


def _fhir_patients(
    bundle: _Bundle, today: date, findings: _Findings
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
            issues.append(_Issue("identifier", f"same patient as entry {first[identifier]}"))
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
      encounter_id is the Encounter's first identifier value, else its id; admitted_at its
      ``period.start`` (a date and time with offset).
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
    findings = _Findings(bundle.name)
    parsed, raw_bundle = _read_bundle(bundle)
    data_as_of = _bundle_time(bundle, raw_bundle)
    patients, good, bad = _fhir_patients(parsed, today, findings)
    orders = _fhir_orders(parsed, good, bad, findings)
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


# --- either -------------------------------------------------------------------------------------


def _is_json(path: Path) -> bool:
    """Whether the file's first character, after a byte order mark and spaces, is ``{``."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"{")


def load_census(path: Path, medications: Path | None, *, skip_invalid: bool, today: date) -> Census:
    """A FHIR Bundle when the file is JSON (it starts with ``{``), else a CSV census.

    A FHIR bundle carries its own medication orders, so ``medications`` must be ``None`` then.
    """
    if not _is_json(path):
        return load_csv_census(path, medications, skip_invalid=skip_invalid, today=today)
    if medications is not None:
        raise CensusError(
            f"census {path.name}: a FHIR bundle carries its own medication orders",
            [Problem(medications.name, "a medications file cannot be combined with a FHIR bundle")],
            hint="leave out the medications file",
        )
    return load_fhir_census(path, skip_invalid=skip_invalid, today=today)

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from downtime.bundled import example_census
from downtime.census import (
    MEDICATION_COLUMNS,
    PATIENT_COLUMNS,
    load_census,
    load_csv_census,
    load_fhir_census,
)
from downtime.census.ids import (
    PERSONNUMMER_URI,
    SAMORDNINGSNUMMER_URI,
    IdentifierError,
    fhir_system,
    parse_patient_id,
)
from downtime.errors import CensusError
from downtime.model import Census, Identifier, IdSystem, SkippedRow

TODAY = date(2026, 11, 25)
EXAMPLE = example_census()
TOLVAN = Identifier(IdSystem.PERSONNUMMER, "191212121212")


def patient(**overrides: str) -> dict[str, str]:
    row = {
        "patient_id": "19121212-1212",
        "family_name": "Tolvansson",
        "given_name": "Tolvan",
        "birth_date": "",
        "sex": "male",
        "ward": "MED42",
        "bed": "1",
        "encounter_id": "E1",
        "admitted_at": "2026-11-20T08:30:00+01:00",
        "allergies": "",
    }
    return row | overrides


def order(**overrides: str) -> dict[str, str]:
    row = {
        "patient_id": "19121212-1212",
        "order_id": "O1",
        "medication": "Alvedon",
        "dose": "1 g",
        "route": "PO",
        "frequency": "1×3",
        "times": "08;14;20",
        "prn": "false",
        "start_date": "2026-11-20",
    }
    return row | overrides


def csv_text(columns: tuple[str, ...], rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write(path: Path, text: str, *, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def patients_file(tmp_path: Path, *rows: dict[str, str]) -> Path:
    return write(tmp_path / "patients.csv", csv_text(PATIENT_COLUMNS, list(rows)))


def medications_file(tmp_path: Path, *rows: dict[str, str]) -> Path:
    return write(tmp_path / "medications.csv", csv_text(MEDICATION_COLUMNS, list(rows)))


def census_error(patients: Path, medications: Path | None = None) -> CensusError:
    with pytest.raises(CensusError) as caught:
        load_csv_census(patients, medications, today=TODAY)
    return caught.value


def problems(error: CensusError) -> set[tuple[str, str]]:
    return {(problem.where, problem.what) for problem in error.problems}


# --- the bundled example -----------------------------------------------------------------------


@pytest.mark.parametrize("today", [TODAY, date.today()])
def test_example_census_loads_with_zero_problems(today: date) -> None:
    census = load_csv_census(EXAMPLE / "patients.csv", EXAMPLE / "medications.csv", today=today)
    assert census.skipped == ()
    assert census.wards() == ("KIR7", "MED42")
    assert 12 <= len(census.patients) <= 16
    for each in census.patients:
        assert 2 <= len(census.orders_for(each.identifier)) <= 5
    systems = {each.identifier.system for each in census.patients}
    assert {IdSystem.PERSONNUMMER, IdSystem.SAMORDNINGSNUMMER} <= systems
    assert TOLVAN in {each.identifier for each in census.patients}
    assert any(each.birth_date and each.birth_date.year < 1926 for each in census.patients)
    assert any(order.prn and not order.times for order in census.orders)
    assert any("," in order.dose for order in census.orders)


def test_example_fhir_bundle_is_the_same_census() -> None:
    from_csv = load_csv_census(EXAMPLE / "patients.csv", EXAMPLE / "medications.csv", today=TODAY)
    from_fhir = load_fhir_census(EXAMPLE / "census.fhir.json", today=TODAY)
    assert from_fhir.skipped == ()
    # The FHIR census also names the record's system of each encounter id; a CSV cannot.
    system = "urn:downtime:example:encounter"
    assert {p.encounter_system for p in from_csv.patients} == {""}
    assert from_fhir.patients == tuple(
        replace(p, source_line=0, encounter_system=system) for p in from_csv.patients
    )
    assert from_fhir.orders == tuple(replace(o, source_line=0) for o in from_csv.orders)
    assert from_fhir.data_as_of == datetime(2026, 11, 25, 5, 0, tzinfo=UTC)


def test_example_names_are_nfc_and_multilingual() -> None:
    census = load_csv_census(EXAMPLE / "patients.csv", today=TODAY)
    names = {(p.family_name, p.given_name) for p in census.patients}
    assert ("Öberg", "Åsa") in names
    assert ("Wójcik-Żak", "Łucja") in names
    assert ("Nguyễn", "Thị Minh Khai") in names
    assert ("Παπαδόπουλος", "Γεώργιος") in names
    assert ("Иванова", "Анна") in names


# --- patients.csv ------------------------------------------------------------------------------


def test_a_good_row(tmp_path: Path) -> None:
    census = load_csv_census(
        patients_file(tmp_path, patient(allergies=" Penicillin ; ;Latex;")), today=TODAY
    )
    (tolvan,) = census.patients
    assert tolvan.identifier == TOLVAN
    assert tolvan.birth_date == date(1912, 12, 12)  # from the personnummer
    assert tolvan.allergies == ("Penicillin", "Latex")
    assert tolvan.admitted_at == datetime(2026, 11, 20, 8, 30, tzinfo=timezone(timedelta(hours=1)))
    assert tolvan.source_line == 2
    assert census.source == str(tmp_path / "patients.csv")
    assert census.orders == ()


def test_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", csv_text(PATIENT_COLUMNS, [patient()]), bom=True)
    assert load_csv_census(path, today=TODAY).patients[0].identifier == TOLVAN


def test_columns_may_come_in_any_order(tmp_path: Path) -> None:
    columns = tuple(reversed(PATIENT_COLUMNS))
    path = write(tmp_path / "p.csv", csv_text(columns, [patient(ward="KIR7")]))
    assert load_csv_census(path, today=TODAY).patients[0].ward == "KIR7"


def test_quoted_commas_are_kept(tmp_path: Path) -> None:
    path = patients_file(tmp_path, patient(allergies="Jod, kontrastmedel;Latex"))
    assert "Jod, kontrastmedel" in path.read_text()
    assert load_csv_census(path, today=TODAY).patients[0].allergies == (
        "Jod, kontrastmedel",
        "Latex",
    )


def test_decomposed_names_are_normalised_to_nfc(tmp_path: Path) -> None:
    path = patients_file(tmp_path, patient(given_name="A\u030asa", family_name="O\u0308berg"))
    (row,) = load_csv_census(path, today=TODAY).patients
    assert row.given_name == "Åsa" == "\u00c5sa"
    assert row.family_name == "Öberg"


def test_sex_is_case_insensitive_and_empty_means_unknown(tmp_path: Path) -> None:
    path = patients_file(
        tmp_path,
        patient(sex="FEMALE"),
        patient(patient_id="197010632391", sex=""),
    )
    assert [p.sex for p in load_csv_census(path, today=TODAY).patients] == ["female", "unknown"]


def test_birth_date_given_or_derived(tmp_path: Path) -> None:
    path = patients_file(
        tmp_path,
        patient(birth_date="1912-12-12"),
        patient(patient_id="197010632391"),
        patient(patient_id="991981000010", birth_date="1960-01-02"),
        patient(patient_id="urn:oid:1.2.3|X1"),
    )
    births = [p.birth_date for p in load_csv_census(path, today=TODAY).patients]
    assert births == [date(1912, 12, 12), date(1970, 10, 3), date(1960, 1, 2), None]


def test_blank_rows_are_ignored_and_bed_may_be_empty(tmp_path: Path) -> None:
    text = csv_text(PATIENT_COLUMNS, [patient(bed="")]) + "\n,,,,,,,,,\n"
    census = load_csv_census(write(tmp_path / "p.csv", text), today=TODAY)
    assert [p.bed for p in census.patients] == [""]


def test_missing_and_unknown_columns_are_named(tmp_path: Path) -> None:
    columns = (*(c for c in PATIENT_COLUMNS if c != "ward"), "wrad")
    path = write(tmp_path / "p.csv", csv_text(columns, []))
    error = census_error(path)
    assert problems(error) == {
        ("p.csv line 1", "missing columns: ward"),
        ("p.csv line 1", "unknown columns: wrad"),
    }
    assert error.hint is not None
    assert "patient_id,family_name" in error.hint


def test_repeated_column_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", ",".join((*PATIENT_COLUMNS, "bed")) + "\n")
    assert ("p.csv line 1", "repeated columns: bed") in problems(census_error(path))


def test_a_file_without_header_is_not_echoed(tmp_path: Path) -> None:
    row = csv_text(PATIENT_COLUMNS, [patient()]).splitlines()[1]
    error = census_error(write(tmp_path / "p.csv", row + "\n"))
    assert problems(error) == {("p.csv line 1", "no header row: line 1 names none of the columns")}
    assert "Tolvansson" not in str(error)
    assert "1212" not in str(error)


BAD_ROWS = [
    (patient(patient_id="19121212-1213"), "patient_id", "check digit is wrong"),
    (patient(patient_id=""), "patient_id", "identifier is empty"),
    (patient(family_name=" "), "family_name", "is empty"),
    (patient(given_name="Tol\x07van"), "given_name", "control character"),
    (patient(birth_date="12/12/1912"), "birth_date", "YYYY-MM-DD"),
    (patient(birth_date="1912-02-30"), "birth_date", "not a real calendar date"),
    (patient(birth_date="1913-12-12"), "birth_date", "does not match"),
    (patient(patient_id="991981000010", birth_date="2027-01-01"), "birth_date", "future"),
    (patient(sex="f"), "sex", "female, male, other or unknown"),
    (patient(ward=""), "ward", "is empty"),
    (patient(encounter_id=""), "encounter_id", "is empty"),
    (patient(admitted_at="2026-11-20T08:30"), "admitted_at", "no UTC offset"),
    (patient(admitted_at="2026-11-20"), "admitted_at", "not a date and time"),
    (patient(admitted_at="yesterday"), "admitted_at", "not a date and time"),
    (patient(allergies="Latex;Pen\x00icillin"), "allergies", "control character"),
]


@pytest.mark.parametrize(("row", "column", "what"), BAD_ROWS)
def test_each_kind_of_bad_row(tmp_path: Path, row: dict[str, str], column: str, what: str) -> None:
    path = patients_file(tmp_path, patient(patient_id="197010632391"), row)
    (problem,) = census_error(path).problems
    assert problem.where == f"patients.csv line 3, column {column}"
    assert what in problem.what


def personnummer(yyyymmdd: str, serial: str) -> str:
    """A personnummer with its Luhn check digit (computed here, not by the code under test)."""
    total = 0
    for index, char in enumerate(yyyymmdd[2:] + serial):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product // 10 + product % 10
    return f"{yyyymmdd}-{serial}{(10 - total % 10) % 10}"


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    # Each bad row gets a patient of its own, so that none is also a repeat of another.
    rows = [
        row
        if row["patient_id"] != "19121212-1212"
        else row | {"patient_id": personnummer("19500101", f"{n:03d}")}
        for n, (row, _, _) in enumerate(BAD_ROWS, start=1)
    ]
    path = patients_file(tmp_path, patient(patient_id="197010632391"), *rows)
    error = census_error(path)
    assert error.message.startswith(f"census patients.csv: {len(rows)} bad rows; no pack was made")
    assert error.hint is not None
    assert "--skip-invalid" in error.hint
    wheres = [problem.where for problem in error.problems]
    assert wheres == [
        f"patients.csv line {line}, column {column}"
        for line, (_, column, _) in enumerate(BAD_ROWS, start=3)
    ]


def test_several_problems_in_one_row_are_all_listed(tmp_path: Path) -> None:
    path = patients_file(tmp_path, patient(ward="", sex="x", family_name=""))
    error = census_error(path)
    assert error.message.startswith("census patients.csv: 1 bad row;")
    assert {problem.where for problem in error.problems} == {
        "patients.csv line 2, column ward",
        "patients.csv line 2, column sex",
        "patients.csv line 2, column family_name",
    }


def test_problems_never_contain_names_or_identifiers(tmp_path: Path) -> None:
    path = patients_file(
        tmp_path,
        patient(patient_id="19121212-1213", sex="x"),
        patient(patient_id="19121212-1212", family_name="Öberg", birth_date="1913-01-01"),
        patient(patient_id="19121212-1212", given_name="Åsa\x01"),
    )
    text = str(census_error(path))
    for secret in ("Tolvan", "Öberg", "Åsa", "1212", "1913"):
        assert secret not in text


def test_wrong_number_of_cells(tmp_path: Path) -> None:
    good = csv_text(PATIENT_COLUMNS, [patient()])
    path = write(tmp_path / "p.csv", good + "19701063-2391,Mikkelsen,Jonas\n")
    assert problems(census_error(path)) == {("p.csv line 3", "has 3 cells; the header has 10")}


def test_line_numbers_count_physical_lines_of_quoted_line_breaks(tmp_path: Path) -> None:
    text = csv_text(
        PATIENT_COLUMNS,
        [
            patient(allergies="Latex\nPenicillin"),  # lines 2-3
            patient(patient_id="197010632391", sex="?"),  # line 4
        ],
    )
    assert problems(census_error(write(tmp_path / "p.csv", text))) == {
        (
            "p.csv line 2, column allergies",
            "contains U+000A LINE FEED at character 6, a line break: delete it",
        ),
        ("p.csv line 4, column sex", "must be female, male, other or unknown"),
    }


def test_duplicates_name_the_first_line(tmp_path: Path) -> None:
    path = patients_file(
        tmp_path,
        patient(),
        patient(patient_id="197010632391"),
        patient(patient_id="121212+1212"),
        patient(patient_id="191212121212", ward=""),
    )
    assert problems(census_error(path)) == {
        ("patients.csv line 4, column patient_id", "same patient as line 2"),
        ("patients.csv line 5, column patient_id", "same patient as line 2"),
        ("patients.csv line 5, column ward", "is empty"),
    }


def test_skip_invalid_keeps_the_good_rows_and_lists_the_others(tmp_path: Path) -> None:
    path = patients_file(
        tmp_path,
        patient(ward=""),
        patient(patient_id="197010632391"),
        patient(patient_id="197010632391", sex="x"),
    )
    census = load_csv_census(path, skip_invalid=True, today=TODAY)
    assert [p.source_line for p in census.patients] == [3]
    assert census.skipped == (
        SkippedRow(2, "patients.csv: column ward: is empty"),
        SkippedRow(
            4,
            "patients.csv: column sex: must be female, male, other or unknown; "
            "column patient_id: same patient as line 3",
        ),
    )


def test_data_as_of_is_the_file_modification_time(tmp_path: Path) -> None:
    path = patients_file(tmp_path, patient())
    stamp = datetime(2026, 11, 24, 23, 15, tzinfo=UTC)
    os.utime(path, (stamp.timestamp(), stamp.timestamp()))
    assert load_csv_census(path, today=TODAY).data_as_of == stamp


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"", "the file is empty"),
        (b"\xef\xbb\xbf \n\n", "the file is empty"),
        (",".join(PATIENT_COLUMNS).encode() + b"\n", "no patient rows after the header"),
        (
            ",".join(PATIENT_COLUMNS).encode() + b"\nTolvan\xe5\n",
            "line 2 is not UTF-8 text: save the file as UTF-8",
        ),
    ],
)
def test_unreadable_files(tmp_path: Path, content: bytes, what: str) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(content)
    error = census_error(path)
    assert problems(error) == {("p.csv", what)}
    assert "cannot be read" in error.message


def test_missing_file_and_folder(tmp_path: Path) -> None:
    assert problems(census_error(tmp_path / "nope.csv")) == {("nope.csv", "no such file")}
    assert problems(census_error(tmp_path)) == {(tmp_path.name, "is a folder, not a file")}


# --- medications.csv ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ("08;14;20", (time(8), time(14), time(20))),
        ("08:00;14:30", (time(8), time(14, 30))),
        (" 20 ; 8 ;", (time(8), time(20))),
        ("21:30;07", (time(7), time(21, 30))),
        ("00", (time(0),)),
    ],
)
def test_times_are_parsed_and_sorted(
    tmp_path: Path, times: str, expected: tuple[time, ...]
) -> None:
    census = load_csv_census(
        patients_file(tmp_path, patient()),
        medications_file(tmp_path, order(times=times)),
        today=TODAY,
    )
    assert census.orders[0].times == expected


@pytest.mark.parametrize(
    ("times", "what"),
    [
        ("25", "25 is not a time of day"),
        ("08:75", "08:75 is not a time of day"),
        ("8.30", "not a list of times"),
        ("08;08:00", "08:00 is given twice"),
        ("", "needs at least one time"),
    ],
)
def test_bad_times(tmp_path: Path, times: str, what: str) -> None:
    error = census_error(
        patients_file(tmp_path, patient()), medications_file(tmp_path, order(times=times))
    )
    (problem,) = error.problems
    assert problem.where == "medications.csv line 2, column times"
    assert what in problem.what


@pytest.mark.parametrize(
    ("prn", "expected"),
    [("true", True), ("TRUE", True), ("Yes", True), ("1", True), ("false", False), ("no", False)],
)
def test_prn_values(tmp_path: Path, prn: str, expected: bool) -> None:
    census = load_csv_census(
        patients_file(tmp_path, patient()),
        medications_file(tmp_path, order(prn=prn)),
        today=TODAY,
    )
    assert census.orders[0].prn is expected


def test_an_as_needed_order_may_have_no_times_and_dose_is_kept_exactly(tmp_path: Path) -> None:
    census = load_csv_census(
        patients_file(tmp_path, patient()),
        medications_file(
            tmp_path,
            order(times="", prn="true", dose="0,5 mg", frequency="vid behov", start_date=""),
        ),
        today=TODAY,
    )
    (only,) = census.orders
    assert (only.times, only.prn, only.dose, only.start_date) == ((), True, "0,5 mg", None)
    assert only.patient == TOLVAN
    assert only.source_line == 2
    assert census.orders_for(TOLVAN) == census.orders


def test_orders_match_patients_by_normalised_identifier(tmp_path: Path) -> None:
    census = load_csv_census(
        patients_file(tmp_path, patient()),
        medications_file(tmp_path, order(patient_id="121212+1212")),
        today=TODAY,
    )
    assert census.orders[0].patient == TOLVAN


def test_bad_medication_rows(tmp_path: Path) -> None:
    error = census_error(
        patients_file(tmp_path, patient()),
        medications_file(
            tmp_path,
            order(),
            order(order_id="O1"),
            order(order_id="O3", patient_id="197010632391"),
            order(order_id="O4", prn="maybe"),
            order(order_id="O5", dose=""),
            order(order_id="O6", start_date="20/11"),
        ),
    )
    assert error.message.startswith("census patients.csv: 5 bad rows;")
    assert problems(error) == {
        ("medications.csv line 3, column order_id", "same order_id as line 2"),
        (
            "medications.csv line 4, column patient_id",
            "no patient with this identifier in patients.csv",
        ),
        ("medications.csv line 5, column prn", "must be true or false (or yes/no, 1/0)"),
        ("medications.csv line 6, column dose", "is empty"),
        ("medications.csv line 7, column start_date", "is not a date (write YYYY-MM-DD)"),
    }


def test_skipped_patients_take_their_orders_with_them(tmp_path: Path) -> None:
    census = load_csv_census(
        patients_file(tmp_path, patient(ward=""), patient(patient_id="197010632391")),
        medications_file(
            tmp_path,
            order(order_id="O1"),
            order(order_id="O2", patient_id="197010632391"),
            order(order_id="O3", patient_id="197010632391", times="99"),
        ),
        skip_invalid=True,
        today=TODAY,
    )
    assert [o.order_id for o in census.orders] == ["O2"]
    assert census.skipped == (
        SkippedRow(2, "patients.csv: column ward: is empty"),
        SkippedRow(2, "medications.csv: its patient was skipped (patients.csv line 2)"),
        SkippedRow(4, "medications.csv: column times: 99 is not a time of day"),
    )


def test_a_duplicate_patient_row_does_not_take_the_orders_of_the_first(tmp_path: Path) -> None:
    census = load_csv_census(
        patients_file(tmp_path, patient(), patient(ward="")),
        medications_file(tmp_path, order()),
        skip_invalid=True,
        today=TODAY,
    )
    assert [o.order_id for o in census.orders] == ["O1"]
    assert [row.line for row in census.skipped] == [3]


def test_medications_header_is_checked(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", "patient_id,order_id\n")
    error = census_error(patients_file(tmp_path, patient()), path)
    assert ("m.csv line 1", "missing columns: " + ", ".join(MEDICATION_COLUMNS[2:])) in problems(
        error
    )


# --- FHIR bundles ------------------------------------------------------------------------------


def system_for(value: str) -> str:
    """The FHIR system of a valid number; personnummer for an invalid one."""
    try:
        return fhir_system(parse_patient_id(value, today=TODAY))
    except IdentifierError:
        return PERSONNUMMER_URI


def fhir_patient(pid: str, value: str = "191212121212", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": system_for(value), "value": value}],
        "name": [{"use": "official", "family": "Tolvansson", "given": ["Tolvan"]}],
        "gender": "male",
        **extra,
    }


def fhir_encounter(eid: str, subject: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": "in-progress",
        "subject": {"reference": subject},
        "period": {"start": "2026-11-20T08:30:00+01:00"},
        "location": [
            {
                "location": {"display": "MED42"},
                "physicalType": {"coding": [{"code": "wa"}]},
            }
        ],
        **extra,
    }


def fhir_order(oid: str, subject: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": oid,
        "status": "active",
        "intent": "order",
        "subject": {"reference": subject},
        "medicationCodeableConcept": {"coding": [{"display": "Alvedon"}]},
        "authoredOn": "2026-11-20T10:00:00+01:00",
        "dosageInstruction": [
            {
                "route": {"coding": [{"display": "PO"}]},
                "timing": {"repeat": {"timeOfDay": ["20:00:00", "08:00:00"]}},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "g"}}],
            }
        ],
        **extra,
    }


def bundle_file(tmp_path: Path, *resources: dict[str, Any], **extra: Any) -> Path:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"urn:uuid:{r['resourceType']}-{r.get('id', '')}", "resource": r}
            for r in resources
        ],
        **extra,
    }
    path = tmp_path / "census.json"
    path.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    return path


def load_bundle(path: Path, *, skip_invalid: bool = False) -> Census:
    return load_fhir_census(path, skip_invalid=skip_invalid, today=TODAY)


def fhir_error(path: Path) -> CensusError:
    with pytest.raises(CensusError) as caught:
        load_bundle(path)
    return caught.value


def test_fhir_references_resolve_by_type_and_id_or_by_full_url(tmp_path: Path) -> None:
    path = bundle_file(
        tmp_path,
        fhir_patient("p1"),
        fhir_patient("p2", "197010632391"),
        fhir_encounter("e1", "Patient/p1"),
        fhir_encounter("e2", "urn:uuid:Patient-p2"),
        fhir_order("o1", "https://fhir.example/r4/Patient/p1"),
        fhir_order("o2", "urn:uuid:Patient-p2"),
    )
    census = load_bundle(path)
    assert [p.identifier.value for p in census.patients] == ["191212121212", "197010632391"]
    assert [(o.order_id, o.patient.value) for o in census.orders] == [
        ("o1", "191212121212"),
        ("o2", "197010632391"),
    ]
    first = census.orders[0]
    assert first.medication == "Alvedon"
    assert first.route == "PO"
    assert first.dose == "1 g"
    assert first.times == (time(8), time(20))
    assert first.start_date == date(2026, 11, 20)
    assert census.patients[0].encounter_id == "e1"


def test_fhir_encounter_id_keeps_the_system_of_its_identifier(tmp_path: Path) -> None:
    """The record's own encounter system travels with the id: reconciliation refers to the
    encounter by both; an id that is the resource's own has no system."""
    system = "urn:oid:1.2.752.29.4.14"
    identified = [{"system": system, "value": "VT-1"}]
    path = bundle_file(
        tmp_path,
        fhir_patient("p1"),
        fhir_patient("p2", "197010632391"),
        fhir_encounter("e1", "Patient/p1", identifier=[{"value": ""}, *identified]),
        fhir_encounter("e2", "Patient/p2"),
    )
    census = load_bundle(path)
    assert [(p.encounter_id, p.encounter_system) for p in census.patients] == [
        ("VT-1", system),
        ("e2", ""),
    ]


def test_fhir_patient_without_encounter_is_a_bad_entry(tmp_path: Path) -> None:
    path = bundle_file(
        tmp_path, fhir_patient("p1"), fhir_encounter("e1", "Patient/p1", status="finished")
    )
    error = fhir_error(path)
    assert problems(error) == {
        ("census.json entry 1 (Patient/p1)", "has no active Encounter (in-progress or arrived)")
    }
    assert error.message.startswith("census census.json: 1 bad entry; no pack was made")


def test_fhir_skip_invalid_takes_orders_of_skipped_patients(tmp_path: Path) -> None:
    path = bundle_file(
        tmp_path,
        fhir_patient("p1"),
        fhir_patient("p2", "197010632391"),
        fhir_encounter("e2", "Patient/p2"),
        fhir_order("o1", "Patient/p1"),
        fhir_order("o2", "Patient/p2"),
    )
    census = load_bundle(path, skip_invalid=True)
    assert [p.identifier.value for p in census.patients] == ["197010632391"]
    assert [o.order_id for o in census.orders] == ["o2"]
    assert census.skipped == (
        SkippedRow(
            1,
            "census.json entry 1 (Patient/p1): has no active Encounter (in-progress or arrived)",
        ),
        SkippedRow(
            4, "census.json entry 4 (MedicationRequest/o1): its patient (entry 1) was skipped"
        ),
    )


def test_fhir_ward_rule(tmp_path: Path) -> None:
    bed = {"location": {"display": "12B"}, "physicalType": {"coding": [{"code": "bd"}]}}
    room = {"location": {"display": "Sal 3"}, "physicalType": {"coding": [{"code": "ro"}]}}
    untyped = {"location": {"display": "Avd 42"}}
    ward = {"location": {"display": "MED42"}, "physicalType": {"coding": [{"code": "wa"}]}}
    old_ward = ward | {"status": "completed", "location": {"display": "AKM"}}
    cases: list[tuple[list[Any], dict[str, Any], tuple[str, str]]] = [
        ([room, untyped, bed, ward], {}, ("MED42", "12B")),
        ([old_ward, room, untyped], {}, ("Avd 42", "")),
        ([bed], {"serviceProvider": {"display": "Kirurgen"}}, ("Kirurgen", "12B")),
        ([], {"serviceProvider": {"identifier": {"value": "KIR7"}}}, ("KIR7", "")),
    ]
    for locations, extra, expected in cases:
        path = bundle_file(
            tmp_path,
            fhir_patient("p1"),
            fhir_encounter("e1", "Patient/p1", location=locations, **extra),
        )
        (only,) = load_bundle(path).patients
        assert (only.ward, only.bed) == expected


def test_fhir_ward_from_a_referenced_location(tmp_path: Path) -> None:
    location = {
        "resourceType": "Location",
        "id": "w42",
        "name": "MED42",
        "physicalType": {"coding": [{"code": "wa"}]},
    }
    encounter = fhir_encounter(
        "e1", "Patient/p1", location=[{"location": {"reference": "Location/w42"}}]
    )
    path = bundle_file(tmp_path, location, fhir_patient("p1"), encounter)
    assert load_bundle(path).patients[0].ward == "MED42"


def test_fhir_encounter_problems_are_reported_on_the_patient(tmp_path: Path) -> None:
    path = bundle_file(
        tmp_path,
        fhir_patient("p1"),
        fhir_encounter("e1", "Patient/p1", location=[], period={"start": "2026-11-20T08:30"}),
        fhir_patient("p2", "197010632391"),
        fhir_encounter("e2", "Patient/p2"),
        fhir_encounter("e3", "Patient/p2", status="arrived"),
        fhir_encounter("e4", "Patient/p9"),
    )
    assert problems(fhir_error(path)) == {
        (
            "census.json entry 1 (Patient/p1)",
            "Encounter (entry 2) names no ward (location display or serviceProvider)",
        ),
        (  # every problem of the Encounter at once, not the first only
            "census.json entry 1 (Patient/p1)",
            "Encounter (entry 2) period.start: has no UTC offset "
            "(write e.g. 2026-05-04T08:30+02:00)",
        ),
        ("census.json entry 3 (Patient/p2)", "has several active Encounters (entries 4, 5)"),
        ("census.json entry 6 (Encounter/e4)", "subject: is not a Patient in this bundle"),
    }


def test_fhir_identifier_priority_and_other_systems(tmp_path: Path) -> None:
    both = fhir_patient(
        "p1",
        identifier=[
            {"system": "urn:oid:1.2.3", "value": "MRN1"},
            {"system": SAMORDNINGSNUMMER_URI, "value": "197010632391"},
            {"system": PERSONNUMMER_URI, "value": "19121212-1212"},
        ],
    )
    other = fhir_patient("p2", identifier=[{"system": "urn:oid:1.2.3", "value": " MRN2 "}])
    path = bundle_file(
        tmp_path,
        both,
        other,
        fhir_encounter("e1", "Patient/p1"),
        fhir_encounter("e2", "Patient/p2"),
    )
    assert [p.identifier for p in load_bundle(path).patients] == [
        TOLVAN,
        Identifier("urn:oid:1.2.3", "MRN2"),
    ]


def test_fhir_patient_problems(tmp_path: Path) -> None:
    bad_number = fhir_patient("p1", "191212121213")
    no_name = fhir_patient("p2", "197010632391", name=[], gender="woman")
    wrong_birth = fhir_patient("p3", "991981000010", birthDate="2030-01-01")
    duplicate = fhir_patient("p4", "19121212-1212")
    path = bundle_file(
        tmp_path,
        bad_number,
        no_name,
        wrong_birth,
        fhir_patient("p5"),
        duplicate,
        *(fhir_encounter(f"e{n}", f"Patient/p{n}") for n in range(1, 6)),
    )
    assert problems(fhir_error(path)) == {
        ("census.json entry 1 (Patient/p1)", "identifier: check digit is wrong"),
        ("census.json entry 2 (Patient/p2)", "name.family: is empty"),
        ("census.json entry 2 (Patient/p2)", "name.given: is empty"),
        ("census.json entry 2 (Patient/p2)", "gender: must be female, male, other or unknown"),
        ("census.json entry 3 (Patient/p3)", "birthDate: is in the future"),
        ("census.json entry 5 (Patient/p4)", "identifier: same patient as entry 4"),
    }


def test_fhir_ids_that_look_like_personal_numbers_are_withheld(tmp_path: Path) -> None:
    path = bundle_file(tmp_path, fhir_patient("PatientExample191212121212"))
    (problem,) = fhir_error(path).problems
    assert problem.where == "census.json entry 1 (Patient/id withheld)"


def test_fhir_allergies(tmp_path: Path) -> None:
    def allergy(aid: str, text: str, status: str | None = "active", **extra: Any) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "AllergyIntolerance",
            "id": aid,
            "patient": {"reference": "Patient/p1"},
            "code": {"text": text},
            **extra,
        }
        if status:
            resource["clinicalStatus"] = {"coding": [{"code": status}]}
        return resource

    path = bundle_file(
        tmp_path,
        fhir_patient("p1"),
        fhir_encounter("e1", "Patient/p1"),
        allergy("a1", "Penicillin"),
        allergy("a2", "Latex", status="resolved"),
        allergy("a3", "Jod", status=None),
        allergy("a4", "Nötter", verificationStatus={"coding": [{"code": "refuted"}]}),
    )
    assert load_bundle(path).patients[0].allergies == ("Penicillin", "Jod")

    bad = bundle_file(
        tmp_path, fhir_patient("p1"), fhir_encounter("e1", "Patient/p1"), allergy("a1", "")
    )
    census = load_bundle(bad, skip_invalid=True)
    assert census.patients == ()
    assert census.skipped == (
        SkippedRow(1, "census.json entry 1 (Patient/p1): its allergy entry 3 is bad"),
        SkippedRow(3, "census.json entry 3 (AllergyIntolerance/a1): code: has no text or display"),
    )


def test_fhir_order_details(tmp_path: Path) -> None:
    medication = {"resourceType": "Medication", "id": "m1", "code": {"text": "Morfin"}}
    as_needed = fhir_order(
        "o1",
        "Patient/p1",
        medicationCodeableConcept=None,
        medicationReference={"reference": "Medication/m1"},
        dispenseRequest={"validityPeriod": {"start": "2026-11-21"}},
        dosageInstruction=[
            {
                "asNeededBoolean": True,
                "timing": {"code": {"coding": [{"display": "vid behov"}]}},
                "doseAndRate": [{"doseQuantity": {"value": 2.5, "unit": "mg"}}],
            }
        ],
    )
    repeat = fhir_order(
        "o2",
        "Patient/p1",
        identifier=[{"value": "ORD-9"}],
        dosageInstruction=[
            {
                "timing": {
                    "repeat": {
                        "frequency": 1,
                        "period": 8,
                        "periodUnit": "h",
                        "timeOfDay": ["06:00:00", "14:00:00", "22:00:00"],
                    }
                },
                "doseAndRate": [
                    {"doseRange": {"low": {"value": 1}, "high": {"value": 2, "unit": "tablett"}}}
                ],
            }
        ],
    )
    ignored = fhir_order("o3", "Patient/p1", intent="plan")
    path = bundle_file(
        tmp_path,
        medication,
        fhir_patient("p1"),
        fhir_encounter("e1", "Patient/p1"),
        as_needed,
        repeat,
        ignored,
    )
    first, second = load_bundle(path).orders
    assert (first.medication, first.dose, first.frequency, first.prn, first.times) == (
        "Morfin",
        "2,5 mg",
        "vid behov",
        True,
        (),
    )
    assert first.start_date == date(2026, 11, 21)
    assert (second.order_id, second.dose, second.frequency, second.route) == (
        "ORD-9",
        "1-2 tablett",
        "1×/8 h",
        "",
    )


def test_fhir_order_problems(tmp_path: Path) -> None:
    path = bundle_file(
        tmp_path,
        fhir_patient("p1"),
        fhir_encounter("e1", "Patient/p1"),
        fhir_order("o1", "Patient/p1", dosageInstruction=[{}]),
        fhir_order("o2", "Patient/p1", identifier=[{"value": "o1"}]),
        fhir_order("o3", "Patient/p7"),
    )
    assert problems(fhir_error(path)) == {
        (
            "census.json entry 3 (MedicationRequest/o1)",
            "dosageInstruction.dose: has no doseQuantity, doseRange or text",
        ),
        (
            "census.json entry 3 (MedicationRequest/o1)",
            "dosageInstruction.timing: a scheduled (not as-needed) order needs repeat.timeOfDay",
        ),
        ("census.json entry 4 (MedicationRequest/o2)", "identifier: same order id as entry 3"),
        ("census.json entry 5 (MedicationRequest/o3)", "subject: is not a Patient in this bundle"),
    }


def test_fhir_data_as_of(tmp_path: Path) -> None:
    resources = (fhir_patient("p1"), fhir_encounter("e1", "Patient/p1"))
    stamped = bundle_file(tmp_path, *resources, timestamp="2026-11-25T06:00:00+01:00")
    assert load_bundle(stamped).data_as_of == datetime(2026, 11, 25, 5, tzinfo=UTC)
    updated = bundle_file(tmp_path, *resources, meta={"lastUpdated": "2026-11-25T04:00:00Z"})
    assert load_bundle(updated).data_as_of == datetime(2026, 11, 25, 4, tzinfo=UTC)
    plain = bundle_file(tmp_path, *resources)
    os.utime(plain, (1_700_000_000, 1_700_000_000))
    assert load_bundle(plain).data_as_of == datetime.fromtimestamp(1_700_000_000, tz=UTC)
    bad = bundle_file(tmp_path, *resources, timestamp="2026-11-25T06:00:00")
    assert "Bundle.timestamp has no UTC offset" in str(fhir_error(bad))


@pytest.mark.parametrize(
    ("content", "what"),
    [
        ("{not json", "not valid JSON (near line 1)"),
        ('{"resourceType": "Bundle", "x": NaN}', "not valid JSON (NaN"),
        ('{"resourceType": "Patient"}', "not a FHIR Bundle (resourceType must be Bundle)"),
        ('{"resourceType": "Bundle", "type": "document"}', "Bundle.type must be one of"),
    ],
)
def test_unreadable_bundles(tmp_path: Path, content: str, what: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(content, encoding="utf-8")
    (problem,) = fhir_error(path).problems
    assert problem.where == "b.json"
    assert problem.what.startswith(what)


# --- load_census -------------------------------------------------------------------------------


def test_load_census_picks_the_format_by_content(tmp_path: Path) -> None:
    bundle = bundle_file(tmp_path, fhir_patient("p1"), fhir_encounter("e1", "Patient/p1"))
    renamed = bundle.rename(tmp_path / "export.csv")
    write(renamed, "\ufeff  \n" + renamed.read_text(encoding="utf-8"))
    from_json = load_census(renamed, None, skip_invalid=False, today=TODAY)
    assert from_json.patients[0].source_line == 0
    csv_path = patients_file(tmp_path, patient())
    from_csv = load_census(csv_path, None, skip_invalid=False, today=TODAY)
    assert from_csv.patients[0].source_line == 2


def test_load_census_refuses_a_medications_file_with_a_bundle(tmp_path: Path) -> None:
    bundle = bundle_file(tmp_path, fhir_patient("p1"), fhir_encounter("e1", "Patient/p1"))
    medications = medications_file(tmp_path, order())
    with pytest.raises(CensusError) as caught:
        load_census(bundle, medications, skip_invalid=False, today=TODAY)
    assert "carries its own medication orders" in caught.value.message
    assert load_census(bundle, None, skip_invalid=True, today=TODAY).patients


def test_load_census_reads_the_example(tmp_path: Path) -> None:
    csv_census = load_census(
        EXAMPLE / "patients.csv", EXAMPLE / "medications.csv", skip_invalid=False, today=TODAY
    )
    fhir_census = load_census(EXAMPLE / "census.fhir.json", None, skip_invalid=False, today=TODAY)
    assert len(csv_census.orders) == len(fhir_census.orders) > 0
    with pytest.raises(CensusError) as caught:
        load_census(tmp_path / "missing.csv", None, skip_invalid=False, today=TODAY)
    assert problems(caught.value) == {("missing.csv", "no such file")}


# --- issue 8: text the paper can show -----------------------------------------------------------

HIDDEN = [
    ("\u202e", "RIGHT-TO-LEFT OVERRIDE"),
    ("\u200b", "ZERO WIDTH SPACE"),
    ("\ufeff", "ZERO WIDTH NO-BREAK SPACE"),
    ("\u2066", "LEFT-TO-RIGHT ISOLATE"),
    ("\u2069", "POP DIRECTIONAL ISOLATE"),
    ("\u00ad", "SOFT HYPHEN"),
]


@pytest.mark.parametrize(("char", "name"), HIDDEN)
@pytest.mark.parametrize(
    "column", ["family_name", "given_name", "ward", "bed", "encounter_id", "allergies"]
)
def test_bidi_and_zero_width_characters_are_refused_in_a_csv_census(
    tmp_path: Path, column: str, char: str, name: str
) -> None:
    path = patients_file(
        tmp_path, patient(), patient(patient_id="197010632391", **{column: f"Ab{char}cd"})
    )
    (problem,) = census_error(path).problems
    code = f"U+{ord(char):04X}"
    assert problem.where == f"patients.csv line 3, column {column}"
    assert problem.what.startswith(f"contains {code} {name} at character 3")
    assert "Ab" not in problem.what and "cd" not in problem.what


def test_a_format_character_in_a_medication_row_is_refused(tmp_path: Path) -> None:
    patients = patients_file(tmp_path, patient())
    medications = medications_file(tmp_path, order(medication="Alvedon\u202e 500"))
    assert problems(census_error(patients, medications)) == {
        (
            "medications.csv line 2, column medication",
            "contains U+202E RIGHT-TO-LEFT OVERRIDE at character 8, an invisible format "
            "character that can hide or reorder text: delete it",
        )
    }


def test_a_format_character_in_an_identifier_of_another_system_is_refused(tmp_path: Path) -> None:
    path = patients_file(tmp_path, patient(patient_id="urn:oid:1.2.3|MRN\u200b42"))
    ((where, what),) = problems(census_error(path))
    assert where == "patients.csv line 2, column patient_id"
    assert "U+200B at character 4" in what and "MRN" not in what


def test_a_name_the_font_cannot_print_is_refused_when_the_census_is_read(tmp_path: Path) -> None:
    path = patients_file(
        tmp_path,
        patient(),
        patient(patient_id="197010632391", family_name="Yamada", given_name="太郎"),
    )
    (problem,) = census_error(path).problems
    assert problem.where == "patients.csv line 3, column given_name"
    assert "U+592A CJK UNIFIED IDEOGRAPH-592A at character 1 (and 1 more)" in problem.what
    assert "太" not in problem.what and "郎" not in problem.what and "U+90CE" not in problem.what


def test_a_name_of_64_characters_is_accepted_and_65_is_refused_with_the_limit(
    tmp_path: Path,
) -> None:
    given = "Anna-Karin Margareta Elisabet Kristina Sofi"
    fits = patient(family_name="Andersson-Johansson", given_name=given)
    too_long = patient(
        patient_id="197010632391",
        family_name="Andersson-Johansson",
        given_name=given + "a",
    )
    assert len(f"Andersson-Johansson, {given}") == 64
    assert load_csv_census(patients_file(tmp_path, fits), today=TODAY).patients
    path = patients_file(tmp_path, fits, too_long)
    assert problems(census_error(path)) == {
        (
            "patients.csv line 3",
            "the name (family and given, with ', ') is 65 characters; at most 64 print "
            "legibly: shorten it, e.g. to the given name in use",
        )
    }


def test_a_10000_character_name_is_refused_with_its_line_number(tmp_path: Path) -> None:
    path = patients_file(
        tmp_path, patient(), patient(patient_id="197010632391", family_name="Å" * 10_000)
    )
    error = census_error(path)
    assert problems(error) == {
        (
            "patients.csv line 3",
            "the name (family and given, with ', ') is 10008 characters; at most 64 print "
            "legibly: shorten it, e.g. to the given name in use",
        )
    }
    assert "ÅÅ" not in str(error)


def test_a_birth_number_000_row_is_refused_with_its_line(tmp_path: Path) -> None:
    path = patients_file(tmp_path, patient(), patient(patient_id="20150916-0006"))
    assert problems(census_error(path)) == {
        (
            "patients.csv line 3, column patient_id",
            "the birth number (the three digits before the check digit) is 000",
        )
    }


def test_bidi_and_zero_width_characters_are_refused_in_a_fhir_census(tmp_path: Path) -> None:
    name = {"use": "official", "family": "Tolvans\u202esson", "given": ["Tol\u200bvan"]}
    ward = fhir_encounter("e2", "Patient/p2")
    ward["location"][0]["location"]["display"] = "MED\u206642"
    allergy = {
        "resourceType": "AllergyIntolerance",
        "id": "a1",
        "patient": {"reference": "Patient/p3"},
        "code": {"text": "Penicillin\ufeff"},
    }
    order = fhir_order("m1", "Patient/p4")
    order["medicationCodeableConcept"] = {"text": "Alvedon\u2069"}
    path = bundle_file(
        tmp_path,
        fhir_patient("p1", name=[name]),
        fhir_encounter("e1", "Patient/p1"),
        fhir_patient("p2", "197010632391"),
        ward,
        fhir_patient("p3", personnummer("19500101", "001")),
        fhir_encounter("e3", "Patient/p3"),
        allergy,
        fhir_patient("p4", personnummer("19500101", "002")),
        fhir_encounter("e4", "Patient/p4"),
        order,
    )
    found = {(where, what.split(" at ")[0]) for where, what in problems(fhir_error(path))}
    assert found == {
        ("census.json entry 1 (Patient/p1)", "name.family: contains U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("census.json entry 1 (Patient/p1)", "name.given: contains U+200B ZERO WIDTH SPACE"),
        (
            "census.json entry 3 (Patient/p2)",
            "Encounter (entry 4) ward (location): contains U+2066 LEFT-TO-RIGHT ISOLATE",
        ),
        (
            "census.json entry 7 (AllergyIntolerance/a1)",
            "code: contains U+FEFF ZERO WIDTH NO-BREAK SPACE",
        ),
        (
            "census.json entry 10 (MedicationRequest/m1)",
            "medication: contains U+2069 POP DIRECTIONAL ISOLATE",
        ),
    }


def test_a_long_or_unprintable_name_is_refused_in_a_fhir_census(tmp_path: Path) -> None:
    long_name = {"use": "official", "family": "Lång" * 2500, "given": ["Tolvan"]}
    foreign = {"use": "official", "family": "山田", "given": ["Taro"]}
    path = bundle_file(
        tmp_path,
        fhir_patient("p1", name=[long_name]),
        fhir_encounter("e1", "Patient/p1"),
        fhir_patient("p2", "197010632391", name=[foreign]),
        fhir_encounter("e2", "Patient/p2"),
    )
    error = fhir_error(path)
    assert {(p.where, p.what.split(";")[0].split(":")[0]) for p in error.problems} == {
        (
            "census.json entry 1 (Patient/p1)",
            "the name (family and given, with ', ') is 10008 characters",
        ),
        ("census.json entry 3 (Patient/p2)", "name.family"),
    }
    assert "Lång" not in str(error) and "山" not in str(error)

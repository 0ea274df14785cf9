from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from downtime.census.ids import (
    DOWNTIME_RESERVE_URN,
    PERSONNUMMER_OID,
    PERSONNUMMER_URI,
    SAMORDNINGSNUMMER_OID,
    SAMORDNINGSNUMMER_URI,
    IdentifierError,
    birth_date_of,
    fhir_system,
    from_fhir,
    known_system,
    parse_patient_id,
)
from downtime.model import Identifier, IdSystem

TODAY = date(2026, 11, 25)


def luhn(payload: str) -> str:
    """Check digit, written independently of the code under test (weights 2, 1, 2, … from left)."""
    total = 0
    for index, char in enumerate(payload):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product // 10 + product % 10
    return str((10 - total % 10) % 10)


def pnr(yyyymmdd: str, serial: str, separator: str = "-", *, ten: bool = False) -> str:
    """A personnummer (or samordningsnummer, day + 60) with a correct check digit."""
    check = luhn(yyyymmdd[2:] + serial)
    date_part = yyyymmdd[2:] if ten else yyyymmdd
    return f"{date_part}{separator}{serial}{check}"


def wrong_check(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def parse(text: str, today: date = TODAY) -> Identifier:
    return parse_patient_id(text, today=today)


# --- personnummer ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["19121212-1212", "191212121212", " 19121212-1212 "])
def test_twelve_digit_personnummer_is_normalised(text: str) -> None:
    assert parse(text) == Identifier(IdSystem.PERSONNUMMER, "191212121212")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("121212-1212", "201212121212"),  # "-": the most recent century not in the future
        ("1212121212", "201212121212"),  # no separator reads like "-"
        ("121212+1212", "191212121212"),  # "+": 100 years or older
    ],
)
def test_ten_digit_century_inference(text: str, value: str) -> None:
    assert parse(text) == Identifier(IdSystem.PERSONNUMMER, value)


def test_ten_digit_date_later_this_year_belongs_to_the_previous_century() -> None:
    later_this_year = pnr("19261201", "123", ten=True)
    earlier_this_year = pnr("20260301", "123", ten=True)
    assert parse(later_this_year).value.startswith("1926")
    assert parse(earlier_this_year).value.startswith("2026")


def test_plus_separator_applies_from_the_year_of_the_hundredth_birthday() -> None:
    # Skatteverket writes "+" from the year a person turns 100, birthday or not.
    turns_100_next_month = pnr("19261201", "123", "+", ten=True)
    turned_100_in_march = pnr("19260301", "123", "+", ten=True)
    turns_100_next_year = pnr("19270301", "123", "+", ten=True)
    assert parse(turns_100_next_month).value.startswith("1926")
    assert parse(turned_100_in_march).value.startswith("1926")
    assert parse(turns_100_next_year).value.startswith("1827")


def test_century_inference_follows_today() -> None:
    number = pnr("20300101", "123", ten=True)
    assert parse(number, date(2031, 1, 1)).value.startswith("2030")
    assert parse(number, date(2029, 12, 31)).value.startswith("1930")


@pytest.mark.parametrize(
    ("text", "born"),
    [
        (pnr("20000229", "123"), date(2000, 2, 29)),
        (pnr("19960229", "123"), date(1996, 2, 29)),
        (pnr("20000229", "123", ten=True), date(2000, 2, 29)),
    ],
)
def test_leap_day_is_a_real_date(text: str, born: date) -> None:
    assert birth_date_of(parse(text)) == born


@pytest.mark.parametrize(
    "text",
    [
        pnr("19000229", "123"),  # 1900 was not a leap year
        pnr("20230229", "123"),
        pnr("20000229", "123", "+", ten=True),  # "+" makes it 1900
    ],
)
def test_leap_day_in_a_common_year_is_rejected(text: str) -> None:
    with pytest.raises(IdentifierError, match="not a leap year"):
        parse(text)


def test_samordningsnummer_has_its_own_system_and_the_real_birth_date() -> None:
    twelve = parse("197010632391")
    ten = parse("701063-2391")
    assert twelve == ten == Identifier(IdSystem.SAMORDNINGSNUMMER, "197010632391")
    assert birth_date_of(twelve) == date(1970, 10, 3)
    assert twelve.display() == "19701063-2391"


def test_samordningsnummer_in_a_month_without_that_day_is_rejected() -> None:
    with pytest.raises(IdentifierError, match="no such date"):
        parse(pnr("19700291", "239"))  # 31 February


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (wrong_check("19121212-1212"), "check digit is wrong"),
        (wrong_check("121212-1212"), "check digit is wrong"),
        (pnr("19121312", "121"), r"no such date \(month 13\)"),
        (pnr("19120012", "121"), r"no such date \(month 0\)"),
        (pnr("19120230", "121"), "no such date"),
        (pnr("19120100", "121"), "no such date"),
        (pnr("19120145", "121", ten=True), r"no such date \(day 45\)"),
        (pnr("19120195", "121"), r"no such date \(day 95\)"),
        (pnr("20270101", "121"), "birth date is in the future"),
        (pnr("17120101", "121"), "century"),
        (pnr("19121212", "121", "+"), r"\+ separator"),
        ("", "empty"),
        ("   ", "empty"),
        ("hello", "not a personnummer"),
        ("19121212-12", "not a personnummer"),
        ("1912121212121212121212", "not a personnummer"),
        ("x" * 200, "not a personnummer"),
    ],
)
def test_rejections_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(IdentifierError, match=message):
        parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "20150916-0006",  # listed as invalid in shared personnummer test data
        "201509160006",
        "150916-0006",
        pnr("19800101", "000"),  # a real-looking number with a correct check digit
        pnr("19800101", "000", ten=True),
        pnr("19800161", "000"),  # samordningsnummer
        "personnummer|" + pnr("19800101", "000"),
        "samordningsnummer|" + pnr("19800161", "000"),
    ],
)
def test_birth_number_000_is_rejected(text: str) -> None:
    with pytest.raises(IdentifierError, match=r"birth number .* is 000"):
        parse(text)


def test_birth_number_000_is_rejected_from_a_fhir_identifier() -> None:
    with pytest.raises(IdentifierError, match="000"):
        from_fhir(PERSONNUMMER_URI, "201509160006", today=TODAY)


def test_birth_numbers_001_and_999_are_accepted() -> None:
    assert parse(pnr("19800101", "001")).value == "198001010019"
    assert parse(pnr("19800161", "999")).system == IdSystem.SAMORDNINGSNUMMER


def test_future_birth_date_is_accepted_once_it_has_happened() -> None:
    number = pnr("20270101", "121")
    assert parse(number, date(2027, 1, 1)).value == number.replace("-", "")


@pytest.mark.parametrize(
    "text",
    [
        wrong_check("19121212-1212"),
        pnr("19121312", "121"),
        pnr("20270101", "121"),
        "19121212-12",
        wrong_check("991981000010"),
        "19810829M081",
        "some-mrn|" + "9" * 40,
        "personnummer|" + wrong_check("19121212-1212"),
        "DT-ABCD-1234",
    ],
)
def test_error_messages_never_contain_the_value(text: str) -> None:
    with pytest.raises(IdentifierError) as caught:
        parse(text)
    message = str(caught.value)
    value = text.rpartition("|")[2]
    digits = "".join(char for char in value if char.isdigit())
    assert value not in message
    assert not digits or digits[:6] not in message


@given(
    born=st.dates(min_value=date(1850, 1, 1), max_value=TODAY),
    serial=st.integers(min_value=1, max_value=999),
    coordination=st.booleans(),
)
def test_any_valid_number_round_trips_through_both_forms(
    born: date, serial: int, coordination: bool
) -> None:
    day = born.day + (60 if coordination else 0)
    yyyymmdd = f"{born.year:04d}{born.month:02d}{day:02d}"
    separator = "+" if TODAY.year - born.year >= 100 else "-"
    twelve = pnr(yyyymmdd, f"{serial:03d}")
    ten = pnr(yyyymmdd, f"{serial:03d}", separator, ten=True)
    expected_system = IdSystem.SAMORDNINGSNUMMER if coordination else IdSystem.PERSONNUMMER
    from_twelve, from_ten = parse(twelve), parse(ten)
    assert from_twelve == from_ten
    assert from_twelve.system == expected_system
    assert from_twelve.value == twelve.replace("-", "")
    assert birth_date_of(from_twelve) == born
    assert parse(from_twelve.display()) == from_twelve


# --- reservnummer ------------------------------------------------------------------------------

# The examples Inera publishes for each regional format ("Lokala Reservidn").
REGIONAL_EXAMPLES = [
    ("991981000010", "urn:oid:1.2.752.97.3.1.3"),
    ("991945000023", "urn:oid:1.2.752.97.3.1.3"),
    ("991993000032", "urn:oid:1.2.752.97.3.1.3"),
    ("19810829M071", "urn:oid:1.2.752.113.11.0.2.1.1.1"),
    ("19450829K088", "urn:oid:1.2.752.113.11.0.2.1.1.1"),
    ("19930829X802", "urn:oid:1.2.752.113.11.0.2.1.1.1"),
    ("19810829SU3A", "urn:oid:1.2.752.74.9.2"),
    ("19450829SF2B", "urn:oid:1.2.752.74.9.2"),
    ("19930829SX0C", "urn:oid:1.2.752.74.9.2"),
    ("198108320014", "urn:oid:1.2.752.129.2.1.3.2"),
]


@pytest.mark.parametrize(("text", "oid"), REGIONAL_EXAMPLES)
def test_regional_reservnummer_examples_are_accepted(text: str, oid: str) -> None:
    identifier = parse(text)
    assert identifier == Identifier(IdSystem.RESERVNUMMER, text)
    assert fhir_system(identifier) == oid
    assert birth_date_of(identifier) is None
    assert from_fhir(oid, text, today=TODAY) == identifier


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("19810829m071", "19810829M071"),
        ("19810829-M071", "19810829M071"),
        (" 99 1981 000010 ", "991981000010"),
        ("19810829su3a", "19810829SU3A"),
    ],
)
def test_reservnummer_is_upper_case_without_spaces(text: str, value: str) -> None:
    assert parse(text) == Identifier(IdSystem.RESERVNUMMER, value)


def vgr(yyyymmdd: str, sex: str, serial: str) -> str:
    """A Västra Götaland reserve identity with a correct check digit (K=5, M=7, X=8)."""
    letter_value = {"K": "5", "M": "7", "X": "8"}[sex]
    return f"{yyyymmdd}{sex}{serial}{luhn(yyyymmdd[2:] + letter_value + serial)}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (wrong_check("991981000010"), "check digit is wrong"),
        (wrong_check("19810829M071"), "check digit is wrong"),
        (wrong_check("198108320014"), "check digit is wrong"),
        (vgr("19810829", "M", "08"), "does not fit its sex letter"),  # men have odd serials
        (vgr("19810829", "K", "07"), "does not fit its sex letter"),
        (vgr("19810829", "X", "07"), "does not fit its sex letter"),  # unknown: 80-89
        (vgr("19810829", "M", "81"), "does not fit its sex letter"),
        (vgr("19810231", "M", "07"), "no such date"),
        ("19810231SU3A", "no such date"),
        ("19811329SU3A", r"month 13"),
        ("19811332" + "0014", r"month 13"),
        ("19810829SU3V", "not a personnummer"),  # V is not an ordinal letter
        ("19810829TU3A", "not a personnummer"),  # county letter S only
    ],
)
def test_reservnummer_rejections(text: str, message: str) -> None:
    with pytest.raises(IdentifierError, match=message):
        parse(text)


def test_twelve_digits_with_day_32_to_59_are_inera_carelink_reservnummer() -> None:
    # Carelink's stand-in days (32-59) are no personnummer's days, so the shapes never overlap.
    assert parse(pnr("19120145", "121")).system == IdSystem.RESERVNUMMER


def test_vastra_gotaland_serial_rules_accept_what_they_allow() -> None:
    for sex, serial in (("M", "07"), ("M", "79"), ("K", "06"), ("K", "78"), ("X", "80")):
        assert parse(vgr("19810829", sex, serial)).system == IdSystem.RESERVNUMMER


# --- downtime reserve ids ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["DT-ACDE-FHJK-MN34", "dt-acde-fhjk-mn34", " DT-ACDEFHJKMN34 ", "DT ACDE FHJK MN34"]
)
def test_downtime_reserve_ids_are_upper_cased_and_grouped(text: str) -> None:
    identifier = parse(text)
    assert identifier == Identifier(IdSystem.DOWNTIME_RESERVE, "DT-ACDE-FHJK-MN34")
    assert fhir_system(identifier) == DOWNTIME_RESERVE_URN


@pytest.mark.parametrize("text", ["DT-ACDE-FHJK", "DT-ACDE-FHJK-MN345", "DT-ACDE-FHJK-MN3!"])
def test_downtime_reserve_ids_of_the_wrong_shape_are_rejected(text: str) -> None:
    with pytest.raises(IdentifierError, match="downtime reserve id"):
        parse(text)


# --- system|value ------------------------------------------------------------------------------


def test_other_systems_are_kept_as_given_and_stripped() -> None:
    identifier = parse(" http://hospital.example/mrn | A-12 34 ")
    assert identifier == Identifier("http://hospital.example/mrn", "A-12 34")
    assert fhir_system(identifier) == "http://hospital.example/mrn"
    assert birth_date_of(identifier) is None


def test_known_systems_written_as_system_value_are_validated() -> None:
    assert parse("personnummer|19121212-1212").system == IdSystem.PERSONNUMMER
    assert parse(f"{PERSONNUMMER_OID}|191212121212").system == IdSystem.PERSONNUMMER
    assert parse("reservnummer|991981000010").system == IdSystem.RESERVNUMMER
    with pytest.raises(IdentifierError, match="check digit"):
        parse("personnummer|" + wrong_check("19121212-1212"))
    with pytest.raises(IdentifierError, match="reservnummer"):
        parse("reservnummer|ABC123")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("|12345", "system is empty"),
        ("mrn|", "value is empty"),
        ("mrn|  ", "value is empty"),
        ("mrn|12\x0045", "control character"),
        ("m\trn|12345", "control character"),
        ("mrn|1|2", "second |"),
        ("mrn|" + "1" * 33, "longer than 32 bytes"),
        ("mrn|" + "å" * 17, "longer than 32 bytes"),  # 34 bytes in UTF-8
        ("s" * 65 + "|1", "longer than 64 bytes"),
    ],
)
def test_system_value_rejections(text: str, message: str) -> None:
    with pytest.raises(IdentifierError, match=message):
        parse(text)


def test_system_value_limits_are_inclusive() -> None:
    assert parse("mrn|" + "å" * 16).value == "å" * 16
    assert parse("s" * 64 + "|1").system == "s" * 64


# --- FHIR systems ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identifier", "system"),
    [
        (Identifier(IdSystem.PERSONNUMMER, "191212121212"), PERSONNUMMER_URI),
        (Identifier(IdSystem.SAMORDNINGSNUMMER, "197010632391"), SAMORDNINGSNUMMER_URI),
        (Identifier(IdSystem.DOWNTIME_RESERVE, "DT-ACDE-FHJK-MN34"), DOWNTIME_RESERVE_URN),
        (Identifier("urn:oid:1.2.3.4", "X1"), "urn:oid:1.2.3.4"),
    ],
)
def test_fhir_system_round_trip(identifier: Identifier, system: str) -> None:
    assert fhir_system(identifier) == system
    assert from_fhir(system, identifier.value, today=TODAY) == identifier


def test_from_fhir_accepts_the_oids_and_formatted_values() -> None:
    assert from_fhir(PERSONNUMMER_OID, "19121212-1212", today=TODAY) == Identifier(
        IdSystem.PERSONNUMMER, "191212121212"
    )
    assert from_fhir(SAMORDNINGSNUMMER_OID, "197010632391", today=TODAY).system == (
        IdSystem.SAMORDNINGSNUMMER
    )


@pytest.mark.parametrize(
    ("system", "value", "message"),
    [
        (PERSONNUMMER_URI, wrong_check("191212121212"), "check digit"),
        (PERSONNUMMER_URI, "197010632391", "samordningsnummer"),
        (SAMORDNINGSNUMMER_URI, "191212121212", "personnummer"),
        (PERSONNUMMER_URI, "991981000010", "century"),
        (PERSONNUMMER_URI, "198108320014", "no such date"),  # an Inera Carelink reservnummer
        ("urn:oid:1.2.752.97.3.1.3", "19810829M071", "Region Stockholm"),
        (DOWNTIME_RESERVE_URN, "191212121212", "downtime reserve id"),
        ("urn:oid:1.2.3", "", "value is empty"),
    ],
)
def test_from_fhir_rejects_numbers_that_do_not_fit_the_system(
    system: str, value: str, message: str
) -> None:
    with pytest.raises(IdentifierError, match=message):
        from_fhir(system, value, today=TODAY)


def test_fhir_system_of_a_reservnummer_of_no_known_format_is_an_error() -> None:
    with pytest.raises(IdentifierError, match="no known regional format"):
        fhir_system(Identifier(IdSystem.RESERVNUMMER, "ABC"))


def test_known_system() -> None:
    assert known_system(PERSONNUMMER_URI) == IdSystem.PERSONNUMMER
    assert known_system(" Samordningsnummer ") == IdSystem.SAMORDNINGSNUMMER
    assert known_system("urn:oid:1.2.752.74.9.2") == IdSystem.RESERVNUMMER
    assert known_system("http://hospital.example/mrn") is None


def test_birth_date_of_a_malformed_swedish_value_is_an_error() -> None:
    with pytest.raises(IdentifierError):
        birth_date_of(Identifier(IdSystem.PERSONNUMMER, "12345"))


def test_birth_dates_are_never_after_today() -> None:
    yesterday, tomorrow = TODAY - timedelta(days=1), TODAY + timedelta(days=1)
    assert parse(pnr(yesterday.strftime("%Y%m%d"), "123")).system == IdSystem.PERSONNUMMER
    with pytest.raises(IdentifierError, match="future"):
        parse(pnr(tomorrow.strftime("%Y%m%d"), "123"))

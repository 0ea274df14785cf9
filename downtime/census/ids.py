"""Patient identifiers: Swedish personnummer, samordningsnummer, regional reservnummer and others.

Everything a census, a typed-in form or a FHIR server calls a patient identifier goes through
:func:`parse_patient_id` or :func:`from_fhir` and comes out as a normalised
:class:`~downtime.model.Identifier`.

Error messages say what is wrong and never repeat the value: they end up in logs, on stderr and
on cover sheets, and an identifier is patient data.

Sources for the rules:

* personnummer: Skatteverket, folkbokföringslagen 18 § and Rättslig vägledning "Personnummer"
  (födelsetid + födelsenummer + kontrollsiffra by the modulus-10 method with weights 2 and 1;
  the ``+`` separator from the year a person turns 100; 12 digits with the century in
  Skatteverket's own systems).
* samordningsnummer: Skatteverket SKV 707: a personnummer whose day of birth is increased by 60.
* reservnummer: Inera, Personuppgiftstjänsten, "Lokala Reservidn" (format, check digit and OID
  per region), cross-checked against the patterns and slices HL7 Sweden publishes for
  ``SEBasePatient`` in basprofiler-r4 (``PatientIdentifierConformancePatternSE``), see each
  ``_check_*`` function below.
* FHIR identifier systems: HL7 Sweden basprofiler-r4 (``SEBasePatient`` identifier slices) and
  Inera's list "Identifierare på Inera" for the OIDs.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from downtime.model import Identifier, IdSystem

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "DOWNTIME_RESERVE_URN",
    "PERSONNUMMER_OID",
    "PERSONNUMMER_URI",
    "SAMORDNINGSNUMMER_OID",
    "SAMORDNINGSNUMMER_URI",
    "IdentifierError",
    "birth_date_of",
    "fhir_system",
    "from_fhir",
    "known_system",
    "parse_patient_id",
]


class IdentifierError(ValueError):
    """An identifier is malformed. The message says what is wrong without repeating the value."""


# HL7 Sweden basprofiler-r4, SEBasePatient.identifier slices "personnummer" and
# "samordningsnummer" (the canonical URIs).
PERSONNUMMER_URI = "http://electronichealth.se/identifier/personnummer"
SAMORDNINGSNUMMER_URI = "http://electronichealth.se/identifier/samordningsnummer"
# Inera, "Identifierare på Inera": the OIDs RIV-TA services use (owner Skatteverket).
PERSONNUMMER_OID = "urn:oid:1.2.752.129.2.1.3.1"
SAMORDNINGSNUMMER_OID = "urn:oid:1.2.752.129.2.1.3.3"
# The kit's own system for the reserve ids it allocates (see downtime.serials).
DOWNTIME_RESERVE_URN = "urn:downtime:reserve-id"

MAX_VALUE_BYTES = 32
MAX_SYSTEM_BYTES = 64

_NOT_RECOGNISED = (
    "not a personnummer, samordningsnummer or known reservnummer format; "
    "write other identifier systems as system|value"
)
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


# --- shared helpers -----------------------------------------------------------------------------


def _luhn_digit(payload: str) -> int:
    """The check digit for ``payload`` by the Luhn (modulus 10, weights 2-1) method.

    The rightmost payload digit is doubled, as for personnummer (whose nine payload digits give
    weights 2, 1, 2, …, 2 from the left).
    """
    total = 0
    for position, char in enumerate(reversed(payload)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


def _calendar_date(year: int, month: int, day: int) -> date:
    """``date(year, month, day)``, or an :class:`IdentifierError` naming the impossible part."""
    if not 1 <= month <= 12:
        raise IdentifierError(f"no such date (month {month})")
    if month == 2 and day == 29:
        try:
            return date(year, month, day)
        except ValueError:
            raise IdentifierError(
                "no such date (29 February in a year that is not a leap year)"
            ) from None
    try:
        return date(year, month, day)
    except ValueError:
        raise IdentifierError(f"no such date (day {day} in {_MONTHS[month - 1]})") from None


def _has_control_character(text: str) -> bool:
    return any(unicodedata.category(char) == "Cc" for char in text)


# --- personnummer and samordningsnummer ---------------------------------------------------------

_SWEDISH = re.compile(
    r"(?P<century>\d{2})?(?P<yy>\d{2})(?P<mm>\d{2})(?P<dd>\d{2})"
    r"(?P<sep>[-+]?)(?P<serial>\d{3})(?P<check>\d)"
)


def _infer_year(yy: int, month: int, day: int, separator: str, today: date) -> int:
    """The birth year of a 10-digit number, from its two year digits and separator.

    ``-`` or none: the most recent year ending in ``yy`` whose date is not after ``today``.
    ``+``: Skatteverket writes ``+`` from the year the person turns 100, so the most recent year
    ending in ``yy`` that is at least 100 years before ``today``'s year.
    """
    if separator == "+":
        latest = today.year - 100
        return latest - (latest - yy) % 100
    year = today.year - (today.year - yy) % 100
    if year == today.year and (month, day) > (today.month, today.day):
        year -= 100
    return year


def _parse_swedish(match: re.Match[str], today: date) -> Identifier:
    """A personnummer or samordningsnummer in the 10- or 12-digit form, normalised to 12 digits."""
    separator, century = match["sep"], match["century"]
    if century is not None and century not in ("18", "19", "20"):
        raise IdentifierError("the century digits must be 18, 19 or 20")
    month, day_digits = int(match["mm"]), int(match["dd"])
    system = IdSystem.PERSONNUMMER
    day = day_digits
    if day_digits > 60:
        system, day = IdSystem.SAMORDNINGSNUMMER, day_digits - 60
    if not 1 <= day <= 31:
        raise IdentifierError(f"no such date (day {day_digits})")
    if not 1 <= month <= 12:
        raise IdentifierError(f"no such date (month {month})")
    if century is None:
        year = _infer_year(int(match["yy"]), month, day, separator, today)
    elif separator == "+":
        raise IdentifierError("the + separator belongs to the 10-digit form only")
    else:
        year = int(century + match["yy"])
    born = _calendar_date(year, month, day)
    payload = match["yy"] + match["mm"] + match["dd"] + match["serial"]
    if _luhn_digit(payload) != int(match["check"]):
        raise IdentifierError("check digit is wrong")
    if born > today:
        raise IdentifierError("birth date is in the future")
    value = f"{year:04d}{match['mm']}{match['dd']}{match['serial']}{match['check']}"
    return Identifier(system, value)


# --- regional reservnummer ----------------------------------------------------------------------


@dataclass(frozen=True)
class _ReserveFormat:
    region: str
    oid: str  # the FHIR system, urn:oid:…
    shape: re.Pattern[str]  # full match on the compact, upper-case value
    check: Callable[[re.Match[str]], None]  # raises IdentifierError


def _check_stockholm(match: re.Match[str]) -> None:
    """Region Stockholm (SLL): ``99yyyyNNNNNC``, OID 1.2.752.97.3.1.3.

    ``99``, the year the number was issued (Region Stockholm's Vårdgivarguiden: characters 3-4
    the century, 5-6 the year), a five-digit serial and a Luhn check digit computed over
    positions 5 to 11 (Inera, "Lokala Reservidn"; its examples 991981000010, 991945000023 and
    991993000032 all pass). HL7 Sweden's pattern is ``99\\d{10}``. Inera also gives the year
    range 1980-2299, but its own example 991945000023 lies outside it, so the year is not
    range-checked here.
    """
    value = match.string
    if _luhn_digit(value[4:11]) != int(value[11]):
        raise IdentifierError("reservnummer check digit is wrong")


_VGR_SEX_VALUE = {"K": 5, "M": 7, "X": 8}


def _check_vastra_gotaland(match: re.Match[str]) -> None:
    """Västra Götalandsregionen local reserve identity (LRID): ``yyyymmddGggC``.

    OID 1.2.752.113.11.0.2.1.1.1. From Inera, "Lokala Reservidn": ``yyyymmdd`` a real calendar
    date; ``G`` the sex, K (kvinna), M (man) or X (unknown); ``gg`` a serial 06-79, odd for M
    and even for K, or 80-89 for X; ``C`` a Luhn check digit over ``yymmddGgg`` with K=5, M=7,
    X=8 (its examples 19810829M071, 19450829K088 and 19930829X802 all pass). HL7 Sweden's
    pattern: ``\\d{8}[KMX](0[6-9]|[1-8][0-9])[0-9]``.
    """
    _calendar_date(int(match["yyyy"]), int(match["mm"]), int(match["dd"]))
    sex, serial = match["sex"], int(match["serial"])
    if sex == "X":
        serial_ok = 80 <= serial <= 89
    else:
        serial_ok = 6 <= serial <= 79 and serial % 2 == (1 if sex == "M" else 0)
    if not serial_ok:
        raise IdentifierError("reservnummer serial does not fit its sex letter")
    value = match.string
    payload = value[2:8] + str(_VGR_SEX_VALUE[sex]) + match["serial"]
    if _luhn_digit(payload) != int(match["check"]):
        raise IdentifierError("reservnummer check digit is wrong")


def _check_varmland(match: re.Match[str]) -> None:
    """Region Värmland (LiV): ``yyyymmddABNC``, OID 1.2.752.74.9.2.

    From Inera, "Lokala Reservidn": ``yyyymmdd`` a real calendar date; ``A`` the county letter
    (Värmland = S); ``B`` the kind, F (known birth date), U (without birth date), X (unknown),
    P (staff without personnummer or samordningsnummer) or L (lab sample without a known
    patient); ``N`` a digit for the sex; ``C`` an ordinal, a capital A-Z except V (a digit 1-9
    in test environments). There is no check digit. HL7 Sweden's pattern:
    ``\\d{8}S[FUXPL]\\d([A-Z&&[^V]]|[1-9])``.
    """
    _calendar_date(int(match["yyyy"]), int(match["mm"]), int(match["dd"]))


def _check_inera_carelink(match: re.Match[str]) -> None:
    """Inera Carelink (CLNK): ``yyyymmxxNNNC``, OID 1.2.752.129.2.1.3.2.

    From Inera, "Lokala Reservidn": ``yyyy`` a year, ``mm`` a month, ``xx`` a stand-in for the
    day, 32-59; ``NNN`` a serial; ``C`` a Luhn check digit over ``yymmxxNNN`` (its example
    198108320014 passes). HL7 Sweden's pattern:
    ``(1[7-9]|20)\\d{2}(0[1-9]|1[0-2])(3[2-9]|[4-5][0-9])\\d{4}``.
    """
    month = int(match["mm"])
    if not 1 <= month <= 12:
        raise IdentifierError(f"no such date (month {month})")
    if match["century"] not in ("17", "18", "19", "20"):
        raise IdentifierError("the century digits must be 17, 18, 19 or 20")
    value = match.string
    if _luhn_digit(value[2:11]) != int(value[11]):
        raise IdentifierError("reservnummer check digit is wrong")


_RESERVE_FORMATS = (
    _ReserveFormat(
        "Region Stockholm",
        "urn:oid:1.2.752.97.3.1.3",
        re.compile(r"99\d{10}"),
        _check_stockholm,
    ),
    _ReserveFormat(
        "Västra Götalandsregionen",
        "urn:oid:1.2.752.113.11.0.2.1.1.1",
        re.compile(
            r"(?P<yyyy>\d{4})(?P<mm>\d{2})(?P<dd>\d{2})(?P<sex>[KMX])(?P<serial>\d{2})(?P<check>\d)"
        ),
        _check_vastra_gotaland,
    ),
    _ReserveFormat(
        "Region Värmland",
        "urn:oid:1.2.752.74.9.2",
        re.compile(r"(?P<yyyy>\d{4})(?P<mm>\d{2})(?P<dd>\d{2})S[FUXPL]\d[A-UW-Z1-9]"),
        _check_varmland,
    ),
    _ReserveFormat(
        "Inera Carelink",
        "urn:oid:1.2.752.129.2.1.3.2",
        re.compile(r"(?P<century>\d{2})\d{2}(?P<mm>\d{2})(?:3[2-9]|[45]\d)\d{4}"),
        _check_inera_carelink,
    ),
)
_RESERVE_BY_OID = {fmt.oid: fmt for fmt in _RESERVE_FORMATS}


def _compact_reserve(text: str) -> str:
    """Upper case, no spaces; a ``-`` after an 8-digit date (as in personnummer) is dropped."""
    compact = "".join(text.split()).upper()
    if len(compact) == 13 and compact[8] == "-" and compact[:8].isdigit():
        compact = compact[:8] + compact[9:]
    return compact


def _match_reserve(compact: str) -> tuple[_ReserveFormat, re.Match[str]] | None:
    for fmt in _RESERVE_FORMATS:
        match = fmt.shape.fullmatch(compact)
        if match is not None:
            return fmt, match
    return None


def _parse_reserve(text: str, *, region: _ReserveFormat | None = None) -> Identifier | None:
    """A reservnummer of a known regional format, or ``None`` when no format's shape fits.

    With ``region``, only that region's format is accepted (a FHIR identifier names its system).
    """
    compact = _compact_reserve(text)
    found = _match_reserve(compact)
    if found is None:
        return None
    fmt, match = found
    if region is not None and fmt is not region:
        raise IdentifierError(f"not a reservnummer in the format of {region.region}")
    fmt.check(match)
    return Identifier(IdSystem.RESERVNUMMER, compact)


# --- the kit's own reserve ids ------------------------------------------------------------------

_DOWNTIME_RESERVE = re.compile(r"DT-?([A-Z0-9]{4})-?([A-Z0-9]{4})-?([A-Z0-9]{4})")


def _parse_downtime_reserve(text: str) -> Identifier:
    """A reserve id allocated by this kit: ``DT-XXXX-XXXX-XXXX`` (case and spaces ignored).

    Only the shape is checked here; the check characters are verified by
    :mod:`downtime.serials`.
    """
    compact = "".join(text.split()).upper()
    match = _DOWNTIME_RESERVE.fullmatch(compact)
    if match is None:
        raise IdentifierError(
            "not a downtime reserve id (DT- followed by 12 letters or digits in groups of 4)"
        )
    return Identifier(IdSystem.DOWNTIME_RESERVE, "DT-" + "-".join(match.groups()))


# --- any other system ---------------------------------------------------------------------------


def _other(system: str, value: str) -> Identifier:
    """An identifier of a system the kit does not know: checked for size and control characters.

    Both parts are measured in UTF-8 bytes: the value at most 32, the system at most 64.
    """
    system, value = system.strip(), value.strip()
    if not system:
        raise IdentifierError("identifier system is empty (write system|value)")
    if not value:
        raise IdentifierError("identifier value is empty (write system|value)")
    if _has_control_character(system) or _has_control_character(value):
        raise IdentifierError("identifier contains a control character")
    if "|" in value:
        raise IdentifierError("identifier value contains a second |")
    if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
        raise IdentifierError(f"identifier value is longer than {MAX_VALUE_BYTES} bytes (UTF-8)")
    if len(system.encode("utf-8")) > MAX_SYSTEM_BYTES:
        raise IdentifierError(f"identifier system is longer than {MAX_SYSTEM_BYTES} bytes (UTF-8)")
    return Identifier(system, value)


# --- systems by name ----------------------------------------------------------------------------

_SYSTEM_NAMES: dict[str, IdSystem] = {
    PERSONNUMMER_URI: IdSystem.PERSONNUMMER,
    PERSONNUMMER_OID: IdSystem.PERSONNUMMER,
    SAMORDNINGSNUMMER_URI: IdSystem.SAMORDNINGSNUMMER,
    SAMORDNINGSNUMMER_OID: IdSystem.SAMORDNINGSNUMMER,
    DOWNTIME_RESERVE_URN: IdSystem.DOWNTIME_RESERVE,
    **{fmt.oid: IdSystem.RESERVNUMMER for fmt in _RESERVE_FORMATS},
}


def known_system(system: str) -> IdSystem | None:
    """Which of the kit's systems ``system`` names: a FHIR URI or OID, or the kit's own name.

    ``None`` for any other system.
    """
    stripped = system.strip()
    if stripped in _SYSTEM_NAMES:
        return _SYSTEM_NAMES[stripped]
    try:
        return IdSystem(stripped.lower())
    except ValueError:
        return None


def _swedish(value: str, expected: IdSystem, today: date) -> Identifier:
    match = _SWEDISH.fullmatch(value.strip())
    if match is None:
        raise IdentifierError(f"not a {expected.value} (write YYYYMMDD-NNNC or YYMMDD-NNNC)")
    identifier = _parse_swedish(match, today)
    if identifier.system != expected:
        raise IdentifierError(
            f"the system says {expected.value} but the number is a {identifier.system}"
        )
    return identifier


def _from_system(system: str, value: str, today: date) -> Identifier:
    """``value`` in ``system``; the kit's own systems are validated like typed-in numbers."""
    kind = known_system(system)
    if kind is None:
        return _other(system, value)
    if not value.strip():
        raise IdentifierError("identifier value is empty")
    if kind in (IdSystem.PERSONNUMMER, IdSystem.SAMORDNINGSNUMMER):
        return _swedish(value, kind, today)
    if kind is IdSystem.DOWNTIME_RESERVE:
        return _parse_downtime_reserve(value)
    identifier = _parse_reserve(value, region=_RESERVE_BY_OID.get(system.strip()))
    if identifier is None:
        raise IdentifierError("not a reservnummer of a known regional format")
    return identifier


# --- public API ---------------------------------------------------------------------------------


def parse_patient_id(text: str, *, today: date) -> Identifier:
    """Parse a patient identifier as written in a census or typed on a form.

    Accepted, in this order:

    * ``system|value``: any identifier system. A system the kit knows (``personnummer``,
      ``samordningsnummer``, ``reservnummer``, ``downtime-reserve`` or one of the FHIR URIs and
      OIDs of :func:`fhir_system`) is validated like the bare number; any other system is kept
      as given (stripped), the value stripped, both non-empty and free of control characters,
      the value at most 32 and the system at most 64 UTF-8 bytes.
    * ``DT-XXXX-XXXX-XXXX``: a reserve id allocated by this kit (shape only; its check
      characters are verified by :mod:`downtime.serials`).
    * a regional reservnummer of a format in ``_RESERVE_FORMATS`` (upper case, spaces removed).
    * a personnummer or samordningsnummer: ``YYYYMMDDNNNC`` or ``YYMMDDNNNC``, with or without
      ``-``; in the 10-digit form ``+`` marks a person of 100 or more. The century of a
      10-digit number is inferred from ``today``. Normalised to 12 digits, no separator.

    Raises :class:`IdentifierError`, whose message never contains the value.
    """
    stripped = text.strip()
    if not stripped:
        raise IdentifierError("identifier is empty")
    if "|" in stripped:
        system, _, value = stripped.partition("|")
        return _from_system(system, value, today)
    if stripped[:2].upper() == "DT":
        return _parse_downtime_reserve(stripped)
    reserve = _parse_reserve(stripped)
    if reserve is not None:
        return reserve
    match = _SWEDISH.fullmatch(stripped)
    if match is None:
        raise IdentifierError(_NOT_RECOGNISED)
    return _parse_swedish(match, today)


def birth_date_of(identifier: Identifier) -> date | None:
    """The birth date a personnummer or samordningsnummer carries; ``None`` for other systems.

    Raises :class:`IdentifierError` if a Swedish number's value is not 12 digits of a real date
    (which :func:`parse_patient_id` never produces).
    """
    if identifier.system not in (IdSystem.PERSONNUMMER, IdSystem.SAMORDNINGSNUMMER):
        return None
    value = identifier.value
    if len(value) != 12 or not value.isdigit():
        raise IdentifierError("a Swedish number must be stored as 12 digits")
    day = int(value[6:8])
    if identifier.system == IdSystem.SAMORDNINGSNUMMER:
        day -= 60
    return _calendar_date(int(value[:4]), int(value[4:6]), day)


def fhir_system(identifier: Identifier) -> str:
    """The FHIR ``Identifier.system`` for ``identifier``.

    * personnummer and samordningsnummer: HL7 Sweden's URIs
      (``http://electronichealth.se/identifier/…``);
    * reservnummer: the ``urn:oid:`` of the region whose format the value has (Inera);
    * the kit's reserve ids: ``urn:downtime:reserve-id``;
    * any other system: the system string itself.
    """
    if identifier.system == IdSystem.PERSONNUMMER:
        return PERSONNUMMER_URI
    if identifier.system == IdSystem.SAMORDNINGSNUMMER:
        return SAMORDNINGSNUMMER_URI
    if identifier.system == IdSystem.DOWNTIME_RESERVE:
        return DOWNTIME_RESERVE_URN
    if identifier.system == IdSystem.RESERVNUMMER:
        found = _match_reserve(identifier.value)
        if found is None:
            raise IdentifierError("reservnummer of no known regional format")
        return found[0].oid
    return identifier.system


def from_fhir(system: str, value: str, *, today: date) -> Identifier:
    """The identifier a FHIR ``Identifier`` (``system``, ``value``) stands for.

    The inverse of :func:`fhir_system`. Personnummer and samordningsnummer (by HL7 Sweden URI or
    by OID) and regional reservnummer (by OID) are validated as in :func:`parse_patient_id` and
    must be numbers of the kind the system names. Any other system is kept as given, with the
    size and character checks of ``system|value``.
    """
    return _from_system(system, value, today)

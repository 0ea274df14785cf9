"""Patient identifiers: Swedish personnummer, samordningsnummer, regional reservnummer and others.

Everything a census, a typed-in form or a FHIR server calls a patient identifier goes through
:func:`parse_patient_id` or :func:`from_fhir` and comes out as a normalised
:class:`~downtime.model.Identifier`.

Error messages say what is wrong and never repeat the value: they end up in logs, on stderr and
on cover sheets, and an identifier is patient data.

Sources for the rules:

* personnummer: Skatteverket, folkbokföringslagen 18 § and Rättslig vägledning "Personnummer"
  (födelsetid + födelsenummer + kontrollsiffra by the modulus-10 method with weights 2 and 1;
  födelsenummer 001-999, never 000, the test data Skatteverket publishes lists 000 as invalid;
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
from datetime import date
from typing import TYPE_CHECKING

from downtime.census.idcheck import (
    IdentifierError,
    calendar_date,
    invisible_character,
    luhn_digit,
)
from downtime.census.reserve import RESERVE_BY_OID, RESERVE_FORMATS, match_reserve, parse_reserve
from downtime.model import Identifier, IdSystem

if TYPE_CHECKING:
    pass

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


# HL7 Sweden basprofiler-r4, SEBasePatient.identifier slices "personnummer" and
# "samordningsnummer" (the canonical URIs).
PERSONNUMMER_URI = "http://electronichealth.se/identifier/personnummer"
SAMORDNINGSNUMMER_URI = "http://electronichealth.se/identifier/samordningsnummer"
# Inera, "Identifierare på Inera": the OIDs RIV-TA services use (owner Skatteverket).
PERSONNUMMER_OID = "urn:oid:1.2.752.129.2.1.3.1"
SAMORDNINGSNUMMER_OID = "urn:oid:1.2.752.129.2.1.3.3"
# The kit's own system for the reserve ids it allocates (see downtime.codes.serials).
DOWNTIME_RESERVE_URN = "urn:downtime:reserve-id"

MAX_VALUE_BYTES = 32
MAX_SYSTEM_BYTES = 64

_NOT_RECOGNISED = (
    "not a personnummer, samordningsnummer or known reservnummer format; "
    "write other identifier systems as system|value"
)
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
    born = calendar_date(year, month, day)
    if match["serial"] == "000":
        # Skatteverket allocates födelsenummer 001-999; 000 is never issued (a placeholder or
        # a typing error), for samordningsnummer as for personnummer.
        raise IdentifierError("the birth number (the three digits before the check digit) is 000")
    payload = match["yy"] + match["mm"] + match["dd"] + match["serial"]
    if luhn_digit(payload) != int(match["check"]):
        raise IdentifierError("check digit is wrong")
    if born > today:
        raise IdentifierError("birth date is in the future")
    value = f"{year:04d}{match['mm']}{match['dd']}{match['serial']}{match['check']}"
    return Identifier(system, value)


# --- the kit's own reserve ids ------------------------------------------------------------------

_DOWNTIME_RESERVE = re.compile(r"DT-?([A-Z0-9]{4})-?([A-Z0-9]{4})-?([A-Z0-9]{4})")


def _parse_downtime_reserve(text: str) -> Identifier:
    """A reserve id allocated by this kit: ``DT-XXXX-XXXX-XXXX`` (case and spaces ignored).

    Only the shape is checked here; the check characters are verified by
    :mod:`downtime.codes.serials`.
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
    for part, text in (("system", system), ("value", value)):
        found = invisible_character(text)
        if found:
            raise IdentifierError(
                f"identifier {part} contains a control character or format character ({found})"
            )
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
    **{fmt.oid: IdSystem.RESERVNUMMER for fmt in RESERVE_FORMATS},
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
    identifier = parse_reserve(value, region=RESERVE_BY_OID.get(system.strip()))
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
      as given (stripped), the value stripped, both non-empty and free of control, format and
      line-break characters,
      the value at most 32 and the system at most 64 UTF-8 bytes.
    * ``DT-XXXX-XXXX-XXXX``: a reserve id allocated by this kit (shape only; its check
      characters are verified by :mod:`downtime.codes.serials`).
    * a regional reservnummer of a format in ``RESERVE_FORMATS`` (upper case, spaces removed).
    * a personnummer or samordningsnummer: ``YYYYMMDDNNNC`` or ``YYMMDDNNNC``, with or without
      ``-``; in the 10-digit form ``+`` marks a person of 100 or more. The century of a
      10-digit number is inferred from ``today``. The birth number (``NNN``) is never ``000``.
      Normalised to 12 digits, no separator.

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
    reserve = parse_reserve(stripped)
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
    return calendar_date(int(value[:4]), int(value[4:6]), day)


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
        found = match_reserve(identifier.value)
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

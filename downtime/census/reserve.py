"""Regional reservnummer: Region Stockholm, Västra Götalandsregionen, Region Värmland and Inera
Carelink, each with its shape, check and OID (sources in each check's docstring)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from downtime.census.idcheck import IdentifierError, calendar_date, luhn_digit
from downtime.model import Identifier, IdSystem


@dataclass(frozen=True)
class ReserveFormat:
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
    if luhn_digit(value[4:11]) != int(value[11]):
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
    calendar_date(int(match["yyyy"]), int(match["mm"]), int(match["dd"]))
    sex, serial = match["sex"], int(match["serial"])
    if sex == "X":
        serial_ok = 80 <= serial <= 89
    else:
        serial_ok = 6 <= serial <= 79 and serial % 2 == (1 if sex == "M" else 0)
    if not serial_ok:
        raise IdentifierError("reservnummer serial does not fit its sex letter")
    value = match.string
    payload = value[2:8] + str(_VGR_SEX_VALUE[sex]) + match["serial"]
    if luhn_digit(payload) != int(match["check"]):
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
    calendar_date(int(match["yyyy"]), int(match["mm"]), int(match["dd"]))


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
    if luhn_digit(value[2:11]) != int(value[11]):
        raise IdentifierError("reservnummer check digit is wrong")


RESERVE_FORMATS = (
    ReserveFormat(
        "Region Stockholm",
        "urn:oid:1.2.752.97.3.1.3",
        re.compile(r"99\d{10}"),
        _check_stockholm,
    ),
    ReserveFormat(
        "Västra Götalandsregionen",
        "urn:oid:1.2.752.113.11.0.2.1.1.1",
        re.compile(
            r"(?P<yyyy>\d{4})(?P<mm>\d{2})(?P<dd>\d{2})(?P<sex>[KMX])(?P<serial>\d{2})(?P<check>\d)"
        ),
        _check_vastra_gotaland,
    ),
    ReserveFormat(
        "Region Värmland",
        "urn:oid:1.2.752.74.9.2",
        re.compile(r"(?P<yyyy>\d{4})(?P<mm>\d{2})(?P<dd>\d{2})S[FUXPL]\d[A-UW-Z1-9]"),
        _check_varmland,
    ),
    ReserveFormat(
        "Inera Carelink",
        "urn:oid:1.2.752.129.2.1.3.2",
        re.compile(r"(?P<century>\d{2})\d{2}(?P<mm>\d{2})(?:3[2-9]|[45]\d)\d{4}"),
        _check_inera_carelink,
    ),
)
RESERVE_BY_OID = {fmt.oid: fmt for fmt in RESERVE_FORMATS}


def _compact_reserve(text: str) -> str:
    """Upper case, no spaces; a ``-`` after an 8-digit date (as in personnummer) is dropped."""
    compact = "".join(text.split()).upper()
    if len(compact) == 13 and compact[8] == "-" and compact[:8].isdigit():
        compact = compact[:8] + compact[9:]
    return compact


def match_reserve(compact: str) -> tuple[ReserveFormat, re.Match[str]] | None:
    for fmt in RESERVE_FORMATS:
        match = fmt.shape.fullmatch(compact)
        if match is not None:
            return fmt, match
    return None


def parse_reserve(text: str, *, region: ReserveFormat | None = None) -> Identifier | None:
    """A reservnummer of a known regional format, or ``None`` when no format's shape fits.

    With ``region``, only that region's format is accepted (a FHIR identifier names its system).
    """
    compact = _compact_reserve(text)
    found = match_reserve(compact)
    if found is None:
        return None
    fmt, match = found
    if region is not None and fmt is not region:
        raise IdentifierError(f"not a reservnummer in the format of {region.region}")
    fmt.check(match)
    return Identifier(IdSystem.RESERVNUMMER, compact)

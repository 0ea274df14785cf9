"""Frozen records handed from one stage of the pipeline to the next.

Coordinates: anything called ``*_mm`` is millimetres from the **top-left** corner of the page,
``[left, top, width, height]`` for boxes. reportlab points (bottom-left origin) never leave
``pack/render.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import StrEnum
from functools import cached_property


class IdSystem(StrEnum):
    """The identifier systems the kit knows by name; anything else is kept as given."""

    PERSONNUMMER = "personnummer"
    SAMORDNINGSNUMMER = "samordningsnummer"
    RESERVNUMMER = "reservnummer"
    DOWNTIME_RESERVE = "downtime-reserve"


@dataclass(frozen=True, order=True)
class Identifier:
    """A patient identifier, normalised.

    ``system`` is one of :class:`IdSystem`'s values or, for any other system, the system's own
    string (typically a URI). Personnummer and samordningsnummer values are 12 digits with no
    separator (``191212121212``).
    """

    system: str
    value: str

    def display(self) -> str:
        """How the identifier is printed for people: ``19121212-1212`` for Swedish numbers."""
        if self.system in (IdSystem.PERSONNUMMER, IdSystem.SAMORDNINGSNUMMER):
            return f"{self.value[:8]}-{self.value[8:]}"
        return self.value


@dataclass(frozen=True)
class Patient:
    identifier: Identifier
    family_name: str  # NFC
    given_name: str  # NFC
    birth_date: date | None
    sex: str  # female | male | other | unknown
    ward: str
    bed: str
    encounter_id: str
    admitted_at: datetime | None
    allergies: tuple[str, ...] = ()
    source_line: int = 0  # 1-based line in the census file (0 when not from a line-based file)
    # The record's identifier system of encounter_id, when the census names it (a FHIR
    # census: the Encounter identifier's system); "" when it does not (a CSV census).
    encounter_system: str = ""


@dataclass(frozen=True)
class MedicationOrder:
    patient: Identifier
    order_id: str
    medication: str
    dose: str
    route: str
    frequency: str
    times: tuple[time, ...]  # scheduled times of day, sorted; empty for as-needed orders
    prn: bool
    start_date: date | None
    source_line: int = 0


@dataclass(frozen=True)
class SkippedRow:
    """A census row left out under ``--skip-invalid``; printed on the cover sheet."""

    line: int
    what: str


@dataclass(frozen=True)
class Census:
    patients: tuple[Patient, ...]
    orders: tuple[MedicationOrder, ...]
    source: str  # file name as given, or a FHIR server base URL
    data_as_of: datetime | None = None  # when the source system exported it, if known
    skipped: tuple[SkippedRow, ...] = ()

    def wards(self) -> tuple[str, ...]:
        return tuple(sorted({p.ward for p in self.patients}))

    def orders_for(self, patient: Identifier) -> tuple[MedicationOrder, ...]:
        return self._orders_by_patient.get(patient, ())

    @cached_property
    def _orders_by_patient(self) -> dict[Identifier, tuple[MedicationOrder, ...]]:
        grouped: dict[Identifier, list[MedicationOrder]] = {}
        for order in self.orders:
            grouped.setdefault(order.patient, []).append(order)
        return {k: tuple(v) for k, v in grouped.items()}


@dataclass(frozen=True)
class FieldBox:
    """A field as laid out on one printed page (the manifest's ``fields`` entries)."""

    id: str  # stable per form version, e.g. "entry1.kind.physician"
    kind: str  # checkbox | text | signature | datetime | number
    box_mm: tuple[float, float, float, float]  # left, top, width, height from the top-left
    ref: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    # ref: what the field is about beyond its id, e.g. {"order_id": "…", "slot": "…"} on a MAR
    # cell. Used by reconciliation; never printed in the page code.

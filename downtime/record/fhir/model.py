"""What :mod:`downtime.record.fhir` hands out (the posting context, held items, a form's
bundles), the item identifiers every resource carries, and the codes and texts the mapping
uses."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from downtime.census.druglist import DrugList
from downtime.ledger.conflicts import ConflictSide
from downtime.vocab import MarkState

ITEM_SYSTEM = "urn:downtime:item"
ENCOUNTER_SYSTEM = "urn:downtime:encounter"
ORDER_SYSTEM = "urn:downtime:order"
FORM_SYSTEM = "urn:downtime:form"
TAG_SYSTEM = "urn:downtime:tag"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
SNOMED = "http://snomed.info/sct"

PENDING, CONFLICT = "pending-review", "conflict"
URN_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:downtime:fhir")
INK = frozenset({MarkState.MARKED, MarkState.WRITTEN, MarkState.UNCERTAIN})
AUTHOR = "signature on the paper form (see page image)"
ON_PAPER = "Documented on paper during a record outage"
FORM_TITLES = {
    "journal": "Journal entry",
    "medication-orders": "Medication orders",
    "mar": "Medication administration record",
    "prescription": "Prescription record",
    "referral": "Referral",
    "admission": "Admission, new patient",
}
CATEGORIES = {
    "lab": (SNOMED, "108252007", "Laboratory procedure"),
    "radiology": (SNOMED, "363679005", "Imaging"),
    "consultation": (SNOMED, "11429006", "Consultation"),
}
PRIORITIES = {"acute": "stat", "asap": "asap", "two_weeks": "urgent", "routine": "routine"}

MAR_CELL = re.compile(r"(med\d+\.t\d{2}(?:\d{2})?)\.(given|notgiven|initials)")
PRN_CELL = re.compile(r"(prn\d+\.dose\d+)\.(time|initials)")
ACTIVE_ROW = re.compile(r"(active\d+)\.(continue|change|stop|initials)")
NEW_ROW = re.compile(r"(new\d+)\.(.+)")
RX_BLOCK = re.compile(r"(rx\d+)\.(.+)")
SIMPLE_DOSE = re.compile(r"(\d+(?:[.,]\d+)?)\s*([^\d\s,.-][^\d]*)")

WHY_PRN = "as-needed dose: the time is handwritten; transcribe it"
WHY_CHANGE = "change: the new dose is handwritten; transcribe it as a new order"
WHY_NEW = "new order written by hand: transcribe drug, dose, route, frequency"
WHY_RX = (
    "paper prescription: transcribe drug, form, strength, amount, dosage, purpose, "
    "dispensings, benefit, substitution and urgency"
)
WHY_TO = "referral: the receiving unit is handwritten; transcribe it"
WHY_REFERRAL = "the referral page may hold writing that could not be read clearly: look at it"
WHY_ADMISSION = "new patient: transcribe name and identity, then link to the real patient"
WHY_FORM = "a form this kit does not map to the record: transcribe what it holds"
WHY_PAGE = "another capture of this page reads differently: a person decides which is right"
WHY_NO_ORDER = "the order this row refers to is not in the pack's data: look at the page"
WHY_NO_SLOT = "the cell's time slot is not known: look at the page"
WHY_INITIALS = "initials without a ticked box: look at the page"
WHY_AFTER_SCAN = "the time on paper is after the page was scanned: check the slot's date"
WHY_BEFORE_PACK = "the time typed is before the pack was printed: check the date typed"
# Why a group of tick boxes is not read (readings.choice_of); {…}: filled in
WHY_FLAGGED = "flagged {flags}: look at the page"
WHY_FLAGGED_CORRECTED = WHY_FLAGGED + " (a filled-in box may be a tick taken back)"
WHY_PARTLY_READ = "not every box of this group was read: look at the page"
WHY_UNCLEAR = "a box could not be read clearly: look at the page"
WHY_SEVERAL = "more than one box ticked ({boxes}): look at the page"


@dataclass(frozen=True)
class PostingContext:
    now: datetime  # aware; Provenance.recorded, DocumentReference.date
    enterer: str  # who runs reconciliation → Provenance agent "enterer"
    station: str
    site: str
    max_entries: int = 8  # per transaction (Medplum's limit with conditional entries)
    # The record's identifier system of census encounter ids the census did not name (site.toml
    # ``encounter_system``); "": a census patient's encounter is not referred to then.
    encounter_system: str = ""
    # The site's drug list (site.toml ``drug_list``): a drug typed from handwriting that is
    # exactly one of its entries is coded with the entry's code; anything else stays text.
    drugs: DrugList = field(default_factory=DrugList)

    def __post_init__(self) -> None:
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            raise ValueError("PostingContext.now must be timezone-aware")
        if not (self.enterer.strip() and self.station.strip() and self.site.strip()):
            raise ValueError("PostingContext needs an enterer, a station and a site")
        if self.max_entries < 4:
            raise ValueError("max_entries must be at least 4 (patient, encounter, one unit)")


@dataclass(frozen=True)
class HeldItem:
    item: str  # "med1.t08", "page 2/new1", "referral.to", "page 2"
    kind: str  # "pending-review" (a person must look or transcribe) | "conflict"
    detail: str  # why, for a clerk or pharmacist; no patient data
    sides: tuple[ConflictSide, ...] = ()  # a record conflict: what the paper and record hold


@dataclass(frozen=True)
class RecordReference:
    """What a form's resources refer to in the record without creating it: the census
    patient, their encounter. In the bundles: a conditional reference (``query``)."""

    resource_type: str  # Patient | Encounter
    system: str
    value: str

    @property
    def query(self) -> str:
        """``Patient?identifier=<system>|<value>``, escaped and URL-encoded as FHIR says."""
        return f"{self.resource_type}?identifier={token(self.system, self.value)}"

    @property
    def search_value(self) -> str:
        """The ``identifier`` search parameter's value, escaped (not URL-encoded)."""
        return f"{escaped(self.system)}|{escaped(self.value)}"


def escaped(text: str) -> str:
    """A token search value's part with FHIR's escapes (``\\`` before ``\\ , $ |``)."""
    return re.sub(r"([\\,$|])", r"\\\1", text)


def token(system: str, value: str) -> str:
    """A token search value: FHIR's escapes, then URL-encoded."""
    return f"{quote(escaped(system), safe=':/')}|{quote(escaped(value), safe=':/')}"


@dataclass(frozen=True)
class FormBundles:
    form_key: str
    bundles: tuple[dict[str, Any], ...]  # FHIR R4 transaction Bundles, ≤ max_entries entries
    resources: tuple[tuple[str, str], ...]  # (resourceType, "system|value") of each resource
    held: tuple[HeldItem, ...]
    unused: bool  # returned but nothing written or marked on any page: nothing posted
    labels: tuple[tuple[str, str], ...] = ()  # ("system|value", what a clerk finds on paper)
    references: tuple[RecordReference, ...] = ()  # what the bundles refer to, not create


def item_identifier(form_key: str, item: str) -> tuple[str, str]:
    """``(system, value)`` for an item of a form: no patient data can be read from it."""
    digest = hashlib.sha256(f"{form_key}#{item}".encode()).hexdigest()
    return ITEM_SYSTEM, digest[:32]

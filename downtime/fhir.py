"""An issued form with its returned pages → FHIR R4 transaction bundles (pure: no I/O).

:func:`form_bundles` turns one :class:`~downtime.returns.IssuedForm` (and the returned pages as
one PDF) into transaction bundles, the list of resources they make, and the items a person must
look at before anything more can be posted (:class:`HeldItem`). Delivery, retries and the
bookkeeping of what was posted belong to :mod:`downtime.reconcile`.

Idempotency
-----------
Every resource carries a deterministic identifier, :func:`item_identifier` (system
``urn:downtime:item``, value = the first 32 hex digits of SHA-256 over ``"<form_key>#<item>"``:
no patient data can be read from it), and is posted as a conditional create
(``request.ifNoneExist``). Posting the same bundles again creates nothing. Items:

* ``document``: the DocumentReference of the returned pages;
* ``<page_uid>/<row>.<slot>`` (``…/med1.t08``): a MedicationAdministration;
* ``<page_uid>/<row>`` (``…/active2``): a MedicationRequest recording a stop;
* ``referral``: the ServiceRequest;
* ``<item>/provenance``: the Provenance of each of these, and ``admission/provenance`` for a
  Patient and Encounter made from an admission form.

R4's Provenance has no ``identifier`` element and no ``identifier`` search parameter, so a
Provenance carries its identifier as ``meta.tag`` (system ``urn:downtime:item``, code = the
value) and its conditional create searches ``_tag=urn:downtime:item|<value>``.
:attr:`FormBundles.resources` lists it as ``("Provenance", "urn:downtime:item|<value>")`` like
the others; find it on a server with ``Provenance?_tag=…``.

The Patient (identifier from :func:`downtime.ids.fhir_system`) and the Encounter (system
``urn:downtime:encounter``, the census encounter id) are conditional creates too and head every
bundle, so references to them are ``urn:uuid:`` references the server rewrites; it never has to
resolve a conditional reference. The Patient has the census name, birth date and gender
(female/male/other/unknown, as in R4); the Encounter is in-progress, class ``IMP``, with the
pack's ward as ``serviceProvider.display``. A patient admitted on a blank form (a downtime
reserve id) and without a census encounter gets an Encounter whose identifier value is the
reserve id. A census patient without an encounter id gets no Encounter, and nothing refers to
one.
A reference to a resource posted in another bundle of the form (a Provenance pointing at the
DocumentReference of bundle 1) is a logical reference by identifier, valid in R4. An urn is
``urn:uuid:`` + UUID 5 of the resource type and identifier, so the same input gives the same
bundles, byte for byte.

Search values in ``ifNoneExist`` are escaped as FHIR says (``\\`` before ``\\ , $ |``) and
URL-encoded. Medplum 4.5.2 never matches a token value containing ``|``: a census encounter id
with one would get a second Encounter there on a re-post (tests/test_fhir.py pins this).

Splitting
---------
Each bundle holds at most ``ctx.max_entries`` entries (Medplum allows 8 in a transaction with
a conditional entry): the Patient and the Encounter, then whole units — a resource with its
Provenance — in order: the DocumentReference first, then the derived resources by page, row
and slot. ``Bundle.identifier`` is the item identifier of ``bundle/`` + the identifiers of the
resources it holds besides the Patient and Encounter.

Mapping decisions
-----------------
* Not returned, or the ward cover sheet (no patient): no bundles, no held items (the report
  counts missing pages; the cover sheet is a checklist, not a record).
* **Unused**: no reading ``marked``, ``written`` or ``uncertain`` on any returned page and no
  page in conflict: nothing is posted (a blank referral is not a referral).
* **DocumentReference** for every other returned form, from the PDF given: status current,
  docStatus preliminary, type ``urn:downtime:form|<form id>``, date = ``ctx.now``, hash =
  base64 of SHA-1, title ``"<form>, pages 1–2 of 2, returned <date of the last capture>"``,
  description naming the pages not returned and voided.
* **Provenance** for every resource made from paper: recorded = ``ctx.now``, occurred = the
  MAR slot when there is one, agents *author* ("signature on the paper form (see page
  image)": initials are not transcribed) and *enterer* (``ctx.enterer``), location = the scan
  station and site, entity *source* = the DocumentReference (for the DocumentReference itself:
  the paper pages by their printed serials).
* **Conflict** (a page whose captures read differently): the page is held as ``page N``
  (kind ``conflict``) and nothing derived from it is posted, except a referral's
  ServiceRequest (without type and priority); every item on it that would be posted or held is
  held with kind ``conflict``. Only that page is held: the other pages of the form read the
  same in every capture, and are posted.
* **Held items** are named by field prefix (``med1.t08``, ``active2``, ``new1``, ``rx1``,
  ``prn1.dose3``, ``referral.to``, ``patient``); on a form of more than one page the page comes
  first (``page 2/med1.t08``), so an item is unique within its form.
* **mar**: one cell = the one-of choice *given* / *not given*. Given → MedicationAdministration
  ``completed``; not given → ``not-done``; neither (and no initials) → nothing; both, an
  uncertain box, a box not read, a review flag (:data:`downtime.marks.REVIEW_FLAGS`) on a box
  or the initials, initials without a tick, or a cell without its order or slot → held. An
  as-needed dose with anything on it → held (its time is handwritten). The administration's
  ``dosage`` (text, route, dose) is there only when the printed dose is a number and a unit
  ("1 g", "0,5 mg"): R4 (mad-1) allows no dosage without a dose.
* **medication-orders**: an active row with only *stop* → MedicationRequest ``stopped`` with
  ``priorPrescription`` = the original order (which is never changed: the kit discontinues
  nothing itself); only *continue* or nothing → nothing; *change*, several boxes, uncertain,
  flagged, or initials without a tick → held. A new-order row with anything on it → held.
* **prescription**: a block with anything on it → held (transcription); the scan is posted.
* **referral**: anything marked or written → ServiceRequest (category and priority only from
  one clean tick; a muddled group is left out and held as ``referral.type`` /
  ``referral.priority``); ``referral.to`` with anything on it → held for transcription. A
  referral page with only uncertain readings → no ServiceRequest, ``referral`` held.
* **journal**: the DocumentReference only (a Composition once transcribed).
* **admission**: the Patient has the reserve identifier, a ``meta.tag`` saying it awaits
  linking, and a gender only from one clean *sex* tick; the Encounter has the ward as
  ``serviceProvider``; one Provenance (``admission/provenance``) covers both; ``patient`` is
  held for transcription and linking.
* A form this module does not know (a site's own): the DocumentReference, and ``form`` held.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from downtime.ids import fhir_system
from downtime.marks import CORRECTED, MARKED, REVIEW_FLAGS, UNCERTAIN, WRITTEN
from downtime.model import IdSystem
from downtime.returns import IssuedForm, OrderInfo, PatientInfo, Reading, ReturnedPage

__all__ = [
    "ENCOUNTER_SYSTEM",
    "FORM_SYSTEM",
    "ITEM_SYSTEM",
    "ORDER_SYSTEM",
    "FormBundles",
    "HeldItem",
    "PostingContext",
    "form_bundles",
    "item_identifier",
]

ITEM_SYSTEM = "urn:downtime:item"
ENCOUNTER_SYSTEM = "urn:downtime:encounter"
ORDER_SYSTEM = "urn:downtime:order"
FORM_SYSTEM = "urn:downtime:form"
TAG_SYSTEM = "urn:downtime:tag"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
SNOMED = "http://snomed.info/sct"

PENDING, CONFLICT = "pending-review", "conflict"
_URN_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:downtime:fhir")
_INK = frozenset({MARKED, WRITTEN, UNCERTAIN})
_AUTHOR = "signature on the paper form (see page image)"
_ON_PAPER = "Documented on paper during a record outage"
_FORM_TITLES = {
    "journal": "Journal entry",
    "medication-orders": "Medication orders",
    "mar": "Medication administration record",
    "prescription": "Prescription record",
    "referral": "Referral",
    "admission": "Admission, new patient",
}
_GENDERS = frozenset({"female", "male", "other", "unknown"})
_CATEGORIES = {
    "lab": (SNOMED, "108252007", "Laboratory procedure"),
    "radiology": (SNOMED, "363679005", "Imaging"),
    "consultation": (SNOMED, "11429006", "Consultation"),
}
_PRIORITIES = {"acute": "stat", "asap": "asap", "two_weeks": "urgent", "routine": "routine"}

_MAR_CELL = re.compile(r"(med\d+\.t\d{2}(?:\d{2})?)\.(given|notgiven|initials)")
_PRN_CELL = re.compile(r"(prn\d+\.dose\d+)\.(time|initials)")
_ACTIVE_ROW = re.compile(r"(active\d+)\.(continue|change|stop|initials)")
_NEW_ROW = re.compile(r"(new\d+)\.(.+)")
_RX_BLOCK = re.compile(r"(rx\d+)\.(.+)")
_SIMPLE_DOSE = re.compile(r"(\d+(?:[.,]\d+)?)\s*([^\d\s,.-][^\d]*)")

_WHY_PRN = "as-needed dose: the time is handwritten; transcribe it"
_WHY_CHANGE = "change: the new dose is handwritten; transcribe it as a new order"
_WHY_NEW = "new order written by hand: transcribe drug, dose, route, frequency"
_WHY_RX = (
    "paper prescription: transcribe drug, form, strength, amount, dosage, purpose, "
    "dispensings, benefit, substitution and urgency"
)
_WHY_TO = "referral: the receiving unit is handwritten; transcribe it"
_WHY_REFERRAL = "the referral page may hold writing that could not be read clearly: look at it"
_WHY_ADMISSION = "new patient: transcribe name and identity, then link to the real patient"
_WHY_FORM = "a form this kit does not map to the record: transcribe what it holds"
_WHY_PAGE = "another capture of this page reads differently: a person decides which is right"
_WHY_NO_ORDER = "the order this row refers to is not in the pack's data: look at the page"
_WHY_NO_SLOT = "the cell's time slot is not known: look at the page"
_WHY_INITIALS = "initials without a ticked box: look at the page"


# --------------------------------------------------------------------------------------------
# API


@dataclass(frozen=True)
class PostingContext:
    now: datetime  # aware; Provenance.recorded, DocumentReference.date
    enterer: str  # who runs reconciliation → Provenance agent "enterer"
    station: str
    site: str
    max_entries: int = 8  # per transaction (Medplum's limit with conditional entries)

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


@dataclass(frozen=True)
class FormBundles:
    form_key: str
    bundles: tuple[dict[str, Any], ...]  # FHIR R4 transaction Bundles, ≤ max_entries entries
    resources: tuple[tuple[str, str], ...]  # (resourceType, "system|value") of each resource
    held: tuple[HeldItem, ...]
    unused: bool  # returned but nothing written or marked on any page: nothing posted


def item_identifier(form_key: str, item: str) -> tuple[str, str]:
    """``(system, value)`` for an item of a form: no patient data can be read from it."""
    digest = hashlib.sha256(f"{form_key}#{item}".encode()).hexdigest()
    return ITEM_SYSTEM, digest[:32]


def form_bundles(form: IssuedForm, pdf: bytes, ctx: PostingContext) -> FormBundles:
    """The transaction bundles for ``form``; ``pdf`` is its returned pages as one PDF."""
    if form.patient is None or not form.returned:
        return FormBundles(form.form_key, (), (), (), unused=False)
    if _is_unused(form):
        return FormBundles(form.form_key, (), (), (), unused=True)
    if not pdf:
        raise ValueError("the PDF of the returned pages is empty")
    env = _env(form, form.patient, ctx)
    document = _document(env, pdf)
    derived = _Derived([(document, _document_provenance(env, document))])
    _conflict_pages(env, derived)
    _HANDLERS.get(form.form, _unknown_form)(env, derived)
    bundles = _bundles(form.form_key, env.header, derived.units, ctx.max_entries)
    made = [*env.header, *(m for unit in derived.units for m in unit)]
    return FormBundles(
        form_key=form.form_key,
        bundles=tuple(bundles),
        resources=tuple((m.resource_type, f"{m.system}|{m.value}") for m in made),
        held=tuple(derived.held),
        unused=False,
    )


# --------------------------------------------------------------------------------------------
# Resources to post


@dataclass(frozen=True)
class _Made:
    """One resource and how it is created only once."""

    resource_type: str
    system: str
    value: str
    resource: dict[str, Any]
    if_none_exist: str

    @property
    def urn(self) -> str:
        return _urn(self.resource_type, self.system, self.value)

    def logical(self) -> dict[str, Any]:
        return _logical(self.resource_type, self.system, self.value)


def _made(resource: dict[str, Any], system: str, value: str) -> _Made:
    kind = resource["resourceType"]
    if kind == "Provenance":
        search = f"_tag={_token(system, value)}"
    else:
        identifier = [{"system": system, "value": value}]
        resource = {"resourceType": kind, "identifier": identifier, **resource}
        search = f"identifier={_token(system, value)}"
    return _Made(kind, system, value, _pruned(resource), search)


def _urn(resource_type: str, system: str, value: str) -> str:
    name = f"{resource_type}/{system}|{value}"
    return f"urn:uuid:{uuid.uuid5(_URN_NAMESPACE, name)}"


def _token(system: str, value: str) -> str:
    """A token search value: FHIR's escapes (``\\`` before ``\\ , $ |``), then URL-encoded."""

    def part(text: str) -> str:
        escaped = re.sub(r"([\\,$|])", r"\\\1", text)
        return quote(escaped, safe=":/")

    return f"{part(system)}|{part(value)}"


def _logical(resource_type: str, system: str, value: str) -> dict[str, Any]:
    return {"type": resource_type, "identifier": {"system": system, "value": value}}


def _pruned(value: Any) -> Any:
    """Without ``None``, empty strings, lists and objects, at any depth (FHIR allows none)."""
    if isinstance(value, dict):
        pairs = ((k, _pruned(v)) for k, v in value.items())
        return {k: v for k, v in pairs if v not in (None, "", [], {})}
    if isinstance(value, list):
        items = (_pruned(v) for v in value)
        return [v for v in items if v not in (None, "", [], {})]
    return value


def _instant(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


# --------------------------------------------------------------------------------------------
# The form's environment: patient, encounter, document


@dataclass(frozen=True)
class _Env:
    form: IssuedForm
    ctx: PostingContext
    header: tuple[_Made, ...]  # Patient, then the Encounter if there is one
    pages: tuple[ReturnedPage, ...]  # by page number

    @property
    def subject(self) -> dict[str, Any]:
        return {"reference": self.header[0].urn}

    @property
    def encounter(self) -> dict[str, Any] | None:
        return {"reference": self.header[1].urn} if len(self.header) > 1 else None

    @property
    def document(self) -> dict[str, Any]:
        """A reference to the form's DocumentReference (made logical in other bundles)."""
        urn = _urn("DocumentReference", *item_identifier(self.form.form_key, "document"))
        return {"reference": urn}

    def item(self, page: ReturnedPage, name: str) -> str:
        return name if self.form.page_count == 1 else f"page {page.page_no}/{name}"

    def made(self, resource: dict[str, Any], item: str) -> _Made:
        return _made(resource, *item_identifier(self.form.form_key, item))


@dataclass
class _Derived:
    units: list[tuple[_Made, ...]]  # a resource and its Provenance, kept in one bundle
    held: list[HeldItem] = field(default_factory=list)

    def hold(self, env: _Env, page: ReturnedPage, name: str, why: str) -> None:
        kind = CONFLICT if page.in_conflict else PENDING
        self.held.append(HeldItem(env.item(page, name), kind, why))


def _env(form: IssuedForm, patient: PatientInfo, ctx: PostingContext) -> _Env:
    pages = tuple(sorted(form.returned, key=lambda p: p.page_no))
    gender = _admission_gender(pages) if form.form == "admission" else None
    header = [_patient(patient, gender)]
    encounter = _encounter(form, patient, header[0])
    if encounter is not None:
        header.append(encounter)
    return _Env(form, ctx, tuple(header), pages)


def _is_reserve(patient: PatientInfo) -> bool:
    return patient.identifier.system == IdSystem.DOWNTIME_RESERVE


def _patient(patient: PatientInfo, gender: str | None) -> _Made:
    system, value = fhir_system(patient.identifier), patient.identifier.value
    resource: dict[str, Any] = {"resourceType": "Patient"}
    if _is_reserve(patient):
        tag = {
            "system": TAG_SYSTEM,
            "code": "downtime-admission",
            "display": "Admitted during a record outage: link to the real patient",
        }
        resource["meta"] = {"tag": [tag]}
    else:
        gender = patient.sex if patient.sex in _GENDERS else None
    name = {"family": patient.family_name, "given": [patient.given_name]}
    resource["name"] = [name]
    resource["gender"] = gender
    resource["birthDate"] = patient.birth_date.isoformat() if patient.birth_date else None
    return _made(resource, system, value)


def _encounter(form: IssuedForm, patient: PatientInfo, subject: _Made) -> _Made | None:
    value = patient.encounter_id
    if value is None and _is_reserve(patient):
        value = patient.identifier.value
    if not value:
        return None
    resource = {
        "resourceType": "Encounter",
        "status": "in-progress",
        "class": {"system": ACT_CODE, "code": "IMP", "display": "inpatient encounter"},
        "subject": {"reference": subject.urn},
        "serviceProvider": {"display": form.ward},
    }
    return _made(resource, ENCOUNTER_SYSTEM, value)


def _is_unused(form: IssuedForm) -> bool:
    if form.in_conflict:
        return False
    readings = (r for page in form.returned for r in page.readings.values())
    return not any(r.state in _INK for r in readings)


def _document(env: _Env, pdf: bytes) -> _Made:
    form = env.form
    title = _FORM_TITLES.get(form.form, form.form)
    attachment = {
        "contentType": "application/pdf",
        "data": base64.b64encode(pdf).decode("ascii"),
        "size": len(pdf),
        "hash": base64.b64encode(_sha1(pdf)).decode("ascii"),
        "title": _document_title(form, env.pages),
    }
    resource = {
        "resourceType": "DocumentReference",
        "status": "current",
        "docStatus": "preliminary",
        "type": {"coding": [{"system": FORM_SYSTEM, "code": form.form, "display": title}]},
        "subject": env.subject,
        "date": _instant(env.ctx.now),
        "description": _document_description(form, title),
        "content": [{"attachment": attachment}],
        "context": {"encounter": [env.encounter]},
    }
    return env.made(resource, "document")


def _sha1(data: bytes) -> bytes:
    """FHIR's Attachment.hash is SHA-1 (an integrity check, not security)."""
    return hashlib.sha1(data, usedforsecurity=False).digest()


def _document_title(form: IssuedForm, pages: Sequence[ReturnedPage]) -> str:
    returned = max(p.captured_at for p in pages).date().isoformat()
    numbers = _page_list([p.page_no for p in pages])
    word = "page" if len(pages) == 1 else "pages"
    return f"{form.form}, {word} {numbers} of {form.page_count}, returned {returned}"


def _document_description(form: IssuedForm, title: str) -> str:
    text = (
        f"Downtime paper form: {title} (form {form.form}, version {form.form_version}), "
        f"ward {form.ward}, filled in by hand during a record outage and scanned afterwards."
    )
    numbers = {uid: n for n, uid in enumerate(form.page_uids, start=1)}
    missing = [numbers[uid] for uid in form.missing]
    voided = [numbers[uid] for uid in form.voided if uid in numbers]
    if missing:
        text += f" Not returned: page {_page_list(missing)} of {form.page_count}."
    if voided:
        text += f" Voided: page {_page_list(voided)}."
    return text


def _page_list(numbers: Iterable[int]) -> str:
    """``1–3, 5`` for pages 1, 2, 3 and 5."""
    runs: list[list[int]] = []
    for n in sorted(set(numbers)):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"{r[0]}–{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


# --------------------------------------------------------------------------------------------
# Provenance


def _provenance(
    env: _Env,
    targets: Sequence[_Made],
    item: str,
    source: dict[str, Any],
    occurred: datetime | None = None,
) -> _Made:
    def agent(code: str, display: str, who: str) -> dict[str, Any]:
        coding = {"system": PARTICIPANT_TYPE, "code": code, "display": display}
        return {"type": {"coding": [coding]}, "who": {"display": who}}

    system, value = item_identifier(env.form.form_key, f"{item}/provenance")
    resource = {
        "resourceType": "Provenance",
        "meta": {"tag": [{"system": system, "code": value}]},
        "target": [{"reference": t.urn} for t in targets],
        "occurredDateTime": _instant(occurred) if occurred else None,
        "recorded": _instant(env.ctx.now),
        "location": {"display": f"scan station {env.ctx.station}, {env.ctx.site}"},
        "agent": [
            agent("author", "Author", _AUTHOR),
            agent("enterer", "Enterer", env.ctx.enterer),
        ],
        "entity": [{"role": "source", "what": source}],
    }
    return _made(resource, system, value)


def _document_provenance(env: _Env, document: _Made) -> _Made:
    serials = ", ".join(p.serial for p in env.pages)
    source = {"display": f"downtime paper form, page serials {serials}"}
    return _provenance(env, [document], "document", source)


def _unit(
    env: _Env, resource: dict[str, Any], item: str, occurred: datetime | None = None
) -> tuple[_Made, _Made]:
    """A resource made from the paper, with its Provenance pointing at the document."""
    made = env.made(resource, item)
    return made, _provenance(env, [made], item, env.document, occurred)


# --------------------------------------------------------------------------------------------
# Readings


def _grouped(
    readings: Mapping[str, Reading], pattern: re.Pattern[str]
) -> list[tuple[str, dict[str, Reading]]]:
    """Readings by the pattern's first group (``med1.t08``), leaves by its second, sorted."""
    groups: dict[str, dict[str, Reading]] = {}
    for field_id, reading in readings.items():
        match = pattern.fullmatch(field_id)
        if match is not None:
            groups.setdefault(match[1], {})[match[2]] = reading
    return sorted(groups.items(), key=lambda kv: _natural(kv[0]))


def _natural(text: str) -> tuple[tuple[str, int], ...]:
    """``med2`` before ``med10``; slots (``t08``, ``t0830``, ``t10``) sort as text, in time."""
    return tuple(_part_key(part) for part in text.split("."))


def _part_key(part: str) -> tuple[str, int]:
    match = re.fullmatch(r"([a-z_]*)(\d+)", part)
    if match is None or match[1] == "t":
        return part, -1
    return match[1], int(match[2])


def _inked(readings: Iterable[Reading | None]) -> bool:
    return any(r is not None and r.state in _INK for r in readings)


@dataclass(frozen=True)
class _Choice:
    chosen: str | None = None  # the one option ticked cleanly
    why: str | None = None  # why a person must look instead


def _choice(
    boxes: Mapping[str, Reading | None], *, beside: Iterable[Reading | None] = ()
) -> _Choice:
    """A one-of group of tick boxes, read only when every box is clear.

    ``beside``: other readings of the same row or cell (initials) whose review flags hold it.
    """
    read = [r for r in (*boxes.values(), *beside) if r is not None]
    flags = sorted({f for r in read for f in r.flags} & REVIEW_FLAGS)
    if flags:
        why = f"flagged {', '.join(flags)}: look at the page"
        if CORRECTED in flags:
            why += " (a filled-in box may be a tick taken back)"
        return _Choice(why=why)
    present = [r is not None for r in boxes.values()]
    if any(present) and not all(present):
        return _Choice(why="not every box of this group was read: look at the page")
    if any(r is not None and r.state == UNCERTAIN for r in boxes.values()):
        return _Choice(why="a box could not be read clearly: look at the page")
    marked = [name for name, r in boxes.items() if r is not None and r.state == MARKED]
    if len(marked) > 1:
        return _Choice(why=f"more than one box ticked ({', '.join(marked)}): look at the page")
    return _Choice(chosen=marked[0] if marked else None)


def _conflict_pages(env: _Env, derived: _Derived) -> None:
    for page in env.pages:
        if page.in_conflict:
            derived.held.append(HeldItem(f"page {page.page_no}", CONFLICT, _WHY_PAGE))


# --------------------------------------------------------------------------------------------
# mar


def _mar(env: _Env, derived: _Derived) -> None:
    for page in env.pages:
        for key, cell in _grouped(page.readings, _MAR_CELL):
            _mar_cell(env, derived, page, key, cell)
        for key, cell in _grouped(page.readings, _PRN_CELL):
            if _inked(cell.values()):
                derived.hold(env, page, key, _WHY_PRN)


def _mar_cell(
    env: _Env, derived: _Derived, page: ReturnedPage, key: str, cell: Mapping[str, Reading]
) -> None:
    boxes = {"given": cell.get("given"), "notgiven": cell.get("notgiven")}
    choice = _choice(boxes, beside=[cell.get("initials")])
    if choice.why is not None:
        derived.hold(env, page, key, choice.why)
    elif choice.chosen is None:
        if _inked([cell.get("initials")]):
            derived.hold(env, page, key, _WHY_INITIALS)
    elif page.in_conflict:
        derived.hold(env, page, key, _WHY_PAGE)
    else:
        _administration(env, derived, page, key, completed=choice.chosen == "given")


def _administration(
    env: _Env, derived: _Derived, page: ReturnedPage, key: str, *, completed: bool
) -> None:
    ref = page.refs.get(f"{key}.given") or page.refs.get(f"{key}.notgiven") or {}
    order = env.form.orders.get(ref.get("order_id", ""))
    slot = _slot(ref.get("slot"))
    if order is None:
        derived.hold(env, page, key, _WHY_NO_ORDER)
        return
    if slot is None:
        derived.hold(env, page, key, _WHY_NO_SLOT)
        return
    resource = {
        "resourceType": "MedicationAdministration",
        "status": "completed" if completed else "not-done",
        "statusReason": None if completed else [{"text": "not given (marked on paper)"}],
        "medicationCodeableConcept": {"text": _medication(order)},
        "subject": env.subject,
        "context": env.encounter,
        "effectiveDateTime": _instant(slot),
        "request": _logical("MedicationRequest", ORDER_SYSTEM, order.order_id),
        "note": [{"text": _ON_PAPER}],
        "dosage": _dosage(order),
    }
    derived.units.append(_unit(env, resource, f"{page.page_uid}/{key}", occurred=slot))


def _slot(text: str | None) -> datetime | None:
    try:
        slot = datetime.fromisoformat(text or "")
    except ValueError:
        return None
    return slot if slot.utcoffset() is not None else None


def _dosage(order: OrderInfo) -> dict[str, Any] | None:
    """The ordered dose as given, when it reads as a number and a unit ("1 g", "0,5 mg").

    R4 (mad-1) wants ``dosage.dose`` whenever there is a dosage; a dose like "1-2 tabl" has
    none, so then there is no dosage (the medication text carries the dose as printed).
    """
    match = _SIMPLE_DOSE.fullmatch(order.dose.strip())
    if match is None:
        return None
    number = float(match[1].replace(",", "."))
    value = int(number) if number.is_integer() else number
    dose = {"value": value, "unit": match[2]}
    return {"text": order.dose, "route": {"text": order.route}, "dose": dose}


def _medication(order: OrderInfo) -> str:
    return f"{order.medication} {order.dose}".strip()


# --------------------------------------------------------------------------------------------
# medication-orders


def _orders(env: _Env, derived: _Derived) -> None:
    for page in env.pages:
        for key, row in _grouped(page.readings, _ACTIVE_ROW):
            _active_row(env, derived, page, key, row)
        for key, row in _grouped(page.readings, _NEW_ROW):
            if _inked(row.values()):
                derived.hold(env, page, key, _WHY_NEW)


def _active_row(
    env: _Env, derived: _Derived, page: ReturnedPage, key: str, row: Mapping[str, Reading]
) -> None:
    boxes = {name: row.get(name) for name in ("continue", "change", "stop")}
    choice = _choice(boxes, beside=[row.get("initials")])
    if choice.why is not None:
        derived.hold(env, page, key, choice.why)
    elif choice.chosen is None:
        if _inked([row.get("initials")]):
            derived.hold(env, page, key, _WHY_INITIALS)
    elif choice.chosen == "change":
        derived.hold(env, page, key, _WHY_CHANGE)
    elif choice.chosen == "stop":
        _stop(env, derived, page, key)


def _stop(env: _Env, derived: _Derived, page: ReturnedPage, key: str) -> None:
    ref = page.refs.get(f"{key}.stop") or page.refs.get(f"{key}.continue") or {}
    order = env.form.orders.get(ref.get("order_id", ""))
    if page.in_conflict:
        derived.hold(env, page, key, _WHY_PAGE)
        return
    if order is None:
        derived.hold(env, page, key, _WHY_NO_ORDER)
        return
    resource = {
        "resourceType": "MedicationRequest",
        "status": "stopped",
        "intent": "order",
        "medicationCodeableConcept": {"text": _medication(order)},
        "subject": env.subject,
        "encounter": env.encounter,
        "priorPrescription": _logical("MedicationRequest", ORDER_SYSTEM, order.order_id),
        "dosageInstruction": [{"text": f"{order.dose} {order.route} {order.frequency}".strip()}],
        "note": [
            {
                "text": "Stopped on paper during a record outage; "
                "discontinue the original order in the record"
            }
        ],
    }
    derived.units.append(_unit(env, resource, f"{page.page_uid}/{key}"))


# --------------------------------------------------------------------------------------------
# prescription, journal, forms not mapped


def _prescription(env: _Env, derived: _Derived) -> None:
    for page in env.pages:
        for key, block in _grouped(page.readings, _RX_BLOCK):
            if _inked(block.values()):
                derived.hold(env, page, key, _WHY_RX)


def _journal(env: _Env, derived: _Derived) -> None:
    """The DocumentReference is all: a Composition comes when the entries are transcribed."""


def _unknown_form(env: _Env, derived: _Derived) -> None:
    derived.held.append(HeldItem("form", PENDING, _WHY_FORM))


# --------------------------------------------------------------------------------------------
# referral


def _referral(env: _Env, derived: _Derived) -> None:
    for page in env.pages:
        readings = {k.removeprefix("referral."): r for k, r in page.readings.items()}
        if _inked([readings.get("to")]):
            derived.hold(env, page, "referral.to", _WHY_TO)
        if any(r.state in (MARKED, WRITTEN) for r in readings.values()):
            _service_request(env, derived, page, readings)
        elif _inked(readings.values()) or page.in_conflict:
            derived.hold(env, page, "referral", _WHY_REFERRAL)


def _service_request(
    env: _Env, derived: _Derived, page: ReturnedPage, readings: Mapping[str, Reading]
) -> None:
    types = ("lab", "radiology", "consultation", "other")
    category = _ticked(env, derived, page, readings, "type", types)
    priority = _ticked(env, derived, page, readings, "priority", tuple(_PRIORITIES))
    resource = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "category": [_category(category)] if category else None,
        "priority": _PRIORITIES[priority] if priority else None,
        "code": {"text": "Referral (paper form)"},
        "subject": env.subject,
        "encounter": env.encounter,
        "supportingInfo": [env.document],
        "note": [
            {
                "text": "Written on a paper referral form during a record outage. The "
                "receiving unit, the question and the history are handwritten on the "
                "attached scan (supportingInfo)."
            }
        ],
    }
    derived.units.append(_unit(env, resource, "referral"))


def _ticked(
    env: _Env,
    derived: _Derived,
    page: ReturnedPage,
    readings: Mapping[str, Reading],
    group: str,
    options: Sequence[str],
) -> str | None:
    """The one option of a referral's tick group, or None (held when it is not clear)."""
    boxes = {o: readings.get(f"{group}.{o}") for o in options}
    if page.in_conflict:
        if _inked(boxes.values()):
            derived.hold(env, page, f"referral.{group}", _WHY_PAGE)
        return None
    choice = _choice(boxes)
    if choice.why is not None:
        derived.hold(env, page, f"referral.{group}", choice.why)
    return choice.chosen


def _category(option: str) -> dict[str, Any]:
    if option not in _CATEGORIES:
        return {"text": "Other"}
    system, code, display = _CATEGORIES[option]
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


# --------------------------------------------------------------------------------------------
# admission


def _admission(env: _Env, derived: _Derived) -> None:
    derived.units.append((_provenance(env, env.header, "admission", env.document),))
    derived.hold(env, env.pages[0], "patient", _WHY_ADMISSION)


def _admission_gender(pages: Sequence[ReturnedPage]) -> str | None:
    """The one sex box ticked cleanly on an admission form's first page, if any."""
    page = pages[0]
    if page.in_conflict:
        return None
    options = ("female", "male", "other", "unknown")
    return _choice({o: page.readings.get(f"patient.sex.{o}") for o in options}).chosen


_HANDLERS = {
    "journal": _journal,
    "mar": _mar,
    "medication-orders": _orders,
    "prescription": _prescription,
    "referral": _referral,
    "admission": _admission,
}


# --------------------------------------------------------------------------------------------
# Bundles


def _bundles(
    form_key: str, header: Sequence[_Made], units: Sequence[Sequence[_Made]], max_entries: int
) -> list[dict[str, Any]]:
    room = max_entries - len(header)
    groups: list[list[_Made]] = []
    for unit in units:
        if len(unit) > room:
            raise ValueError(f"max_entries {max_entries} leaves no room for {len(unit)} entries")
        if not groups or len(groups[-1]) + len(unit) > room:
            groups.append([])
        groups[-1].extend(unit)
    logical = {m.urn: m.logical() for unit in units for m in unit}
    return [_bundle(form_key, [*header, *group], group, logical) for group in groups]


def _bundle(
    form_key: str,
    entries: Sequence[_Made],
    own: Sequence[_Made],
    logical: Mapping[str, dict[str, Any]],
) -> dict[str, Any]:
    here = {m.urn for m in entries}
    elsewhere = {urn: ref for urn, ref in logical.items() if urn not in here}
    system, value = item_identifier(form_key, "bundle/" + ",".join(m.value for m in own))
    return {
        "resourceType": "Bundle",
        "identifier": {"system": system, "value": value},
        "type": "transaction",
        "entry": [
            {
                "fullUrl": m.urn,
                "resource": _relinked(m.resource, elsewhere),
                "request": {
                    "method": "POST",
                    "url": m.resource_type,
                    "ifNoneExist": m.if_none_exist,
                },
            }
            for m in entries
        ],
    }


def _relinked(value: Any, elsewhere: Mapping[str, dict[str, Any]]) -> Any:
    """A deep copy in which references to resources of other bundles become logical ones."""
    if isinstance(value, dict):
        reference = value.get("reference")
        if len(value) == 1 and isinstance(reference, str) and reference in elsewhere:
            return copy.deepcopy(elsewhere[reference])
        return {k: _relinked(v, elsewhere) for k, v in value.items()}
    if isinstance(value, list):
        return [_relinked(v, elsewhere) for v in value]
    return value

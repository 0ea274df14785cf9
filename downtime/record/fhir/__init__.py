"""An issued form with its returned pages → FHIR R4 transaction bundles (pure: no I/O).

:func:`form_bundles` turns one :class:`~downtime.ledger.returns.IssuedForm` (and the returned
pages as one PDF) into transaction bundles, the list of resources they make, and the items a
person must look at before anything more can be posted (:class:`HeldItem`). Delivery, retries
and the bookkeeping of what was posted belong to :mod:`downtime.record.reconciliation`.

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

The patient and the encounter are the record's: nothing here creates them. Every resource
names them by **conditional reference** (:attr:`FormBundles.references`):
``Patient?identifier=<system>|<value>`` with the patient's identifier (system from
:func:`downtime.census.ids.fhir_system`), and ``Encounter?identifier=<system>|<value>`` with the
census encounter id in the record's own system — the Encounter identifier's system a FHIR census
carries, else site.toml's ``encounter_system`` (``ctx.encounter_system``). Without a system
there is no encounter reference at all. The receiving system resolves them; posting to a FHIR
server, :mod:`downtime.record.checks` resolves each to exactly one resource first (else the form
is held as ``unknown-in-record``) and sends the literal reference.
Only a **reserve-number admission** (a patient admitted on paper, a downtime reserve id) makes
its Patient: a conditional create heading every bundle of the form, tagged to be linked to the
real patient, gender only from one clean *sex* tick; and an Encounter (system
``urn:downtime:encounter``, value the census encounter id or else the reserve id;
in-progress, class ``IMP``, the pack's ward as ``serviceProvider.display``) unless the census
knows the encounter in the record. References to them are ``urn:uuid:`` references the
server rewrites.
A reference to a resource posted in another bundle of the form (a Provenance pointing at the
DocumentReference of bundle 1) is a logical reference by identifier, valid in R4. An urn is
``urn:uuid:`` + UUID 5 of the resource type and identifier, so the same input gives the same
bundles, byte for byte.

Search values in ``ifNoneExist`` and conditional references are escaped as FHIR says (``\\``
before ``\\ , $ |``) and URL-encoded. Medplum 4.5.2 never matches a token value containing
``|``: an encounter id with one is not found there, and its forms are held
(tests/test_fhir.py pins this).

Splitting
---------
Each bundle holds at most ``ctx.max_entries`` entries (Medplum allows 8 in a transaction with
a conditional entry): a reserve admission's Patient and Encounter, then whole units — a
resource with its Provenance — in order: the DocumentReference first, then the derived
resources by page, row and slot. ``Bundle.identifier`` is the item identifier of
``bundle/`` + the identifiers of the resources it holds besides that Patient and Encounter.

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
  uncertain box, a box not read, a review flag (:data:`downtime.vocab.REVIEW_FLAGS`) on a box
  or the initials, initials without a tick, or a cell without its order or slot → held. A
  cell whose slot is later than the page's scan (its first capture) cannot have happened yet
  (a tick in a wrong day's column): held, never posted. An
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
* **Drugs typed by hand** (a new order's drug; a prescription's drug, strength and form):
  ``medicationCodeableConcept.text`` as typed, and a ``coding`` (``ctx.drugs.system``, the
  entry's code and display) only when the typed drug is exactly an entry of the site's drug
  list (:mod:`downtime.census.druglist`: case and spacing aside). A prescription matches by
  its drug, strength and form as typed, in that order (``Alvedon`` ``500 mg`` ``tablett``), or
  by its drug alone when that is an entry and the strength (and any form) typed beside it are
  the entry's. Nothing is matched otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

from downtime.ledger.returns import IssuedForm
from downtime.record.fhir.bundles import pack_bundles
from downtime.record.fhir.common import (
    Derived,
    conflict_pages,
    document_provenance,
    document_scan,
    is_unused,
    make_env,
)
from downtime.record.fhir.decided import with_decided_boxes
from downtime.record.fhir.mar import mar
from downtime.record.fhir.model import ACT_CODE as ACT_CODE
from downtime.record.fhir.model import CONFLICT as CONFLICT
from downtime.record.fhir.model import (
    ENCOUNTER_SYSTEM,
    FORM_SYSTEM,
    ITEM_SYSTEM,
    ORDER_SYSTEM,
    FormBundles,
    HeldItem,
    PostingContext,
    RecordReference,
    item_identifier,
)
from downtime.record.fhir.model import PARTICIPANT_TYPE as PARTICIPANT_TYPE
from downtime.record.fhir.model import PENDING as PENDING
from downtime.record.fhir.model import SNOMED as SNOMED
from downtime.record.fhir.model import TAG_SYSTEM as TAG_SYSTEM
from downtime.record.fhir.orders import orders
from downtime.record.fhir.referral import referral
from downtime.record.fhir.transcribe import admission, journal, prescription, unknown_form

__all__ = [
    "ENCOUNTER_SYSTEM",
    "FORM_SYSTEM",
    "ITEM_SYSTEM",
    "ORDER_SYSTEM",
    "FormBundles",
    "HeldItem",
    "PostingContext",
    "RecordReference",
    "form_bundles",
    "item_identifier",
]


def form_bundles(
    form: IssuedForm, pdf: bytes | Sequence[bytes], ctx: PostingContext
) -> FormBundles:
    """The transaction bundles for ``form``. ``pdf`` is its returned pages as one PDF, or one
    PDF per returned page (in page order) when one would be too large for one attachment."""
    patient = form.patient
    if patient is None or not form.returned:
        return FormBundles(form.form_key, (), (), (), unused=False)
    form = with_decided_boxes(form)
    if is_unused(form):
        return FormBundles(form.form_key, (), (), (), unused=True)
    pdfs = [pdf] if isinstance(pdf, bytes) else list(pdf)
    if not pdfs or not all(pdfs) or len(pdfs) not in (1, len(form.returned)):
        raise ValueError("one PDF of the returned pages, or one per returned page, is needed")
    env = make_env(form, patient, ctx)
    document = document_scan(env, pdfs)
    derived = Derived([(document, document_provenance(env, document))])
    conflict_pages(env, derived)
    _HANDLERS.get(form.form, unknown_form)(env, derived)
    bundles = pack_bundles(form.form_key, env.header, derived.units, ctx.max_entries)
    made = [*env.header, *(m for unit in derived.units for m in unit)]
    return FormBundles(
        form_key=form.form_key,
        bundles=tuple(bundles),
        resources=tuple((m.resource_type, f"{m.system}|{m.value}") for m in made),
        held=tuple(derived.held),
        unused=False,
        labels=tuple((f"{m.system}|{m.value}", m.label) for m in made if m.label),
        references=env.references,
    )


_HANDLERS = {
    "journal": journal,
    "mar": mar,
    "medication-orders": orders,
    "prescription": prescription,
    "referral": referral,
    "admission": admission,
}

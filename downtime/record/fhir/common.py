"""A form's environment (its Patient, Encounter and pages), what is derived from it and held,
the DocumentReference of the returned pages, and the Provenance of everything made from paper."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from downtime.census.ids import fhir_system
from downtime.ledger.decisions import Decision
from downtime.ledger.returns import IssuedForm, PatientInfo, ReturnedPage
from downtime.model import Identifier, IdSystem
from downtime.record.fhir.made import Made, instant, made_resource, urn_for
from downtime.record.fhir.model import (
    ACT_CODE,
    AUTHOR,
    CONFLICT,
    ENCOUNTER_SYSTEM,
    FORM_SYSTEM,
    FORM_TITLES,
    INK,
    PARTICIPANT_TYPE,
    PENDING,
    TAG_SYSTEM,
    WHY_PAGE,
    HeldItem,
    PostingContext,
    RecordReference,
    item_identifier,
)
from downtime.record.fhir.readings import admission_gender


@dataclass(frozen=True)
class Env:
    form: IssuedForm
    ctx: PostingContext
    header: tuple[Made, ...]  # created with the form: a reserve-number admission's Patient…
    pages: tuple[ReturnedPage, ...]  # by page number
    subject: dict[str, Any]  # the Patient: created in the header, or in the record already
    encounter: dict[str, Any] | None  # the Encounter, likewise; None: no encounter is known
    references: tuple[RecordReference, ...] = ()  # what ``subject`` and ``encounter`` name

    @property
    def document(self) -> dict[str, Any]:
        """A reference to the form's DocumentReference (made logical in other bundles)."""
        urn = urn_for("DocumentReference", *item_identifier(self.form.form_key, "document"))
        return {"reference": urn}

    def item(self, page: ReturnedPage, name: str) -> str:
        return name if self.form.page_count == 1 else f"page {page.page_no}/{name}"

    def transcribed(self, page: ReturnedPage, name: str) -> Decision | None:
        """What a person typed from the handwriting of an item (in force), if anything."""
        decided = self.form.decisions.get(self.item(page, name))
        return decided if decided is not None and decided.action == "transcribe" else None

    def typed_medication(self, text: str, drug: str) -> dict[str, Any]:
        """The medicationCodeableConcept of a drug a person typed: ``text`` as typed, and the
        site drug list's code only when ``drug`` is exactly one of its entries (never a guess:
        any other text stays text only)."""
        entry = self.ctx.drugs.find(drug)
        if entry is None:
            return {"text": text}
        coding = {"system": self.ctx.drugs.system, "code": entry.code, "display": entry.display}
        return {"coding": [coding], "text": text}

    def made(self, resource: dict[str, Any], item: str, label: str = "") -> Made:
        return made_resource(resource, *item_identifier(self.form.form_key, item), label or item)


@dataclass
class Derived:
    units: list[tuple[Made, ...]]  # a resource and its Provenance, kept in one bundle
    held: list[HeldItem] = field(default_factory=list)

    def hold(self, env: Env, page: ReturnedPage, name: str, why: str) -> None:
        """Hold the item for a person, unless a person decided to leave it out (*skip*)."""
        item = env.item(page, name)
        decided = env.form.decisions.get(item)
        if decided is not None and decided.action == "skip":
            return
        kind = CONFLICT if page.in_conflict else PENDING
        self.held.append(HeldItem(item, kind, why))


def make_env(form: IssuedForm, patient: PatientInfo, ctx: PostingContext) -> Env:
    """The form's patient and encounter: referred to as the record holds them (conditional
    references, created by nothing here), except for a reserve-number admission, whose Patient
    (and Encounter, unless the census knows it in the record) the form creates."""
    pages = tuple(sorted(form.returned, key=lambda p: p.page_no))
    references: list[RecordReference] = []
    header: list[Made] = []
    if _is_reserve(patient):
        gender = admission_gender(pages) if form.form == "admission" else None
        header.append(_patient(patient, gender, linked_to(form)))
        subject = {"reference": header[0].urn}
    else:
        system = fhir_system(patient.identifier)
        references.append(RecordReference("Patient", system, patient.identifier.value))
        subject = {"reference": references[-1].query}
    encounter: dict[str, Any] | None = None
    system = patient.encounter_system or ctx.encounter_system
    if patient.encounter_id and system:
        references.append(RecordReference("Encounter", system, patient.encounter_id))
        encounter = {"reference": references[-1].query}
    elif _is_reserve(patient):
        header.append(_encounter(form, patient, header[0]))
        encounter = {"reference": header[1].urn}
    return Env(form, ctx, tuple(header), pages, subject, encounter, tuple(references))


def _is_reserve(patient: PatientInfo) -> bool:
    return patient.identifier.system == IdSystem.DOWNTIME_RESERVE


def linked_to(form: IssuedForm) -> Decision | None:
    """The real identity a person typed for a reserve-number admission (its form's ``patient``
    item), if any."""
    decided = form.decisions.get("patient") or form.decisions.get("page 1/patient")
    return decided if decided is not None and decided.action == "transcribe" else None


def _patient(patient: PatientInfo, gender: str | None, link: Decision | None = None) -> Made:
    """A reserve-number admission's Patient, tagged to be linked to the real patient; once a
    person typed the real identity, ``link`` *replaced-by* it (by identifier: the record knows
    the real patient under it), as HL7 Sweden links a reserve number to a personnummer."""
    system, value = fhir_system(patient.identifier), patient.identifier.value
    tag = {
        "system": TAG_SYSTEM,
        "code": "downtime-admission",
        "display": "Admitted during a record outage: link to the real patient",
    }
    resource: dict[str, Any] = {"resourceType": "Patient", "meta": {"tag": [tag]}}
    name = {"family": patient.family_name, "given": [patient.given_name]}
    resource["name"] = [name]
    resource["gender"] = gender
    resource["birthDate"] = patient.birth_date.isoformat() if patient.birth_date else None
    if link is not None:
        real_system, _, real_value = str(link.value["identifier"]).partition("|")
        real = Identifier(real_system, real_value)
        other = {"identifier": {"system": fhir_system(real), "value": real.value}}
        resource["link"] = [{"other": other, "type": "replaced-by"}]
    return made_resource(resource, system, value)


def _encounter(form: IssuedForm, patient: PatientInfo, subject: Made) -> Made:
    """A reserve-number admission's Encounter (the kit's system, the census encounter id or
    the reserve id as its value)."""
    value = patient.encounter_id or patient.identifier.value
    resource = {
        "resourceType": "Encounter",
        "status": "in-progress",
        "class": {"system": ACT_CODE, "code": "IMP", "display": "inpatient encounter"},
        "subject": {"reference": subject.urn},
        "serviceProvider": {"display": form.ward},
    }
    return made_resource(resource, ENCOUNTER_SYSTEM, value)


def is_unused(form: IssuedForm) -> bool:
    if form.in_conflict:
        return False
    readings = (r for page in form.returned for r in page.readings.values())
    return not any(r.state in INK for r in readings)


def document_scan(env: Env, pdfs: Sequence[bytes]) -> Made:
    """The form's scan: one PDF of all returned pages, or (when that would be too large for
    one attachment, e.g. Medplum's 1 MB string limit) one PDF per returned page."""
    form = env.form
    title = FORM_TITLES.get(form.form, form.form)
    whole = _document_title(form, env.pages)
    content = [
        {
            "attachment": _attachment(
                pdf, whole if len(pdfs) == 1 else f"{whole}: page {page.page_no}"
            )
        }
        for pdf, page in zip(pdfs, env.pages if len(pdfs) > 1 else env.pages[:1], strict=False)
    ]
    resource = {
        "resourceType": "DocumentReference",
        "status": "current",
        "docStatus": "preliminary",
        "type": {"coding": [{"system": FORM_SYSTEM, "code": form.form, "display": title}]},
        "subject": env.subject,
        "date": instant(env.ctx.now),
        "description": _document_description(form, title),
        "content": content,
        "context": {"encounter": [env.encounter]},
    }
    return env.made(resource, "document")


def _attachment(pdf: bytes, title: str) -> dict[str, Any]:
    return {
        "contentType": "application/pdf",
        "data": base64.b64encode(pdf).decode("ascii"),
        "size": len(pdf),
        "hash": base64.b64encode(_sha1(pdf)).decode("ascii"),
        "title": title,
    }


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


def provenance(
    env: Env,
    targets: Sequence[Made],
    item: str,
    source: dict[str, Any],
    occurred: datetime | None = None,
    decision: Decision | None = None,
) -> Made:
    """``decision``: what a person typed from the paper: its transcriber is an *enterer* too,
    and the second person who confirmed it a *verifier*."""

    def agent(code: str, display: str, who: str) -> dict[str, Any]:
        coding = {"system": PARTICIPANT_TYPE, "code": code, "display": display}
        return {"type": {"coding": [coding]}, "who": {"display": who}}

    system, value = item_identifier(env.form.form_key, f"{item}/provenance")
    resource = {
        "resourceType": "Provenance",
        "meta": {"tag": [{"system": system, "code": value}]},
        "target": [{"reference": t.urn} for t in targets],
        "occurredDateTime": instant(occurred) if occurred else None,
        "recorded": instant(env.ctx.now),
        "location": {"display": f"scan station {env.ctx.station}, {env.ctx.site}"},
        "agent": [
            agent("author", "Author", AUTHOR),
            agent("enterer", "Enterer", env.ctx.enterer),
            *_transcribers(decision, agent),
        ],
        "entity": [{"role": "source", "what": source}],
    }
    return made_resource(resource, system, value)


def _transcribers(
    decision: Decision | None, agent: Callable[[str, str, str], dict[str, Any]]
) -> list[dict[str, Any]]:
    if decision is None:
        return []
    people = [agent("enterer", "Enterer", f"{decision.decided_by} (transcribed the paper)")]
    if decision.confirmed_by:
        people.append(
            agent("verifier", "Verifier", f"{decision.confirmed_by} (typed it again, the same)")
        )
    return people


def document_provenance(env: Env, document: Made) -> Made:
    serials = ", ".join(p.serial for p in env.pages)
    source = {"display": f"downtime paper form, page serials {serials}"}
    return provenance(env, [document], "document", source)


def unit(
    env: Env,
    resource: dict[str, Any],
    item: str,
    occurred: datetime | None = None,
    label: str = "",
    decision: Decision | None = None,
) -> tuple[Made, Made]:
    """A resource made from the paper, with its Provenance pointing at the document.
    ``label`` names it the way a clerk finds it on the paper (default: ``item``); ``decision``:
    what a person typed from it."""
    made = env.made(resource, item, label)
    return made, provenance(env, [made], item, env.document, occurred, decision)


def conflict_pages(env: Env, derived: Derived) -> None:
    for page in env.pages:
        if page.in_conflict:
            derived.held.append(HeldItem(f"page {page.page_no}", CONFLICT, WHY_PAGE))

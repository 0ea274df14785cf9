"""Forms a person transcribes: prescription, journal, admission, and forms not mapped. Their
scan is posted as the DocumentReference; what they hold is held for transcription, and a paper
prescription two people transcribed becomes a MedicationRequest (category discharge: written
for the patient to take home, as the prescription-record form is)."""

from __future__ import annotations

from collections.abc import Mapping

from downtime.census.druglist import drug_key
from downtime.ledger.decisions import Decision
from downtime.ledger.returns import ReturnedPage
from downtime.record.fhir.common import Derived, Env, linked_to, provenance, unit
from downtime.record.fhir.model import (
    ON_PAPER,
    PENDING,
    RX_BLOCK,
    WHY_ADMISSION,
    WHY_FORM,
    WHY_PAGE,
    WHY_RX,
    HeldItem,
)
from downtime.record.fhir.readings import grouped, inked

RX_CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
RX_NOTES = (("amount", "amount"), ("purpose", "purpose"), ("dispensings", "dispensings"))


def prescription(env: Env, derived: Derived) -> None:
    for page in env.pages:
        for key, block in grouped(page.readings, RX_BLOCK):
            if not inked(block.values()):
                continue
            decided = env.transcribed(page, key)
            if decided is None:
                derived.hold(env, page, key, WHY_RX)
            elif page.in_conflict:
                derived.hold(env, page, key, WHY_PAGE)
            else:
                _prescription(env, derived, page, key, decided)


def _prescription(
    env: Env, derived: Derived, page: ReturnedPage, key: str, decided: Decision
) -> None:
    v = decided.value
    drug = " ".join(str(v[k]) for k in ("drug", "form", "strength") if v.get(k))
    notes = [f"{label}: {v[k]}" for k, label in RX_NOTES if v.get(k)]
    resource = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "category": [
            {"coding": [{"system": RX_CATEGORY, "code": "discharge", "display": "Discharge"}]}
        ],
        "medicationCodeableConcept": env.typed_medication(drug, _product(env, v)),
        "subject": env.subject,
        "encounter": env.encounter,
        "authoredOn": str(v["date"]) if v.get("date") else None,
        "requester": {"display": str(v["prescriber"])} if v.get("prescriber") else None,
        "dosageInstruction": [{"text": str(v["dosage"])}],
        "note": [{"text": "; ".join([f"{ON_PAPER}: a paper prescription", *notes])}],
    }
    item = f"{page.page_uid}/{key}"
    derived.units.append(unit(env, resource, item, label=env.item(page, key), decision=decided))


def _product(env: Env, v: Mapping[str, object]) -> str:
    """The prescription's product as a drug list shows one: its drug, strength and form as
    typed (``Alvedon`` ``500 mg`` ``tablett``); or the drug alone when it is an entry (picked
    from the list: ``Alvedon 500 mg tablett``) and the strength typed beside it, and the form
    if one was typed, are that entry's. Anything else reads as no entry."""
    drug, strength, form = (str(v.get(k) or "") for k in ("drug", "strength", "form"))
    entry = env.ctx.drugs.find(drug)
    if (
        entry is not None
        and drug_key(strength) == drug_key(entry.strength)
        and (not form or drug_key(form) == drug_key(entry.form))
    ):
        return drug
    return " ".join(part for part in (drug, strength, form) if part)


def journal(env: Env, derived: Derived) -> None:
    """The DocumentReference is all: a Composition comes when the entries are transcribed."""


def unknown_form(env: Env, derived: Derived) -> None:
    derived.held.append(HeldItem("form", PENDING, WHY_FORM))


def admission(env: Env, derived: Derived) -> None:
    link = linked_to(env.form)
    derived.units.append((provenance(env, env.header, "admission", env.document, None, link),))
    if link is None:
        derived.hold(env, env.pages[0], "patient", WHY_ADMISSION)

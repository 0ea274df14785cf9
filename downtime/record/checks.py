"""What the record already holds, checked before posting a form (FHIR server target only).

* the patient and the encounter the form's resources refer to
  (:attr:`~downtime.record.fhir.FormBundles.references`): each must be exactly one resource in
  the record. Then the bundles are sent with literal references to them (``Patient/<id>``),
  the resolution the server would make of the conditional references; a server need not
  support those (Medplum stores them unresolved). Not found, found several times, or an
  encounter of another patient: nothing of the form is posted and it is held as
  ``unknown-in-record`` (items ``patient``, ``encounter``) until a person registers or links
  the patient in the record and reconciles again; nothing is ever created in their place;
* the patient merged away or made inactive since the pack was printed: nothing of the form is
  posted; a person links the paper to the surviving record first;
* an administration documented in the record for the same patient and slot (someone entered
  it after recovery): the paper's administration is held, not posted twice;
* an order for the same drug that is active in the record and was written after the pack was
  printed: a paper order decision for that drug is held (it may already be superseded).

Held items go to the report as ``record-conflict`` (``unknown-in-record`` for the first). A
person settles a record conflict in ``downtime review``: *post* it anyway, or *skip* it.
Nothing is ever discontinued here.

A check that cannot be made (the server answers a search with an error, garbage or not at all)
never passes what it guards: the whole form is held as ``record-check-failed`` and nothing of it
is posted in this run; the next run checks again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from downtime.census.ids import fhir_system
from downtime.ledger.returns import IssuedForm
from downtime.record.client import FhirClient, FhirError, RunStopped
from downtime.record.fhir import ITEM_SYSTEM, HeldItem, RecordReference
from downtime.record.sides import paper_side, record_sides

CONFLICT = "record-conflict"
UNKNOWN = "unknown-in-record"
CHECK_FAILED = "record-check-failed"
WHOLE_FORM = "form"  # the item a form held as a whole is listed under
WHY_MERGED = (
    "the patient is merged or inactive in the record: link the paper to the surviving record, "
    "then reconcile again"
)
WHY_ADMINISTERED = "an administration for this slot is already documented in the record"
WHY_ORDERED_SINCE = "an order for the same drug was written in the record after the pack"


class CheckFailed(Exception):
    """A search the checks needed did not answer usefully."""

    def __init__(self, error: FhirError) -> None:
        super().__init__(error.message)
        self.error = error


def find_record_conflicts(
    client: FhirClient,
    form: IssuedForm,
    bundles: Sequence[dict[str, Any]],
    labels: Mapping[str, str] | None = None,
    references: Sequence[RecordReference] = (),
) -> tuple[list[dict[str, Any]], list[HeldItem]]:
    """``labels``: identifier (``system|value``) → how a clerk finds the item on the paper;
    ``references``: what the bundles refer to by conditional reference."""
    try:
        return _checked(client, form, bundles, labels or {}, references)
    except CheckFailed as failed:
        detail = (
            f"the record could not be checked ({failed.error.message}): nothing of this form "
            "was posted; run reconcile again when the server answers"
        )
        return [], [HeldItem(WHOLE_FORM, CHECK_FAILED, detail)]


def _checked(
    client: FhirClient,
    form: IssuedForm,
    bundles: Sequence[dict[str, Any]],
    labels: Mapping[str, str],
    references: Sequence[RecordReference],
) -> tuple[list[dict[str, Any]], list[HeldItem]]:
    assert form.patient is not None
    ident = form.patient.identifier
    referred = next((r for r in references if r.resource_type == "Patient"), None)
    if referred is None:  # a reserve-number admission: its Patient is created if not there
        referred = RecordReference("Patient", fhir_system(ident), ident.value)
    patients = _search(client, "Patient", {"identifier": referred.search_value})
    unknown: list[HeldItem] = []
    if referred in references and len(patients) != 1:
        unknown.append(HeldItem("patient", UNKNOWN, _why_unknown("patient", len(patients))))
    patient = patients[0] if patients and not unknown else None
    if patient is not None and _merged(patient):
        return [], [HeldItem("patient", CONFLICT, WHY_MERGED, record_sides([patient]))]
    literal = {referred.query: f"Patient/{patient['id']}"} if patient is not None else {}
    for ref in references:
        if ref.resource_type == "Encounter":
            found = _search(client, "Encounter", {"identifier": ref.search_value})
            why = _why_unknown("encounter", len(found))
            if len(found) == 1 and not _of_patient(found[0], patient):
                why = (
                    "the encounter with this form's encounter id is not this patient's in the "
                    "record (another patient's, or none named): nothing of this form was "
                    "posted; a person checks which is right"
                )
            if why:
                unknown.append(HeldItem("encounter", UNKNOWN, why))
            else:
                literal[ref.query] = f"Encounter/{found[0]['id']}"
    if unknown:
        return [], unknown
    if patient is None:  # a reserve-number admission new to the record
        return [_literal(b, literal) for b in bundles], []
    held: list[HeldItem] = []
    kept = [_filter(client, form, patient["id"], b, held, labels) for b in bundles]
    return [_literal(b, literal) for b in kept if _has_content(b)], held


def _why_unknown(what: str, found: int) -> str:
    """Why a reference found ``found`` resources cannot be resolved; "" when it can (one)."""
    action = {
        "patient": "register the patient in the record or link the paper to the right one",
        "encounter": "find or register the patient's encounter in the record",
    }[what]
    if found == 1:
        return ""
    if found == 0:
        said = f"the record holds no {what} with this form's identifier"
    else:
        said = f"{found} {what}s in the record have this form's identifier"
    return f"{said}: nothing of this form was posted; {action}, then reconcile again"


def _merged(patient: dict[str, Any]) -> bool:
    return patient.get("active") is False or any(
        link.get("type") == "replaced-by" for link in patient.get("link", [])
    )


def _of_patient(encounter: dict[str, Any], patient: dict[str, Any] | None) -> bool:
    """Whether the record's encounter is the patient's. An encounter that names no patient is
    not shown to be theirs (held for a person); a reserve-number admission has no record
    patient to compare with."""
    subject = str(encounter.get("subject", {}).get("reference") or "")
    if patient is None:
        return True
    if not subject:
        return False
    return subject == f"Patient/{patient['id']}" or subject.endswith(f"/Patient/{patient['id']}")


def _literal(value: Any, literal: Mapping[str, str]) -> Any:
    """A deep copy in which the conditional references resolved become literal ones."""
    if isinstance(value, dict):
        reference = value.get("reference")
        if len(value) == 1 and isinstance(reference, str) and reference in literal:
            return {"reference": literal[reference]}
        return {k: _literal(v, literal) for k, v in value.items()}
    if isinstance(value, list):
        return [_literal(v, literal) for v in value]
    return value


def _filter(
    client: FhirClient,
    form: IssuedForm,
    patient_id: str,
    bundle: dict[str, Any],
    held: list[HeldItem],
    labels: Mapping[str, str],
) -> dict[str, Any]:
    drop: set[str] = set()
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        decided = form.decisions.get(_label(resource, labels))
        if decided is not None and decided.action in ("post", "skip"):
            # a person saw what the record holds: post it anyway, or leave it out
            if decided.action == "skip":
                drop.add(entry.get("fullUrl", ""))
            continue
        found, reason = [], ""
        if resource["resourceType"] == "MedicationAdministration":
            found, reason = _administered(client, patient_id, resource), WHY_ADMINISTERED
        elif resource["resourceType"] == "MedicationRequest":
            found = _ordered_since(client, patient_id, resource, form.issued_at)
            reason = WHY_ORDERED_SINCE
        if found:  # held, with what the paper would make beside what the record holds
            drop.add(entry.get("fullUrl", ""))
            sides = (paper_side(resource), *record_sides(found))
            held.append(HeldItem(_label(resource, labels), CONFLICT, reason, sides))
    if not drop:
        return bundle
    entries = [
        e
        for e in bundle["entry"]
        if e.get("fullUrl") not in drop and not _targets(e["resource"], drop)
    ]
    return {**bundle, "entry": entries}


def _administered(
    client: FhirClient, patient_id: str, resource: dict[str, Any]
) -> list[dict[str, Any]]:
    """The record's administrations of the same medication to the patient for the same slot,
    documented by another source (none: no conflict)."""
    when = resource.get("effectiveDateTime")
    if not when:
        return []
    found = _search(
        client,
        "MedicationAdministration",
        {"subject": f"Patient/{patient_id}", "effective-time": when},
    )
    medication = _medication(resource)
    return [o for o in found if not _ours(o) and _medication(o) == medication]


def _ordered_since(
    client: FhirClient, patient_id: str, resource: dict[str, Any], issued_at: datetime
) -> list[dict[str, Any]]:
    """The record's active orders for the same drug written since the pack was printed, by
    another source (none: no conflict)."""
    found = _search(
        client, "MedicationRequest", {"subject": f"Patient/{patient_id}", "status": "active"}
    )
    medication = _medication(resource)
    newer = []
    for other in found:
        authored = other.get("authoredOn")
        if _ours(other) or _medication(other) != medication or not authored:
            continue
        try:
            # ">=": the record keeps whole seconds, as the pack does; an order written in the
            # second the pack was printed may be missing from it, so a tie is held too.
            if datetime.fromisoformat(authored.replace("Z", "+00:00")) >= issued_at:
                newer.append(other)
        except ValueError:
            continue
    return newer


def _search(client: FhirClient, rtype: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
    try:
        return client.search(rtype, params)
    except RunStopped:
        raise  # the whole run stops; this form is checked again by the next run
    except FhirError as e:
        raise CheckFailed(e) from e


def _medication(resource: dict[str, Any]) -> str:
    concept = resource.get("medicationCodeableConcept", {})
    return str(concept.get("text") or "").strip().casefold()


def _ours(resource: dict[str, Any]) -> bool:
    return any(i.get("system") == ITEM_SYSTEM for i in resource.get("identifier", []))


def _targets(resource: dict[str, Any], urls: set[str]) -> bool:
    return resource["resourceType"] == "Provenance" and any(
        t.get("reference") in urls for t in resource.get("target", [])
    )


def _label(resource: dict[str, Any], labels: Mapping[str, str]) -> str:
    ids = resource.get("identifier", [])
    if ids:
        found = labels.get(f"{ids[0]['system']}|{ids[0]['value']}")
        if found:
            return found
    return f"{resource['resourceType']} {ids[0]['value'][:8] if ids else ''}".strip()


def _has_content(bundle: dict[str, Any]) -> bool:
    skeleton = {"Patient", "Encounter"}
    return any(e["resource"]["resourceType"] not in skeleton for e in bundle.get("entry", []))

"""What reconciliation needs of a FHIR server, checked against its CapabilityStatement (pure).

``downtime reconcile`` posts transaction bundles whose every entry is a conditional create
(``ifNoneExist``) of one of :data:`POSTED_TYPES` (see :mod:`downtime.record.fhir`). A server
that does not take transactions, or creates those types unconditionally, would refuse the
bundles or, worse, make duplicates when a run is repeated. ``downtime doctor`` asks the server
for its ``/metadata`` and lists what is missing here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Every resource type a bundle of :mod:`downtime.record.fhir` creates.
POSTED_TYPES = (
    "DocumentReference",
    "Provenance",
    "MedicationAdministration",
    "MedicationRequest",
    "ServiceRequest",
    "Patient",  # a reserve-number admission only
    "Encounter",  # a reserve-number admission only
)


def capability_problems(statement: Mapping[str, Any]) -> list[str]:
    """What the server's CapabilityStatement does not promise that reconciliation needs
    (empty: everything); each a text for a person."""
    if statement.get("resourceType") != "CapabilityStatement":
        return ["its /metadata is not a CapabilityStatement"]
    problems = []
    version = str(statement.get("fhirVersion", ""))
    if not version.startswith("4.0."):
        problems.append(f"it speaks FHIR {version or '(no version)'}, not R4 (4.0.x)")
    rests = [r for r in _list(statement.get("rest")) if r.get("mode") == "server"]
    interactions = {i.get("code") for r in rests for i in _list(r.get("interaction"))}
    if "transaction" not in interactions:
        problems.append("it does not list the 'transaction' interaction")
    resources = {res.get("type"): res for r in rests for res in _list(r.get("resource"))}
    absent = [t for t in POSTED_TYPES if t not in resources]
    if absent:
        problems.append(f"it does not list the resource type(s) {', '.join(absent)}")
    unconditional = [
        t
        for t in POSTED_TYPES
        if t in resources and resources[t].get("conditionalCreate") is not True
    ]
    if unconditional:
        problems.append(f"no conditional create (ifNoneExist) for {', '.join(unconditional)}")
    return problems


def _list(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []

"""The census pulled from a FHIR R4 server: the same census as a Bundle file, fetched.

In-progress (and arrived) Encounters, their Patients and Locations, the patients' active
MedicationRequests and AllergyIntolerances, gathered into one collection Bundle that
``census.load_fhir_census`` reads like a file (the ward and bed rules are documented there).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol


class FhirSearch(Protocol):
    """What the census needs of a FHIR client (``downtime.record.client.FhirClient`` is one):
    the census stage reads from a server but owns no network code of its own."""

    base_url: str

    def search(self, resource_type: str, params: Mapping[str, str]) -> list[dict[str, Any]]: ...


def fetch_census_bundle(client: FhirSearch) -> dict[str, Any]:
    encounters = [
        e
        for status in ("in-progress", "arrived")
        for e in client.search("Encounter", {"status": status, "_count": "500"})
    ]
    patient_ids = _ids(_ref_id(e.get("subject"), "Patient") for e in encounters)
    location_ids = _ids(
        _ref_id(loc.get("location"), "Location")
        for e in encounters
        for loc in e.get("location", [])
    )
    resources: list[dict[str, Any]] = [*encounters]
    resources += _by_ids(client, "Patient", patient_ids)
    resources += _by_ids(client, "Location", location_ids)
    for pid in patient_ids:
        resources += [
            r
            for r in client.search(
                "MedicationRequest", {"subject": f"Patient/{pid}", "status": "active"}
            )
            if r.get("intent") == "order"
        ]
        resources += client.search("AllergyIntolerance", {"patient": f"Patient/{pid}"})
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "entry": [
            {"fullUrl": f"{client.base_url}/{r['resourceType']}/{r['id']}", "resource": r}
            for r in resources
        ],
    }


def _ids(found: Iterable[str | None]) -> list[str]:
    return sorted({i for i in found if i is not None})


def _ref_id(reference: Any, resource_type: str) -> str | None:
    if not isinstance(reference, dict):
        return None
    ref = str(reference.get("reference", ""))
    prefix = f"{resource_type}/"
    if ref.startswith(prefix):
        return ref[len(prefix) :].split("/")[0]
    return None


def _by_ids(client: FhirSearch, resource_type: str, ids: Iterable[str]) -> list[dict[str, Any]]:
    wanted = list(ids)
    out: list[dict[str, Any]] = []
    for i in range(0, len(wanted), 50):
        out += client.search(resource_type, {"_id": ",".join(wanted[i : i + 50])})
    return out

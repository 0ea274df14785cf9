"""The FHIR R4 test server behaves as the FHIR features' tests need: it validates, runs atomic
transactions with conditional creates, versions updates, and injects faults on request."""

from __future__ import annotations

import http.client
import secrets
import urllib.error
import urllib.parse
import uuid
from typing import Any

import pytest
from fhirserver import FhirServer, fhir_request, fhir_server_fixture  # noqa: F401 (fhir_server)

PERSONNUMMER = "http://electronichealth.se/identifier/personnummer"
ORDER_ID = "urn:oid:1.2.752.29.4.13"  # any system URI will do for the tests


def new_personnummer() -> str:
    """A fresh 12-digit number (no check digit: the server does not know Swedish rules)."""
    return f"19{secrets.randbelow(10**10):010d}"


def patient(pnr: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": PERSONNUMMER, "value": pnr}],
        "name": [{"family": "Tolvansson", "given": ["Tolvan"]}],
        "gender": "male",
        "birthDate": f"{pnr[:4]}-12-12",
        **extra,
    }


def medication_request(order: str, subject: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "identifier": [{"system": ORDER_ID, "value": order}],
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.whocc.no/atc", "code": "N02BE01"}],
            "text": "Paracetamol 500 mg",
        },
        "subject": {"reference": subject},
        "dosageInstruction": [{"text": "1 g x 4"}],
    }


def search(server: FhirServer, resource_type: str, system: str, value: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"identifier": f"{system}|{value}"})
    response = fhir_request("GET", f"{server.base_url}/{resource_type}?{query}")
    assert response.status == 200, response.body
    assert response.body["type"] == "searchset"
    return [entry["resource"] for entry in response.body.get("entry", [])]


def assert_rejected(response: Any, expression: str) -> None:
    assert response.status in (400, 422), response.body
    assert response.resource_type == "OperationOutcome"
    errors = [issue for issue in response.body["issue"] if issue["severity"] == "error"]
    assert errors, response.body
    assert any(expression in issue.get("expression", []) for issue in errors), response.body


def test_metadata_is_an_r4_capability_statement(fhir_server: FhirServer) -> None:
    response = fhir_request("GET", f"{fhir_server.base_url}/metadata")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    assert response.resource_type == "CapabilityStatement"
    assert response.body["fhirVersion"] == "4.0.1"
    rest = response.body["rest"][0]
    assert {"transaction", "batch"} <= {i["code"] for i in rest["interaction"]}
    types = {r["type"]: r for r in rest["resource"]}
    assert types["Patient"]["conditionalCreate"] is True
    assert "MedicationRequest" in types
    assert fhir_server.start_seconds < 60


def test_patient_is_created_and_read_back(fhir_server: FhirServer) -> None:
    pnr = new_personnummer()
    created = fhir_request("POST", f"{fhir_server.base_url}/Patient", patient(pnr, id="ignored"))
    assert created.status == 201, created.body
    body = created.body
    assert body["id"] != "ignored"  # a create ignores the client's id
    version = body["meta"]["versionId"]
    assert created.headers["ETag"] == f'W/"{version}"'
    assert created.headers["Location"].startswith(f"{fhir_server.base_url}/Patient/{body['id']}")

    read = fhir_request("GET", f"{fhir_server.base_url}/Patient/{body['id']}")
    assert read.status == 200
    assert read.body["identifier"] == [{"system": PERSONNUMMER, "value": pnr}]
    assert read.body["meta"]["versionId"] == version
    assert [p["id"] for p in search(fhir_server, "Patient", PERSONNUMMER, pnr)] == [body["id"]]

    missing = fhir_request("GET", f"{fhir_server.base_url}/Patient/no-such-id")
    assert missing.status == 404
    assert missing.resource_type == "OperationOutcome"


@pytest.mark.parametrize(
    ("resource_type", "change", "expression"),
    [
        ("Patient", {"gender": "yes"}, "Patient.gender"),  # not in the required value set
        ("Patient", {"birthDate": "1912-13-45"}, "Patient.birthDate"),
        ("Patient", {"foo": 1}, "Patient.foo"),  # no such element
        ("Patient", {"name": [{"family": ""}]}, "Patient.name[0].family"),  # empty string
        ("MedicationRequest", {"status": None}, "MedicationRequest.status"),  # required, 1..1
        ("MedicationRequest", {"status": "ongoing"}, "MedicationRequest.status"),
        (
            "MedicationRequest",
            {"subject": {"reference": "Organization/x"}},
            "MedicationRequest.subject",
        ),
    ],
)
def test_invalid_resources_are_rejected_with_an_operation_outcome(
    fhir_server: FhirServer, resource_type: str, change: dict[str, Any], expression: str
) -> None:
    pnr = new_personnummer()
    if resource_type == "Patient":
        resource = patient(pnr)
    else:
        resource = medication_request(pnr, "Patient/any")
    resource.update(change)
    resource = {key: value for key, value in resource.items() if value is not None}
    response = fhir_request("POST", f"{fhir_server.base_url}/{resource_type}", resource)
    assert_rejected(response, expression)
    system = PERSONNUMMER if resource_type == "Patient" else ORDER_ID
    assert search(fhir_server, resource_type, system, pnr) == []


def test_unknown_search_parameters_are_refused_not_matched_as_nothing(
    fhir_server: FhirServer,
) -> None:
    # Else a typo in If-None-Exist would match nothing and quietly create a duplicate.
    pnr = new_personnummer()
    response = fhir_request(
        "POST",
        f"{fhir_server.base_url}/Patient",
        patient(pnr),
        headers={"If-None-Exist": f"identifer={PERSONNUMMER}|{pnr}"},
    )
    assert response.status == 400
    assert "identifer" in response.body["issue"][0]["details"]["text"]


def transaction(pnr: str, order: str) -> dict[str, Any]:
    """A patient and an order for them, both created only if not there yet."""
    patient_urn = f"urn:uuid:{uuid.uuid4()}"
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": patient_urn,
                "resource": patient(pnr),
                "request": {
                    "method": "POST",
                    "url": "Patient",
                    "ifNoneExist": f"identifier={PERSONNUMMER}|{pnr}",
                },
            },
            {
                "resource": medication_request(order, patient_urn),
                "request": {
                    "method": "POST",
                    "url": "MedicationRequest",
                    "ifNoneExist": f"identifier={ORDER_ID}|{order}",
                },
            },
        ],
    }


def test_transaction_with_conditional_creates_is_idempotent(fhir_server: FhirServer) -> None:
    pnr, order = new_personnummer(), secrets.token_hex(8)
    bundle = transaction(pnr, order)

    first = fhir_request("POST", fhir_server.base_url, bundle)
    assert first.status == 200, first.body
    assert first.body["type"] == "transaction-response"
    assert [e["response"]["status"] for e in first.body["entry"]] == ["201", "201"]
    locations = [e["response"]["location"] for e in first.body["entry"]]

    again = fhir_request("POST", fhir_server.base_url, bundle)
    assert again.status == 200, again.body
    assert [e["response"]["status"] for e in again.body["entry"]] == ["200", "200"]
    assert [e["response"]["location"] for e in again.body["entry"]] == locations

    [found_patient] = search(fhir_server, "Patient", PERSONNUMMER, pnr)
    [found_order] = search(fhir_server, "MedicationRequest", ORDER_ID, order)
    # The urn:uuid: placeholder was rewritten to the patient's real reference.
    assert found_order["subject"]["reference"] == f"Patient/{found_patient['id']}"
    assert locations == [f"Patient/{found_patient['id']}", f"MedicationRequest/{found_order['id']}"]


def test_conditional_references_in_a_transaction_are_stored_unresolved(
    fhir_server: FhirServer,
) -> None:
    """Medplum's router neither resolves ``Patient?identifier=…`` in a transaction nor refuses
    one that matches nothing: reconciliation resolves them itself before posting to a server
    (downtime.record.checks), and holds a form whose patient the record does not hold."""
    known, unknown = new_personnummer(), new_personnummer()
    kept = fhir_request("POST", f"{fhir_server.base_url}/Patient", patient(known))
    assert kept.status == 201, kept.body
    entries = []
    for pnr in (known, unknown):
        order = medication_request(secrets.token_hex(8), f"Patient?identifier={PERSONNUMMER}|{pnr}")
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": order,
                "request": {"method": "POST", "url": "MedicationRequest"},
            }
        )
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    response = fhir_request("POST", fhir_server.base_url, bundle)
    assert response.status == 200, response.body
    assert [e["response"]["status"] for e in response.body["entry"]] == ["201", "201"]
    stored = [e["resource"]["subject"]["reference"] for e in response.body["entry"]]
    assert stored == [f"Patient?identifier={PERSONNUMMER}|{pnr}" for pnr in (known, unknown)]


def test_transaction_is_all_or_nothing(fhir_server: FhirServer) -> None:
    kept = fhir_request("POST", f"{fhir_server.base_url}/Patient", patient(new_personnummer()))
    pnr = new_personnummer()
    bundle = transaction(pnr, secrets.token_hex(8))
    # A third entry that fails only when it runs: an update against a stale version.
    stale = {**kept.body, "gender": "female"}
    bundle["entry"].append(
        {
            "resource": stale,
            "request": {"method": "PUT", "url": f"Patient/{stale['id']}", "ifMatch": 'W/"stale"'},
        }
    )
    response = fhir_request("POST", fhir_server.base_url, bundle)
    assert response.status == 412, response.body
    assert search(fhir_server, "Patient", PERSONNUMMER, pnr) == []  # rolled back

    # An invalid entry fails the whole bundle before anything runs.
    bundle = transaction(pnr, secrets.token_hex(8))
    bundle["entry"][1]["resource"]["status"] = "ongoing"
    assert_rejected(
        fhir_request("POST", fhir_server.base_url, bundle), "Bundle.entry[1].resource.status"
    )
    assert search(fhir_server, "Patient", PERSONNUMMER, pnr) == []


def test_update_with_if_match_is_versioned(fhir_server: FhirServer) -> None:
    created = fhir_request("POST", f"{fhir_server.base_url}/Patient", patient(new_personnummer()))
    url = f"{fhir_server.base_url}/Patient/{created.body['id']}"
    etag = created.headers["ETag"]

    updated = fhir_request("PUT", url, {**created.body, "gender": "female"}, {"If-Match": etag})
    assert updated.status == 200, updated.body
    assert updated.headers["ETag"] != etag
    assert updated.body["gender"] == "female"

    conflict = fhir_request("PUT", url, {**created.body, "gender": "other"}, {"If-Match": etag})
    assert conflict.status == 412
    assert conflict.resource_type == "OperationOutcome"
    bare = fhir_request("PUT", url, {**created.body, "gender": "other"}, {"If-Match": "1"})
    assert bare.status == 400  # not an ETag: refused, not ignored
    assert fhir_request("GET", url).body["gender"] == "female"


def test_429_fault_answers_once_with_retry_after(fhir_server: FhirServer) -> None:
    fhir_server.fault(status=429, retry_after=1, count=1)
    throttled = fhir_request("GET", f"{fhir_server.base_url}/metadata")
    assert throttled.status == 429
    assert throttled.headers["Retry-After"] == "1"
    assert throttled.resource_type == "OperationOutcome"
    assert fhir_request("GET", f"{fhir_server.base_url}/metadata").status == 200


def test_dropped_response_is_committed_but_never_answered(fhir_server: FhirServer) -> None:
    pnr = new_personnummer()
    fhir_server.fault(drop_response=True, count=1)
    with pytest.raises((ConnectionError, http.client.HTTPException, urllib.error.URLError)):
        fhir_request("POST", f"{fhir_server.base_url}/Patient", patient(pnr))
    assert len(search(fhir_server, "Patient", PERSONNUMMER, pnr)) == 1

    # A retry with a conditional create finds it instead of making a second one.
    retry = fhir_request(
        "POST",
        f"{fhir_server.base_url}/Patient",
        patient(pnr),
        headers={"If-None-Exist": f"identifier={PERSONNUMMER}|{pnr}"},
    )
    assert retry.status == 200
    assert len(search(fhir_server, "Patient", PERSONNUMMER, pnr)) == 1


def test_reset_empties_the_repository_and_faults(fhir_server: FhirServer) -> None:
    pnr = new_personnummer()
    fhir_request("POST", f"{fhir_server.base_url}/Patient", patient(pnr))
    fhir_server.fault(status=503, count=5)
    fhir_server.reset()
    assert search(fhir_server, "Patient", PERSONNUMMER, pnr) == []

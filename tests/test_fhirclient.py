"""The FHIR client's error texts: what a server refused, without the values it quotes."""

from __future__ import annotations

import json

from downtime.record.client import diagnostics


def test_a_refusal_is_told_by_its_errors_without_patient_values() -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "warning", "diagnostics": "Invalid reference urn:uuid:1234"},
            {
                "severity": "error",
                "diagnostics": 'Invalid value "Tolvansson" for identifier 191212121212',
                "expression": ["Patient.identifier[0].value"],
            },
        ],
    }
    text = diagnostics(json.dumps(outcome).encode())
    assert "Patient.identifier[0].value" in text and "Invalid value" in text
    assert "Tolvansson" not in text and "191212121212" not in text
    assert "reference" not in text  # errors first; warnings only when there are no errors


def test_an_unreadable_refusal_gives_an_empty_text() -> None:
    assert diagnostics(b"<html>502 Bad Gateway</html>") == ""

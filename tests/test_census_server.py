"""`downtime pack --fhir-url`: the census pulled from a real FHIR R4 server (Medplum)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import EXAMPLE, run_cli
from fhirserver import FhirServer, fhir_request, fhir_server_fixture  # noqa: F401 (fhir_server)

from downtime.census import load_census


def load_example_into(server: FhirServer) -> None:
    """The bundled example census, as the record system would hold it (same ids)."""
    text = (EXAMPLE / "census.fhir.json").read_text("utf-8")
    for e in json.loads(text)["entry"]:  # the record system holds plain Type/id references
        r = e["resource"]
        text = text.replace(f'"{e["fullUrl"]}"', f'"{r["resourceType"]}/{r["id"]}"')
    bundle = json.loads(text)
    entries = [
        {
            "resource": e["resource"],
            "request": {
                "method": "PUT",
                "url": f"{e['resource']['resourceType']}/{e['resource']['id']}",
            },
        }
        for e in bundle["entry"]
    ]
    for i in range(0, len(entries), 50):
        reply = fhir_request(
            "POST",
            server.base_url,
            {"resourceType": "Bundle", "type": "batch", "entry": entries[i : i + 50]},
        )
        assert reply.status == 200, reply.body
        statuses = [e["response"]["status"] for e in reply.body["entry"]]
        assert all(s.startswith(("200", "201")) for s in statuses), statuses


def test_a_pack_from_the_server_has_the_same_patients_and_orders_as_the_file(
    fhir_server: FhirServer, home: Path, tmp_path: Path
) -> None:
    fhir_server.reset()
    load_example_into(fhir_server)
    pdf = tmp_path / "MED42.pdf"
    run_cli("pack", "--fhir-url", fhir_server.base_url, "--ward", "MED42", "-o", pdf, home=home)
    manifest = json.loads(pdf.with_name("MED42.manifest.json").read_text("utf-8"))
    from_server = {
        (p["patient"]["system"], p["patient"]["value"])
        for p in manifest["pages"]
        if p["patient"] and p["patient"]["system"] != "downtime-reserve"
    }
    from datetime import date

    census = load_census(
        EXAMPLE / "patients.csv",
        EXAMPLE / "medications.csv",
        skip_invalid=False,
        today=date.today(),
    )
    expected = {
        (p.identifier.system, p.identifier.value) for p in census.patients if p.ward == "MED42"
    }
    assert from_server == expected
    mar_orders = {
        f["ref"]["order_id"]
        for p in manifest["pages"]
        if p["form"] == "medication-orders"
        for f in p["fields"]
        if "ref" in f
    }
    assert mar_orders == {
        o.order_id for o in census.orders if (o.patient.system, o.patient.value) in expected
    }
    kept = list((home / "census").glob("census-*.fhir.json"))
    assert len(kept) == 1 and oct(kept[0].stat().st_mode & 0o777) == "0o600"


def test_an_unreachable_server_is_a_clear_error(home: Path, tmp_path: Path) -> None:
    result = run_cli(
        "pack", "--fhir-url", "http://127.0.0.1:9/fhir/R4", "--ward", "MED42", "-o",
        tmp_path / "x.pdf", home=home, ok=False,
    )  # fmt: skip
    assert result.exit_code != 0
    assert "unreachable" in result.stderr
    assert not (tmp_path / "x.pdf").exists()

"""People settle what reconciliation held (issue 10): decisions in the ledger, the two-person
rule for medication typed from handwriting, and reconciliation following the decisions.

Real scanned MAR pages of a pack printed a day ago (every slot over), held for the reasons a
person must settle: a cell with both *given* and *not given* ticked (marks), an as-needed
dose with its time written by hand (transcription), a page scanned twice that reads
differently (page conflict). Everything goes through the command line (`downtime review list`
/ `decide`, as the person `$DOWNTIME_USER`), then `downtime reconcile` into the outbox.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from conftest import PrintedPack
from scankit import copy_home, rows, save_png, scan
from test_reconcile import (
    form_entries,
    mar_cells,
    printed,  # noqa: F401 (the module's pack)
    scan_in,
    ticked,
)

from downtime.cli import main

pytestmark = pytest.mark.backends


def as_user(home: Path, user: str, *args: str) -> Result:
    """``downtime ARGS`` run by ``user`` (``$DOWNTIME_USER``)."""
    return CliRunner().invoke(main, ["--home", str(home), *args], env={"DOWNTIME_USER": user})


def items(home: Path, queue: str | None = None) -> list[dict[str, Any]]:
    args = ["review", "list", "--json", *(("--queue", queue) if queue else ())]
    result = as_user(home, "anna", *args)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["schema"] == "downtime.review-items/1"
    found: list[dict[str, Any]] = document["items"]
    return found


def decide(home: Path, user: str, *args: str, code: int = 0) -> Result:
    result = as_user(home, user, "review", "decide", *args)
    assert result.exit_code == code, (result.exit_code, result.output, result.stderr)
    return result


def reconcile(home: Path) -> list[dict[str, Any]]:
    """Reconcile into the outbox; every resource of every bundle this run wrote there."""
    before = set((home / "outbox").glob("*.json"))
    result = as_user(home, "ida", "reconcile")
    assert result.exit_code == 0, result.output
    resources = []
    for path in sorted(set((home / "outbox").glob("*.json")) - before):
        bundle = json.loads(path.read_text("utf-8"))
        resources.extend(e["resource"] for e in bundle["entry"])
    return resources


def administrations(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in resources if r["resourceType"] == "MedicationAdministration"]


def still_held(home: Path) -> set[str]:
    """Items whose latest held row is not ``cleared``."""
    latest: dict[tuple[str, str], str] = {}
    for r in rows(home, "SELECT form_key, item, kind FROM held_items ORDER BY found_at, rowid"):
        latest[(r["form_key"], r["item"])] = r["kind"]
    return {item for (_, item), kind in latest.items() if kind != "cleared"}


@pytest.fixture
def mar(printed: PrintedPack) -> dict[str, Any]:  # noqa: F811
    [entry] = form_entries(printed, "mar")
    return entry


# --------------------------------------------------------------------------------------------
# Marks


@pytest.fixture
def both_ways(printed: PrintedPack, mar: dict[str, Any], tmp_path: Path) -> tuple[Path, str]:  # noqa: F811
    """A MAR page with its first cell ticked both *given* and *not given*, reconciled once
    (nothing posted). (data folder, the cell)"""
    cell = mar_cells(mar)[0]
    home = copy_home(printed, tmp_path / "home")
    scan_in(home, tmp_path / "scans", [ticked(printed, mar, [f"{cell}.given", f"{cell}.notgiven"])])
    assert administrations(reconcile(home)) == []
    return home, cell


def test_a_cell_ticked_both_ways_is_read_by_a_person_and_then_posted(
    both_ways: tuple[Path, str], mar: dict[str, Any]
) -> None:
    home, cell = both_ways
    [item] = items(home, "marks")
    assert (item["item"], item["state"], item["form"]) == (cell, "open", "mar")
    assert sorted(item["fields"]) == [f"{cell}.given", f"{cell}.initials", f"{cell}.notgiven"]

    missing = decide(home, "anna", item["item_id"], "boxes", f"{cell}.given=marked", code=3)
    assert "give every field" in missing.output
    wrong = decide(
        home, "anna", item["item_id"], "boxes", f"{cell}.given=ticked",
        f"{cell}.notgiven=empty", f"{cell}.initials=blank", code=3,
    )  # fmt: skip
    assert "not one of marked, empty" in wrong.output
    decide(
        home, "anna", item["item_id"], "boxes", f"{cell}.given=marked",
        f"{cell}.notgiven=empty", f"{cell}.initials=written",
    )  # fmt: skip

    assert items(home) == []
    [given] = administrations(reconcile(home))
    assert given["status"] == "completed"
    assert cell not in still_held(home)
    audit = rows(home, "SELECT actor, action, patient_value FROM audit_events"
                       " WHERE action = 'review.decide'")  # fmt: skip
    assert [(a["actor"], a["patient_value"]) for a in audit] == [("anna", mar["patient"]["value"])]


def test_skip_needs_a_reason_and_leaves_the_item_out_of_the_record(
    both_ways: tuple[Path, str],
) -> None:
    home, cell = both_ways
    [item] = items(home)

    refused = decide(home, "anna", item["item_id"], "skip", code=3)
    decide(home, "anna", item["item_id"], "skip", "--reason", "both crossed out on the paper")

    assert "needs a reason" in refused.output
    assert administrations(reconcile(home)) == []
    assert cell not in still_held(home) and items(home) == []


# --------------------------------------------------------------------------------------------
# Medication typed from handwriting: two people


@pytest.fixture
def prn_home(printed: PrintedPack, mar: dict[str, Any], tmp_path: Path) -> tuple[Path, str]:  # noqa: F811
    """A MAR page with the first as-needed dose's time written by hand, reconciled once."""
    home = copy_home(printed, tmp_path / "home")
    scan_in(home, tmp_path / "scans", [ticked(printed, mar, ["prn1.dose1.time"])])
    reconcile(home)
    [item] = items(home, "transcription")
    assert item["item"] == "prn1.dose1"
    return home, item["item_id"]


def given_at(home: Path) -> str:
    """A local time an hour after the pack was printed (and before its pages were scanned)."""
    (pack,) = rows(home, "SELECT issued_at FROM packs")
    issued = datetime.fromisoformat(pack["issued_at"]).astimezone(ZoneInfo("Europe/Stockholm"))
    return (issued + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")


def test_an_as_needed_dose_is_posted_once_a_second_person_types_the_same(
    prn_home: tuple[Path, str],
) -> None:
    home, item_id = prn_home
    when = given_at(home)

    decide(home, "anna", item_id, "transcribe", f"given_at={when}")
    [waiting] = items(home)
    own = decide(home, "anna", item_id, "transcribe", "--confirm", f"given_at={when}", code=3)
    assert administrations(reconcile(home)) == []
    decide(home, "berit", item_id, "transcribe", "--confirm", f"given_at={when}")

    assert waiting["state"] == "awaiting-confirmation"
    assert "a second, different person must confirm it" in own.output
    assert items(home) == []
    resources = reconcile(home)
    [dose] = administrations(resources)
    assert dose["effectiveDateTime"][:16] == when.replace(" ", "T")
    url = next(e["fullUrl"] for e in _entries(home) if e["resource"] == dose)
    [provenance] = [
        r for r in resources
        if r["resourceType"] == "Provenance" and r["target"][0]["reference"] == url
    ]  # fmt: skip
    people = [a["who"]["display"] for a in provenance["agent"]]
    assert "anna (transcribed the paper)" in people
    assert "berit (typed it again, the same)" in people
    assert "prn1.dose1" not in still_held(home)


def _entries(home: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted((home / "outbox").glob("*.json")):
        found.extend(json.loads(path.read_text("utf-8"))["entry"])
    return found


def test_a_confirmation_that_differs_sends_the_item_back_with_both_entries(
    prn_home: tuple[Path, str],
) -> None:
    home, item_id = prn_home
    when = given_at(home)
    other = when[:-2] + ("00" if when[-2:] != "00" else "30")

    entered = decide(home, "anna", item_id, "transcribe", f"given_at={when}")
    differing = decide(home, "berit", item_id, "transcribe", "--confirm", f"given_at={other}")

    assert entered.stdout.strip().endswith("waits for a second person to confirm it")
    assert differing.stdout.strip().endswith("differs from the entry: back in the queue with both")
    [back] = items(home)
    assert back["state"] == "mismatch"
    assert [(e["by"], e["value"]["given_at"]) for e in back["entries"]] == [
        ("anna", when), ("berit", other),
    ]  # fmt: skip
    assert administrations(reconcile(home)) == []
    decide(home, "berit", item_id, "transcribe", f"given_at={when}")  # entered anew
    decide(home, "anna", item_id, "transcribe", "--confirm", f"given_at={when}")
    assert len(administrations(reconcile(home))) == 1


def test_a_typed_time_after_the_scan_is_held_again_and_back_in_the_queue(
    prn_home: tuple[Path, str],
) -> None:
    home, item_id = prn_home
    late = "2099-01-01 08:00"
    refused = decide(home, "anna", item_id, "transcribe", "given_at=08:00", code=3)
    decide(home, "anna", item_id, "transcribe", f"given_at={late}")
    decide(home, "berit", item_id, "transcribe", "--confirm", f"given_at={late}")

    assert administrations(reconcile(home)) == []

    assert "YYYY-MM-DD HH:MM" in refused.output
    [back] = items(home)
    assert back["why"] == "the time on paper is after the page was scanned: check the slot's date"
    assert back["entries"][0]["value"]["given_at"] == late


# --------------------------------------------------------------------------------------------
# Page conflicts


def test_a_page_whose_captures_disagree_is_read_from_the_capture_a_person_keeps(
    printed: PrintedPack,  # noqa: F811
    mar: dict[str, Any],
    tmp_path: Path,
) -> None:
    first, second = mar_cells(mar)[:2]
    home = copy_home(printed, tmp_path / "home")
    scan_in(home, tmp_path / "scans-1", [ticked(printed, mar, [f"{first}.given"])])
    save_png(tmp_path / "scans-2" / "again.png", ticked(printed, mar, [f"{second}.given"]))
    assert [r["status"] for r in scan(home, tmp_path / "scans-2")] == ["conflict"]
    captures = [r["capture_id"] for r in rows(home, "SELECT capture_id FROM captures")]
    assert len(captures) == 2
    assert administrations(reconcile(home)) == []
    [item] = items(home, "page-conflict")
    assert item["item"] == "page 1"

    wrong = decide(home, "anna", item["item_id"], "capture", "capture_id=999", code=3)
    decide(home, "anna", item["item_id"], "capture", f"capture_id={captures[1]}")

    assert "choose one of the page's captures" in wrong.output
    [given] = administrations(reconcile(home))
    slot = next(f["ref"]["slot"] for f in mar["fields"] if f["id"] == f"{second}.given")
    assert given["effectiveDateTime"][:16] == slot[:16]
    assert "page 1" not in still_held(home)


# --------------------------------------------------------------------------------------------
# Orders, prescriptions and referrals typed from handwriting


def transcribed_by_two(home: Path, item_id: str, *values: str) -> None:
    decide(home, "anna", item_id, "transcribe", *values)
    decide(home, "berit", item_id, "transcribe", "--confirm", *values)


def of_type(resources: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["resourceType"] == kind]


def test_a_new_order_written_by_hand_becomes_a_medication_request(
    printed: PrintedPack,  # noqa: F811
    tmp_path: Path,
) -> None:
    [page] = [e for e in form_entries(printed, "medication-orders") if e["page"] == 1][:1]
    home = copy_home(printed, tmp_path / "home")
    written = ["new1.drug", "new1.dose", "new1.route.iv", "new1.freq.1x2", "new1.signature"]
    scan_in(home, tmp_path / "scans", [ticked(printed, page, written)])
    assert of_type(reconcile(home), "MedicationRequest") == []
    [item] = [i for i in items(home, "transcription") if i["item"] == "new1"]

    missing = decide(home, "anna", item["item_id"], "transcribe", "drug=Furosemid", code=3)
    transcribed_by_two(
        home, item["item_id"], "drug=Furosemid", "dose=40 mg", "route=IV", "frequency=1x2",
        "prescriber=Dr Lind",
    )  # fmt: skip

    assert "dose is required" in missing.output
    [order] = of_type(reconcile(home), "MedicationRequest")
    assert (order["status"], order["intent"]) == ("active", "order")
    assert order["medicationCodeableConcept"]["text"] == "Furosemid 40 mg"
    assert order["dosageInstruction"][0]["text"] == "40 mg IV 1x2"
    assert order["requester"]["display"] == "Dr Lind"
    assert "new1" not in still_held(home)


def test_a_paper_prescription_becomes_a_discharge_medication_request_with_its_date(
    printed: PrintedPack,  # noqa: F811
    tmp_path: Path,
) -> None:
    [page] = form_entries(printed, "prescription")[:1]
    home = copy_home(printed, tmp_path / "home")
    written = ["rx1.drug", "rx1.strength", "rx1.dosage", "rx1.prescriber", "rx1.datetime"]
    scan_in(home, tmp_path / "scans", [ticked(printed, page, written)])
    reconcile(home)
    [item] = [i for i in items(home, "transcription") if i["item"] == "rx1"]

    bad_date = decide(home, "anna", item["item_id"], "transcribe", "drug=Alvedon",
                      "strength=500 mg", "dosage=1x3", "date=26/11", code=3)  # fmt: skip
    transcribed_by_two(
        home, item["item_id"], "drug=Alvedon", "form=tablett", "strength=500 mg",
        "dosage=1 tablett 3 gånger dagligen", "amount=30 st", "prescriber=Dr Lind",
        "date=2026-11-26",
    )  # fmt: skip

    assert "YYYY-MM-DD" in bad_date.output
    [rx] = of_type(reconcile(home), "MedicationRequest")
    assert rx["category"][0]["coding"][0]["code"] == "discharge"
    assert rx["medicationCodeableConcept"]["text"] == "Alvedon tablett 500 mg"
    assert (rx["authoredOn"], rx["requester"]["display"]) == ("2026-11-26", "Dr Lind")
    assert "amount: 30 st" in rx["note"][0]["text"]


def test_a_referrals_receiving_unit_typed_by_one_person_names_its_performer(
    printed: PrintedPack,  # noqa: F811
    tmp_path: Path,
) -> None:
    [page] = form_entries(printed, "referral")[:1]
    home = copy_home(printed, tmp_path / "home")
    scan_in(home, tmp_path / "scans", [ticked(printed, page, ["referral.to"])])
    reconcile(home)
    [item] = items(home, "transcription")
    assert item["item"] == "referral.to"

    result = decide(home, "anna", item["item_id"], "transcribe", "to=Röntgen, Södersjukhuset")

    assert result.stdout.strip().endswith("in force")
    [request] = of_type(reconcile(home), "ServiceRequest")
    assert request["performer"] == [{"display": "Röntgen, Södersjukhuset"}]
    assert "referral.to" not in still_held(home)


def test_a_reserve_number_admission_is_linked_to_the_real_identity_typed(
    printed: PrintedPack,  # noqa: F811
    tmp_path: Path,
) -> None:
    [page] = [p for p in printed.manifest["pages"] if p["form"] == "admission"][:1]
    home = copy_home(printed, tmp_path / "home")
    scan_in(home, tmp_path / "scans", [ticked(printed, page, [f["id"] for f in page["fields"]])])
    reconcile(home)
    [item] = items(home, "unknown-patient")

    wrong = decide(home, "anna", item["item_id"], "transcribe", "identifier=19101010-1011", code=3)
    decide(home, "anna", item["item_id"], "transcribe", "identifier=19101010-1010")

    assert "check digit" in wrong.output and "19101010" not in wrong.output
    [patient] = of_type(reconcile(home), "Patient")
    assert patient["link"] == [
        {
            "other": {"identifier": {"system": "http://electronichealth.se/identifier/personnummer",
                                     "value": "191010101010"}},
            "type": "replaced-by",
        }
    ]  # fmt: skip
    assert "patient" not in still_held(home)

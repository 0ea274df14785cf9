"""Record conflicts at the review station, against the Medplum FHIR server: the record already
documents an administration that a returned MAR page also shows ticked. Reconciliation holds
the paper's administration and keeps what the record holds beside it; the reviewer sees both
in a real browser, posts it anyway or skips it, with a reason; reconciliation runs again, and
the server holds exactly what the decision says.

Each test sets the server up and reconciles on its own (the server is shared by the session's
tests, and any of them may reset it), on its own copy of one scanned data folder, served by a
station of its own.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import PrintedPack
from fhirserver import FhirServer, fhir_server_fixture  # noqa: F401 (fhir_server)
from playwright.sync_api import Page
from scankit import copy_home, rows
from stationkit import (  # noqa: F401 (browser, page, playwright: fixtures)
    PASSWORD,
    Served,
    add_user,
    browser_fixture,
    images_shown,
    log_in,
    page_fixture,
    playwright_fixture,
    serve,
    submit,
)
from test_reconcile import (
    CONFLICT,
    OTHER_SYSTEM,
    census_in_record,
    create,
    field_ref,
    form_entries,
    mar_cells,
    printed,  # noqa: F401 (the module's pack)
    reconcile_cli,
    record_patient,
    require_ticked,
    scan_in,
    server_state,
    summary_of,
    ticked,
)
from test_review import items

from downtime.record.fhir import ITEM_SYSTEM

DOCS_SCREENS = Path(__file__).resolve().parent.parent / "docs" / "screens"
SCREENS_ENV = "DOWNTIME_SCREENS"
SITE_TZ = ZoneInfo("Europe/Stockholm")  # the example site's
NURSE = "Sara Ek, sjuksköterska"  # who documented the record's administration
THEIR_DOSE = "150 mg"  # the record's dose: not what the paper's order says


@dataclass(frozen=True)
class Scanned:
    home: Path
    mar: dict[str, Any]  # the first patient's MAR page, as the manifest has it
    cells: list[str]  # ticked *given*: the first is the one the record documents too


@pytest.fixture(scope="module")
def scanned(printed: PrintedPack, tmp_path_factory: pytest.TempPathFactory) -> Scanned:  # noqa: F811
    base = tmp_path_factory.mktemp("station-conflicts")
    [mar] = form_entries(printed, "mar")
    cells = mar_cells(mar)
    chosen = [cells[0], next(c for c in cells if c.split(".")[0] != cells[0].split(".")[0])]
    home = copy_home(printed, base / "home")
    given = [f"{c}.given" for c in chosen]
    scan_in(home, base / "scans", [ticked(printed, mar, given)])
    require_ticked(home, mar, given)
    for name in ("clara", "dora"):
        add_user(home, name, "clerk", PASSWORD)
    return Scanned(home, mar, chosen)


@dataclass(frozen=True)
class Conflict:
    home: Path
    cell: str  # the cell held
    slot: str  # its time on paper (ISO 8601)
    medication: str  # as the paper and the record name it
    theirs: dict[str, Any]  # the record's administration, as the server made it
    item_id: str  # the held item's


@pytest.fixture
def conflict(scanned: Scanned, fhir_server: FhirServer, tmp_path: Path) -> Conflict:
    """A copy of the scanned data folder, reconciled to the server after another source
    documented the first ticked cell's administration there."""
    home = shutil.copytree(scanned.home, tmp_path / "home")
    fhir_server.reset()
    census_in_record(fhir_server)
    patient = record_patient(fhir_server, home, scanned.mar)
    cell = scanned.cells[0]
    ref = field_ref(scanned.mar, f"{cell}.given")
    (order,) = rows(home, "SELECT * FROM pack_orders WHERE order_id = ?", (ref["order_id"],))
    medication = f"{order['medication']} {order['dose']}"
    theirs = create(
        fhir_server,
        {
            "resourceType": "MedicationAdministration",
            "identifier": [{"system": OTHER_SYSTEM, "value": "MA-4711"}],
            "status": "completed",
            "medicationCodeableConcept": {"text": medication},
            "subject": {"reference": f"Patient/{patient['id']}"},
            "effectiveDateTime": ref["slot"],
            "performer": [{"actor": {"display": NURSE}}],
            "dosage": {"text": THEIR_DOSE, "dose": {"value": 150, "unit": "mg"}},
        },
    )
    summary = summary_of(reconcile_cli(home, "--fhir-url", fhir_server.base_url))
    assert (summary["record conflicts"], summary["failed"]) == (1, 0)
    [item] = items(home, "record-conflict")
    assert item["item"] == cell
    return Conflict(home, cell, ref["slot"], medication, theirs, item["item_id"])


@pytest.fixture
def served(conflict: Conflict) -> Iterator[Served]:
    with serve(conflict.home) as station:
        yield station


def local(iso: str) -> str:
    """An ISO 8601 time as the station shows it: the site's wall clock, to the minute."""
    return datetime.fromisoformat(iso).astimezone(SITE_TZ).strftime("%Y-%m-%d %H:%M")


def sides_shown(page: Page) -> dict[str, tuple[str, str, bool]]:
    """The comparison table: fact → (the paper's value, the record's, marked as differing)."""
    shown = {}
    for row in page.locator("table.sides tbody tr").all():
        fact = row.get_attribute("data-fact")
        assert fact is not None
        record = row.locator("td.record")
        differs = "differs" in (record.get_attribute("class") or "")
        shown[fact] = (row.locator("td.paper").inner_text(), record.inner_text(), differs)
    return shown


def resources_on(server: FhirServer) -> dict[str, dict[str, Any]]:
    """Every resource on the server by ``Type/id``."""
    state = server_state(server)
    return {f"{t}/{i}": r for t, by_id in state.items() for i, r in by_id.items()}


def open_item(page: Page, served: Served, conflict: Conflict, user: str) -> None:
    """Log in, open the queue (its row says why, in Swedish) and the item."""
    log_in(page, served, user)
    page.click("a[href='/q/record-conflict']")
    link = f"a[href='/q/record-conflict/{conflict.item_id}']"
    row = page.locator("table.list tr", has=page.locator(link))
    assert "finns redan dokumenterad i journalen" in row.inner_text()
    page.click(link)
    images_shown(page, "figure.crop img")


# --------------------------------------------------------------------------------------------
# The ledger and the command line keep what the record holds


def test_a_record_conflict_keeps_what_the_record_holds_with_the_held_row(
    conflict: Conflict, fhir_server: FhirServer
) -> None:
    [held] = rows(conflict.home, "SELECT * FROM held_items WHERE kind = ?", (CONFLICT,))
    sides = rows(conflict.home, "SELECT * FROM conflict_sides ORDER BY side, n")
    assert [(s["side"], s["n"]) for s in sides] == [("paper", 1), ("record", 1)]
    assert {(s["form_key"], s["item"], s["found_at"]) for s in sides} == {
        (held["form_key"], held["item"], held["found_at"])
    }, "written with the held row"
    [item] = items(conflict.home, "record-conflict")
    paper, record = item["conflict"]["paper"], item["conflict"]["record"]

    assert record == [
        {
            "resource_type": "MedicationAdministration",
            "resource_id": conflict.theirs["id"],
            "identifier": f"{OTHER_SYSTEM}|MA-4711",
            "status": "completed",
            "occurred_at": conflict.theirs["effectiveDateTime"],
            "medication": conflict.medication,
            "dose": THEIR_DOSE,
            "who": NURSE,
            "recorded_at": conflict.theirs["meta"]["lastUpdated"],
            "note": None,
        }
    ]
    assert paper["resource_type"] == "MedicationAdministration" and paper["resource_id"] is None
    assert (paper["status"], paper["medication"]) == ("completed", conflict.medication)
    assert local(paper["occurred_at"]) == local(conflict.slot)
    assert paper["identifier"].startswith(f"{ITEM_SYSTEM}|")
    summary = summary_of(reconcile_cli(conflict.home, "--fhir-url", fhir_server.base_url))
    assert summary["unchanged"] == 1
    assert len(rows(conflict.home, "SELECT * FROM conflict_sides")) == 2, "nothing twice"


# --------------------------------------------------------------------------------------------
# The station: what the record holds beside the paper; post or skip, with a reason


def test_the_reviewer_sees_what_the_record_holds_beside_the_paper_and_posts_it_with_a_reason(
    page: Page, served: Served, conflict: Conflict, fhir_server: FhirServer
) -> None:
    open_item(page, served, conflict, "clara")
    assert page.locator("table.sides th.paper").text_content() == "Papperet säger"
    assert page.locator("table.sides th.record").text_content() == "Journalen har"
    shown = sides_shown(page)
    assert shown["resource_type"][:2] == ("Administrering av läkemedel",) * 2
    assert shown["status"] == ("genomförd", "genomförd", False)
    assert shown["occurred_at"] == (local(conflict.slot), local(conflict.slot), False)
    assert shown["medication"] == (conflict.medication, conflict.medication, False)
    assert shown["dose"][1:] == (THEIR_DOSE, True), "the record's dose is not the paper's"
    assert shown["who"] == ("", NURSE, False)
    reference = f"MedicationAdministration/{conflict.theirs['id']}"
    assert shown["identifier"] == ("", f"{OTHER_SYSTEM}|MA-4711\n{reference}", False)
    assert shown["recorded_at"][1] == local(conflict.theirs["meta"]["lastUpdated"])
    why = page.locator("dd.reason").inner_text()
    assert why == "En administrering för den här tidpunkten finns redan dokumenterad i journalen."
    assert page.evaluate("document.activeElement.name") == "reason", "typing starts at once"
    before = resources_on(fhir_server)

    page.keyboard.type("två doser gavs, se anteckning")
    submit(page)

    assert conflict.cell in page.locator(".notice").inner_text()
    assert items(conflict.home, "record-conflict") == []
    (decided,) = rows(conflict.home, "SELECT * FROM decisions")
    assert (decided["action"], decided["reason"], decided["decided_by"]) == (
        "post", "två doser gavs, se anteckning", "clara",
    )  # fmt: skip
    summary = summary_of(reconcile_cli(conflict.home, "--fhir-url", fhir_server.base_url))
    after = resources_on(fhir_server)
    made = {k: r for k, r in after.items() if k not in before}
    assert (summary["record conflicts"], summary["failed"]) == (0, 0)
    assert Counter(r["resourceType"] for r in made.values()) == {
        "MedicationAdministration": 1,
        "Provenance": 1,
    }
    [ours] = [r for r in made.values() if r["resourceType"] == "MedicationAdministration"]
    [provenance] = [r for r in made.values() if r["resourceType"] == "Provenance"]
    assert ours["identifier"][0]["system"] == ITEM_SYSTEM
    assert (ours["status"], ours["medicationCodeableConcept"]["text"]) == (
        "completed", conflict.medication,
    )  # fmt: skip
    assert local(ours["effectiveDateTime"]) == local(conflict.slot)
    assert [t["reference"] for t in provenance["target"]] == [
        f"MedicationAdministration/{ours['id']}"
    ]
    theirs = after[f"MedicationAdministration/{conflict.theirs['id']}"]
    assert theirs == conflict.theirs, "the record's own entry untouched"
    again = summary_of(reconcile_cli(conflict.home, "--fhir-url", fhir_server.base_url))
    assert again["unchanged"] == 1 and set(resources_on(fhir_server)) == set(after)


def test_the_reviewer_skips_a_record_conflict_with_a_reason_and_nothing_is_posted(
    page: Page, served: Served, conflict: Conflict, fhir_server: FhirServer
) -> None:
    open_item(page, served, conflict, "dora")
    assert sides_shown(page)["who"][1] == NURSE
    before = resources_on(fhir_server)

    page.keyboard.press("Alt+r")
    assert page.evaluate("document.activeElement.closest('form').id") == "reject"
    page.keyboard.type("dokumenterad i journalen, samma dos")
    submit(page)

    assert items(conflict.home, "record-conflict") == []
    (decided,) = rows(conflict.home, "SELECT * FROM decisions")
    assert (decided["action"], decided["decided_by"]) == ("skip", "dora")
    summary = summary_of(reconcile_cli(conflict.home, "--fhir-url", fhir_server.base_url))
    after = resources_on(fhir_server)
    assert (summary["record conflicts"], summary["failed"]) == (0, 0)
    assert set(after) == set(before), "nothing made"
    ours = [
        r
        for r in after.values()
        if r["resourceType"] == "MedicationAdministration"
        and local(r["effectiveDateTime"]) == local(conflict.slot)
        and r["medicationCodeableConcept"]["text"] == conflict.medication
    ]
    assert ours == [conflict.theirs], "only the record's own administration of that dose"
    latest = rows(
        conflict.home,
        "SELECT kind FROM held_items WHERE item = ? ORDER BY found_at DESC LIMIT 1",
        (conflict.cell,),
    )
    assert latest[0]["kind"] == "cleared"


def test_screenshots_of_a_record_conflict(page: Page, served: Served, conflict: Conflict) -> None:
    """Into docs/screens only when asked (``make screens``)."""
    screens = DOCS_SCREENS if os.environ.get(SCREENS_ENV) else conflict.home.parent / "screens"
    screens.mkdir(parents=True, exist_ok=True)
    open_item(page, served, conflict, "clara")
    page.screenshot(path=screens / "record-conflict-item.png")
    assert (screens / "record-conflict-item.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

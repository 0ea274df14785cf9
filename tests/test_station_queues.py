"""The review station's queues of held items in a real browser: Marks, Transcription (two
people), Page conflicts. Real MAR pages of a pack printed a day ago, filled and scanned:
the first patient's with a cell ticked both *given* and *not given* and two as-needed doses'
times written by hand, the second patient's scanned twice, reading differently.

Each test settles its own item as users of its own; every test ends by checking that no URL
the browser asked for and nothing on the station's stderr names a patient.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import PrintedPack
from fhirserver import FhirServer, fhir_server_fixture  # noqa: F401 (fhir_server)
from PIL import Image
from playwright.sync_api import Page, Playwright
from scankit import assert_no_identity, copy_home, rows, save_png, scan
from stationkit import (  # noqa: F401 (browser, page, playwright: fixtures)
    PASSWORD,
    USERS,
    Served,
    add_user,
    as_user,
    browser_fixture,
    chromium,
    images_shown,
    log_in,
    page_fixture,
    playwright_fixture,
    serve,
    submit,
)
from test_reconcile import (
    census_in_record,
    field_ref,
    form_entries,
    mar_cells,
    printed,  # noqa: F401 (the module's pack)
    scan_in,
    server_state,
    ticked,
)
from test_review import administrations, given_at, items, reconcile
from test_review import as_user as cli_as

from downtime.app.held import HIGHLIGHT, item_image
from downtime.geometry import PAGE_MM, PX_PER_MM

DOCS_SCREENS = Path(__file__).resolve().parent.parent / "docs" / "screens"
SCREENS_ENV = "DOWNTIME_SCREENS"
KEYS = {"marked": "m", "empty": "e", "written": "w", "blank": "b"}


@dataclass(frozen=True)
class Held:
    home: Path
    mar: dict[str, Any]  # the first patient's MAR page
    cell: str  # ticked both ways (marks)
    marks: str  # item ids
    prn: str
    prn_again: str
    conflict: str
    patient: str  # an admission on a reserve number
    order: str  # a new order written by hand
    captures: list[int]  # of the page in conflict
    pristine: Path


@pytest.fixture(scope="module")
def held(printed: PrintedPack, tmp_path_factory: pytest.TempPathFactory) -> Held:  # noqa: F811
    base = tmp_path_factory.mktemp("station-queues")
    [mar] = form_entries(printed, "mar")
    [other] = form_entries(printed, "mar", patient=1)
    cell = mar_cells(mar)[0]
    first, second = mar_cells(other)[:2]
    home = copy_home(printed, base / "home")
    written = [f"{cell}.given", f"{cell}.notgiven", "prn1.dose1.time", "prn1.dose2.time"]
    [admission] = [p for p in printed.manifest["pages"] if p["form"] == "admission"][:1]
    [orders] = [p for p in form_entries(printed, "medication-orders") if p["page"] == 1][:1]
    pages = [
        ticked(printed, mar, written),
        ticked(printed, other, [f"{first}.given"]),
        ticked(printed, admission, ["patient.signature"]),
        ticked(printed, orders, ["new1.drug", "new1.dose", "new1.route.iv", "new1.freq.1x2"]),
    ]
    scan_in(home, base / "scans-1", pages)
    save_png(base / "scans-2" / "again.png", ticked(printed, other, [f"{second}.given"]))
    assert [r["status"] for r in scan(home, base / "scans-2")] == ["conflict"]
    assert administrations(reconcile(home)) == []
    for name, role in USERS.items():
        add_user(home, name, role, PASSWORD)
    found = {(i["queue"], i["item"]): i["item_id"] for i in items(home)}
    twice = "SELECT page_uid FROM captures GROUP BY page_uid HAVING COUNT(*) = 2"
    (page_uid,) = {r["page_uid"] for r in rows(home, twice)}
    captures = [r["capture_id"] for r in rows(
        home, "SELECT capture_id FROM captures WHERE page_uid = ? ORDER BY capture_id", (page_uid,)
    )]  # fmt: skip
    return Held(
        home, mar, cell, found[("marks", cell)], found[("transcription", "prn1.dose1")],
        found[("transcription", "prn1.dose2")], found[("page-conflict", "page 1")],
        found[("unknown-patient", "patient")], found[("transcription", "new1")], captures,
        shutil.copytree(home, base / "pristine"),
    )  # fmt: skip


@pytest.fixture(scope="module")
def served(held: Held) -> Iterator[Served]:
    with serve(held.home) as station:
        yield station


def audit(home: Path, action: str, actor: str, item_id: str) -> list[dict[str, Any]]:
    return rows(
        home,
        "SELECT * FROM audit_events WHERE action = ? AND actor = ? AND object_id = ? ORDER BY seq",
        (action, actor, item_id),
    )


# --------------------------------------------------------------------------------------------
# Marks


def test_a_cell_ticked_both_ways_is_set_with_the_keyboard_and_posted(
    page: Page, served: Served, held: Held
) -> None:
    log_in(page, served, "clara")
    assert int(page.locator(".queues a[href='/q/marks'] .count").inner_text()) >= 1
    page.click("a[href='/q/marks']")
    row = page.locator("table.list tr", has=page.locator(f"a[href='/q/marks/{held.marks}']"))
    assert held.mar["form_serial"] in row.inner_text() and "MED42" in row.inner_text()
    page.click(f"a[href='/q/marks/{held.marks}']")
    images_shown(page, "figure.crop img")
    assert page.locator("figure.whole").is_hidden()
    page.keyboard.press("p")
    images_shown(page, "figure.whole img")
    assert page.evaluate("document.activeElement.type") == "radio", "setting starts at once"
    wanted = {f"{held.cell}.given": "marked", f"{held.cell}.notgiven": "empty",
              f"{held.cell}.initials": "written"}  # fmt: skip
    fields = page.locator("fieldset.states").evaluate_all("s => s.map(f => f.dataset.field)")
    assert sorted(fields) == sorted(wanted)

    for field in fields:
        page.keyboard.press(KEYS[wanted[field]])
    submit(page)

    assert held.cell in page.locator(".notice").inner_text()
    page.goto(served.url + "q/marks")
    assert page.locator(f"a[href='/q/marks/{held.marks}']").count() == 0
    (decided,) = rows(held.home, "SELECT * FROM decisions WHERE item = ?", (held.cell,))
    assert decided["decided_by"] == "clara" and decided["action"] == "boxes"
    views = [v["detail"].split(" ")[0] for v in audit(held.home, "review.view-page", "clara",
                                                       held.marks)]  # fmt: skip
    assert {"crop", "page"} <= set(views)
    (event,) = audit(held.home, "review.decide", "clara", held.marks)
    assert event["patient_value"] == held.mar["patient"]["value"] and event["care_unit"] == "MED42"
    slot = field_ref(held.mar, f"{held.cell}.given")["slot"]
    given = [a for a in administrations(reconcile(held.home))
             if a["effectiveDateTime"][:16] == slot[:16]]  # fmt: skip
    assert [a["status"] for a in given] == ["completed"]


# --------------------------------------------------------------------------------------------
# Transcription: two people


def test_an_as_needed_dose_is_entered_by_one_and_confirmed_blind_by_another(
    page: Page, served: Served, held: Held
) -> None:
    when = given_at(held.home)
    item = f"q/transcription/{held.prn}"
    log_in(page, served, "kim")
    page.click("a[href='/q/transcription']")
    page.click(f"a[href='/{item}']")
    images_shown(page, "figure.crop img")
    assert page.evaluate("document.activeElement.name") == "given_at", "typing starts at once"
    page.keyboard.type(when)
    submit(page)
    assert "väntar på att en annan person bekräftar" in page.locator(".notice").inner_text()

    page.goto(served.url + item)  # the same person, as a confirmer: refused by the library
    assert page.input_value("input[name=given_at]") == ""
    page.keyboard.type(when)
    submit(page)
    assert "a second, different person must confirm it" in page.locator(".problem").inner_text()
    as_user(page, served, "clara")  # a clerk: waits for a confirmer
    page.goto(served.url + item)
    assert page.locator("input[name=given_at]").count() == 0
    assert when not in page.content()

    as_user(page, served, "ada")
    page.goto(served.url + item)
    assert page.locator(".blind").count() == 1
    assert when not in page.content(), "the first entry is not shown"
    assert page.input_value("input[name=given_at]") == ""
    page.keyboard.type(when)
    submit(page)

    assert "prn1.dose1" in page.locator(".notice").inner_text()
    assert held.prn not in page.url
    page.goto(served.url + "q/transcription")
    assert page.locator(f"a[href='/{item}']").count() == 0
    assert audit(held.home, "review.decide", "kim", held.prn)
    assert audit(held.home, "review.confirm", "ada", held.prn)
    for user in ("kim", "ada"):
        assert audit(held.home, "review.view-page", user, held.prn)
    dose = [a for a in administrations(reconcile(held.home))
            if a["effectiveDateTime"][:16] == when.replace(" ", "T")]  # fmt: skip
    assert len(dose) == 1


def test_a_confirmation_that_differs_shows_both_entries_for_a_new_one(
    page: Page, served: Served, held: Held
) -> None:
    when = given_at(held.home)
    other = when[:-2] + ("00" if when[-2:] != "00" else "30")
    item = served.url + f"q/transcription/{held.prn_again}"
    log_in(page, served, "cecilia")
    page.goto(item)
    page.keyboard.type(when)
    submit(page)
    as_user(page, served, "kim")
    page.goto(item)
    page.keyboard.type(other)
    submit(page)
    told = page.locator(".notice").inner_text()

    assert "skiljer sig från inskrivningen" in told, "never 'settled' when the two differ"
    page.goto(item)
    entries = page.locator("dl.entries").inner_text()
    assert "cecilia" in entries and when in entries
    assert "kim" in entries and other in entries
    assert page.locator(".problem").count() == 1
    assert page.input_value("input[name=given_at]") == ""
    (back,) = [i for i in items(held.home, "transcription") if i["item_id"] == held.prn_again]
    assert back["state"] == "mismatch"


# --------------------------------------------------------------------------------------------
# Page conflicts


def test_a_page_in_conflict_is_settled_by_keeping_one_capture(
    page: Page, served: Served, held: Held
) -> None:
    log_in(page, served, "dora")
    page.click("a[href='/q/page-conflict']")
    page.click(f"a[href='/q/page-conflict/{held.conflict}']")
    shown = page.locator(".sheet.side img").evaluate_all("i => i.map(x => x.getAttribute('src'))")
    assert shown == [f"/q/page-conflict/{held.conflict}/capture-{c}.jpg" for c in held.captures]
    images_shown(page, ".sheet.side img")

    with page.expect_navigation():
        page.keyboard.press("2")

    assert "page 1" in page.locator(".notice").inner_text()
    page.goto(served.url + "q/page-conflict")
    assert page.locator(f"a[href='/q/page-conflict/{held.conflict}']").count() == 0
    (kept,) = rows(held.home, "SELECT * FROM decisions WHERE decided_by = 'dora'")
    assert kept["action"] == "capture" and f'"capture_id": {held.captures[1]}' in kept["value"]
    views = [v["detail"] for v in audit(held.home, "review.view-page", "dora", held.conflict)]
    assert sorted(v.split(" of ")[0] for v in views) == [f"capture {c}" for c in held.captures]
    assert audit(held.home, "review.decide", "dora", held.conflict)


def test_a_capture_of_another_page_is_not_shown(page: Page, served: Served, held: Held) -> None:
    log_in(page, served, "rune")
    response = page.goto(served.url + f"q/page-conflict/{held.conflict}/capture-999.jpg")
    assert response is not None and response.status == 404
    response = page.goto(served.url + f"q/marks/{held.conflict}")
    assert response is not None and response.status == 404, "an item only in its own queue"


# --------------------------------------------------------------------------------------------
# Screenshots for the README


def test_screenshots_of_each_queue_s_item_page(
    playwright: Playwright, held: Held, tmp_path: Path
) -> None:
    """Its own station on a copy made before any test settled anything. Into docs/screens only
    when asked (``make screens``)."""
    home = shutil.copytree(held.pristine, tmp_path / "home")
    screens = DOCS_SCREENS if os.environ.get(SCREENS_ENV) else tmp_path / "screens"
    screens.mkdir(parents=True, exist_ok=True)
    names = []
    with serve(home) as station, chromium(playwright) as context:
        tab = context.new_page()
        log_in(tab, station, "kim")
        names.append("queues-held")
        tab.screenshot(path=screens / "queues-held.png")
        for name, path, ready in (
            ("marks-item", f"q/marks/{held.marks}", "figure.crop img"),
            ("transcription-item", f"q/transcription/{held.prn}", "figure.crop img"),
            ("page-conflict-item", f"q/page-conflict/{held.conflict}", ".sheet.side img"),
            ("unknown-patient-item", f"q/unknown-patient/{held.patient}", "figure.crop img"),
        ):
            tab.goto(station.url + path)
            images_shown(tab, ready)
            if name == "marks-item":
                tab.keyboard.press("m")
            if name == "transcription-item":
                tab.keyboard.type(given_at(home))
                submit(tab)
            else:
                tab.screenshot(path=screens / f"{name}.png")
                names.append(name)
        context.clear_cookies()
        log_in(tab, station, "ada")
        tab.goto(station.url + f"q/transcription/{held.prn}")
        images_shown(tab, "figure.crop img")
        tab.screenshot(path=screens / "transcription-confirm.png")
        names.append("transcription-confirm")
        stderr = station.stderr_text()
    for name in names:
        assert (screens / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert_no_identity(stderr, home, "the station's stderr")


def test_a_reserve_number_admission_is_linked_by_typing_the_real_identity(
    page: Page, served: Served, held: Held
) -> None:
    item = f"q/unknown-patient/{held.patient}"
    log_in(page, served, "clara")
    page.click("a[href='/q/unknown-patient']")
    page.click(f"a[href='/{item}']")
    page.wait_for_selector("input[name=identifier]:focus")  # the page is there, keyboard first
    page.keyboard.type("19101010-1011")  # a wrong check digit
    submit(page)
    refused = page.locator(".problem").inner_text()
    page.fill("input[name=identifier]", "19101010-1010")
    submit(page)

    assert "check digit" in refused
    page.goto(served.url + "q/unknown-patient")
    assert page.locator(f"a[href='/{item}']").count() == 0
    assert audit(held.home, "review.decide", "clara", held.patient)


def test_a_new_order_typed_by_two_people_reaches_the_record_server(
    page: Page, served: Served, held: Held, fhir_server: FhirServer
) -> None:
    """Typed by a confirmer, confirmed blind by an admin, reconciled to the Medplum FHIR
    server that holds the census patients: the MedicationRequest is there, once."""
    values = {"drug": "Furosemid", "dose": "40 mg", "route": "IV", "frequency": "1x2"}
    item = served.url + f"q/transcription/{held.order}"
    for user in ("kim", "ada"):
        as_user(page, served, user)
        page.goto(item)
        for name, value in values.items():
            page.fill(f"input[name={name}]", value)
        page.focus("input[name=frequency]")
        submit(page)
    fhir_server.reset()
    census_in_record(fhir_server)

    result = cli_as(held.home, "ida", "reconcile", "--fhir-url", fhir_server.base_url)

    assert result.exit_code == 0, result.output
    orders = server_state(fhir_server)["MedicationRequest"].values()
    typed = [o for o in orders if o["medicationCodeableConcept"]["text"] == "Furosemid 40 mg"]
    assert len(typed) == 1 and typed[0]["status"] == "active"
    assert typed[0]["dosageInstruction"][0]["text"] == "40 mg IV 1x2"


def test_a_page_in_conflict_outlines_only_the_fields_its_captures_read_differently(
    held: Held,
    printed: PrintedPack,  # noqa: F811
) -> None:
    [other] = form_entries(printed, "mar", patient=1)
    first, second = mar_cells(other)[:2]
    boxes = {f["id"]: f["box_mm"] for f in other["fields"]}

    jpeg = item_image(held.pristine, held.conflict, "capture", actor="test",
                      capture_id=held.captures[0])  # fmt: skip

    assert jpeg is not None
    picture = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), dtype=np.int16)
    scale = picture.shape[1] / (PAGE_MM[0] * PX_PER_MM)

    def outlined(field_id: str) -> bool:
        x, y, w, h = (round(v * PX_PER_MM * scale) for v in boxes[field_id])
        pad = round(1.0 * PX_PER_MM * scale)  # the outline is drawn 0.6 mm out
        ring = picture[y - pad : y + h + pad, x - pad : x + w + pad].reshape(-1, 3)
        near = np.abs(ring - np.asarray(HIGHLIGHT)).sum(axis=1) < 90
        # an outline round a 5 mm box is some 400 such pixels; a few near a tick's edge, or
        # where the JPEG bleeds a neighbour's outline, are not one
        return int(near.sum()) > 100

    assert outlined(f"{first}.given") and outlined(f"{second}.given")
    assert not outlined(f"{first}.notgiven") and not outlined(f"{second}.notgiven")

"""The review station in a real browser: `downtime review` serving a data folder with real
scanned pages set aside, Debian's Chromium driven by Playwright, the ledger read back.

Each test logs in as a user of its own and changes only its own quarantine item, so that the
tests hold in any order and split over workers. Every test ends by checking that the
station's stderr and every URL the browser asked for name no patient.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PrintedPack, print_example_pack
from playwright.sync_api import Page, Playwright
from scankit import assert_no_identity, rows
from stationkit import (  # noqa: F401 (browser, page, playwright: fixtures)
    PASSWORD,
    Served,
    SetAside,
    browser_fixture,
    chromium,
    csrf_of,
    log_in,
    page_fixture,
    playwright_fixture,
    raw_request,
    serve,
    set_aside_pages,
    submit,
)

from downtime.codes import serials

DOCS_SCREENS = Path(__file__).resolve().parent.parent / "docs" / "screens"
SCREENS_ENV = "DOWNTIME_SCREENS"  # set (`make screens`): the README's pictures are made anew


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> PrintedPack:
    base = tmp_path_factory.mktemp("station-printed")
    return print_example_pack(base / "home", base / "out")


@pytest.fixture(scope="module")
def pages(printed: PrintedPack, tmp_path_factory: pytest.TempPathFactory) -> SetAside:
    return set_aside_pages(printed, tmp_path_factory.mktemp("station"))


@pytest.fixture(scope="module")
def served(pages: SetAside) -> Iterator[Served]:
    with serve(pages.home) as station:
        yield station


def typed(serial: str) -> str:
    """As a clerk types it: lower case, no hyphens."""
    return serial.replace("-", "").lower()


def audit(home: Path, action: str, actor: str) -> list[dict[str, object]]:
    return rows(
        home,
        "SELECT * FROM audit_events WHERE action = ? AND actor = ? ORDER BY seq",
        (action, actor),
    )


# --------------------------------------------------------------------------------------------
# Logging in


def test_login_in_swedish_by_default_then_english_and_the_queue_index(
    page: Page, served: Served
) -> None:
    page.goto(served.url)
    assert page.url == served.url + "login"
    assert page.locator("h1").inner_text() == "Logga in på granskningen"
    assert page.evaluate("document.activeElement.name") == "name"
    cookie = next(c for c in page.context.cookies() if c["name"] == "downtime_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert cookie["expires"] == -1, "a session cookie: gone when the browser closes"
    with page.expect_navigation():
        page.click("button[value=en]")
    assert page.locator("h1").inner_text() == "Log in to the review station"

    log_in(page, served, "kim")

    assert page.url == served.url
    assert page.locator("h1").inner_text() == "Queues"
    quarantine = page.locator(".queues a[href='/q/quarantine']")
    assert int(quarantine.locator(".count").inner_text()) >= 1
    assert page.locator("a[href='/users']").count() == 0, "not an admin"
    assert audit(served.home, "station.login", "kim")


def test_a_wrong_password_is_refused(page: Page, served: Served) -> None:
    log_in(page, served, "cecilia", "not-the-password")

    assert page.url == served.url + "login"
    assert page.locator(".problem").inner_text() == "Fel namn eller lösenord."
    page.goto(served.url + "q/quarantine")
    assert page.url == served.url + "login"
    assert audit(served.home, "station.login-refused", "cecilia")
    assert PASSWORD not in served.stderr_text()


def test_repeated_failures_lock_the_name_even_for_the_right_password(
    page: Page, served: Served
) -> None:
    for _ in range(5):
        log_in(page, served, "dora", "guessing-again")
        assert page.locator(".problem").inner_text() == "Fel namn eller lösenord."

    log_in(page, served, "dora")

    assert page.url == served.url + "login"
    assert "För många misslyckade inloggningar" in page.locator(".problem").inner_text()
    assert not audit(served.home, "station.login", "dora")
    assert audit(served.home, "station.login-throttled", "dora")


def test_without_a_session_every_page_leads_to_the_login_page(page: Page, served: Served) -> None:
    for path in ("", "q/quarantine", "users", "q/quarantine/1", "q/quarantine/1/page.jpg"):
        response = page.goto(served.url + path)
        assert response is not None
        assert page.url == served.url + "login", path
        assert page.locator("input[name=password]").count() == 1


def test_a_clerk_is_refused_the_admin_page(page: Page, served: Served, pages: SetAside) -> None:
    log_in(page, served, "cecilia")
    assert page.locator("a[href='/users']").count() == 0

    response = page.goto(served.url + "users")

    assert response is not None and response.status == 403
    assert page.locator("h1").inner_text() == "Inte tillåtet"
    assert page.locator("table").count() == 0, "no list of users"
    assert audit(served.home, "station.refused", "cecilia")


def test_an_admin_sees_the_users_page(page: Page, served: Served) -> None:
    log_in(page, served, "ada")
    page.click("a[href='/users']")

    names = page.locator("table.list tbody td:first-child").all_inner_texts()

    assert {"ada", "clara", "kim"} <= set(names)


# --------------------------------------------------------------------------------------------
# Refusals outside the browser's manners


def test_a_foreign_host_header_is_refused(served: Served) -> None:
    foreign = raw_request(
        served.port,
        f"GET /login HTTP/1.1\r\nHost: rebound.example:{served.port}\r\nConnection: close\r\n\r\n",
    )
    own = raw_request(
        served.port,
        f"GET /login HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\nConnection: close\r\n\r\n",
    )

    assert foreign.startswith("HTTP/1.1 421 ")
    assert "Set-Cookie" not in foreign and "password" not in foreign
    assert own.startswith("HTTP/1.1 200 ")


def test_a_post_with_a_wrong_or_missing_csrf_token_is_refused(
    page: Page, served: Served, pages: SetAside
) -> None:
    log_in(page, served, "rune")
    page.goto(served.url + f"q/quarantine/{pages.spare}")
    token = csrf_of(page)
    item = served.url + f"q/quarantine/{pages.spare}"
    serial = pages.spare_entry["form_serial"]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")

    for form in (
        {"action": "assign", "serial": serial},
        {"action": "assign", "serial": serial, "csrf": forged},
    ):
        refused = page.request.post(item, form=form, max_redirects=0)
        assert refused.status == 403
    accepted = page.request.post(
        served.url + "lang", form={"lang": "en", "csrf": token, "back": "/"}, max_redirects=0
    )

    assert accepted.status == 303, "the same request with the session's token goes through"
    assert not rows(pages.home, "SELECT * FROM assignments WHERE item_id = ?", (pages.spare,))


# --------------------------------------------------------------------------------------------
# The Quarantine queue


def test_assign_a_set_aside_page_by_its_typed_serial(
    page: Page, served: Served, pages: SetAside
) -> None:
    log_in(page, served, "clara")
    page.click("a[href='/q/quarantine']")
    page.click(f"a[href='/q/quarantine/{pages.torn}']")
    assert page.evaluate("document.activeElement.name") == "serial", "typing starts at once"
    page.wait_for_function("() => document.querySelector('figure.sheet img').complete")
    assert page.evaluate("document.querySelector('figure.sheet img').naturalWidth") > 1000
    serial = pages.torn_entry["form_serial"]
    wrong = next(c for c in serials.ALPHABET.lower() if c != typed(serial)[5])
    mistyped = typed(serial)[:5] + wrong + typed(serial)[6:]

    page.keyboard.type(mistyped)
    submit(page)
    assert "check characters" in page.locator(".problem").inner_text()
    assert page.input_value("input[name=serial]") == mistyped
    page.fill("input[name=serial]", typed(serial))
    submit(page)

    assert serial in page.locator(".notice").inner_text()
    assert re.fullmatch(rf"{served.url}q/quarantine/\d+", page.url), "on to the next item"
    assert page.url != served.url + f"q/quarantine/{pages.torn}"
    assert page.evaluate("document.activeElement.tagName") == "INPUT"
    page.goto(served.url + "q/quarantine")
    assert page.locator(f"a[href='/q/quarantine/{pages.torn}']").count() == 0
    (assigned,) = rows(pages.home, "SELECT * FROM assignments WHERE item_id = ?", (pages.torn,))
    assert (assigned["serial"], assigned["assigned_by"]) == (serial, "clara")
    assert assigned["page_uid"] == pages.torn_entry["page_uid"]
    viewed = audit(pages.home, "review.view-page", "clara")
    assert [v["object_id"] for v in viewed[:2]] == [str(pages.torn), str(pages.torn)]
    assert all(v["patient_value"] is None for v in viewed), "no verified code: not known"
    (decided,) = audit(pages.home, "quarantine.assign", "clara")
    patient = pages.torn_entry["patient"]
    assert (decided["patient_system"], decided["patient_value"]) == (
        patient["system"],
        patient["value"],
    )
    assert decided["care_unit"] == "MED42" and decided["object_id"] == pages.torn_entry["page_uid"]


def test_reject_a_forged_page_with_a_reason(page: Page, served: Served, pages: SetAside) -> None:
    log_in(page, served, "kim")
    page.goto(served.url + f"q/quarantine/{pages.forged}")
    assert page.locator("input[name=serial]").count() == 0, "a forged page is never assigned"
    assert page.evaluate("document.activeElement.name") == "reason"

    page.keyboard.type("ej nedtidsblankett")
    submit(page)

    assert re.search(rf"Post {pages.forged} avvisad", page.locator(".notice").inner_text())
    viewed = audit(pages.home, "review.view-page", "kim")
    page.goto(served.url + "q/quarantine")
    assert page.locator(f"a[href='/q/quarantine/{pages.forged}']").count() == 0
    (rejected,) = rows(
        pages.home, "SELECT * FROM quarantine_rejections WHERE item_id = ?", (pages.forged,)
    )
    assert (rejected["reason"], rejected["rejected_by"]) == ("ej nedtidsblankett", "kim")
    (decided,) = audit(pages.home, "quarantine.reject", "kim")
    assert decided["object_id"] == str(pages.forged)
    assert viewed[0]["object_id"] == str(pages.forged)


# --------------------------------------------------------------------------------------------
# Screenshots for the README


def test_screenshots_of_the_login_page_the_queues_and_a_quarantined_page(
    playwright: Playwright, pages: SetAside, tmp_path: Path
) -> None:
    """Its own station on a copy made before any test changed anything: the same pictures
    whichever tests ran first. Into docs/screens only when asked (``make screens``), so that a
    test run leaves the checkout as it was."""
    home = shutil.copytree(pages.pristine, tmp_path / "home")
    screens = DOCS_SCREENS if os.environ.get(SCREENS_ENV) else tmp_path / "screens"
    screens.mkdir(parents=True, exist_ok=True)
    with serve(home) as station, chromium(playwright) as context:
        tab = context.new_page()
        tab.goto(station.url)
        tab.screenshot(path=screens / "login.png")
        log_in(tab, station, "clara")
        assert tab.locator(".queues a[href='/q/quarantine'] .count").inner_text() == "3"
        tab.screenshot(path=screens / "queues.png")
        tab.click("a[href='/q/quarantine']")
        tab.click(f"a[href='/q/quarantine/{pages.spare}']")
        tab.wait_for_function("() => document.querySelector('figure.sheet img').complete")
        tab.screenshot(path=screens / "quarantine-item.png")
        stderr = station.stderr_text()
    for name in ("login", "queues", "quarantine-item"):
        assert (screens / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert_no_identity(stderr, home, "the station's stderr")

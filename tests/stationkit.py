"""Helpers for the review station's tests: a data folder with pages set aside, users, the
station served by `downtime review` in a process of its own, and Debian's Chromium driven by
Playwright — with the browser fixtures every station test module shares. A module defines its
own ``served`` fixture (the station it tests) and imports these:

    from stationkit import browser_fixture, page_fixture, playwright_fixture  # noqa: F401

Every page set aside here is a real scan: a pack printed from the bundled example, pages
rendered, filled and degraded with :mod:`downtime.simulate`, and `downtime scan` run on them.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import PrintedPack
from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright
from scankit import DPI, assert_no_identity, patient_pages, render, require, save_png, scan

from downtime import simulate
from downtime.cli import main

STATION = [sys.executable, "-c", "from downtime.cli import main; main()"]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PASSWORD = "lugn-och-fin-2026"  # every user's, but each test logs in as its own user
USERS = {
    "clara": "clerk",
    "cecilia": "clerk",
    "kim": "confirmer",
    "ada": "admin",
    "dora": "clerk",  # the rate limit's victim
    "rune": "clerk",  # the CSRF tests'
}


@dataclass(frozen=True)
class SetAside:
    """A data folder with three pages set aside, and what they really are."""

    home: Path
    torn: int  # item of a filled journal page whose codes were destroyed
    torn_entry: dict[str, Any]  # its manifest entry (the serial to type)
    forged: int  # item of a page with a forged signature (never assignable)
    spare: int  # item of another torn page, left open by every test
    spare_entry: dict[str, Any]
    pristine: Path  # a copy of the data folder before any station served it


def set_aside_pages(printed: PrintedPack, base: Path) -> SetAside:
    home = base / "home"
    shutil.copytree(printed.home, home)
    journal = patient_pages(printed, "journal")
    torn_entry, spare_entry = journal[3], journal[1]
    pages = []
    for n, entry in enumerate((torn_entry, spare_entry)):
        filled, _ = simulate.fill_page(render(printed, entry), entry, DPI, random.Random(17 + n))
        pages.append(simulate.degrade(filled, DPI, "codes-destroyed", np.random.default_rng(7)))
    forged = simulate.degrade(render(printed, journal[0]), DPI, "forged", np.random.default_rng(7))
    paths = [
        save_png(base / "scans" / "a-torn.png", pages[0].image),
        save_png(base / "scans" / "b-forged.png", forged.image),
        save_png(base / "scans" / "c-spare.png", pages[1].image),
    ]
    records = scan(home, "--no-ocr", *paths)
    reasons = [r["reason"] for r in records]
    require(reasons == ["no-page-code", "bad-signature", "no-page-code"], f"set aside: {reasons}")
    items = [r["quarantine_item"] for r in records]
    for name, role in USERS.items():
        add_user(home, name, role, PASSWORD)
    pristine = shutil.copytree(home, base / "pristine")
    return SetAside(home, items[0], torn_entry, items[1], items[2], spare_entry, pristine)


def add_user(home: Path, name: str, role: str, password: str) -> None:
    """``downtime users add NAME --role ROLE --password-stdin``, as a script would."""
    result = CliRunner().invoke(
        main,
        ["--home", str(home), "users", "add", name, "--role", role, "--password-stdin"],
        input=f"{password}\n",
    )
    assert result.exit_code == 0, result.stderr


@dataclass
class Served:
    url: str  # http://127.0.0.1:PORT/
    port: int
    home: Path
    stderr: Path
    process: subprocess.Popen[str]

    def stderr_text(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")


@contextmanager
def serve(home: Path, *extra: str) -> Iterator[Served]:
    """`downtime review --port 0` in a process of its own; the URL it prints on stdout."""
    stderr = home.parent / f"station-{random.randrange(10**9)}.stderr"
    with stderr.open("w", encoding="utf-8") as err:
        process = subprocess.Popen(
            [*STATION, "--home", str(home), "review", "--port", "0", *extra],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), (url, stderr.read_text())
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        wait_for_port(port)
        yield Served(url, port, home, stderr, process)
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


def raw_request(port: int, request: str) -> str:
    """A hand-written HTTP/1.1 request (the browser would not send a foreign Host header)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request.encode("latin-1"))
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode("latin-1")


@contextmanager
def chromium(playwright: Playwright) -> Iterator[BrowserContext]:
    """Debian's Chromium, headless, with a fresh profile."""
    with tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1360, "height": 860},
            locale="sv-SE",
        )
        try:
            yield context
        finally:
            context.close()


def log_in(page: Page, served: Served, name: str, password: str = PASSWORD) -> None:
    page.goto(served.url + "login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    submit(page)


def submit(page: Page) -> None:
    """Enter in the focused field, and wait for the page the form leads to."""
    with page.expect_navigation():
        page.keyboard.press("Enter")


def csrf_of(page: Page) -> str:
    token = page.get_attribute("input[name=csrf] >> nth=0", "value")
    assert token
    return token


def as_user(page: Page, served: Served, name: str) -> None:
    """Log out whoever was in, and log in as ``name``."""
    page.context.clear_cookies()
    log_in(page, served, name)


def images_shown(page: Page, selector: str) -> None:
    """Wait until every image ``selector`` names has loaded (and is a picture)."""
    page.wait_for_function(
        "s => [...document.querySelectorAll(s)].every(i => i.complete && i.naturalWidth > 0)",
        arg=selector,
    )


# --------------------------------------------------------------------------------------------
# Fixtures (imported by each station test module)


@pytest.fixture(scope="module", name="playwright")
def playwright_fixture() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module", name="browser")
def browser_fixture(playwright: Playwright) -> Iterator[BrowserContext]:
    with chromium(playwright) as context:
        yield context


@pytest.fixture(name="page")
def page_fixture(browser: BrowserContext, served: Served) -> Iterator[Page]:
    """A fresh tab without cookies on the module's station (``served``); afterwards, no patient
    in any URL asked for or in the station's stderr."""
    browser.clear_cookies()
    tab = browser.new_page()
    urls: list[str] = []
    tab.on("request", lambda request: urls.append(request.url))
    yield tab
    tab.close()
    assert_no_identity("\n".join(urls), served.home, "the URLs the browser asked for")
    assert_no_identity(served.stderr_text(), served.home, "the station's stderr")

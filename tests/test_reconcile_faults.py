"""`downtime reconcile` against a server that misbehaves: fail closed, never claim what was not
confirmed, stop rather than hammer or hang, and finish cleanly on a rerun.

The server is tests/badfhir.py, a real process on loopback in front of the Medplum test server
of tests/fhirserver.py, switched between modes (``proxy`` is healthy). Every test reconciles a
data folder with two returned MAR pages (two patients, two administrations each) through the
CLI, checks what the ledger, the report and the server say, then switches the server to healthy
and checks that a rerun delivers each resource exactly once.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import PrintedPack, run_cli
from fhirserver import FhirServer, fhir_request, fhir_server_fixture  # noqa: F401 (fhir_server)
from scankit import copy_home, rows
from test_reconcile import (
    assert_each_once,
    census_in_record,
    form_entries,
    fresh,
    held,
    mar_cells,
    printed,  # noqa: F401 (the module's pack)
    reconcile_cli,
    require_ticked,
    scan_in,
    server_state,
    summary_of,
    ticked,
)

BAD_SERVER = Path(__file__).parent / "badfhir.py"
STOPPED, NOT_DELIVERED = 75, 7


class BadServer:
    """tests/badfhir.py in front of the test server; ``base_url`` is its FHIR base."""

    def __init__(self, upstream: FhirServer, process: subprocess.Popen[str], port: int) -> None:
        self.upstream = upstream
        self.process = process
        self.root_url = f"http://127.0.0.1:{port}"
        path = urllib.parse.urlsplit(upstream.base_url).path
        self.base_url = self.root_url + path

    def mode(self, mode: str, retry_after: str = "1") -> None:
        answer = fhir_request(
            "POST", f"{self.root_url}/__mode", {"mode": mode, "retry_after": retry_after}
        )
        assert answer.status == 200, answer.body

    def seen(self) -> dict[str, int]:
        answer = fhir_request("GET", f"{self.root_url}/__stats")
        assert answer.status == 200
        seen: dict[str, int] = answer.body
        return seen


@pytest.fixture(scope="module")
def bad_server(fhir_server: FhirServer) -> Iterator[BadServer]:
    parts = urllib.parse.urlsplit(fhir_server.base_url)
    process = subprocess.Popen(
        [sys.executable, str(BAD_SERVER), f"{parts.scheme}://{parts.netloc}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("listening "), line
    try:
        yield BadServer(fhir_server, process, int(line.split()[1]))
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def bad(bad_server: BadServer) -> BadServer:
    """The misbehaving server, healthy until told otherwise, before a record that holds the
    census's patients and encounters."""
    bad_server.upstream.reset()
    census_in_record(bad_server.upstream)
    bad_server.mode("proxy")
    return bad_server


@pytest.fixture(scope="module")
def returned(printed: PrintedPack, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """A data folder with two returned MAR pages: two patients, two cells each ticked."""
    base = tmp_path_factory.mktemp("faults")
    home = copy_home(printed, base / "home")
    images = []
    for patient in (0, 1):
        [entry] = form_entries(printed, "mar", patient)
        ids = [f"{c}.given" for c in mar_cells(entry)[:2]]
        images.append(ticked(printed, entry, ids))
    scan_in(home, base / "scans", images)
    for patient in (0, 1):
        [entry] = form_entries(printed, "mar", patient)
        require_ticked(home, entry, [f"{c}.given" for c in mar_cells(entry)[:2]])
    return home


@pytest.fixture
def home(returned: Path, bad: BadServer, tmp_path: Path) -> Path:
    """This test's copy of the data folder."""
    return fresh(returned, tmp_path)


def reconcile_at(home: Path, server: BadServer, *args: str, code: int = 0) -> Any:
    return reconcile_cli(home, "--fhir-url", server.base_url, *args, code=code)


def report(home: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(run_cli("report", "--format", "json", home=home).stdout)
    return doc


def outcomes(home: Path) -> list[str]:
    """The latest attempt's outcome of every posting."""
    found = rows(
        home,
        "SELECT (SELECT outcome FROM posting_attempts a WHERE a.bundle_key = p.bundle_key"
        " ORDER BY attempt DESC LIMIT 1) AS outcome FROM postings p",
    )
    return sorted(str(r["outcome"]) for r in found)


def administrations(bad: BadServer) -> int:
    return len(server_state(bad.upstream)["MedicationAdministration"])


def assert_rerun_completes(home: Path, bad: BadServer) -> None:
    """A healthy server: the rerun delivers everything, each resource exactly once, and the
    report has nothing failed."""
    bad.mode("proxy")
    summary = summary_of(reconcile_at(home, bad))
    assert (summary["failed"], summary["unchecked"]) == (0, 0)
    state = server_state(bad.upstream)
    assert_each_once(state)
    assert len(state["MedicationAdministration"]) == 4
    assert set(outcomes(home)) == {"posted"}
    assert report(home)["totals"]["failed"] == 0


# --------------------------------------------------------------------------------------------
# Checks that fail, answers that confirm nothing, garbage


def test_record_checks_that_fail_hold_every_form_and_the_run_exits_non_zero(
    home: Path, bad: BadServer
) -> None:
    bad.mode("search-500")

    result = reconcile_at(home, bad, code=NOT_DELIVERED)

    summary = summary_of(result)
    assert (summary["bundles"], summary["unchecked"], summary["record conflicts"]) == (0, 2, 0)
    assert "2 form(s) were held because the record could not be checked" in result.stderr
    assert bad.seen().get("POST", 0) == 0 and administrations(bad) == 0
    unchecked = held(home, "record-check-failed")
    assert len(unchecked) == 2 and all("HTTP 500" in h["detail"] for h in unchecked)
    doc = report(home)
    assert doc["totals"]["failed"] == 2 and doc["complete"] is False

    assert_rerun_completes(home, bad)


def test_an_answer_that_confirms_nothing_marks_nothing_posted(home: Path, bad: BadServer) -> None:
    bad.mode("fake-ok")

    result = reconcile_at(home, bad, code=NOT_DELIVERED)

    summary = summary_of(result)
    assert (summary["bundles"], summary["resources"], summary["failed"]) == (0, 0, 2)
    assert outcomes(home) == ["failed", "failed"]
    details = [r["detail"] for r in rows(home, "SELECT detail FROM posting_attempts")]
    assert all("not confirmed: 0 answers to" in d for d in details), details
    assert rows(home, "SELECT count(*) AS n FROM posted_resources")[0]["n"] == 0
    assert report(home)["totals"]["posted"] == 0

    assert_rerun_completes(home, bad)


def test_a_committed_transaction_with_a_short_answer_is_confirmed_by_identifier(
    home: Path, bad: BadServer
) -> None:
    bad.mode("short-response")

    summary = summary_of(reconcile_at(home, bad))

    assert (summary["bundles"], summary["failed"]) == (2, 0)
    found = rows(home, "SELECT outcome, detail FROM posting_attempts ORDER BY attempt")
    assert [r["outcome"] for r in found].count("failed") == 2
    assert {r["detail"] for r in found if r["outcome"] == "posted"} == {
        "found by identifier after an unconfirmed answer"
    }
    located = rows(home, "SELECT location FROM posted_resources")
    assert located and all(r["location"] for r in located)
    assert_each_once(server_state(bad.upstream))


def test_garbage_answers_are_failed_checks_not_a_crash(home: Path, bad: BadServer) -> None:
    bad.mode("garbage")

    result = reconcile_at(home, bad, code=NOT_DELIVERED)

    assert "Traceback" not in result.stderr + result.stdout
    assert summary_of(result)["unchecked"] == 2
    unchecked = held(home, "record-check-failed")
    assert all("not FHIR JSON" in h["detail"] for h in unchecked)

    assert_rerun_completes(home, bad)


def test_garbage_after_a_committed_transaction_is_a_lost_answer_found_by_identifier(
    home: Path, bad: BadServer
) -> None:
    bad.mode("garbage-post")

    summary = summary_of(reconcile_at(home, bad))

    assert (summary["bundles"], summary["failed"]) == (2, 0)
    found = rows(home, "SELECT attempt, outcome, detail FROM posting_attempts ORDER BY attempt")
    retried = [r for r in found if r["outcome"] == "retry"]
    assert len(retried) == 2 and all("not FHIR JSON" in r["detail"] for r in retried)
    assert {r["detail"] for r in found if r["outcome"] == "posted"} == {"found by identifier"}
    assert bad.seen()["POST"] == 2  # looked for, never sent again
    assert_each_once(server_state(bad.upstream))


# --------------------------------------------------------------------------------------------
# A hung server, throttling


def test_a_server_that_never_answers_stops_the_run_within_its_timeouts(
    home: Path, bad: BadServer
) -> None:
    bad.mode("hang")
    started = time.monotonic()

    result = reconcile_at(home, bad, "--timeout", "1", code=STOPPED)

    took = time.monotonic() - started
    assert took < 30, took  # three timeouts of 1 s and two short pauses, not hours
    assert "did not answer 3 requests in a row" in result.stderr
    assert "then run again" in result.stderr
    assert "forms looked at" in result.stderr  # progress, even when it stops
    assert administrations(bad) == 0

    assert_rerun_completes(home, bad)


def _http_date(seconds: int) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


@pytest.mark.parametrize(
    ("mode", "retry_after", "says"),
    [
        ("throttle", "3600", r"HTTP 429: the server asks to wait 3600 s; rerun later"),
        ("unavailable", "3600", r"HTTP 503: the server asks to wait 3600 s; rerun later"),
        ("throttle", "in two hours", r"HTTP 429: the server asks to wait 7(19\d|200) s; rerun"),
    ],
)
def test_a_server_that_asks_to_wait_long_is_not_hammered(
    home: Path, bad: BadServer, mode: str, retry_after: str, says: str
) -> None:
    if retry_after == "in two hours":
        retry_after = _http_date(7200)
    bad.mode(mode, retry_after)

    result = reconcile_at(home, bad, code=STOPPED)

    assert re.search(says, result.stderr), result.stderr
    assert sum(bad.seen().values()) == 1
    assert summary_of(result)["retries"] == 0

    assert_rerun_completes(home, bad)


def test_a_server_that_keeps_throttling_stops_the_run_and_retries_are_counted(
    home: Path, bad: BadServer
) -> None:
    bad.mode("throttle", "1")

    result = reconcile_at(home, bad, code=STOPPED)

    assert "HTTP 429 5 times in a row" in result.stderr
    assert bad.seen() == {"GET": 5}
    assert summary_of(result)["retries"] == 4

    assert_rerun_completes(home, bad)


# --------------------------------------------------------------------------------------------
# Two at once


def test_a_second_reconcile_on_the_same_data_folder_is_refused_while_one_runs(
    home: Path, bad: BadServer
) -> None:
    bad.mode("hang")
    first = subprocess.Popen(
        [sys.executable, "-c", "from downtime.cli import main; main()", "--home", str(home),
         "reconcile", "--fhir-url", bad.base_url, "--timeout", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        lock = home / "reconcile.lock"
        deadline = time.monotonic() + 30
        while not (lock.exists() and lock.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert f"pid {first.pid}" in lock.read_text()

        second = reconcile_at(home, bad, code=STOPPED)

        assert f"another reconcile is running on this data folder (pid {first.pid}" in (
            second.stderr
        )
        assert rows(home, "SELECT count(*) AS n FROM postings")[0]["n"] == 0
        bad.mode("proxy")  # the first run's waiting search fails, is retried, and it goes on
        _, err = first.communicate(timeout=120)
    finally:
        first.kill()
        first.wait()
    assert first.returncode == 0, err
    state = server_state(bad.upstream)
    assert_each_once(state)
    assert len(state["MedicationAdministration"]) == 4
    assert outcomes(home) == ["posted", "posted"]
    assert lock.read_text() == ""  # released, and says nobody holds it

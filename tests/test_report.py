"""`downtime outage`, `downtime void` and `downtime report`, end to end through the CLI.

Both example wards are printed once for this module into one data folder; pages of ward MED42
are filled, scanned back (a journal page, a referral, a prescription record scanned twice as
two differently filled photocopies — a conflict — and a forged page, set aside) into a second
data folder, and each test works on its own copy of one of them. Reconciliation is not part of
these tests: postings, attempts and held items are written into the ledger directly, the way
`downtime reconcile` records them, and the report must count them.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from backends import Backend, ledger_rows, ledger_target, open_ledger, tamper
from click.testing import Result
from conftest import EXAMPLE, PrintedPack, print_example_pack, run_cli
from scankit import (
    DPI,
    assert_no_identity,
    copy_home,
    count,
    page_entry,
    patient_pages,
    render,
    require,
    rows,
    save_png,
    scan,
)

from downtime import simulate
from downtime.app import PackRequest, run_pack
from downtime.codes import serials
from downtime.ledger import verify_audit_chain
from downtime.ledger.returns import form_key
from downtime.model import Identifier
from downtime.report.formats import CSV_HEADER, PENDING_CSV_HEADER

pytestmark = pytest.mark.backends
MEDICATION = ("medication-orders", "mar", "prescription")


@dataclass(frozen=True)
class Printed:
    home: Path
    med: PrintedPack
    kir: PrintedPack


@dataclass(frozen=True)
class Scanned:
    home: Path
    journal: dict[str, Any]  # page 1 of patient 3's journal, returned
    referral: dict[str, Any]  # patient 2's referral, returned
    prescription: dict[str, Any]  # patient 1's prescription record, in conflict
    forged_file: str


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Printed:
    base = tmp_path_factory.mktemp("report-printed")
    med = print_example_pack(backend.new_home(base / "home"), base / "out", ward="MED42")
    kir = print_example_pack(base / "home", base / "out", ward="KIR7")
    return Printed(base / "home", med, kir)


@pytest.fixture(scope="module")
def scanned(printed: Printed, tmp_path_factory: pytest.TempPathFactory) -> Scanned:
    base = tmp_path_factory.mktemp("report-scanned")
    home = copy_home(printed.med, base / "home")
    pack = printed.med
    journal = patient_pages(pack, "journal")[4]
    referral = patient_pages(pack, "referral")[1]
    prescription = patient_pages(pack, "prescription")[0]
    require((journal["page"], journal["page_count"]) == (1, 2), "a two-page journal's page 1")
    filled = [
        simulate.fill_page(render(pack, e), e, DPI, random.Random(n))[0]
        for n, e in enumerate((journal, referral))
    ]
    (a, truth_a), (b, truth_b) = simulate.photocopy_filled_differently(
        render(pack, prescription), prescription, DPI, 5
    )
    require(truth_a != truth_b, "the two copies were filled differently")
    copied = simulate.degrade(b, DPI, "photocopy", np.random.default_rng(2)).image
    forged = simulate.degrade(render(pack, referral), DPI, "forged", np.random.default_rng(1))
    scans = base / "scans"
    files = [
        save_png(scans / "1-journal.png", filled[0]),
        save_png(scans / "2-referral.png", filled[1]),
        save_png(scans / "3-original.png", a),
        save_png(scans / "4-copy.png", copied),
        save_png(scans / "5-forged.png", forged.image),
    ]
    records = scan(home, *files)
    require(
        [r["status"] for r in records]
        == ["identified", "identified", "identified", "conflict", "quarantined"],
        f"scan outcomes {[r['status'] for r in records]}",
    )
    return Scanned(home, journal, referral, prescription, str(files[-1]))


@pytest.fixture
def station(scanned: Scanned, tmp_path: Path) -> Path:
    """This test's copy of the scanned data folder."""
    return copy_home(PrintedPack(scanned.home, Path(), {}, ""), tmp_path / "home")


@pytest.fixture
def fresh(printed: Printed, tmp_path: Path) -> Path:
    """This test's copy of the printed data folder: nothing returned yet."""
    return copy_home(printed.med, tmp_path / "home")


def downtime(*args: str | Path, home: Path, ok: bool = True) -> Result:
    """``downtime --home HOME ARGS…`` in-process; stderr must never name a patient."""
    result = run_cli(*args, home=home, ok=ok)
    assert_no_identity(result.stderr, home, f"stderr of `downtime {' '.join(map(str, args))}`")
    return result


def report_json(home: Path, *args: str) -> dict[str, Any]:
    return dict(json.loads(downtime("report", "--format", "json", *args, home=home).stdout))


def report_text(home: Path, *args: str | Path) -> str:
    """The report in English (``--lang en``; default: table), as these tests read it."""
    return downtime("report", "--lang", "en", *args, home=home).stdout


def forms_of(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(ward, patient section, form) for every form line of a JSON report."""
    for w in doc["wards"]:
        for p in w["patients"]:
            for f in p["forms"]:
                yield w["ward"], p, f


def counts_of(doc: dict[str, Any], serial: str) -> dict[str, int]:
    """The counts of the form one of whose pages has ``serial``."""
    (found,) = [f["counts"] for _, _, f in forms_of(doc) if serial in f["serials"]]
    return dict(found)


def missing_serials(doc: dict[str, Any]) -> list[str]:
    return [m["serial"] for m in doc["missing"]]


def key_of(pack: PrintedPack, entry: dict[str, Any]) -> str:
    patient = Identifier(**entry["patient"]) if entry["patient"] else None
    return form_key(pack.manifest["pack_id"], entry["form"], patient)


def execute(home: Path, sql: str, params: tuple[Any, ...] = ()) -> None:
    with open_ledger(home) as ledger, ledger.transaction() as conn:
        conn.execute(sql, params)


def post(home: Path, key: str, bundle: str, outcomes: list[str]) -> None:
    """A bundle of form ``key`` and its attempts, as `downtime reconcile` records them."""
    now = datetime.now(UTC).isoformat()
    row = (bundle, key, "0" * 64, "outbox", 3, now)
    execute(home, "INSERT INTO postings VALUES (?, ?, ?, ?, ?, ?)", row)
    for n, outcome in enumerate(outcomes, start=1):
        execute(
            home,
            "INSERT INTO posting_attempts VALUES (?, ?, ?, ?, ?, ?)",
            (bundle, n, now, outcome, None, ""),
        )


def hold(home: Path, key: str, item: str, kind: str, minutes: int) -> None:
    found = datetime(2026, 11, 26, 8, 0, tzinfo=UTC) + timedelta(minutes=minutes)
    row = (key, item, kind, "look at the page", found.isoformat())
    execute(home, "INSERT INTO held_items VALUES (?, ?, ?, ?, ?)", row)


def hold_at(
    home: Path, key: str, item: str, kind: str, at: datetime, why: str = "look at the page"
) -> None:
    row = (key, item, kind, why, at.isoformat())
    execute(home, "INSERT INTO held_items VALUES (?, ?, ?, ?, ?)", row)


def mistyped(serial: str) -> str:
    """``serial`` with its first character replaced by another of the alphabet."""
    other = next(c for c in serials.ALPHABET if c != serial[0])
    return other + serial[1:]


# --------------------------------------------------------------------------------------------
# Missing pages


def test_referral_not_returned_is_missing_and_first_in_the_list(
    station: Path, scanned: Scanned, printed: Printed
) -> None:
    doc = report_json(station)

    referrals = {
        e["form_serial"]
        for pack in (printed.med, printed.kir)
        for e in patient_pages(pack, "referral")
    }
    missing = doc["missing"]
    assert missing[0]["form"] == "referral"
    assert {m["serial"] for m in missing if m["form"] == "referral"} == referrals - {
        scanned.referral["form_serial"]
    }
    categories = [m["category"] for m in missing]
    assert categories == sorted(categories, key=("referral", "medication", "other").index)
    assert {m["form"] for m in missing if m["category"] == "medication"} == set(MEDICATION)
    first = missing[0]
    value = first["patient"]["value"]
    assert first["patient"]["display"] == f"{value[:8]}-{value[8:]}", "YYYYMMDD-NNNN"
    assert first["patient"]["family_name"] and first["ward"] and first["bed"]
    assert doc["complete"] is False


def test_returned_page_is_not_missing(station: Path, scanned: Scanned) -> None:
    doc = report_json(station)

    journal = scanned.journal["form_serial"]
    assert journal not in missing_serials(doc)
    assert scanned.referral["form_serial"] not in missing_serials(doc)
    counts = counts_of(doc, journal)
    assert (counts["issued"], counts["returned"], counts["missing"]) == (2, 1, 1)
    assert counts_of(doc, scanned.referral["form_serial"])["missing"] == 0


def test_missing_table_comes_first_in_the_text_report_and_names_the_serial(
    station: Path, scanned: Scanned
) -> None:
    text = report_text(station)

    assert text.index("MISSING PAGES") < text.index("WARD KIR7") < text.index("WARD MED42")
    missing = text[text.index("MISSING PAGES") : text.index("WARD KIR7")]
    assert " referral " in missing.splitlines()[2], "the first missing page is a referral"
    assert scanned.referral["form_serial"] not in missing
    assert "NOT ACCOUNTED FOR" in text
    assert "blank spare — void it if it was not used" in missing


# --------------------------------------------------------------------------------------------
# Voiding


def test_voiding_a_blank_admission_form_removes_it_from_missing_with_an_audit_event(
    station: Path, printed: Printed
) -> None:
    admission = page_entry(printed.med, "admission")
    serial = admission["form_serial"]
    before = report_json(station)
    (entry,) = [m for m in before["missing"] if m["serial"] == serial]
    assert entry["note"] == "blank spare — void it if it was not used"
    assert entry["patient"]["kind"] == "admission"

    result = downtime(
        "void", "--lang", "en", serial.lower(), "--reason", "unused, thrown away", home=station
    )

    assert result.stdout.startswith(f"voided\t{serial}\tMED42\tadmission page 1 of 1")
    after = report_json(station)
    assert serial not in missing_serials(after)
    assert counts_of(after, serial)["voided"] == 1
    assert after["totals"]["missing"] == before["totals"]["missing"] - 1
    (void,) = rows(station, "SELECT * FROM voids")
    assert (void["page_uid"], void["reason"]) == (admission["page_uid"], "unused, thrown away")
    (event,) = rows(station, "SELECT * FROM audit_events WHERE action = 'page.void'")
    assert (event["care_unit"], event["object_id"]) == ("MED42", admission["page_uid"])
    assert (event["patient_system"], event["patient_value"]) == (
        admission["patient"]["system"],
        admission["patient"]["value"],
    )
    with open_ledger(station) as ledger:
        assert verify_audit_chain(ledger) is None


def test_voiding_a_page_again_changes_nothing(station: Path, printed: Printed) -> None:
    serial = page_entry(printed.kir, "admission")["form_serial"]
    downtime("void", serial, "--reason", "unused", home=station)
    audit = count(station, "audit_events")

    result = downtime("void", "--lang", "en", serial, "--reason", "unused again", home=station)

    assert result.stdout.startswith(f"already voided\t{serial}")
    assert [r["reason"] for r in rows(station, "SELECT reason FROM voids")] == ["unused"]
    assert count(station, "audit_events") == audit


def test_void_refuses_a_mistyped_serial_and_writes_nothing(station: Path, printed: Printed) -> None:
    good = page_entry(printed.med, "admission")["form_serial"]
    typo = mistyped(patient_pages(printed.med, "referral")[3]["form_serial"])
    audit = count(station, "audit_events")

    result = downtime("void", good, typo, "--reason", "unused", home=station, ok=False)

    assert result.exit_code == 3, result.output
    assert "serial 2 of 2" in result.stderr and "check characters" in result.stderr
    assert count(station, "voids") == 0
    assert count(station, "audit_events") == audit


def test_void_refuses_a_returned_page_and_a_serial_no_page_has(
    station: Path, scanned: Scanned, printed: Printed
) -> None:
    returned = scanned.journal["form_serial"]
    unknown = serials.serial_for_page("ab" * 16)
    blank = page_entry(printed.med, "admission")["form_serial"]

    for args in ((returned, blank), (unknown, blank)):
        result = downtime("void", *args, "--reason", "lost", home=station, ok=False)
        assert result.exit_code == 3, result.output
        assert args[0] in result.stderr
        assert count(station, "voids") == 0
    refused = downtime("void", returned, "--reason", "x", home=station, ok=False)
    assert "was returned" in refused.stderr


def test_voiding_every_page_not_returned_makes_the_report_complete(
    fresh: Path, printed: Printed
) -> None:
    every = [
        e["form_serial"] for pack in (printed.med, printed.kir) for e in pack.manifest["pages"]
    ]
    downtime("void", *every, "--reason", "drill: nothing was used", home=fresh)

    result = downtime("report", "--format", "json", home=fresh)

    doc = json.loads(result.stdout)
    assert result.exit_code == 0
    assert (doc["complete"], doc["outstanding"], doc["missing"]) == (True, [], [])
    assert doc["totals"]["voided"] == len(every)
    assert "State: everything accounted for" in report_text(fresh)
    html = report_text(fresh, "--format", "html")
    assert "State: everything accounted for" in html and "PENDING ITEMS: none" in (
        report_text(fresh)
    )


def test_an_item_held_for_a_person_keeps_the_report_from_being_accounted_for(
    fresh: Path, printed: Printed
) -> None:
    """Whatever kind it is held as: an open held item is pending until it is cleared."""
    every = [
        e["form_serial"] for pack in (printed.med, printed.kir) for e in pack.manifest["pages"]
    ]
    downtime("void", *every, "--reason", "drill: nothing was used", home=fresh)
    mar = patient_pages(printed.med, "mar")[0]
    hold(fresh, key_of(printed.med, mar), "med1.t08", "needs-a-second-reader", 0)

    doc = report_json(fresh)
    text = report_text(fresh)
    html = report_text(fresh, "--format", "html")

    assert doc["complete"] is False and [h["item"] for h in doc["pending"]] == ["med1.t08"]
    assert "1 item(s) pending review" in doc["outstanding"]
    for shown in (text, html):
        assert "everything accounted for" not in shown.lower()
    assert "State: NOT ACCOUNTED FOR: 1 item(s) pending review" in text
    assert "State: not accounted for</strong> — 1 item(s) pending review" in html

    hold(fresh, key_of(printed.med, mar), "med1.t08", "cleared", 5)
    assert report_json(fresh)["complete"] is True


# --------------------------------------------------------------------------------------------
# Conflicts, quarantine, postings and held items


def test_conflict_between_captures_is_shown(station: Path, scanned: Scanned) -> None:
    serial = scanned.prescription["form_serial"]

    doc = report_json(station)

    counts = counts_of(doc, serial)
    assert (counts["returned"], counts["conflicts"], counts["missing"]) == (1, 1, 0)
    assert "1 conflict(s)" in doc["outstanding"]


def test_held_conflicts_count_once_per_item_and_by_their_latest_kind(
    station: Path, scanned: Scanned, printed: Printed
) -> None:
    key = key_of(printed.med, scanned.prescription)
    hold(station, key, "page 1", "conflict", 0)  # the same page conflict, held by reconcile
    hold(station, key, "new1", "pending-review", 0)
    hold(station, key, "new1", "record-conflict", 5)  # later: now a conflict with the record
    hold(station, key, "new2", "pending-review", 0)

    counts = counts_of(report_json(station), scanned.prescription["form_serial"])

    assert (counts["conflicts"], counts["pending_review"]) == (2, 1)


def test_a_form_the_record_does_not_know_is_a_conflict_until_a_later_run_clears_it(
    station: Path, scanned: Scanned, printed: Printed
) -> None:
    key = key_of(printed.med, scanned.journal)
    serial = scanned.journal["form_serial"]
    hold(station, key, "patient", "unknown-in-record", 0)

    doc = report_json(station)
    counts = counts_of(doc, serial)
    assert (counts["conflicts"], counts["pending_review"], counts["failed"]) == (1, 0, 0)
    assert doc["complete"] is False

    hold(station, key, "patient", "cleared", 5)  # a later run found the patient, and posted
    assert counts_of(report_json(station), serial)["conflicts"] == 0


def test_postings_and_held_items_are_counted_by_their_latest_outcome(
    station: Path, scanned: Scanned, printed: Printed
) -> None:
    referral, journal = (key_of(printed.med, e) for e in (scanned.referral, scanned.journal))
    post(station, referral, "b-referral", ["retry", "posted"])
    post(station, journal, "b-journal-1", ["written"])
    post(station, journal, "b-journal-2", ["retry", "failed"])
    hold(station, journal, "entry1.text", "pending-review", 0)
    hold(station, journal, "entry2.text", "pending-review", 0)

    doc = report_json(station)

    r = counts_of(doc, scanned.referral["form_serial"])
    j = counts_of(doc, scanned.journal["form_serial"])
    assert (r["posted"], r["written"], r["failed"], r["pending_review"]) == (1, 0, 0, 0)
    assert (j["posted"], j["written"], j["failed"], j["pending_review"]) == (0, 1, 1, 2)
    assert (doc["totals"]["posted"], doc["totals"]["failed"]) == (1, 1)
    (med,) = [w for w in doc["wards"] if w["ward"] == "MED42"]
    assert med["chart"]["posted"] == 1 and med["chart"]["outbox"] == 1
    assert "2 item(s) pending review" in doc["outstanding"]
    assert (
        "1 failed to post (bundles, or forms held: the record could not be checked)"
        in (doc["outstanding"])
    )
    (journal_line,) = [f for _, _, f in forms_of(doc) if f["form_key"] == journal]
    assert journal_line["bundle_outcomes"] == {"failed": 1, "written": 1}


def test_a_bundle_never_confirmed_counts_as_failed_not_as_accounted_for(
    station: Path, scanned: Scanned, printed: Printed
) -> None:
    """A bundle whose last attempt waits for a retry (the run stopped), or that was never sent
    (a run killed between its posting row and its first attempt), did not reach the record."""
    referral = key_of(printed.med, scanned.referral)
    post(station, referral, "b-referral-1", ["retry"])
    post(station, referral, "b-referral-2", [])
    doc = report_json(station)
    counts = counts_of(doc, scanned.referral["form_serial"])
    assert (counts["posted"], counts["written"], counts["failed"]) == (0, 0, 2)
    assert doc["complete"] is False
    (line,) = [f for _, _, f in forms_of(doc) if f["form_key"] == referral]
    assert line["bundle_outcomes"] == {"not-attempted": 1, "retry": 1}


def test_a_form_held_because_the_record_could_not_be_checked_counts_as_failed_until_cleared(
    station: Path, scanned: Scanned, printed: Printed
) -> None:
    referral = key_of(printed.med, scanned.referral)
    hold(station, referral, "form", "record-check-failed", 0)

    held = counts_of(report_json(station), scanned.referral["form_serial"])

    hold(station, referral, "form", "cleared", 5)  # a later run checked and posted it
    post(station, referral, "b-referral", ["posted"])
    settled = counts_of(report_json(station), scanned.referral["form_serial"])

    assert (held["failed"], held["pending_review"], held["conflicts"]) == (1, 0, 0)
    assert (settled["failed"], settled["posted"]) == (0, 1)


# --------------------------------------------------------------------------------------------
# Pending items, one by one


@pytest.fixture
def pending(station: Path, scanned: Scanned, printed: Printed) -> datetime:
    """Items held in the station's ledger as reconciliation and later runs record them; returns
    when the holds were written (ages count from it)."""
    now = datetime.now(UTC)
    journal, referral, rx = (
        key_of(printed.med, e) for e in (scanned.journal, scanned.referral, scanned.prescription)
    )
    ago = lambda minutes: now - timedelta(minutes=minutes)  # noqa: E731
    hold_at(station, journal, "page 1/entry1.text", "pending-review", ago(185), "transcribe it")
    hold_at(station, journal, "patient", "unknown-in-record", ago(30), "not in the record")
    hold_at(station, referral, "referral.to", "pending-review", ago(3000), "transcribe it")
    hold_at(station, referral, "referral.to", "cleared", ago(2000), "settled")
    hold_at(station, referral, "referral.to", "pending-review", ago(120), "transcribe it again")
    hold_at(station, referral, "referral.priority", "pending-review", ago(60), "two boxes")
    hold_at(station, referral, "referral.priority", "cleared", ago(50), "settled")
    hold_at(station, rx, "rx1", "pending-review", ago(10), "transcribe the prescription")
    hold_at(station, rx, "rx1", "record-conflict", ago(5), "the record holds a newer order")
    return now


def test_every_pending_item_is_listed_with_its_page_patient_why_and_age(
    station: Path, scanned: Scanned, pending: datetime
) -> None:
    doc = report_json(station)

    listed = {h["item"]: h for h in doc["pending"]}
    assert set(listed) == {"rx1", "referral.to", "page 1/entry1.text", "patient"}, (
        "cleared items are not pending"
    )
    assert [h["item"] for h in doc["pending"]] == [
        "rx1", "referral.to", "patient", "page 1/entry1.text",
    ], "as the ward tables: by bed, then form; an item about the whole form first"  # fmt: skip
    rx, entry, patient = listed["rx1"], listed["page 1/entry1.text"], listed["patient"]
    assert (rx["kind"], rx["why"]) == ("record-conflict", "the record holds a newer order")
    assert rx["serials"] == [scanned.prescription["form_serial"]] and rx["page"] == 1
    assert (entry["page"], entry["page_count"]) == (1, 2)
    assert entry["serials"] == [scanned.journal["form_serial"]]
    assert (patient["page"], patient["kind"]) == (None, "unknown-in-record"), "the whole form"
    assert patient["serials"] == [scanned.journal["form_serial"]], "the pages returned"
    assert (rx["ward"], rx["bed"], rx["form"]) == ("MED42", "1", "prescription")
    assert listed["referral.to"]["why"] == "transcribe it again", "the latest row's words"
    assert rx["patient"]["value"] == scanned.prescription["patient"]["value"]
    since = {item: datetime.fromisoformat(h["held_since"]) for item, h in listed.items()}
    assert since["referral.to"] == pending - timedelta(minutes=120), "held again after clearing"
    assert since["rx1"] == pending - timedelta(minutes=10), "held since first, whatever kind"
    assert 185 * 60 <= entry["age_seconds"] < 186 * 60
    kinds = "(pending-review 2, record-conflict 1, unknown-in-record 1)"
    assert f"4 item(s) held for a person {kinds}" in report_text(station)


def test_the_pending_list_is_in_the_text_html_and_csv_reports(
    station: Path, scanned: Scanned, pending: datetime
) -> None:
    text = report_text(station)
    html = report_text(station, "--format", "html")
    table = list(
        csv.reader(io.StringIO(downtime("report", "--format", "pending-csv", home=station).stdout))
    )

    section = text[text.index("PENDING ITEMS") : text.index("WARD MED42")]
    journal = scanned.journal["form_serial"]
    row = next(line for line in section.splitlines() if "page 1/entry1.text" in line)
    who = Identifier(**scanned.journal["patient"]).display()
    for cell in ("MED42", who, journal, "1/2", "pending-review", "3 h 05 min", "transcribe it"):
        assert cell in row, cell
    assert "referral.priority" not in section, "cleared"
    pending_html = html[html.index('<section id="pending">') : html.index('id="overview"')]
    assert "Pending items (4)" in pending_html and "3 h 05 min" in pending_html
    assert "the record holds a newer order" in pending_html and journal in pending_html
    assert html.index('id="missing"') < html.index('id="pending"') < html.index('id="overview"')
    assert tuple(table[0]) == PENDING_CSV_HEADER
    records = {r["item"]: r for r in (dict(zip(table[0], r, strict=True)) for r in table[1:])}
    assert set(records) == {"rx1", "referral.to", "page 1/entry1.text", "patient"}
    entry, whole = records["page 1/entry1.text"], records["patient"]
    assert (entry["page"], entry["page_count"], entry["serials"]) == ("1", "2", journal)
    assert (entry["held_as"], entry["age_minutes"]) == ("pending-review", "185")
    assert whole["page"] == "" and whole["why"] == "not in the record"


def test_pending_items_pass_the_formula_guard_and_show_no_hidden_characters(
    station: Path, scanned: Scanned, printed: Printed
) -> None:
    key = key_of(printed.med, scanned.referral)
    why = '=HYPERLINK("http://x")\u202e\u200b'
    hold_at(station, key, "referral.to", "pending-review", datetime.now(UTC), why)

    outputs = {
        fmt: downtime("report", "--format", fmt, home=station).stdout
        for fmt in ("table", "csv", "pending-csv", "json", "html")
    }

    for fmt, out in outputs.items():
        assert not any(char in out for char in HIDDEN), fmt
    (row,) = csv.DictReader(io.StringIO(outputs["pending-csv"]))
    assert row["why"] == "'" + why.replace("\u202e", "\ufffd").replace("\u200b", "\ufffd")


def test_unresolved_quarantine_item_is_listed_with_file_page_and_reason(
    station: Path, scanned: Scanned
) -> None:
    doc = report_json(station)

    (item,) = doc["unattributed_quarantine"]
    assert (item["source"], item["source_page"], item["reason"]) == (
        scanned.forged_file,
        1,
        "bad-signature",
    )
    assert doc["totals"]["quarantined"] == 1
    text = report_text(station)
    section = text[text.index("QUARANTINED, NOT ATTRIBUTABLE") :]
    assert scanned.forged_file in section and "bad-signature" in section


def test_quarantined_page_with_a_known_code_is_listed_under_its_ward(
    station: Path, printed: Printed
) -> None:
    entry = patient_pages(printed.kir, "mar")[2]
    (seen,) = rows(station, "SELECT file_sha256, run_id FROM scan_pages LIMIT 1")
    execute(
        station,
        "INSERT INTO scan_pages (file_sha256, source_page, run_id, status, reason, page_uid,"
        " rotation, scanned_at) VALUES (?, 7, ?, 'quarantined', 'registration-failed', ?, 0, ?)",
        (seen["file_sha256"], seen["run_id"], entry["page_uid"], datetime.now(UTC).isoformat()),
    )
    execute(
        station,
        "INSERT INTO quarantine (scan_page_id, reason, message, created_at) VALUES"
        " ((SELECT max(scan_page_id) FROM scan_pages), 'registration-failed', 'page 7', ?)",
        (datetime.now(UTC).isoformat(),),
    )

    doc = report_json(station)

    (kir,) = [w for w in doc["wards"] if w["ward"] == "KIR7"]
    (item,) = kir["quarantined"]
    assert (item["serial"], item["form"], item["reason"]) == (
        entry["form_serial"],
        "mar",
        "registration-failed",
    )
    assert item["patient"]["value"] == entry["patient"]["value"]
    assert kir["totals"]["quarantined"] == 1 and doc["totals"]["quarantined"] == 2


# --------------------------------------------------------------------------------------------
# Scope


def later_pack(home: Path, out: Path, hours: int) -> str:
    """Ward MED42 printed again, ``hours`` from now; its pack id."""
    (result,) = run_pack(
        PackRequest(
            census=EXAMPLE / "patients.csv",
            medications=EXAMPLE / "medications.csv",
            ward="MED42",
            output=out / f"MED42-{hours}.pdf",
            skip_invalid=False,
            issued_at=datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours),
            today=datetime.now(UTC).date(),
        ),
        home=home,
    )
    return json.loads(result.manifest.read_text("utf-8"))["pack_id"]  # type: ignore[no-any-return]


def scope_of(doc: dict[str, Any]) -> dict[str, list[str]]:
    return {p["pack_id"]: p["why"] for p in doc["scope"]["packs"] if p["ward"] == "MED42"}


def test_scope_without_an_outage_is_the_current_pack_and_packs_with_returned_pages(
    station: Path, printed: Printed, tmp_path: Path
) -> None:
    first = printed.med.manifest["pack_id"]
    later_pack(station, tmp_path, 1)
    current = later_pack(station, tmp_path, 3)

    doc = report_json(station)

    assert doc["scope"]["rule"] == "current" and doc["scope"]["outage"] is None
    assert scope_of(doc) == {first: ["pages-returned"], current: ["current"]}
    assert "no outage recorded" in doc["scope"]["description"]
    assert {f["pack_id"] for w, _, f in forms_of(doc) if w == "MED42"} == {first, current}


def test_scope_with_an_outage_is_the_pack_in_use_at_its_start(
    station: Path, printed: Printed, tmp_path: Path
) -> None:
    first = printed.med.manifest["pack_id"]
    in_use = later_pack(station, tmp_path, 1)
    after = later_pack(station, tmp_path, 3)
    start = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    downtime("outage", "start", "--at", start, home=station)
    end = (datetime.now(UTC) + timedelta(hours=2.5)).isoformat()
    downtime("outage", "end", "--at", end, home=station)

    doc = report_json(station)

    assert doc["scope"]["rule"] == "outage"
    assert scope_of(doc) == {first: ["pages-returned"], in_use: ["newest-at-outage-start"]}
    shown_start = datetime.fromisoformat(doc["scope"]["outage"]["start"])
    assert shown_start == datetime.fromisoformat(start), "the same instant"
    assert shown_start.utcoffset() == ZoneInfo("Europe/Stockholm").utcoffset(shown_start), (
        "with the site's offset, though it was given in UTC"
    )
    assert "latest outage" in report_text(station).splitlines()[1]
    assert after not in {p["pack_id"] for p in doc["scope"]["packs"]}

    downtime("outage", "start", "--at", start, home=station)  # open again: until now
    later = report_json(station)
    assert scope_of(later)[in_use] == ["newest-at-outage-start"]
    assert after not in scope_of(later), "issued after now: not during the outage yet"

    every = report_json(station, "--all-packs")
    assert every["scope"]["rule"] == "all-packs"
    assert set(scope_of(every)) == {first, in_use, after}


def test_pack_printed_during_an_open_outage_is_in_scope(
    station: Path, printed: Printed, tmp_path: Path
) -> None:
    start = printed.med.manifest["issued_at"]  # at or before: the first pack was in use
    downtime("outage", "start", "--at", start, home=station)
    during = later_pack(station, tmp_path, 0)

    doc = report_json(station)

    assert scope_of(doc) == {
        printed.med.manifest["pack_id"]: ["newest-at-outage-start", "pages-returned"],
        during: ["issued-during-outage"],
    }


def test_ward_filter_shows_that_ward_only(station: Path, printed: Printed) -> None:
    doc = report_json(station, "--ward", "KIR7")

    assert [w["ward"] for w in doc["wards"]] == ["KIR7"]
    assert {m["ward"] for m in doc["missing"]} == {"KIR7"}
    assert [p["ward"] for p in doc["scope"]["packs"]] == ["KIR7"]
    assert len(doc["unattributed_quarantine"]) == 1, "may be this ward's page: still shown"
    result = downtime("report", "--ward", "NOPE", home=station, ok=False)
    assert result.exit_code == 3 and "KIR7" in result.stderr


# --------------------------------------------------------------------------------------------
# Formats


class Tree(HTMLParser):
    """Start tags in document order, and every nesting error."""

    VOID = frozenset({"meta", "br", "hr", "img", "input", "link", "col", "wbr", "source"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
        else:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def index(self, tag: str, **attrs: str) -> int:
        return next(
            i
            for i, (t, a) in enumerate(self.tags)
            if t == tag and all(a.get(k) == v for k, v in attrs.items())
        )


def test_html_is_one_well_formed_printable_file_with_the_chart_and_missing_first(
    station: Path, scanned: Scanned, tmp_path: Path
) -> None:
    out = tmp_path / "reports" / "outage.html"

    result = downtime("report", "--format", "html", "--lang", "en", "-o", out, home=station)

    assert result.stdout.strip() == str(out)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    text = out.read_text("utf-8")
    tree = Tree()
    tree.feed(text)
    tree.close()
    assert text.startswith("<!DOCTYPE html>")
    assert tree.errors == [] and tree.open == []
    names = [t for t, _ in tree.tags]
    assert "script" not in names
    links = [a.get(k) or "" for _, a in tree.tags for k in ("src", "href")]
    assert not [link for link in links if link.startswith(("http:", "https:", "//"))]
    assert "@media print" in text and "size: A4" in text
    svg = tree.index("svg")
    assert tree.tags[svg][1]["class"] == "chart"
    assert names.count("rect") >= 2 * 3, "three bars per ward, two wards"
    missing = tree.index("table", **{"class": "missing"})
    assert missing < svg < tree.index("section", **{"class": "ward"})
    body = "".join(tree.text)
    assert scanned.referral["form_serial"] not in body.split("Per ward")[0]
    assert "State: not accounted for" in body and "everything accounted for" not in body


def test_csv_has_the_header_and_one_row_per_form(station: Path) -> None:
    doc = report_json(station)

    text = downtime("report", "--format", "csv", home=station).stdout
    table = list(csv.reader(io.StringIO(text)))

    assert tuple(table[0]) == CSV_HEADER
    forms = list(forms_of(doc))
    assert len(table) - 1 == len(forms)
    issued = rows(station, "SELECT pack_id, form, patient_value FROM pages")
    assert len(forms) == len({(r["pack_id"], r["form"], r["patient_value"]) for r in issued})
    by_serials = {" ".join(f["missing_serials"]): f["counts"] for _, _, f in forms}
    for row in table[1:]:
        record = dict(zip(CSV_HEADER, row, strict=True))
        counts = by_serials[record["missing_serials"]]
        assert int(record["missing"]) == counts["missing"]


def test_json_has_the_documented_structure(
    station: Path, scanned: Scanned, printed: Printed
) -> None:
    hold(station, key_of(printed.med, scanned.prescription), "page 1", "conflict", 0)
    doc = report_json(station)

    counts = {"issued", "returned", "missing", "voided", "pending_review", "conflicts",
              "posted", "written", "failed"}  # fmt: skip
    patient = {"kind", "system", "value", "display", "family_name", "given_name"}
    quarantine = {"item_id", "source", "source_page", "reason", "message", "created_at", "ward",
                  "serial", "form", "page", "page_count", "patient"}  # fmt: skip
    assert set(doc) == {
        "schema", "site", "generated_at", "timezone", "lang", "ward_filter", "complete",
        "outstanding", "scope", "totals", "missing", "pending", "wards",
        "unattributed_quarantine", "audit",
    }  # fmt: skip
    assert doc["lang"] == "en", "English sentences for tools unless a language is asked for"
    assert doc["schema"] == "downtime.report/1"
    assert set(doc["audit"]) == {"events", "head"} and len(doc["audit"]["head"]) == 64
    assert set(doc["scope"]) == {"rule", "description", "outage", "packs"}
    assert all(
        set(p) == {"pack_id", "ward", "issued_at", "superseded_by", "why", "printed_pages"}
        for p in doc["scope"]["packs"]
    )
    assert set(doc["totals"]) == counts | {"quarantined"}
    for m in doc["missing"]:
        assert set(m) == {"serial", "page_uid", "ward", "bed", "patient", "form", "page",
                          "page_count", "pack_id", "category", "note"}  # fmt: skip
        assert set(m["patient"]) == patient
    assert [h["item"] for h in doc["pending"]] == ["page 1"]
    for h in doc["pending"]:
        assert set(h) == {"ward", "bed", "patient", "form", "form_key", "pack_id", "page",
                          "page_count", "serials", "item", "kind", "why", "held_since",
                          "age_seconds"}  # fmt: skip
        assert set(h["patient"]) == patient
    for w in doc["wards"]:
        assert set(w) == {"ward", "packs", "totals", "chart", "patients", "quarantined"}
        assert set(w["chart"]) == {"issued", "returned", "posted", "outbox"}
        for p in w["patients"]:
            assert set(p) == {"patient", "bed", "forms"} and set(p["patient"]) == patient
            for f in p["forms"]:
                assert set(f) == {"form", "pack_id", "form_key", "issued_at", "serials",
                                  "missing_serials", "counts", "bundle_outcomes"}  # fmt: skip
                assert set(f["counts"]) == counts
    for q in doc["unattributed_quarantine"]:
        assert set(q) == quarantine
    kinds = {p["patient"]["kind"] for _, p, _ in forms_of(doc)}
    assert kinds == {"patient", "admission", "ward"}


def test_report_is_audited_per_patient_and_names_nobody_on_stderr(station: Path) -> None:
    before = count(station, "audit_events")

    result = downtime("report", home=station)  # downtime() checks stderr for names and identifiers

    assert result.stderr == ""
    events = rows(station, "SELECT * FROM audit_events WHERE seq > ?", (before,))
    viewed = {(e["care_unit"], e["patient_value"]) for e in events if e["action"] == "report.view"}
    shown = rows(
        station,
        "SELECT DISTINCT k.ward, p.patient_value FROM pages p"
        " JOIN packs k USING (pack_id) WHERE p.patient_value IS NOT NULL",
    )
    assert viewed == {(r["ward"], r["patient_value"]) for r in shown}
    assert [e["action"] for e in events][-1] == "report"


# --------------------------------------------------------------------------------------------
# The outage window


def test_outage_start_and_end_are_recorded_audited_and_shown(fresh: Path) -> None:
    start = downtime(
        "outage", "start", "--lang", "en", "--at", "2026-11-25T06:40", home=fresh
    ).stdout
    end = downtime(
        "outage", "end", "--lang", "en", "--at", "2026-11-25T14:05:00+01:00", home=fresh
    ).stdout

    assert start.strip() == "outage start\t2026-11-25T06:40:00+01:00", "site time"
    assert end.strip() == "outage end\t2026-11-25T14:05:00+01:00"
    events = rows(fresh, "SELECT kind, at FROM outage_events ORDER BY seq")
    assert [(e["kind"], e["at"]) for e in events] == [
        ("start", "2026-11-25T06:40:00+01:00"),
        ("end", "2026-11-25T14:05:00+01:00"),
    ]
    audit = rows(fresh, "SELECT action FROM audit_events WHERE action LIKE 'outage.%'")
    assert [a["action"] for a in audit] == ["outage.start", "outage.end"]
    shown = downtime("outage", "show", "--lang", "en", home=fresh).stdout.splitlines()
    assert shown[-1] == "latest outage\t2026-11-25T06:40:00+01:00\t2026-11-25T14:05:00+01:00"


def test_outage_times_default_to_now_and_bad_ones_are_refused(fresh: Path) -> None:
    assert (
        downtime("outage", "show", "--lang", "en", home=fresh).stdout.strip()
        == "no outage recorded"
    )
    assert downtime("outage", "end", home=fresh, ok=False).exit_code == 3, "no start yet"
    assert downtime("outage", "start", "--at", "yesterday", home=fresh, ok=False).exit_code == 3

    line = downtime("outage", "start", home=fresh).stdout.split("\t")[1].strip()

    started = datetime.fromisoformat(line)
    assert started.utcoffset() is not None
    assert abs((started - datetime.now(UTC)).total_seconds()) < 60
    early = (started - timedelta(hours=1)).isoformat()
    assert downtime("outage", "end", "--at", early, home=fresh, ok=False).exit_code == 3
    assert count(fresh, "outage_events") == 1


def test_report_of_an_empty_data_folder_says_there_are_no_packs(tmp_path: Path) -> None:
    result = run_cli("report", home=tmp_path / "empty")  # no census to check stderr against
    english = run_cli("report", "--lang", "en", home=tmp_path / "empty")

    assert "(inga paket)" in result.stdout and result.stderr == ""
    assert "(no packs)" in english.stdout


# --------------------------------------------------------------------------------------------
# Text from the ledger, shown safely (issue 8)

HIDDEN = "\u202e\u200b\ufeff\u2066\u2069\x1b"


def test_report_output_is_free_of_bidi_and_zero_width_characters_in_every_format(
    fresh: Path,
) -> None:
    """The census refuses them now, but a pack printed by an older version (or a ledger written
    some other way) may hold them: no report format passes them through raw."""
    tamper(
        ledger_target(fresh),
        "UPDATE pack_patients SET family_name = ?, given_name = ?, bed = ?",
        ("Tolv\u202eansson", "Tol\u200bvan\ufeff", "\u20663\u2069\x1b[2J"),
    )
    for fmt in ("table", "csv", "json", "html"):
        out = downtime("report", "--format", fmt, home=fresh).stdout
        assert not any(char in out for char in HIDDEN), fmt
        assert "Tolv\ufffdansson" in out and "Tol\ufffdvan\ufffd" in out, fmt
    doc = report_json(fresh)
    names = {p["patient"]["family_name"] for _, p, _ in forms_of(doc)}
    assert "Tolv\ufffdansson" in names


def test_report_csv_cells_never_run_as_spreadsheet_formulas(fresh: Path) -> None:
    formulas = ['=HYPERLINK("http://x")', "+1+2", "-3+4", "@SUM(A1)", " =1+1", "\t=1", "＝1"]
    target = ledger_target(fresh)
    ids = [
        tuple(r)
        for r in ledger_rows(
            target,
            "SELECT pack_id, patient_system, patient_value FROM pack_patients ORDER BY 1, 2, 3",
        )
    ]
    for key, formula in zip(ids, formulas, strict=False):
        tamper(
            target,
            "UPDATE pack_patients SET bed = ? WHERE pack_id = ? AND patient_system = ?"
            " AND patient_value = ?",
            (formula, *key),
        )
    table = list(
        csv.DictReader(io.StringIO(downtime("report", "--format", "csv", home=fresh).stdout))
    )
    beds = {row["bed"] for row in table}
    expected = {"'" + formula.replace("\t", "\ufffd") for formula in formulas[: len(ids)]}
    assert len(ids) >= 5 and expected <= beds
    starts = [bed.lstrip()[0] for bed in beds if bed.strip()]
    assert starts and not any(char in "=+-@\uff1d\t" for char in starts)


# --------------------------------------------------------------------------------------------
# Swedish and English; the site's time zone (issue 13)

SITE_TZ = ZoneInfo("Europe/Stockholm")


def test_the_report_is_in_swedish_by_default_table_and_html(
    station: Path, scanned: Scanned, pending: datetime
) -> None:
    text = downtime("report", home=station).stdout
    html = downtime("report", "--format", "html", home=station).stdout

    for words in (
        "AVBROTTSRAPPORT", "Omfattning: inget avbrott registrerat (downtime outage start)",
        "Status: INTE REDOVISAT: ", "sidor saknas", "3 konflikter",
        "1 sida i karantän inte åtgärdad", "SAKNADE SIDOR (", "remisser först",
        "tom reservblankett – makulera den om den inte användes", "avdelningsblad",
        "VÄNTANDE POSTER: 4 poster väntar på en person (pending-review 2, record-conflict 1,"
        " unknown-in-record 1)", "3 tim 05 min", "AVDELNING MED42", "blankettnr",
        "I KARANTÄN, KAN INTE KNYTAS TILL EN SIDA (1)", "TOTALT  utskr. ", "Loggkedjan: ",
    ):  # fmt: skip
        assert words in text, words
    for english in ("OUTAGE REPORT", "MISSING PAGES", "page(s)", "blank spare", "Audit trail"):
        assert english not in text, english
    assert '<html lang="sv">' in html
    for words in (
        "<h1>Avbrottsrapport</h1>", "Status: inte redovisat</strong>", "Saknade sidor (",
        "Väntande poster (4)", "<h2>Per avdelning</h2>", "<h2>Avdelning MED42</h2>",
        "I karantän, kan inte knytas till en sida (1)", "<th>blankettnr</th>",
        "<code>downtime void SERIAL --reason …</code>", "<code>downtime quarantine list</code>",
        "<title>Sidor utskrivna, tillbaka och införda per avdelning</title>",
    ):  # fmt: skip
        assert words in html, words
    assert "Missing pages" not in html and "Pending items" not in html
    english = downtime("report", "--format", "html", "--lang", "en", home=station).stdout
    assert '<html lang="en">' in english and "<h1>Outage report</h1>" in english


def test_site_toml_lang_sets_the_reports_language_and_lang_overrides_it(fresh: Path) -> None:
    site = fresh / "site.toml"
    text = site.read_text("utf-8") if site.exists() else ""  # no file: the defaults (sv)
    assert 'lang = "en"' not in text and downtime("report", home=fresh).stdout.startswith(
        "AVBROTTSRAPPORT"
    )
    site.write_text(text.replace('lang = "sv"', "") + 'lang = "en"\n', "utf-8")

    table = downtime("report", home=fresh).stdout
    html = downtime("report", "--format", "html", home=fresh).stdout
    swedish = downtime("report", "--lang", "sv", home=fresh).stdout

    assert table.startswith("OUTAGE REPORT") and "State: NOT ACCOUNTED FOR" in table
    assert '<html lang="en">' in html
    assert swedish.startswith("AVBROTTSRAPPORT")


def test_no_markdown_backticks_in_the_table_or_html_in_either_language(
    station: Path, pending: datetime
) -> None:
    for lang in ("sv", "en"):
        table = downtime("report", "--lang", lang, home=station).stdout
        html = downtime("report", "--format", "html", "--lang", lang, home=station).stdout
        every = downtime("report", "--all-packs", "--lang", lang, home=station).stdout

        assert "`" not in table + html + every, lang
        assert "(downtime outage start)" in table and "(--all-packs)" in every, lang
        assert "<code>downtime outage start</code>" in html, lang
        assert "<code>downtime audit verify --expect-head " in html, lang


def _shape(value: Any) -> Any:
    """Keys and value types, not values."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return type(value).__name__


def _codes(value: Any) -> Any:
    """Everything but the sentences in the report's own words (notes, the cover sheet) and
    ages, which tick."""
    if isinstance(value, dict):
        return {
            k: _codes(v)
            for k, v in value.items()
            if k not in {"note", "age_seconds"} and not (k == "display" and value["kind"] == "ward")
        }
    if isinstance(value, list):
        return [_codes(v) for v in value]
    return value


def test_json_and_csv_keep_their_keys_columns_and_codes_whatever_the_language(
    station: Path, pending: datetime
) -> None:
    tools = report_json(station)  # the site speaks Swedish; tools get English by default
    swedish = report_json(station, "--lang", "sv")

    assert (tools["lang"], swedish["lang"]) == ("en", "sv")
    assert any(s.endswith("page(s) missing") for s in tools["outstanding"])
    assert any(s.endswith("sidor saknas") for s in swedish["outstanding"])
    assert swedish["scope"]["description"].startswith("inget avbrott registrerat")

    assert _shape(tools) == _shape(swedish)
    for key in ("missing", "pending", "wards", "totals", "unattributed_quarantine"):
        assert (key, _codes(tools[key])) == (key, _codes(swedish[key]))
    assert {m["note"] for m in swedish["missing"]} == {
        None, "tom reservblankett – makulera den om den inte användes", "avdelningsblad"
    }  # fmt: skip
    for fmt in ("csv", "pending-csv"):
        english = downtime("report", "--format", fmt, "--lang", "en", home=station).stdout
        other = downtime("report", "--format", fmt, "--lang", "sv", home=station).stdout
        by_default = downtime("report", "--format", fmt, home=station).stdout
        assert english.splitlines()[0] == other.splitlines()[0] == by_default.splitlines()[0]
        if fmt == "csv":  # no age in it: the very same bytes
            assert english == other == by_default


def test_times_are_in_the_site_time_zone_in_every_format(
    station: Path, scanned: Scanned, printed: Printed, pending: datetime
) -> None:
    """The ledger holds some times in UTC (held items, quarantine): every format shows them
    with the site's offset, the same instants."""
    doc = report_json(station)

    def site_time(text: str) -> datetime:
        when = datetime.fromisoformat(text)
        assert when.utcoffset() == SITE_TZ.utcoffset(when.replace(tzinfo=None)), text
        return when

    site_time(doc["generated_at"])
    for p in doc["scope"]["packs"]:
        site_time(p["issued_at"])
    for _, _, f in forms_of(doc):
        site_time(f["issued_at"])
    held = {h["item"]: site_time(h["held_since"]) for h in doc["pending"]}
    assert held["rx1"] == pending - timedelta(minutes=10), "the same instant"
    (forged,) = doc["unattributed_quarantine"]
    site_time(forged["created_at"])
    table = list(csv.DictReader(io.StringIO(report_text(station, "--format", "csv"))))
    pending_rows = csv.DictReader(io.StringIO(report_text(station, "--format", "pending-csv")))
    assert all(site_time(row["pack_issued_at"]) for row in table)
    assert all(site_time(row["held_since"]) for row in pending_rows)
    issued = datetime.fromisoformat(printed.med.manifest["issued_at"])
    shown = issued.astimezone(SITE_TZ).strftime("%Y-%m-%d %H:%M")
    pack = printed.med.manifest["pack_id"]
    (line,) = [line for line in report_text(station).splitlines()[:5] if pack in line]
    assert f"issued {shown}" in line

"""Pages `downtime scan` sets aside, `downtime quarantine list`, and `downtime quarantine assign`.

As in test_scan.py, every input is made here from a pack printed for this module (rendered at
150 dpi, degraded with :mod:`downtime.simulate`, saved with Pillow or reportlab), and each test
scans into its own copy of the printed data folder. A second pack of the same ward, printed from
another data folder, supplies pages signed with a key this ledger does not hold.
"""

from __future__ import annotations

import json
import random
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from backends import Backend, open_ledger
from conftest import PrintedPack, print_example_pack
from reportlab.lib import pdfencrypt
from reportlab.pdfgen import canvas
from scankit import (
    DPI,
    Gray,
    cli,
    code_boxes_px,
    code_texts,
    copy_home,
    count,
    patient_pages,
    render,
    require,
    rows,
    save_jpeg,
    save_png,
    scan,
)

from downtime import simulate
from downtime.codes import serials
from downtime.geometry import QR_MODULE_MM
from downtime.ledger import verify_audit_chain

pytestmark = pytest.mark.backends
OPPOSITE = {"marked": "empty", "empty": "marked", "written": "blank", "blank": "written"}


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> PrintedPack:
    base = tmp_path_factory.mktemp("quarantine-printed")
    return print_example_pack(backend.new_home(base / "home"), base / "out")


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> PrintedPack:
    """The same ward printed from another data folder: another signing key, other page uids."""
    base = tmp_path_factory.mktemp("quarantine-foreign")
    return print_example_pack(base / "home", base / "out")


@pytest.fixture
def station(printed: PrintedPack, tmp_path: Path) -> Path:
    return copy_home(printed, tmp_path / "home")


def public_keys(pack: PrintedPack, to: Path) -> Path:
    """``downtime keys export-public`` of the data folder that printed ``pack``."""
    to.write_text(cli("keys", "export-public", home=pack.home).stdout, encoding="ascii")
    return to


def with_code_of(sheet: Gray, donor: Gray) -> Gray:
    """``sheet`` with its lower page code (and the quiet zone round it) pasted over by
    ``donor``'s: two genuine codes of two different pages on one sheet."""
    lower, donor_lower = code_boxes_px(sheet)[-1], code_boxes_px(donor)[-1]
    margin = round(4 * QR_MODULE_MM * DPI / 25.4)
    x0, y0 = min(lower[0], donor_lower[0]) - margin, min(lower[1], donor_lower[1]) - margin
    x1, y1 = max(lower[2], donor_lower[2]) + margin, max(lower[3], donor_lower[3]) + margin
    out = sheet.copy()
    out[y0:y1, x0:x1] = donor[y0:y1, x0:x1]
    return out


def encrypted_pdf(path: Path) -> Path:
    pdf = canvas.Canvas(
        str(path),
        pagesize=(595, 842),
        encrypt=pdfencrypt.StandardEncryption("scanner-secret", ownerPassword="owner"),
    )
    pdf.drawString(72, 720, "scanned page")
    pdf.showPage()
    pdf.save()
    return path


# --------------------------------------------------------------------------------------------
# Reasons


REASONS = {
    "forged.png": "bad-signature",
    "foreign.png": "unknown-key",
    "pasted.png": "codes-disagree",
    "torn.png": "no-page-code",
    "empty.png": "empty-file",
    "notes.txt": "unsupported-format",
    "cut.jpg": "truncated-file",
    "locked.pdf": "encrypted-pdf",
}
CODE_REASONS = ("bad-signature", "unknown-key", "codes-disagree", "no-page-code")


@pytest.fixture(scope="module")
def set_aside_run(
    printed: PrintedPack, foreign: PrintedPack, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """One run (--no-ocr) over a page for every reason, between two good pages: home, records
    by file name, and the good pages' manifest entries."""
    base = tmp_path_factory.mktemp("set-aside")
    home = copy_home(printed, base / "home")
    scans = base / "scans"
    journal1, journal2 = patient_pages(printed, "journal")[:2]
    good = [patient_pages(printed, "mar")[0], patient_pages(printed, "referral")[0]]
    rng = np.random.default_rng
    save_png(scans / "00-good.png", render(printed, good[0]))
    forged = simulate.degrade(render(printed, journal1), DPI, "forged", rng(1))
    save_png(scans / "forged.png", forged.image)
    save_png(scans / "foreign.png", render(foreign, patient_pages(foreign, "journal")[0]))
    pasted = with_code_of(render(printed, journal1), render(printed, journal2))
    texts = code_texts(pasted)
    require(len(texts) == 2 and len(set(texts)) == 2, "two different codes on the sheet")
    save_png(scans / "pasted.png", pasted)
    torn = simulate.degrade(render(printed, journal2), DPI, "codes-destroyed", rng(2))
    save_png(scans / "torn.png", torn.image)
    (scans / "empty.png").write_bytes(b"")
    (scans / "notes.txt").write_text("ward round notes\n", encoding="utf-8")
    photo = save_jpeg(base / "photo.jpg", render(printed, journal1))
    whole = photo.read_bytes()
    (scans / "cut.jpg").write_bytes(whole[: len(whole) * 3 // 5])
    encrypted_pdf(scans / "locked.pdf")
    save_png(scans / "zz-good.png", render(printed, good[1]))
    records = scan(home, "--no-ocr", scans, jobs=2)
    return home, {Path(r["source"]).name: r for r in records}, good


@pytest.mark.parametrize(("name", "reason"), sorted(REASONS.items()))
def test_page_is_set_aside_with_its_reason(
    set_aside_run: tuple[Path, dict[str, dict[str, Any]], list[dict[str, Any]]],
    name: str,
    reason: str,
) -> None:
    home, records, _ = set_aside_run
    record = records[name]
    assert (record["status"], record["reason"]) == ("quarantined", reason)
    assert isinstance(record["quarantine_item"], int)
    (item,) = rows(
        home,
        "SELECT reason, message FROM quarantine WHERE item_id = ?",
        (record["quarantine_item"],),
    )
    assert item["reason"] == reason and item["message"]
    if reason in CODE_REASONS:
        assert "page_uid" not in record and "patient" not in record


def test_run_goes_on_past_the_pages_set_aside(
    set_aside_run: tuple[Path, dict[str, dict[str, Any]], list[dict[str, Any]]],
) -> None:
    home, records, good = set_aside_run
    assert len(records) == len(REASONS) + 2
    identified = [records["00-good.png"], records["zz-good.png"]]
    assert [r["status"] for r in identified] == ["identified", "identified"]
    assert [r["page_uid"] for r in identified] == [e["page_uid"] for e in good]
    assert count(home, "captures") == 2
    assert count(home, "quarantine") == len(REASONS)


def test_quarantine_list_shows_each_item_with_file_page_and_reason(
    set_aside_run: tuple[Path, dict[str, dict[str, Any]], list[dict[str, Any]]],
) -> None:
    home, records, _ = set_aside_run
    out = cli("quarantine", "list", "--lang", "en", home=home).stdout
    items = out.split("\n")[0::2][: len(REASONS)]  # a line per item, then its message
    for name, reason in REASONS.items():
        record = records[name]
        (line,) = [i for i in items if i.split()[0] == str(record["quarantine_item"])]
        assert record["source"] in line
        assert f"page {record['source_page']}" in line
        assert reason in line.split() and line.endswith("open")


def test_quarantine_list_json_has_one_object_per_item(
    set_aside_run: tuple[Path, dict[str, dict[str, Any]], list[dict[str, Any]]],
) -> None:
    home, records, _ = set_aside_run
    document = json.loads(cli("quarantine", "list", "--json", home=home).stdout)
    listed = document["items"]
    assert document["schema"] == "downtime.quarantine/1"
    assert document["timezone"] == "Europe/Stockholm"
    assert {(i["item_id"], i["source"], i["reason"]) for i in listed} == {
        (records[n]["quarantine_item"], records[n]["source"], reason)
        for n, reason in REASONS.items()
    }
    for item in listed:
        assert item["assigned_serial"] is None and item["message"]
        assert item["resolved"] is None
        assert datetime.fromisoformat(item["created_at"]).utcoffset() in (
            timedelta(hours=1),
            timedelta(hours=2),
        ), "site time, with its offset"
        assert (home / item["stored_as"]).is_file(), "the original is kept"


def test_genuine_code_this_ledger_never_issued_is_unknown_page(
    foreign: PrintedPack, station: Path, tmp_path: Path
) -> None:
    cli("keys", "import-public", public_keys(foreign, tmp_path / "keys.pem"), home=station)
    entry = patient_pages(foreign, "mar")[0]
    page = save_png(tmp_path / "foreign.png", render(foreign, entry))

    (record,) = scan(station, page)

    assert (record["status"], record["reason"]) == ("quarantined", "unknown-page")
    assert record["page_uid"] == entry["page_uid"], "the verified code names the page"
    assert record.get("form") is None and record.get("patient") is None
    assert count(station, "captures") == 0
    (item,) = rows(station, "SELECT reason FROM quarantine")
    assert item["reason"] == "unknown-page"


def test_page_set_aside_for_an_unknown_key_is_identified_once_the_key_is_imported_and_rescanned(
    printed: PrintedPack, foreign: PrintedPack, tmp_path: Path
) -> None:
    # A data folder holding the print host's ledger but, at first, not its public key.
    station = copy_home(printed, tmp_path / "station")
    shutil.rmtree(station / "keys")
    cli("keys", "import-public", public_keys(foreign, tmp_path / "other.pem"), home=station)
    entry = patient_pages(printed, "journal")[0]
    page = save_png(tmp_path / "page.png", render(printed, entry))
    (first,) = scan(station, page)
    require(first["reason"] == "unknown-key", f"set aside as unknown-key, not {first}")
    cli("keys", "import-public", public_keys(printed, tmp_path / "host.pem"), home=station)

    (again,) = scan(station, page)

    assert (again["status"], again.get("page_uid")) == ("identified", entry["page_uid"])


# --------------------------------------------------------------------------------------------
# Assigning by the printed serial


@pytest.fixture
def torn(
    printed: PrintedPack, station: Path, tmp_path: Path
) -> tuple[Path, dict[str, Any], Any, dict[str, int]]:
    """A filled page whose codes were destroyed and a forged page, scanned with --no-ocr:
    home, the torn page's manifest entry and fill truth, and quarantine items by reason."""
    entry = patient_pages(printed, "journal")[3]
    filled, truth = simulate.fill_page(render(printed, entry), entry, DPI, random.Random(17))
    destroyed = simulate.degrade(filled, DPI, "codes-destroyed", np.random.default_rng(7))
    forged = simulate.degrade(render(printed, entry), DPI, "forged", np.random.default_rng(7))
    paths = [
        save_png(tmp_path / "torn.png", destroyed.image),
        save_png(tmp_path / "forged.png", forged.image),
    ]
    records = scan(station, "--no-ocr", *paths)
    require([r["reason"] for r in records] == ["no-page-code", "bad-signature"], "set aside")
    return station, entry, truth, {r["reason"]: r["quarantine_item"] for r in records}


def typed(serial: str) -> str:
    """As a clerk might type it: lower case, no hyphens."""
    return serial.replace("-", "").lower()


def test_assigning_by_typed_serial_files_the_page_to_its_issued_page(
    torn: tuple[Path, dict[str, Any], Any, dict[str, int]],
) -> None:
    home, entry, truth, items = torn
    item = items["no-page-code"]

    out = cli(
        "quarantine", "assign", "--lang", "en", str(item), typed(entry["form_serial"]), home=home
    ).stdout

    assert entry["form_serial"] in out and "identified" in out
    (capture,) = rows(home, "SELECT * FROM captures")
    assert capture["page_uid"] == entry["page_uid"]
    (assignment,) = rows(home, "SELECT * FROM assignments")
    assert (assignment["item_id"], assignment["serial"]) == (item, entry["form_serial"])
    assert (assignment["page_uid"], assignment["capture_id"]) == (
        entry["page_uid"],
        capture["capture_id"],
    )
    read = {
        m["field_id"]: m["state"]
        for m in rows(home, "SELECT * FROM marks WHERE capture_id = ?", (capture["capture_id"],))
    }
    assert set(read) == set(truth.fields), "read like any other page"
    assert not {f for f, put in truth.fields.items() if read[f] == OPPOSITE[put]}
    (event,) = rows(home, "SELECT * FROM audit_events WHERE action = 'quarantine.assign'")
    assert (event["patient_system"], event["patient_value"]) == (
        entry["patient"]["system"],
        entry["patient"]["value"],
    )
    assert event["object_id"] == entry["page_uid"]
    with open_ledger(home) as ledger:
        assert verify_audit_chain(ledger) is None
    still_open = json.loads(cli("quarantine", "list", "--json", home=home).stdout)["items"]
    assert [i["item_id"] for i in still_open] == [items["bad-signature"]]
    everything = cli("quarantine", "list", "--lang", "en", "--all", home=home).stdout
    assert f"assigned {entry['form_serial']}" in everything


def test_assigning_the_same_item_again_is_refused(
    torn: tuple[Path, dict[str, Any], Any, dict[str, int]],
) -> None:
    home, entry, _, items = torn
    item = str(items["no-page-code"])
    cli("quarantine", "assign", item, entry["form_serial"], home=home)

    again = cli(
        "quarantine", "assign", "--lang", "en", item, entry["form_serial"], home=home, ok=False
    )

    assert again.exit_code == 3
    assert "already assigned" in again.stderr
    assert count(home, "assignments") == 1 and count(home, "captures") == 1


def test_mistyped_serial_is_refused_by_its_check_characters_and_nothing_is_recorded(
    torn: tuple[Path, dict[str, Any], Any, dict[str, int]],
) -> None:
    home, entry, _, items = torn
    serial = typed(entry["form_serial"])
    other = next(c for c in serials.ALPHABET.lower() if c != serial[5])
    mistyped = serial[:5] + other + serial[6:]
    audit_before = count(home, "audit_events")

    result = cli(
        "quarantine",
        "assign",
        "--lang",
        "en",
        str(items["no-page-code"]),
        mistyped,
        home=home,
        ok=False,
    )

    assert result.exit_code == 3
    assert "check characters" in result.stderr
    assert count(home, "assignments") == count(home, "captures") == 0
    assert count(home, "audit_events") == audit_before


def test_forged_page_is_never_assigned_by_serial(
    torn: tuple[Path, dict[str, Any], Any, dict[str, int]],
) -> None:
    home, entry, _, items = torn

    result = cli(
        "quarantine",
        "assign",
        str(items["bad-signature"]),
        entry["form_serial"],
        "--lang",
        "en",
        home=home,
        ok=False,
    )

    assert result.exit_code == 3
    assert "bad-signature" in result.stderr
    assert count(home, "assignments") == count(home, "captures") == 0


def test_serial_that_checks_out_but_names_no_issued_page_is_refused(
    printed: PrintedPack, torn: tuple[Path, dict[str, Any], Any, dict[str, int]]
) -> None:
    home, _, _, items = torn
    issued = {p["form_serial"] for p in printed.manifest["pages"]}
    unissued = next(
        s
        for s in (serials.format_symbols(serials.with_check(serials.digits(n))) for n in range(99))
        if s not in issued
    )
    require(serials.parse_serial(unissued) == unissued, "the serial's check characters hold")

    result = cli(
        "quarantine",
        "assign",
        "--lang",
        "en",
        str(items["no-page-code"]),
        unissued,
        home=home,
        ok=False,
    )

    assert result.exit_code == 3
    assert "no issued page" in result.stderr
    assert count(home, "assignments") == count(home, "captures") == 0


def test_every_capture_leads_to_its_registered_image_also_when_assigned(
    torn: tuple[Path, dict[str, Any], Any, dict[str, int]],
) -> None:
    home, entry, _, items = torn
    cli("quarantine", "assign", str(items["no-page-code"]), entry["form_serial"], home=home)
    (capture,) = rows(
        home,
        "SELECT c.registered_as FROM captures c",
    )
    require(any((home / "store").rglob("*")), "the store holds files")

    assert capture["registered_as"] is not None
    assert (home / capture["registered_as"]).is_file()


def test_rejecting_an_item_with_a_reason_takes_it_off_the_open_items(
    torn: tuple[Path, dict[str, Any], Any, dict[str, int]],
) -> None:
    home, _, _, items = torn
    forged = str(items["bad-signature"])
    empty = cli(
        "quarantine", "reject", "--lang", "en", forged, "--reason", "  ", home=home, ok=False
    )

    out = cli(
        "quarantine", "reject", "--lang", "en", forged, "--reason", "not a downtime form", home=home
    )
    again = cli(
        "quarantine", "reject", "--lang", "en", forged, "--reason", "twice", home=home, ok=False
    )

    assert empty.exit_code == 3 and "needs a reason" in empty.stderr
    assert "rejected: not a downtime form" in out.stdout
    assert again.exit_code == 3 and "resolved already" in again.stderr
    listed = json.loads(cli("quarantine", "list", "--json", home=home).stdout)
    still_open = [i["item_id"] for i in listed["items"]]
    assert still_open == [items["no-page-code"]]
    (event,) = rows(home, "SELECT * FROM audit_events WHERE action = 'quarantine.reject'")
    assert event["object_id"] == forged and "not a downtime form" in event["detail"]

"""`downtime scan`, end to end through the CLI (in-process): the JSON contract, every input
format, turned and degraded pages, marks, blank pages, rescans, the serial fallback, a crashing
decoder, debug overlays, the audit trail and the summary table.

Every input is made here: pages of a pack printed once for this module are rendered by PDFium
(150 dpi unless said), filled and degraded with :mod:`downtime.simulate`, and saved the way
scanners, fax machines and phones save them (scankit.py). Each test that scans works on its own
copy of the printed data folder, so captures never collide; results are checked in the JSON
lines, in the ledger and in the data folder's files. Quarantine and assignment are in
test_quarantine.py.
"""

from __future__ import annotations

import faulthandler
import json
import multiprocessing
import os
import random
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from backends import Backend, open_ledger
from conftest import PrintedPack, print_example_pack
from PIL import Image
from scankit import (
    DPI,
    STATES,
    STATUSES,
    Gray,
    cli,
    code_texts,
    copy_home,
    count,
    identities,
    page_entry,
    patient_pages,
    render,
    require,
    rows,
    save_jpeg,
    save_pdf_of_jpegs,
    save_png,
    save_tiff_g4,
    scan,
    text_boxes_mm,
    without_marks,
)

from downtime import files, simulate
from downtime.geometry import FIDUCIALS_MM, HOLLOW_FIDUCIAL, PX_PER_MM, SERIAL_FOOTER_MM, box_px
from downtime.ledger import verify_audit_chain
from downtime.scan import decode, images, ocr
from downtime.scan.overlay import PRIVATE_MM

pytestmark = pytest.mark.backends
RESOURCES = Path(__file__).resolve().parent / "resources"
REGISTERED_SHAPE = (round(297 * PX_PER_MM), round(210 * PX_PER_MM))  # rows, columns


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> PrintedPack:
    """Ward MED42 printed once for this module (its own data folder and signing key)."""
    base = tmp_path_factory.mktemp("scan-printed")
    return print_example_pack(backend.new_home(base / "home"), base / "out")


@pytest.fixture
def station(printed: PrintedPack, tmp_path: Path) -> Path:
    """This test's copy of the printed data folder, to scan into."""
    return copy_home(printed, tmp_path / "home")


def registered_image(home: Path, record: dict[str, Any]) -> Gray:
    """The registered page image the ledger recorded for a scanned page."""
    (row,) = rows(
        home,
        "SELECT c.registered_as FROM captures c JOIN scan_pages s USING (scan_page_id)"
        " JOIN scan_files f USING (file_sha256) WHERE f.first_source = ? AND s.source_page = ?",
        (record["source"], record["source_page"]),
    )
    image = cv2.imread(str(home / row["registered_as"]), cv2.IMREAD_GRAYSCALE)
    assert image is not None, row
    return np.asarray(image, dtype=np.uint8)


def is_upright(registered: Gray) -> bool:
    """The hollow registration mark is bottom right, the three solid ones elsewhere."""

    def tone(box: tuple[float, float, float, float]) -> float:
        x, y = round((box[0] + box[2] / 2) * PX_PER_MM), round((box[1] + box[3] / 2) * PX_PER_MM)
        return float(registered[y - 2 : y + 3, x - 2 : x + 3].mean())

    tones = {name: tone(box) for name, box in FIDUCIALS_MM.items()}
    solid = max(t for name, t in tones.items() if name != HOLLOW_FIDUCIAL)
    return tones[HOLLOW_FIDUCIAL] - solid > 60


def by_source(records: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    return {(r["source"], r["source_page"]): r for r in records}


# --------------------------------------------------------------------------------------------
# 1. The --json contract


@pytest.fixture(scope="module")
def contract_run(
    printed: PrintedPack, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Any, list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """One run over a two-page scanner PDF, a forged page, a white page and a text file, named
    by relative paths: (CLI result, records, manifest entries by source)."""
    base = tmp_path_factory.mktemp("contract")
    home = copy_home(printed, base / "home")
    journal, mar, referral = (patient_pages(printed, f)[0] for f in ("journal", "mar", "referral"))
    scans = base / "scans"
    save_pdf_of_jpegs(scans / "batch.pdf", [render(printed, journal), render(printed, mar)], DPI)
    forged = simulate.degrade(render(printed, referral), DPI, "forged", np.random.default_rng(1))
    save_png(scans / "forged.png", forged.image)
    save_png(scans / "white.png", np.full_like(forged.image, 255))
    (scans / "notes.txt").write_text("shopping list: milk, bread\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(base)
        result = cli(
            "scan",
            "--json",
            "--jobs",
            "2",
            "scans/batch.pdf",
            "scans/forged.png",
            "scans/white.png",
            "scans/notes.txt",
            home=home,
        )
    records = [json.loads(line) for line in result.stdout.splitlines()]
    entries = {"batch.pdf:1": journal, "batch.pdf:2": mar, "forged.png:1": referral}
    return result, records, entries


def test_stdout_holds_only_json_lines_one_per_input_page_in_input_order(
    contract_run: tuple[Any, list[dict[str, Any]], dict[str, dict[str, Any]]],
) -> None:
    result, records, _ = contract_run
    lines = result.stdout.splitlines()
    assert result.stdout.endswith("\n")
    assert all(isinstance(json.loads(line), dict) for line in lines), "a line is not an object"
    assert [(r["source"], r["source_page"], r["status"]) for r in records] == [
        ("scans/batch.pdf", 1, "identified"),
        ("scans/batch.pdf", 2, "identified"),
        ("scans/forged.png", 1, "quarantined"),
        ("scans/white.png", 1, "blank"),
        ("scans/notes.txt", 0, "quarantined"),  # a file that is no scan: one record, page 0
    ]


def test_every_record_has_source_status_reason_rotation_and_fields(
    contract_run: tuple[Any, list[dict[str, Any]], dict[str, dict[str, Any]]],
) -> None:
    _, records, _ = contract_run
    for r in records:
        assert {"source", "source_page", "status", "reason", "rotation", "fields"} <= r.keys()
        assert r["status"] in STATUSES
        assert r["rotation"] in (0, 90, 180, 270)
        if r["status"] == "identified":
            assert r["reason"] is None, r
        if r["status"] == "quarantined":
            assert isinstance(r["reason"], str) and r["reason"], r
        assert isinstance(r["fields"], dict)
        for field_id, reading in r["fields"].items():
            assert reading["state"] in STATES, field_id
            assert isinstance(reading["score"], int | float) and reading["score"] >= 0, field_id


def test_identified_record_carries_page_uid_form_page_and_patient_as_in_the_manifest(
    contract_run: tuple[Any, list[dict[str, Any]], dict[str, dict[str, Any]]],
) -> None:
    _, records, entries = contract_run
    for r in records[:2]:
        entry = entries[f"{Path(r['source']).name}:{r['source_page']}"]
        assert r["status"] == "identified" and r["via"] == "code"
        assert r["page_uid"] == entry["page_uid"]
        assert (r["form"], r["page"]) == (entry["form"], entry["page"])
        assert r["patient"] == entry["patient"]
        assert set(r["fields"]) == {f["id"] for f in entry["fields"]}


def test_record_of_a_code_that_fails_verification_carries_no_page_uid_form_or_patient(
    contract_run: tuple[Any, list[dict[str, Any]], dict[str, dict[str, Any]]],
) -> None:
    _, records, _ = contract_run
    forged = records[2]
    assert (forged["status"], forged["reason"]) == ("quarantined", "bad-signature")
    assert not {"page_uid", "form", "page", "patient"} & forged.keys(), forged
    assert isinstance(forged["quarantine_item"], int)
    assert forged["fields"] == {}


def test_exit_code_is_zero_when_pages_were_set_aside(
    contract_run: tuple[Any, list[dict[str, Any]], dict[str, dict[str, Any]]],
) -> None:
    result, records, _ = contract_run
    assert any(r["status"] == "quarantined" for r in records)
    assert result.exit_code == 0


# --------------------------------------------------------------------------------------------
# 2. Every input format


def test_scanner_pdf_of_jpeg_images_gives_every_page_with_its_page_number(
    printed: PrintedPack, station: Path, tmp_path: Path
) -> None:
    entries = patient_pages(printed)[:3]
    pages = [
        simulate.degrade(render(printed, e), DPI, "scan-200", np.random.default_rng(n)).image
        for n, e in enumerate(entries)
    ]
    pdf = save_pdf_of_jpegs(tmp_path / "batch-07.pdf", pages, 200)
    require(pdf.read_bytes().count(b"/DCTDecode") == 3, "the PDF holds three JPEG images")

    records = scan(station, pdf)

    assert [r["source_page"] for r in records] == [1, 2, 3]
    assert {r["source"] for r in records} == {str(pdf)}
    assert [r["status"] for r in records] == ["identified"] * 3
    assert [r["page_uid"] for r in records] == [e["page_uid"] for e in entries]
    (kept,) = rows(station, "SELECT kind, size, stored_as FROM scan_files")
    assert (kept["kind"], kept["size"]) == ("pdf", pdf.stat().st_size)
    assert (station / kept["stored_as"]).read_bytes() == pdf.read_bytes(), "original kept as is"


def test_multipage_group4_tiff_gives_every_page(
    printed: PrintedPack, station: Path, tmp_path: Path
) -> None:
    entries = patient_pages(printed, "mar")[:2]
    tiff = save_tiff_g4(tmp_path / "ward.tif", [render(printed, e) for e in entries], (DPI, DPI))
    with Image.open(tiff) as check:
        require(check.n_frames == 2 and check.info["compression"] == "group4", "G4, 2 pages")

    records = scan(station, tiff)

    assert [(r["source_page"], r["status"]) for r in records] == [
        (1, "identified"),
        (2, "identified"),
    ]
    assert [r["page_uid"] for r in records] == [e["page_uid"] for e in entries]


def test_fax_tiff_at_204_by_98_dpi_is_identified(
    printed: PrintedPack, station: Path, tmp_path: Path
) -> None:
    entries = patient_pages(printed, "referral")[:2]
    faxed = [
        simulate.degrade(render(printed, e), DPI, "fax", np.random.default_rng(n))
        for n, e in enumerate(entries)
    ]
    require(all((f.dpi_x, f.dpi_y) == (204.0, 98.0) for f in faxed), "fax resolution")
    tiff = save_tiff_g4(tmp_path / "fax.tif", [f.image for f in faxed], (204, 98))
    with Image.open(tiff) as check:
        require(tuple(round(v) for v in check.info["dpi"]) == (204, 98), "dpi in the file")

    records = scan(station, tiff)

    assert [(r["source_page"], r["status"]) for r in records] == [
        (1, "identified"),
        (2, "identified"),
    ]
    assert [r["page_uid"] for r in records] == [e["page_uid"] for e in entries]
    assert [r["rotation"] for r in records] == [0, 0]


def test_phone_photos_are_identified_and_their_exif_orientation_applied(
    printed: PrintedPack, station: Path, tmp_path: Path
) -> None:
    plain, turned = patient_pages(printed, "journal")[:2]
    photo = simulate.degrade(render(printed, plain), DPI, "phone", np.random.default_rng(8))
    other = simulate.degrade(render(printed, turned), DPI, "phone", np.random.default_rng(9))
    save_jpeg(tmp_path / "IMG_0001.jpg", photo.image)
    # Stored a quarter turn counter-clockwise, with EXIF 6 ("turn 90° clockwise to view").
    stored = np.ascontiguousarray(np.rot90(other.image, 1))
    save_jpeg(tmp_path / "IMG_0002.jpg", stored, exif_orientation=6)

    records = scan(station, tmp_path / "IMG_0001.jpg", tmp_path / "IMG_0002.jpg")

    assert [r["status"] for r in records] == ["identified", "identified"]
    assert [r["page_uid"] for r in records] == [plain["page_uid"], turned["page_uid"]]
    assert [r["rotation"] for r in records] == [0, 0], "EXIF orientation applied before reading"
    assert {r["kind"] for r in rows(station, "SELECT kind FROM scan_files")} == {"jpeg"}


def test_folder_is_searched_recursively_in_name_order_skipping_hidden_files(
    printed: PrintedPack, station: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = patient_pages(printed)[:5]
    scans = tmp_path / "scans"
    save_png(scans / "monday" / "late" / "c.png", render(printed, entries[2]))
    save_png(scans / "monday" / "a.png", render(printed, entries[1]))
    save_png(scans / "b.png", render(printed, entries[0]))
    save_png(scans / ".d.png", render(printed, entries[3]))  # hidden file
    save_png(scans / ".trash" / "e.png", render(printed, entries[4]))  # in a hidden folder
    monkeypatch.chdir(tmp_path)

    records = scan(station, "scans")

    assert [r["source"] for r in records] == [
        "scans/b.png",
        "scans/monday/a.png",
        "scans/monday/late/c.png",
    ]
    assert [r["page_uid"] for r in records] == [e["page_uid"] for e in entries[:3]]
    assert count(station, "scan_files") == 3
    seen = {r["page_uid"] for r in rows(station, "SELECT page_uid FROM scan_pages")}
    assert not seen & {entries[3]["page_uid"], entries[4]["page_uid"]}


# --------------------------------------------------------------------------------------------
# 3. Turned and degraded pages

TURNS = ("upside-down", "rot90-cw", "rot90-ccw")
DEGRADED = (
    "skew",
    "fit-97",
    "blur",
    "noise",
    "jpeg",
    "low-contrast",
    "photocopy",
    "stain-code",
    "scan-300",
)


def degrade_case(image: Gray, case: str, seed: int) -> simulate.Degraded:
    if case.startswith("rot90-"):
        # rot90 turns either way at random: take the first seed that turns the way wanted
        wanted = 270 if case == "rot90-cw" else 90
        for n in range(seed, seed + 64):
            turned = simulate.degrade(image, DPI, "rot90", np.random.default_rng(n))
            if turned.rotation == wanted:
                return turned
        raise AssertionError(f"no seed turns the page for {case}")
    return simulate.degrade(image, DPI, case, np.random.default_rng(seed))


@pytest.fixture(scope="module")
def degraded_run(
    printed: PrintedPack, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, tuple[dict[str, Any], simulate.Degraded, dict[str, Any]]]]:
    """One run over one page per case (each a different page): home and, per case, (manifest
    entry, degraded image, record)."""
    base = tmp_path_factory.mktemp("degraded")
    home = copy_home(printed, base / "home")
    made = {}
    for n, (case, entry) in enumerate(zip(TURNS + DEGRADED, patient_pages(printed), strict=False)):
        degraded = degrade_case(render(printed, entry), case, seed=100 + n)
        path = save_png(base / "scans" / f"{n:02d}-{case}.png", degraded.image, degraded.dpi_x)
        made[case] = (entry, degraded, str(path))
    records = by_source(scan(home, *(path for _, _, path in made.values()), jobs=2))
    return home, {case: (e, d, records[(path, 1)]) for case, (e, d, path) in made.items()}


@pytest.mark.parametrize("case", TURNS)
def test_turned_page_is_identified_with_the_clockwise_turn_that_makes_it_upright(
    degraded_run: tuple[Path, dict[str, Any]], case: str
) -> None:
    home, results = degraded_run
    entry, degraded, record = results[case]
    assert record["status"] == "identified", degraded.note
    assert record["page_uid"] == entry["page_uid"]
    assert record["rotation"] == degraded.rotation != 0
    assert is_upright(registered_image(home, record)), "the registered image is upright"


@pytest.mark.parametrize("case", DEGRADED)
def test_degraded_page_is_identified_as_the_right_page(
    degraded_run: tuple[Path, dict[str, Any]], case: str
) -> None:
    home, results = degraded_run
    entry, degraded, record = results[case]
    assert record["status"] == "identified", degraded.note
    assert record["page_uid"] == entry["page_uid"]
    assert record["rotation"] == 0
    assert record["residual_mm"] < 1.5, degraded.note
    assert is_upright(registered_image(home, record))


# --------------------------------------------------------------------------------------------
# 4. Marks

FILL_DPI = 200
OPPOSITE = {"marked": "empty", "empty": "marked", "written": "blank", "blank": "written"}


@pytest.fixture(scope="module")
def filled_run(
    printed: PrintedPack, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[tuple[dict[str, Any], simulate.Truth, dict[str, Any]]]]:
    """Three pages filled like a person (every mark style, pen and pencil), scanned clean at
    200 dpi: home and (manifest entry, truth, record) per page."""
    base = tmp_path_factory.mktemp("filled")
    home = copy_home(printed, base / "home")
    made = []
    for form in ("journal", "medication-orders", "mar"):
        entry = patient_pages(printed, form)[1]
        image, truth = simulate.fill_page(
            render(printed, entry, FILL_DPI),
            entry,
            FILL_DPI,
            random.Random(f"marks:{entry['pdf_page']}"),
            mark_rate=0.4,
        )
        path = save_png(base / "scans" / f"{form}.png", image, FILL_DPI)
        made.append((entry, truth, path))
    records = scan(home, *(path for _, _, path in made), jobs=2)
    return home, [(e, t, r) for (e, t, _), r in zip(made, records, strict=True)]


def test_no_box_or_writing_area_reads_the_opposite_of_what_was_put_on_it(
    filled_run: tuple[Path, list[tuple[dict[str, Any], simulate.Truth, dict[str, Any]]]],
) -> None:
    _, pages = filled_run
    for entry, truth, record in pages:
        assert record["status"] == "identified" and record["page_uid"] == entry["page_uid"]
        require(set(truth.fields) == set(record["fields"]), "every field read")
        require("marked" in truth.fields.values(), f"{entry['form']}: some box is marked")
        read = {fid: record["fields"][fid]["state"] for fid in truth.fields}
        for fid, put in truth.fields.items():
            assert read[fid] in (put, OPPOSITE[put], "uncertain"), (fid, put, read[fid])
        wrong = {
            fid: (put, read[fid]) for fid, put in truth.fields.items() if read[fid] == OPPOSITE[put]
        }
        assert not wrong, f"{entry['form']}: false-confident readings {wrong}"


def test_clean_filled_page_is_read_with_certainty_for_most_fields(
    filled_run: tuple[Path, list[tuple[dict[str, Any], simulate.Truth, dict[str, Any]]]],
) -> None:
    _, pages = filled_run
    states = Counter(
        "certain" if r["state"] != "uncertain" else "uncertain"
        for _, _, record in pages
        for r in record["fields"].values()
    )
    total = sum(states.values())
    require(total > 100, "enough fields to judge")
    assert states["certain"] / total >= 0.9, states


def test_readings_are_recorded_with_crops_on_the_registered_image(
    filled_run: tuple[Path, list[tuple[dict[str, Any], simulate.Truth, dict[str, Any]]]],
) -> None:
    home, pages = filled_run
    for entry, _, record in pages:
        (capture,) = rows(
            home, "SELECT capture_id FROM captures WHERE page_uid = ?", (entry["page_uid"],)
        )
        marks = {
            r["field_id"]: r
            for r in rows(
                home, "SELECT * FROM marks WHERE capture_id = ?", (capture["capture_id"],)
            )
        }
        assert set(marks) == {f["id"] for f in entry["fields"]}
        assert {f: m["state"] for f, m in marks.items()} == {
            f: r["state"] for f, r in record["fields"].items()
        }
        height, width = registered_image(home, record).shape
        for field in entry["fields"]:
            m = marks[field["id"]]
            crop = (m["crop_left_px"], m["crop_top_px"], m["crop_right_px"], m["crop_bottom_px"])
            assert 0 <= crop[0] < crop[2] <= width and 0 <= crop[1] < crop[3] <= height, crop
            expected = box_px(tuple(field["box_mm"]))
            assert all(abs(a - b) <= 1 for a, b in zip(crop, expected, strict=True)), field["id"]


def test_registered_page_image_is_kept_private_in_the_store(
    filled_run: tuple[Path, list[tuple[dict[str, Any], simulate.Truth, dict[str, Any]]]],
) -> None:
    home, pages = filled_run
    for _, _, record in pages:
        (row,) = rows(
            home,
            "SELECT registered_as FROM captures WHERE page_uid = ?",
            (record["page_uid"],),
        )
        path = home / row["registered_as"]
        assert path.is_file() and path.is_relative_to(home / "store")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        image = registered_image(home, record)
        assert image.shape == REGISTERED_SHAPE
        assert is_upright(image)


# --------------------------------------------------------------------------------------------
# 6. Blank pages


def test_white_page_and_duplex_back_are_blank_and_not_set_aside(
    printed: PrintedPack, station: Path, tmp_path: Path
) -> None:
    entry = patient_pages(printed, "journal")[0]
    front, _ = simulate.fill_page(render(printed, entry), entry, DPI, random.Random(6))
    back = simulate.degrade(front, DPI, "duplex-back", np.random.default_rng(6))
    white = np.full_like(front, 255)
    save_png(tmp_path / "white.png", white)
    save_png(tmp_path / "back.png", back.image)

    records = scan(station, tmp_path / "white.png", tmp_path / "back.png")

    assert [r["status"] for r in records] == ["blank", "blank"]
    assert all("page_uid" not in r and "patient" not in r for r in records)
    assert count(station, "quarantine") == 0
    assert count(station, "captures") == 0
    statuses = [r["status"] for r in rows(station, "SELECT status FROM scan_pages")]
    assert statuses == ["blank", "blank"]
    assert json.loads(cli("quarantine", "list", "--json", home=station).stdout)["items"] == []


@pytest.mark.parametrize(
    ("size", "status"),
    [((1, 1), "quarantined"), ((445, 314), "quarantined"), ((446, 315), "blank")],
)
def test_an_image_too_small_to_hold_a_page_is_set_aside_not_blank(
    station: Path, tmp_path: Path, size: tuple[int, int], status: str
) -> None:
    """Issue 8.6: a 1 × 1 image was reported ``blank``. Smaller than A4 at 1.5 px/mm (38 dpi,
    the lowest resolution registration considers) is no page."""
    image = save_png(tmp_path / "icon.png", np.full(size, 255, np.uint8))

    (record,) = scan(station, image)

    assert record["status"] == status
    if status == "quarantined":
        assert record["reason"] == "too-small"
        assert "scan the paper again" in record["message"]
        (item,) = rows(station, "SELECT reason FROM quarantine")
        assert item["reason"] == "too-small"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_pipes_devices_and_broken_links_in_a_folder_are_listed_on_stderr_never_opened(
    printed: PrintedPack, station: Path, tmp_path: Path
) -> None:
    """Issue 8.6: they were skipped silently. Opening the pipe would wait for a writer forever,
    reading /dev/zero would never end: the run finishing is part of the test."""
    scans = tmp_path / "scans"
    save_png(scans / "page.png", render(printed, patient_pages(printed)[0]))
    os.mkfifo(scans / "pipe")
    (scans / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (scans / "zero.png").symlink_to("/dev/zero")
    (scans / ".hidden.png").symlink_to("/dev/zero")  # hidden: passed over, not listed

    result = cli("scan", "--jobs", "1", "--lang", "en", scans, home=station)

    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped: ")]
    assert skipped == [
        f"skipped: {scans / 'gone.png'}: a broken symbolic link (what it points to does not exist)",
        f"skipped: {scans / 'pipe'}: a named pipe (FIFO), not a file; never opened",
        f"skipped: {scans / 'zero.png'}: a symbolic link to a device, not a file; never opened",
    ]
    table = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()}
    assert (table["identified"], table["pages"], table["skipped"]) == ("1", "1", "3")
    assert count(station, "scan_files") == 1


# --------------------------------------------------------------------------------------------
# 7. Rescans


def ledger_counts(home: Path) -> dict[str, int]:
    return {t: count(home, t) for t in ("scan_pages", "captures", "marks", "quarantine")}


def test_same_file_again_is_all_duplicates_and_adds_nothing(
    printed: PrintedPack, station: Path, tmp_path: Path
) -> None:
    entries = patient_pages(printed)[:2]
    filled = [
        simulate.fill_page(render(printed, e), e, DPI, random.Random(n))[0]
        for n, e in enumerate(entries)
    ]
    forged = simulate.degrade(filled[1], DPI, "forged", np.random.default_rng(3))
    pdf = save_pdf_of_jpegs(tmp_path / "batch.pdf", [filled[0], forged.image, filled[1]], DPI)
    first = scan(station, pdf)
    require([r["status"] for r in first] == ["identified", "quarantined", "identified"], "run 1")
    before = ledger_counts(station)

    again = scan(station, pdf)

    assert [r["status"] for r in again] == ["duplicate"] * 3
    assert [r["source_page"] for r in again] == [1, 2, 3]
    assert [r.get("page_uid") for r in again] == [r.get("page_uid") for r in first]
    assert ledger_counts(station) == before
    assert count(station, "scan_runs") == 2


def test_same_page_in_another_file_with_the_same_fill_is_a_duplicate_linked_to_the_first(
    printed: PrintedPack, station: Path, tmp_path: Path
) -> None:
    entry = patient_pages(printed, "medication-orders")[0]
    image, _ = simulate.fill_page(render(printed, entry), entry, DPI, random.Random(11))
    save_png(tmp_path / "first.png", image)
    Image.fromarray(image).save(tmp_path / "again.tif", compression="tiff_lzw", dpi=(DPI, DPI))
    (first,) = scan(station, tmp_path / "first.png")
    require(first["status"] == "identified", "first capture")

    (again,) = scan(station, tmp_path / "again.tif")

    assert (again["status"], again["page_uid"]) == ("duplicate", entry["page_uid"])
    assert again["fields"], "a new capture is read"
    captures = rows(station, "SELECT * FROM captures ORDER BY capture_id")
    assert [c["page_uid"] for c in captures] == [entry["page_uid"]] * 2
    assert captures[1]["same_as"] == captures[0]["capture_id"]
    assert captures[1]["conflicts_with"] is None


def test_photocopy_filled_differently_is_a_conflict_keeping_both_captures(
    printed: PrintedPack, station: Path, tmp_path: Path
) -> None:
    entry = patient_pages(printed, "prescription")[0]
    (a, truth_a), (b, truth_b) = simulate.photocopy_filled_differently(
        render(printed, entry), entry, DPI, 5
    )
    require(truth_a != truth_b, "the two sheets were filled differently")
    copied = simulate.degrade(b, DPI, "photocopy", np.random.default_rng(2))
    save_png(tmp_path / "original.png", a)
    save_png(tmp_path / "copy.png", copied.image)
    (first,) = scan(station, tmp_path / "original.png")
    require(first["status"] == "identified", "first capture")
    (capture_a,) = rows(station, "SELECT capture_id FROM captures")
    marks_sql = "SELECT * FROM marks WHERE capture_id = ? ORDER BY field_id"
    reading_a = rows(station, marks_sql, (capture_a["capture_id"],))

    (second,) = scan(station, tmp_path / "copy.png")

    assert (second["status"], second["page_uid"]) == ("conflict", entry["page_uid"])
    captures = rows(station, "SELECT * FROM captures ORDER BY capture_id")
    assert len(captures) == 2, "both captures kept"
    assert captures[1]["conflicts_with"] == capture_a["capture_id"]
    assert captures[1]["same_as"] is None
    assert rows(station, marks_sql, (capture_a["capture_id"],)) == reading_a, "first unchanged"
    status = rows(station, "SELECT status FROM scan_pages ORDER BY scan_page_id")
    assert [s["status"] for s in status] == ["identified", "conflict"]


def test_same_bytes_under_two_names_in_one_run_are_a_duplicate_and_the_run_goes_on(
    printed: PrintedPack, station: Path, tmp_path: Path
) -> None:
    first, later = patient_pages(printed)[:2]
    save_png(tmp_path / "scans" / "a" / "scan0001.png", render(printed, first))
    shutil.copy(tmp_path / "scans" / "a" / "scan0001.png", tmp_path / "scans" / "b.png")
    save_png(tmp_path / "scans" / "c.png", render(printed, later))

    result = cli("scan", "--json", "--jobs", "1", tmp_path / "scans", home=station, ok=False)

    assert result.exit_code == 0, repr(result.exception)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["status"] for r in records] == ["identified", "duplicate", "identified"]
    assert records[2]["page_uid"] == later["page_uid"]


def test_duplicate_of_same_bytes_in_one_run_carries_the_page_uid_of_its_first_copy(
    printed: PrintedPack, station: Path, tmp_path: Path
) -> None:
    """Issue 8.5: the second name's records had no ``page_uid``, against the contract
    (duplicate and conflict records carry it)."""
    entries = patient_pages(printed)[:2]
    pdf = save_pdf_of_jpegs(
        tmp_path / "scans" / "a.pdf", [render(printed, e) for e in entries], DPI
    )
    shutil.copy(pdf, tmp_path / "scans" / "b.pdf")

    records = scan(station, tmp_path / "scans", jobs=2)

    first, again = records[:2], records[2:]
    assert [r["status"] for r in again] == ["duplicate", "duplicate"]
    assert [r["reason"] for r in again] == ["same-file", "same-file"]
    assert [r["page_uid"] for r in again] == [e["page_uid"] for e in entries]
    for mine, theirs in zip(again, first, strict=True):
        assert {k: mine[k] for k in ("form", "page", "patient")} == {
            k: theirs[k] for k in ("form", "page", "patient")
        }
    assert count(station, "captures") == 2


# --------------------------------------------------------------------------------------------
# 8. The printed serial when both codes are destroyed


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="Tesseract (tesseract-ocr) missing")
def test_a_serial_tesseract_misreads_at_one_scale_is_read_at_another() -> None:
    """A real registered footer whose serial Tesseract reads as EK4F-3J37D-CTRD when the crop
    is enlarged 2× (a doubled glyph: the check characters refuse it); at 3× it reads right.
    Every preparation's reading must pass the check characters, so none can name another
    page."""
    footer = cv2.imread(str(RESOURCES / "footer-EK4F-3J7D-CTRD.png"), cv2.IMREAD_GRAYSCALE)
    page = np.full(REGISTERED_SHAPE, 255, np.uint8)
    x, y, _, _ = SERIAL_FOOTER_MM
    top, left = round((y - 3) * PX_PER_MM), round((x - 3) * PX_PER_MM)
    page[top : top + footer.shape[0], left : left + footer.shape[1]] = footer

    assert ocr.read_serial(page) == "EK4F-3J7D-CTRD"
    blank = np.full(REGISTERED_SHAPE, 255, np.uint8)
    assert ocr.read_serial(blank) is None  # nothing printed: no reading, at any scale


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="Tesseract (tesseract-ocr) missing")
def test_page_with_both_codes_destroyed_is_identified_by_its_printed_serial(
    printed: PrintedPack, station: Path, tmp_path: Path
) -> None:
    entries = [patient_pages(printed, "journal")[2], patient_pages(printed, "mar")[2]]
    paths = []
    for n, entry in enumerate(entries):
        torn = simulate.degrade(
            render(printed, entry), DPI, "codes-destroyed", np.random.default_rng(n)
        )
        require(code_texts(torn.image) == [], "no code reads any more")
        paths.append(save_png(tmp_path / f"torn-{n}.png", torn.image))

    records = scan(station, *paths)

    assert [(r["status"], r["via"]) for r in records] == [("identified", "serial")] * 2
    assert [r["page_uid"] for r in records] == [e["page_uid"] for e in entries]
    assert [r["patient"] for r in records] == [e["patient"] for e in entries]
    via = rows(station, "SELECT via FROM captures ORDER BY capture_id")
    assert [v["via"] for v in via] == ["serial", "serial"]


# --------------------------------------------------------------------------------------------
# 9. A corner stained or torn away

# Seeds of stain-corner: which code (and the mark beside it) goes, and how.
CORNERS = {1: "torn white over code 1", 2: "stain over code 2", 9: "torn dark over code 1"}


def test_page_with_one_code_and_the_mark_beside_it_stained_is_identified_and_read_right(
    printed: PrintedPack, station: Path, tmp_path: Path
) -> None:
    """Such pages were set aside as registration-failed (up to a fifth of them) although the
    other code verified and three marks remained (test_register.py pins the cause)."""
    made = []
    for n, (form, seed) in enumerate(
        zip(("medication-orders", "mar", "journal"), CORNERS, strict=True)
    ):
        entry = patient_pages(printed, form)[2]
        image, truth = simulate.fill_page(
            render(printed, entry, FILL_DPI),
            entry,
            FILL_DPI,
            random.Random(f"corner:{n}"),
            mark_rate=0.4,
        )
        g = np.random.default_rng(seed)
        degraded = simulate.then(
            simulate.degrade(image, FILL_DPI, "stain-corner", g), "scan-200", g
        )
        how, _, rest = degraded.note.removeprefix("stain-corner: ").partition(" (")
        require(
            f"{how} over code {rest.split(' over code ')[1][0]}" == CORNERS[seed], degraded.note
        )
        made.append((entry, truth, degraded))
    save_pdf_of_jpegs(tmp_path / "batch.pdf", [d.image for _, _, d in made], 200)

    records = scan(station, tmp_path / "batch.pdf")

    assert count(station, "quarantine") == 0
    for (entry, truth, degraded), record in zip(made, records, strict=True):
        assert record["status"] == "identified", degraded.note
        assert record["page_uid"] == entry["page_uid"]
        assert record["residual_mm"] < 0.5, degraded.note
        fields = record["fields"]
        assert set(fields) == set(truth.fields)
        flagged = [
            f
            for f, r in fields.items()
            if {"registration", "unregistered"} & set(r.get("flags", []))
        ]
        assert not flagged, degraded.note
        wrong = [f for f, put in truth.fields.items() if fields[f]["state"] == OPPOSITE[put]]
        assert not wrong, f"{entry['form']}: false-confident readings {wrong}"
        certain = sum(r["state"] != "uncertain" for r in fields.values())
        assert certain / len(fields) >= 0.85, degraded.note


def test_genuine_page_that_cannot_be_aligned_is_returned_with_every_field_for_review(
    printed: PrintedPack, station: Path, tmp_path: Path
) -> None:
    """Not set aside, never missing: the page came back. Nothing on it is read with
    certainty, so nothing of it reaches the record without a person."""
    entry = patient_pages(printed, "mar")[1]
    image, truth = simulate.fill_page(
        render(printed, entry), entry, DPI, random.Random("unregistered"), mark_rate=0.5
    )
    require("marked" in truth.fields.values(), "some box is ticked")
    stained = simulate.degrade(image, DPI, "stain-corner", np.random.default_rng(2))
    path = save_png(tmp_path / "page.png", without_marks(stained.image, DPI))
    require(len(code_texts(without_marks(stained.image, DPI))) == 1, "one code still reads")

    (record,) = scan(station, path)

    assert (record["status"], record["page_uid"], record["via"]) == (
        "identified",
        entry["page_uid"],
        "code",
    )
    assert "every field for review" in record["message"]
    fields = record["fields"]
    assert set(fields) == {f["id"] for f in entry["fields"]}
    assert {r["state"] for r in fields.values()} == {"uncertain"}
    assert all("unregistered" in r["flags"] for r in fields.values())
    assert count(station, "quarantine") == 0
    assert registered_image(station, record).shape == REGISTERED_SHAPE

    report = json.loads(cli("report", "--format", "json", home=station).stdout)
    assert entry["form_serial"] not in {m["serial"] for m in report["missing"]}
    cli("reconcile", "--outbox", tmp_path / "outbox", home=station)
    held = rows(station, "SELECT item, kind, detail FROM held_items")
    ticked = {".".join(f.split(".")[:2]) for f, put in truth.fields.items() if put == "marked"}
    assert ticked <= {h["item"] for h in held}
    assert all("unregistered" in h["detail"] for h in held if h["item"] in ticked)
    posted = rows(station, "SELECT resource_type FROM posted_resources")
    assert "MedicationAdministration" not in {p["resource_type"] for p in posted}


# --------------------------------------------------------------------------------------------
# 10. A page that crashes the decoder


class AbortOnDarkImages:
    """The one fake in these tests: ``downtime.decode.read_zxing`` that kills its process with
    SIGABRT — as a native decoder fault on a pathological image would — when handed an image
    darker than ``DARK`` on average, and otherwise reads like the real one.

    Such a crash cannot be caused from outside on purpose, hence the fake. Scan workers are
    forked from the test process on Linux, so they run with the patched module; the test
    process itself never aborts (it calls the real reader)."""

    DARK = 160.0

    def __init__(self, real: Callable[..., list[decode.Symbol]]) -> None:
        self.real = real
        self.parent = os.getpid()

    def __call__(
        self, image: Gray, offset: tuple[float, float] = (0.0, 0.0), stage: str = "page"
    ) -> list[decode.Symbol]:
        if os.getpid() != self.parent and float(image.mean()) < self.DARK:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file
            faulthandler.disable()  # no traceback on the test's stderr
            os.abort()
        return self.real(image, offset, stage)


@pytest.mark.skipif(
    multiprocessing.get_start_method() != "fork",
    reason="the crashing decoder is patched in; only forked workers inherit the patch",
)
def test_page_that_crashes_a_worker_is_set_aside_and_the_run_goes_on(
    printed: PrintedPack,
    station: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entries = patient_pages(printed)[:5]
    paths = []
    for n, entry in enumerate(entries):
        image = render(printed, entry)
        if n == 2:  # a dim scan: paper at 130, print still black — dark, but a page
            image = (image.astype(np.float32) * 130 / 255).astype(np.uint8)
            require(image.mean() < AbortOnDarkImages.DARK, "the dim page is dark on average")
        else:
            require(image.mean() > AbortOnDarkImages.DARK + 40, "the other pages are light")
        paths.append(save_png(tmp_path / f"p{n}.png", image))
    monkeypatch.setattr(decode, "read_zxing", AbortOnDarkImages(decode.read_zxing))
    monkeypatch.chdir(tmp_path)

    records = scan(station, *paths, jobs=2)

    assert [r["status"] for r in records] == [
        "identified",
        "identified",
        "quarantined",
        "identified",
        "identified",
    ]
    assert records[2]["reason"] == "worker-crash"
    assert "page_uid" not in records[2]
    assert [r["page_uid"] for r in records if r["status"] == "identified"] == [
        e["page_uid"] for n, e in enumerate(entries) if n != 2
    ]
    (item,) = rows(station, "SELECT reason FROM quarantine")
    assert item["reason"] == "worker-crash"


@pytest.mark.parametrize("jobs", [1, 2])
def test_page_whose_reading_raises_is_set_aside_as_worker_error_and_the_run_goes_on(
    printed: PrintedPack, station: Path, tmp_path: Path, jobs: int
) -> None:
    """Issue 8.7: an ordinary exception while reading one page ended the whole run. The page
    here is a genuine malformed input: a fax TIFF whose header claims a vertical resolution of
    1/100,000 dpi, which reads as 0 dpi and makes the fax resampling divide by zero."""
    entries = patient_pages(printed)[:3]
    paths = [save_png(tmp_path / "a.png", render(printed, entries[0]))]
    paths.append(save_tiff_g4(tmp_path / "b.tif", [render(printed, entries[1])], (204, 1e-5)))
    paths.append(save_png(tmp_path / "c.png", render(printed, entries[2])))
    (item,) = images.find_inputs([paths[1]])
    odd = images.read_page(item, 1)
    require(
        isinstance(odd, images.PageImage) and odd.dpi is not None and odd.dpi[1] == 0.0,
        "the TIFF reads with a vertical dpi of 0 (if that is fixed, find another page that "
        "makes the reader raise)",
    )

    records = scan(station, *paths, jobs=jobs)

    assert [(r["status"], r["reason"]) for r in records] == [
        ("identified", None),
        ("quarantined", "worker-error"),
        ("identified", None),
    ]
    assert "page_uid" not in records[1]
    assert "ZeroDivisionError" in records[1]["message"]
    assert "division" not in records[1]["message"]  # the type only, never the message
    (item_row,) = rows(station, "SELECT item_id, reason, message FROM quarantine")
    assert item_row["reason"] == "worker-error"
    assert item_row["message"] == records[1]["message"]
    if jobs == 1:  # assigning it reads the same page again: one line, the item as it was
        assigned = cli("quarantine", "assign", str(item_row["item_id"]), entries[1]["form_serial"],
                       "--lang", "en", home=station, ok=False)  # fmt: skip
        assert assigned.exit_code == 3 and "Traceback" not in assigned.stderr
        assert "reading the page failed (ZeroDivisionError); it stays in quarantine" in (
            assigned.stderr
        )
        assert count(station, "assignments") == 0 and count(station, "captures") == 2


REPO = Path(__file__).resolve().parent.parent


def child_env() -> dict[str, str]:
    """The environment of a child `downtime`: this tree first on its path."""
    paths = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def downtime_process(*args: str | Path) -> subprocess.Popen[bytes]:
    code = "import sys; from downtime.cli import main; sys.exit(main())"
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first, then ppid, …)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text("ascii", "replace")
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def children_of(pid: int) -> dict[int, str]:
    """Child pid → its start time (field 22: with the pid, names one process for good)."""
    found = {}
    for entry in Path("/proc").iterdir():
        fields = proc_stat(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None and fields[1] == str(pid):
            found[int(entry.name)] = fields[19]
    return found


def still_running(pid: int, started: str) -> bool:
    fields = proc_stat(pid)
    return fields is not None and fields[19] == started and fields[0] != "Z"


def temp_of_killed_writer(folder: Path) -> Path:
    """A temporary file as files.new_temp makes it, by a process then killed with SIGKILL."""
    code = (
        "import sys, time; from pathlib import Path; from downtime import files; "
        "print(files.new_temp(Path(sys.argv[1])), flush=True); time.sleep(60)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(folder)], env=child_env(), stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    temp = Path(child.stdout.readline().decode().strip())
    child.kill()
    child.wait(timeout=10)
    require(temp.exists(), "the killed writer left its temporary file")
    return temp


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_killed_scan_leaves_no_worker_and_the_next_run_removes_its_stale_temporary_files(
    printed: PrintedPack, station: Path, tmp_path: Path
) -> None:
    """Issue 8.8: workers outlived a killed `downtime scan`, and temporary files stayed for
    ever. A real `downtime scan --jobs 2`, killed with SIGKILL while its workers read pages."""
    page = render(printed, patient_pages(printed)[0])
    save_pdf_of_jpegs(tmp_path / "scans" / "batch.pdf", [page] * 60, DPI)
    scan_run = downtime_process("--home", station, "scan", "--jobs", "2", tmp_path / "scans")
    workers: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2 and scan_run.poll() is None and time.monotonic() < deadline:
            workers = children_of(scan_run.pid)
            time.sleep(0.02)
        require(len(workers) >= 2, f"the run started its workers ({scan_run.poll()=})")
        time.sleep(0.3)  # reading pages
        require(scan_run.poll() is None, "the run was still going when it was killed")
    finally:
        scan_run.kill()
        scan_run.wait(timeout=10)

    deadline = time.monotonic() + 10
    while any(still_running(*w) for w in workers.items()) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [pid for pid, started in workers.items() if still_running(pid, started)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)  # a failing test leaves no orphan behind
    assert not survivors

    store = station / "store"
    stale = temp_of_killed_writer(store / "incoming")  # an original being copied in
    old = files.new_temp(store / "old")  # untouched for two days (a pid since reused)
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    live = files.new_temp(store / "incoming")  # a concurrent run: this process, running
    records = scan(station, save_png(tmp_path / "later.png", page))
    # the killed run may or may not have recorded that page before it died (a busy machine)
    assert [r["status"] for r in records] in (["duplicate"], ["identified"])
    assert not stale.exists()
    assert not old.exists()
    assert live.exists()
    left = [p for p in store.rglob(".*.tmp") if p != live]
    assert not left


def test_next_reconcile_removes_stale_temporary_files_from_the_outbox_only(
    station: Path, tmp_path: Path
) -> None:
    """Issue 8.8: temporary bundles of a killed reconcile stayed in the outbox for ever."""
    outbox = files.private_folder(station / "outbox")
    stale = temp_of_killed_writer(outbox / "bundle.json")
    live = files.new_temp(outbox / "other.json")  # a concurrent run: this process, running
    mine = outbox / ".notes.tmp"  # not a name the kit makes: not touched
    mine.write_text("kept")

    cli("reconcile", "--outbox", outbox, home=station)

    assert not stale.exists()
    assert live.exists()
    assert mine.exists()


# --------------------------------------------------------------------------------------------
# 11. Debug overlays


def overlay_path(debug: Path, source: Path, page: int = 1) -> Path:
    """Overlays are named after the file and a hash of its whole path (scanners reuse names)."""
    found = sorted(debug.glob(f"{source.name}-*-p{page:03d}.png"))
    assert len(found) == 1, sorted(p.name for p in debug.iterdir())
    return found[0]


def overlay_of(debug: Path, source: Path, page: int = 1) -> Gray:
    path = overlay_path(debug, source, page)
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None
    assert image.shape[:2] == REGISTERED_SHAPE
    return np.asarray(image, dtype=np.uint8)


def region(image: Gray, box_mm: tuple[float, float, float, float]) -> Gray:
    x0, y0, x1, y1 = box_px(box_mm)
    return image[y0:y1, x0:x1]


def test_debug_overlay_per_identified_page_blacks_out_name_and_identifier(
    printed: PrintedPack, station: Path, tmp_path: Path
) -> None:
    entries = patient_pages(printed)[:2]
    sources = [
        save_png(tmp_path / f"page{n}.png", render(printed, e)) for n, e in enumerate(entries)
    ]
    debug = tmp_path / "debug"

    records = scan(station, "--debug-dir", debug, *sources)

    require([r["status"] for r in records] == ["identified"] * 2, "both pages identified")
    for entry, source in zip(entries, sources, strict=True):
        overlay = overlay_of(debug, source)
        assert stat.S_IMODE(overlay_path(debug, source).stat().st_mode) == 0o600
        for box in PRIVATE_MM:
            assert region(overlay, box).max() == 0, f"{box} is not blacked out"
        # every place the page prints its patient's name or identifier is inside those boxes
        value = entry["patient"]["value"]
        printed_identity = text_boxes_mm(
            printed.pdf, entry["pdf_page"], [value[:8] + "-" + value[8:], *identities(station)]
        )
        require(len(printed_identity) >= 4, "name and identifier printed in header and footer")
        for text, box in printed_identity:
            assert region(overlay, box).max() == 0, f"{text!r} readable on the overlay"
    assert stat.S_IMODE(debug.stat().st_mode) == 0o700


def test_debug_overlay_of_the_cover_sheet_shows_no_patient_name_or_identifier(
    printed: PrintedPack, station: Path, tmp_path: Path
) -> None:
    cover = page_entry(printed, "cover")
    source = save_png(tmp_path / "cover.png", render(printed, cover))
    debug = tmp_path / "debug"
    (record,) = scan(station, "--debug-dir", debug, source)
    require(record["status"] == "identified", "the cover sheet is identified")
    overlay = overlay_of(debug, source)
    printed_identity = text_boxes_mm(printed.pdf, cover["pdf_page"], identities(station))
    require(len(printed_identity) >= 10, "the cover prints the census")

    readable = [text for text, box in printed_identity if region(overlay, box).max() > 60]

    assert not readable, f"{len(readable)} names and identifiers readable on the overlay"


def test_debug_overlays_of_same_named_files_in_two_folders_are_both_kept(
    printed: PrintedPack, station: Path, tmp_path: Path
) -> None:
    monday, tuesday = patient_pages(printed)[:2]
    save_png(tmp_path / "scans" / "monday" / "scan0001.png", render(printed, monday))
    save_png(tmp_path / "scans" / "tuesday" / "scan0001.png", render(printed, tuesday))
    debug = tmp_path / "debug"
    records = scan(station, "--debug-dir", debug, tmp_path / "scans")
    require([r["status"] for r in records] == ["identified"] * 2, "both pages identified")

    assert len(list(debug.glob("*.png"))) == 2


# --------------------------------------------------------------------------------------------
# 12. Audit trail and privacy


def test_every_scanned_page_is_audited_with_ward_and_patient_of_identified_pages(
    printed: PrintedPack, station: Path, tmp_path: Path
) -> None:
    journal, mar = patient_pages(printed, "journal")[0], patient_pages(printed, "mar")[3]
    forged = simulate.degrade(render(printed, journal), DPI, "forged", np.random.default_rng(4))
    paths = [
        save_png(tmp_path / "journal.png", render(printed, journal)),
        save_png(tmp_path / "mar.png", render(printed, mar)),
        save_png(tmp_path / "forged.png", forged.image),
        save_png(tmp_path / "white.png", np.full_like(forged.image, 255)),
    ]
    before = count(station, "audit_events")

    records = scan(station, *paths)

    events = rows(station, "SELECT * FROM audit_events WHERE seq > ? ORDER BY seq", (before,))
    pages = [e for e in events if e["action"] == "scan.page"]
    assert len(pages) == len(records) == 4
    assert [e["action"] for e in events].count("scan.run") == 1
    for entry, event in zip((journal, mar), pages[:2], strict=True):
        assert event["care_unit"] == printed.manifest["ward"] == "MED42"
        assert (event["patient_system"], event["patient_value"]) == (
            entry["patient"]["system"],
            entry["patient"]["value"],
        )
        assert event["object_id"] == entry["page_uid"]
    for event in pages[2:]:
        assert event["patient_value"] is None and event["care_unit"] is None
    assert [r["status"] for r in records] == ["identified", "identified", "quarantined", "blank"]
    with open_ledger(station) as ledger:
        assert verify_audit_chain(ledger) is None


def test_scan_and_quarantine_messages_never_name_a_patient(
    printed: PrintedPack, station: Path, tmp_path: Path
) -> None:
    entry = patient_pages(printed, "journal")[1]
    torn = simulate.degrade(
        render(printed, entry), DPI, "codes-destroyed", np.random.default_rng(2)
    )
    forged = simulate.degrade(render(printed, entry), DPI, "forged", np.random.default_rng(2))
    paths = [
        save_png(tmp_path / "torn.png", torn.image),
        save_png(tmp_path / "forged.png", forged.image),
        save_png(tmp_path / "ok.png", render(printed, entry)),
    ]
    (tmp_path / "empty.pdf").write_bytes(b"")
    names = identities(station)
    outputs = [
        cli("scan", "--no-ocr", "--jobs", "1", *paths, tmp_path / "empty.pdf", home=station),
        cli("scan", "--json", "--jobs", "1", *paths[1:], home=station),
        cli("quarantine", "list", home=station),
        cli("quarantine", "list", "--all", "--json", home=station),
        cli("quarantine", "assign", "2", entry["form_serial"], home=station, ok=False),
        cli("quarantine", "assign", "1", "XXXX-XXXX-XXXX", home=station, ok=False),
        cli("quarantine", "assign", "1", entry["form_serial"], home=station),
        cli("quarantine", "assign", "1", entry["form_serial"], home=station, ok=False),
    ]
    require(all(o.stderr for o in outputs[4:6] + outputs[7:]), "the refusals explain themselves")
    for result in outputs:  # cli() checked stderr; the quarantine listings go to people too
        leaked = [n for n in names if n in result.stderr]
        assert not leaked
    for listing in outputs[2:4]:
        assert not [n for n in names if n in listing.stdout], "quarantine list names a patient"


# --------------------------------------------------------------------------------------------
# 13. The summary table


def test_summary_table_counts_agree_with_the_ledger(
    printed: PrintedPack, station: Path, tmp_path: Path
) -> None:
    journal, mar, prescription = (
        patient_pages(printed, f)[4] for f in ("journal", "mar", "prescription")
    )
    scans = tmp_path / "scans"
    filled, _ = simulate.fill_page(render(printed, journal), journal, DPI, random.Random(1))
    save_png(scans / "01-journal.png", filled)
    Image.fromarray(filled).save(
        scans / "02-journal-again.tif", compression="tiff_lzw", dpi=(DPI, DPI)
    )
    save_png(scans / "03-mar.png", render(printed, mar))
    (a, _), (b, _) = simulate.photocopy_filled_differently(
        render(printed, prescription), prescription, DPI, 9
    )
    save_png(scans / "04-original.png", a)
    save_png(scans / "05-copy.png", b)
    forged = simulate.degrade(render(printed, mar), DPI, "forged", np.random.default_rng(5))
    save_png(scans / "06-forged.png", forged.image)
    (scans / "07-notes.txt").write_text("not a scan\n", encoding="utf-8")
    save_png(scans / "08-white.png", np.full_like(a, 255))

    out = cli("scan", "--jobs", "2", "--lang", "en", scans, home=station).stdout

    table = {
        m["status"]: (int(m["n"]), m["reasons"])
        for m in re.finditer(r"^(?P<status>\w+) +(?P<n>\d+)(?: +\((?P<reasons>.*)\))?", out, re.M)
    }
    (run,) = rows(station, "SELECT run_id FROM scan_runs")
    in_ledger = {
        r["status"]: r["n"]
        for r in rows(
            station,
            "SELECT status, count(*) AS n FROM scan_pages WHERE run_id = ? GROUP BY status",
            (run["run_id"],),
        )
    }
    reasons = rows(
        station,
        "SELECT reason, count(*) AS n FROM quarantine GROUP BY reason ORDER BY reason",
    )
    expected = {"identified": 3, "duplicate": 1, "conflict": 1, "quarantined": 2, "blank": 1}
    assert in_ledger == expected
    assert {s: n for s, (n, _) in table.items() if s in STATUSES} == expected
    assert table["pages"][0] == sum(expected.values())
    assert table["quarantined"][1] == ", ".join(f"{r['reason']} {r['n']}" for r in reasons)
    assert table["quarantined"][1] == "bad-signature 1, unsupported-format 1"
    assert "set aside: see `downtime quarantine list`" in out


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux")
def test_a_file_that_cannot_be_read_is_set_aside_and_the_run_goes_on(
    printed: PrintedPack, station: Path, tmp_path: Path
) -> None:
    """/proc/self/mem fails to read even for root; nothing of it can be stored or recorded."""
    entry = patient_pages(printed)[0]
    good = save_png(tmp_path / "good.png", render(printed, entry))
    records = scan(station, Path("/proc/self/mem"), good)
    assert [(r["status"], r["reason"]) for r in records] == [
        ("quarantined", "unreadable-file"),
        ("identified", None),
    ]
    assert "page_uid" not in records[0]

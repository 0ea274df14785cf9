"""The printed identity must match the code (issue 8, item 4).

A sheet whose codes name patient A while it shows patient B's name, identifier and serial (a
code pasted or photocopied onto B's page), or A's page with A's name crossed out and B's written
in by hand, was filed under A without a word, and B's page counted as missing. Such a page is
now set aside as ``identity-mismatch``; ordinary degraded scans of genuine pages are not.

Every input is a page of a pack printed for this module, rendered, filled and degraded with
:mod:`downtime.simulate`, and scanned with ``downtime scan`` into a copy of the data folder.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from conftest import PrintedPack, print_example_pack
from scankit import (
    Gray,
    assert_no_identity,
    cli,
    code_texts,
    copy_home,
    count,
    patient_pages,
    render,
    require,
    rows,
    save_jpeg,
    save_pdf_of_jpegs,
    save_png,
    save_tiff_g4,
    scan,
    without_marks,
)

from downtime import simulate
from downtime.geometry import ID_TEXT_MM, PAGE_MM, PX_PER_MM, SERIAL_FOOTER_MM
from downtime.model import Identifier, IdSystem
from downtime.scan import decode, register
from downtime.scan.identity import check_identity

DPI = 200
RESOURCES = Path(__file__).resolve().parent / "resources"
REGISTERED_SHAPE = (round(PAGE_MM[1] * PX_PER_MM), round(PAGE_MM[0] * PX_PER_MM))  # rows, columns


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> PrintedPack:
    base = tmp_path_factory.mktemp("identity-printed")
    return print_example_pack(base / "home", base / "out")


def two_patients(pack: PrintedPack, form: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first page of ``form`` of two different patients."""
    pages = patient_pages(pack, form)
    first = pages[0]
    other = next(p for p in pages if p["patient"] != first["patient"] and p["page"] == 1)
    return first, other


def filled(pack: PrintedPack, entry: dict[str, Any], seed: str) -> Gray:
    image, _ = simulate.fill_page(render(pack, entry, DPI), entry, DPI, random.Random(seed))
    return image


# --------------------------------------------------------------------------------------------
# Tampered sheets


def _item(home: Path, name: str) -> dict[str, Any]:
    """The open quarantine item of the file ``name``."""
    items = json.loads(cli("quarantine", "list", "--json", home=home).stdout)["items"]
    (item,) = [i for i in items if Path(i["source"]).name == name]
    return item


@pytest.fixture(scope="module")
def tampered(
    printed: PrintedPack, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """One run over a referral of patient B carrying patient A's codes, and a journal page of
    A with A's name crossed out and another written in: home, records by file name, and the
    manifest entries (``a``, ``b``: the referrals; ``crossed``: the journal page)."""
    base = tmp_path_factory.mktemp("identity-tampered")
    home = copy_home(printed, base / "home")
    a, b = two_patients(printed, "referral")
    g = np.random.default_rng
    pasted = simulate.paste_codes(render(printed, a, DPI), filled(printed, b, "b"), DPI, g(1)).image
    require(
        code_texts(pasted) == code_texts(render(printed, a, DPI)) and len(code_texts(pasted)) == 2,
        "both codes on the sheet are A's, and read",
    )
    journal = patient_pages(printed, "journal")[0]
    crossed = simulate.degrade(filled(printed, journal, "c"), DPI, "name-crossed", g(2))
    save_pdf_of_jpegs(base / "scans" / "pasted.pdf", [pasted], DPI)
    save_png(base / "scans" / "crossed.png", crossed.image, DPI)
    records = scan(home, base / "scans")
    by_name = {Path(r["source"]).name: r for r in records}
    return home, by_name, {"a": a, "b": b, "crossed": journal}


def test_page_with_another_patients_codes_pasted_on_is_set_aside_not_filed_under_the_codes(
    tampered: tuple[Path, dict[str, dict[str, Any]], dict[str, dict[str, Any]]],
) -> None:
    home, records, pages = tampered
    record = records["pasted.pdf"]

    assert (record["status"], record["reason"]) == ("quarantined", "identity-mismatch")
    assert record["page_uid"] == pages["a"]["page_uid"], "the page the (genuine) codes name"
    captured = {r["page_uid"] for r in rows(home, "SELECT page_uid FROM captures")}
    assert pages["a"]["page_uid"] not in captured and pages["b"]["page_uid"] not in captured
    item = _item(home, "pasted.pdf")
    assert item["reason"] == "identity-mismatch"
    assert "serial" in item["message"] and "identifier" in item["message"]


def test_neither_the_page_the_codes_name_nor_the_page_shown_counts_as_returned(
    tampered: tuple[Path, dict[str, dict[str, Any]], dict[str, dict[str, Any]]],
) -> None:
    home, _, pages = tampered

    report = json.loads(cli("report", "--format", "json", home=home).stdout)

    missing = {m["serial"] for m in report["missing"]}
    assert {pages["a"]["form_serial"], pages["b"]["form_serial"]} <= missing
    assert report["complete"] is False


def unalignable(sheet: Gray) -> Gray:
    """The sheet with a stain over one code and its corner's mark, and every other mark gone:
    it can be placed only from its other code."""
    stained = simulate.degrade(sheet, DPI, "stain-corner", np.random.default_rng(2)).image
    out = without_marks(stained, DPI)
    require(len(code_texts(out)) == 1, "one code still reads")
    return out


def test_pasted_codes_on_a_page_that_cannot_be_aligned_are_still_caught(
    printed: PrintedPack, tmp_path: Path
) -> None:
    """A's codes pasted onto B's sheet, whose marks are stained or torn away: the sheet is
    placed from A's code alone, and its printed identity is still compared with the code's.
    It is set aside, never filed under A with every field for review."""
    home = copy_home(printed, tmp_path / "home")
    a, b = two_patients(printed, "referral")
    pasted = simulate.paste_codes(
        render(printed, a, DPI), filled(printed, b, "b"), DPI, np.random.default_rng(1)
    ).image
    (record,) = scan(home, save_png(tmp_path / "pasted.png", unalignable(pasted), DPI))

    assert (record["status"], record["reason"]) == ("quarantined", "identity-mismatch")
    assert record["page_uid"] == a["page_uid"] and count(home, "captures") == 0


def test_an_unalignable_page_whose_identity_cannot_be_read_goes_to_a_person(
    printed: PrintedPack, tmp_path: Path
) -> None:
    """Placed from one code, with a blot over its printed identifier: nothing on the sheet
    confirms whose it is, so it is set aside (`identity-unconfirmed`); a clerk who has checked
    the sheet assigns it, and it is filed with every field for review."""
    home = copy_home(printed, tmp_path / "home")
    entry = patient_pages(printed, "referral")[0]
    sheet = unalignable(filled(printed, entry, "u"))
    px = DPI / 25.4
    x, y, w, h = ID_TEXT_MM
    sheet[round((y - 1) * px) : round((y + h) * px), round(x * px) : round((x + w / 2) * px)] = 40
    (record,) = scan(home, save_png(tmp_path / "blotted.png", sheet, DPI))

    assert (record["status"], record["reason"]) == ("quarantined", "identity-unconfirmed")
    assert "could not be aligned" in record["message"] and "quarantine assign" in record["message"]
    assert count(home, "captures") == 0
    item = _item(home, "blotted.png")
    cli("quarantine", "assign", str(item["item_id"]), entry["form_serial"], home=home)
    (capture,) = rows(home, "SELECT page_uid, via FROM captures")
    assert (capture["page_uid"], capture["via"]) == (entry["page_uid"], "assigned")
    states = {r["state"] for r in rows(home, "SELECT state FROM marks")}
    assert states == {"uncertain"}


def test_page_with_the_name_crossed_out_and_another_written_in_is_set_aside(
    tampered: tuple[Path, dict[str, dict[str, Any]], dict[str, dict[str, Any]]],
) -> None:
    home, records, pages = tampered
    record = records["crossed.png"]

    assert (record["status"], record["reason"]) == ("quarantined", "identity-mismatch")
    assert record["page_uid"] == pages["crossed"]["page_uid"]
    captured = {r["page_uid"] for r in rows(home, "SELECT page_uid FROM captures")}
    assert pages["crossed"]["page_uid"] not in captured
    assert "name" in _item(home, "crossed.png")["message"]


def test_identity_mismatch_message_says_what_to_do_and_names_no_patient(
    tampered: tuple[Path, dict[str, dict[str, Any]], dict[str, dict[str, Any]]],
) -> None:
    home, _, _ = tampered

    for name in ("pasted.pdf", "crossed.png"):
        message = _item(home, name)["message"]
        assert "downtime quarantine assign" in message
        assert_no_identity(message, home, f"the message of {name}")


def test_pasted_page_assigned_to_the_page_it_really_is_is_filed_there(
    printed: PrintedPack,
    tampered: tuple[Path, dict[str, dict[str, Any]], dict[str, dict[str, Any]]],
    tmp_path: Path,
) -> None:
    home = copy_home(printed, tmp_path / "home")
    pages = tampered[2]
    a, b = pages["a"], pages["b"]
    pasted = simulate.paste_codes(
        render(printed, a, DPI), filled(printed, b, "b"), DPI, np.random.default_rng(1)
    ).image
    scan(home, save_pdf_of_jpegs(tmp_path / "pasted.pdf", [pasted], DPI))
    item = _item(home, "pasted.pdf")

    cli("quarantine", "assign", str(item["item_id"]), b["form_serial"], home=home)

    (capture,) = rows(home, "SELECT page_uid, via FROM captures")
    assert (capture["page_uid"], capture["via"]) == (b["page_uid"], "assigned")
    assert count(home, "assignments") == 1


# --------------------------------------------------------------------------------------------
# Genuine pages


GENUINE = ("scan-200", "fax", "photocopy", "phone", "blur", "noise")


@pytest.fixture(scope="module")
def genuine(
    printed: PrintedPack, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], dict[str, str]]:
    """Filled pages of several patients and forms, each degraded one way and saved as that
    way arrives, scanned in one run: records and manifest entries by kind, and notes."""
    base = tmp_path_factory.mktemp("identity-genuine")
    home = copy_home(printed, base / "home")
    pages = patient_pages(printed)
    scans = base / "scans"
    entries, notes = {}, {}
    for n, kind in enumerate(GENUINE):
        entry = pages[(7 * n + 3) % len(pages)]
        d = simulate.degrade(filled(printed, entry, kind), DPI, kind, np.random.default_rng(n))
        entries[kind], notes[kind] = entry, d.note
        if kind == "fax":
            save_tiff_g4(scans / f"{kind}.tif", [d.image], (d.dpi_x, d.dpi_y))
        elif kind == "phone":
            save_jpeg(scans / f"{kind}.jpg", d.image)
        elif kind in ("scan-200", "photocopy"):
            save_pdf_of_jpegs(scans / f"{kind}.pdf", [d.image], d.dpi_x)
        else:
            save_png(scans / f"{kind}.png", d.image, d.dpi_x)
    records = {Path(r["source"]).stem: r for r in scan(home, scans, jobs=2)}
    return records, entries, notes


@pytest.mark.parametrize("kind", GENUINE)
def test_genuine_degraded_page_is_not_flagged(
    genuine: tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], dict[str, str]],
    kind: str,
) -> None:
    records, entries, notes = genuine
    record = records[kind]

    assert (record["status"], record["reason"]) == ("identified", None), notes[kind]
    assert record["page_uid"] == entries[kind]["page_uid"]


def registered_page(pack: PrintedPack, entry: dict[str, Any]) -> Gray:
    image = render(pack, entry, 150)
    symbols, _ = decode.find_page_codes(image, px_per_mm=150 / 25.4)
    found = register.register_with_codes(image, symbols)
    require(found is not None, "the page registers")
    assert found is not None
    return register.warp(image, found)


def test_every_patients_page_shows_its_own_identity_and_no_other_patients(
    printed: PrintedPack,
) -> None:
    """Each patient's first page against its own serial and identifier, and against every
    other patient's (identifiers that share a birth year and century included)."""
    firsts = {}
    for entry in patient_pages(printed):
        firsts.setdefault(entry["patient"]["value"], entry)
    require(len(firsts) >= 4, "several patients")
    for entry in firsts.values():
        page = registered_page(printed, entry)
        own = Identifier(**entry["patient"])
        assert check_identity(page, entry["form_serial"], own).problem is None
        for other in firsts.values():
            if other is entry:
                continue
            theirs = Identifier(**other["patient"])
            wrong_id = check_identity(page, entry["form_serial"], theirs)
            assert wrong_id.identifier.mismatched >= 2 and wrong_id.problem is not None
            wrong_serial = check_identity(page, other["form_serial"], own)
            assert wrong_serial.serial.mismatched >= 2 and wrong_serial.problem is not None


def test_blot_over_the_printed_serial_or_identifier_is_not_read_as_another_pages(
    printed: PrintedPack,
) -> None:
    """A flat grey blot (a stain, a smear) over a line looks like no glyph: its cells are
    unreadable, not another page's, and a blot is not handwriting."""
    entry = patient_pages(printed, "mar")[0]
    page = registered_page(printed, entry)
    mottle = np.random.default_rng(0).normal(0.0, 8.0, page.shape)
    for box_mm in ((55.0, 237.0, 57.0, 9.0), (14.0, 36.0, 50.0, 8.0)):
        x, y, w, h = (round(v * 8) for v in box_mm)
        for grey in (60, 120, 170):
            blotted = page.copy()
            spot = grey + mottle[y : y + h, x : x + w]
            blotted[y : y + h, x : x + w] = np.clip(spot, 0, 255).astype(np.uint8)

            shown = check_identity(blotted, entry["form_serial"], Identifier(**entry["patient"]))

            assert shown.problem is None, (box_mm, grey)
            assert shown.identifier.unreadable + shown.serial.unreadable > 0


def test_a_fold_or_a_scanner_streak_across_the_identity_is_the_papers_not_a_pen(
    printed: PrintedPack,
) -> None:
    """A thin straight line across the whole header and footer (a scanner streak, a vertical
    fold) or across the whole width through the name (a horizontal fold), faint or dark, is
    not writing over the identity; the same ink as a stroke through the name alone is."""
    entry = patient_pages(printed, "journal")[0]
    page = registered_page(printed, entry)
    patient = Identifier(**entry["patient"])
    for grey in (60, 150, 185):
        for name, where in (
            ("streak through the name's first letter", np.s_[:, 146:148]),
            ("streak through the identifier", np.s_[:, 300:303]),
            ("fold through the name", np.s_[226:228, :]),
        ):
            lined = page.copy()
            lined[where] = np.minimum(lined[where], grey)

            shown = check_identity(lined, entry["form_serial"], patient)

            assert shown.problem is None, (name, grey, shown)
    struck = page.copy()
    struck[226:229, 110:500] = 40  # a pen stroke through the name, stopping near its ends

    assert check_identity(struck, entry["form_serial"], patient).problem is not None


def test_another_serial_is_told_apart_where_its_text_matches_best_off_its_place() -> None:
    """The expected text of another page's serial can match a printed serial best a few pixels
    off its place, where every cell looks like no glyph (unreadable): the line must still be
    seen as another page's. The cells are read where the line was found and where it was
    printed, and the place that explains more of them counts."""
    footer = cv2.imread(str(RESOURCES / "footer-74R6-3WT9-EJWY.png"), cv2.IMREAD_GRAYSCALE)
    page = np.full(REGISTERED_SHAPE, 255, np.uint8)
    x, y, _, _ = SERIAL_FOOTER_MM
    top, left = round((y - 3) * PX_PER_MM), round((x - 3) * PX_PER_MM)
    page[top : top + footer.shape[0], left : left + footer.shape[1]] = footer
    patient = Identifier(IdSystem.PERSONNUMMER, "191212121212")

    own = check_identity(page, "74R6-3WT9-EJWY", patient).serial
    assert (own.mismatched, own.unreadable) == (0, 0)
    other = check_identity(page, "3T7Y-YCWC-YTJC", patient)
    assert other.serial.mismatched >= 12 and other.serial.unreadable == 0
    assert other.problem is not None and "serial" in other.problem

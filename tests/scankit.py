"""Helpers for the scanning tests (test_scan.py, test_quarantine.py): printed pages as a scanner,
a fax machine or a phone would save them, `downtime scan` and `downtime quarantine` run in-process,
and the ledger read back.

Every CLI call made through :func:`cli` also checks that no patient name or identifier of the
data folder's census appears in what the command wrote to stderr.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import backends
import numpy as np
import numpy.typing as npt
import pypdfium2 as pdfium
import pytest
import zxingcpp
from click.testing import Result
from conftest import PrintedPack, ledger_rows, run_cli
from PIL import Image

from downtime import simulate

Gray = npt.NDArray[np.uint8]

DPI = 150  # pages are rendered at this resolution unless a test says otherwise
QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
STATUSES = {"identified", "duplicate", "conflict", "quarantined", "blank"}
STATES = {"marked", "empty", "written", "blank", "uncertain"}
MM_PER_INCH = 25.4


# --------------------------------------------------------------------------------------------
# Printed pages


def patient_pages(pack: PrintedPack, form: str | None = None) -> list[dict[str, Any]]:
    """Manifest entries of the pages printed for a patient (not the cover, not admissions)."""
    return [
        p
        for p in pack.manifest["pages"]
        if p["patient"] is not None
        and p["form"] != "admission"
        and (form is None or p["form"] == form)
    ]


def page_entry(pack: PrintedPack, form: str) -> dict[str, Any]:
    """The first manifest entry of ``form`` (cover, admission or a patient form)."""
    return next(p for p in pack.manifest["pages"] if p["form"] == form)


def without_marks(image: Gray, dpi: float) -> Gray:
    """The page with every registration mark (and 2 mm round it) whited out: it can be placed
    from its codes alone."""
    return simulate.degrade(image, dpi, "marks-gone", np.random.default_rng(0)).image


def render(pack: PrintedPack, entry: dict[str, Any], dpi: int = DPI) -> Gray:
    return simulate.render_page(pack.pdf, int(entry["pdf_page"]) - 1, dpi)


def copy_home(pack: PrintedPack, to: Path) -> Path:
    """A copy of the printed data folder (ledger, keys): scans into it never touch the pack's."""
    return backends.copy_home(pack.home, to)


# --------------------------------------------------------------------------------------------
# Saving pages like scanners, fax machines and phones do


def save_png(path: Path, image: Gray, dpi: float = DPI) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, dpi=(round(dpi), round(dpi)))
    return path


def save_pdf_of_jpegs(path: Path, images: Iterable[Gray], dpi: float) -> Path:
    """A scanner's PDF: one JPEG image per page (Pillow writes L images as /DCTDecode)."""
    frames = [Image.fromarray(image) for image in images]
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, "PDF", save_all=True, append_images=frames[1:], resolution=dpi)
    return path


def save_tiff_g4(path: Path, images: Iterable[Gray], dpi: tuple[float, float]) -> Path:
    """A multi-page, 1-bit CCITT Group 4 TIFF (thresholded at mid-grey, not dithered)."""
    frames = [Image.fromarray(image).convert("1", dither=Image.Dither.NONE) for image in images]
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(
        path, "TIFF", compression="group4", save_all=True, append_images=frames[1:], dpi=dpi
    )
    return path


def save_jpeg(path: Path, image: Gray, *, exif_orientation: int | None = None) -> Path:
    """A phone photo: JPEG, no resolution, optionally with an EXIF orientation tag."""
    path.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"quality": 90}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        options["exif"] = exif.tobytes()
    Image.fromarray(image).save(path, "JPEG", **options)
    return path


# --------------------------------------------------------------------------------------------
# Page codes on images


def code_boxes_px(image: Gray) -> list[tuple[int, int, int, int]]:
    """(left, top, right, bottom) of every QR code zxing-cpp reads on ``image``, top first."""
    boxes = []
    for found in zxingcpp.read_barcodes(image, formats=QR):
        corners = (
            found.position.top_left,
            found.position.top_right,
            found.position.bottom_right,
            found.position.bottom_left,
        )
        xs, ys = [c.x for c in corners], [c.y for c in corners]
        boxes.append((min(xs), min(ys), max(xs) + 1, max(ys) + 1))
    return sorted(boxes, key=lambda b: b[1])


def code_texts(image: Gray) -> list[str]:
    return [found.text for found in zxingcpp.read_barcodes(image, formats=QR)]


# --------------------------------------------------------------------------------------------
# Where a PDF page prints a text (the PDF's own text layer)


def text_boxes_mm(
    pdf: Path, pdf_page: int, texts: Iterable[str]
) -> list[tuple[str, tuple[float, float, float, float]]]:
    """Every place page ``pdf_page`` (1-based) prints one of ``texts``: (text, [left, top,
    width, height] in mm from the page's top-left corner)."""
    document = pdfium.PdfDocument(pdf)
    try:
        page = document[pdf_page - 1]
        height_pt = page.get_height()
        textpage = page.get_textpage()
        found = []
        for text in texts:
            searcher = textpage.search(text, match_case=True)
            while (hit := searcher.get_next()) is not None:
                start, count = hit
                boxes = [textpage.get_charbox(i) for i in range(start, start + count)]
                left, right = min(b[0] for b in boxes), max(b[2] for b in boxes)
                bottom, top = min(b[1] for b in boxes), max(b[3] for b in boxes)
                mm = MM_PER_INCH / 72
                found.append(
                    (
                        text,
                        (
                            left * mm,
                            (height_pt - top) * mm,
                            (right - left) * mm,
                            (top - bottom) * mm,
                        ),
                    )
                )
        return found
    finally:
        document.close()


# --------------------------------------------------------------------------------------------
# The CLI and the ledger


def rows(home: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    with backends.open_ledger(home) as ledger:  # opened (and migrated) as the kit opens it
        return [dict(r) for r in ledger_rows(ledger, sql, params)]


def count(home: Path, table: str) -> int:
    return int(rows(home, f"SELECT count(*) AS n FROM {table}")[0]["n"])


def identities(home: Path) -> set[str]:
    """Every way a patient of the data folder's census could be named in a message: family and
    given name, and the identifier in 12 and 10 digits, with and without the hyphen."""
    found: set[str] = set()
    for r in rows(home, "SELECT family_name, given_name, patient_value FROM pack_patients"):
        value = r["patient_value"]
        found |= {r["family_name"], r["given_name"], value, f"{value[:8]}-{value[8:]}"}
        found |= {value[2:], f"{value[2:8]}-{value[8:]}"}
    assert found, "the data folder has no census to check messages against"
    return found


def assert_no_identity(text: str, home: Path, what: str) -> None:
    leaked = sorted(s for s in identities(home) if s in text)
    assert not leaked, f"{what} names patients: {leaked}"


def cli(*args: str | Path, home: Path, ok: bool = True) -> Result:
    """``downtime --home HOME ARGS…`` in-process; stderr must never name a patient."""
    result = run_cli(*args, home=home, ok=ok)
    assert_no_identity(result.stderr, home, f"stderr of `downtime {args[0]} {args[1]}`")
    return result


def scan(home: Path, *args: str | Path, jobs: int = 1) -> list[dict[str, Any]]:
    """``downtime scan --json``: exit code 0, and every stdout line one JSON object."""
    result = cli("scan", "--json", "--jobs", str(jobs), *args, home=home)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(isinstance(r, dict) for r in records), result.stdout
    return records


def require(condition: bool, message: str) -> None:
    """A precondition of a test (the input is what the test means it to be). Fails the test
    outright, also under ``xfail(raises=AssertionError)``: only the behaviour under test may
    fail as expected."""
    if not condition:
        pytest.fail(f"precondition: {message}")

"""Every printed page, rendered like a scanner sees it, carries two readable, verified codes.

Each page of both example packs is rendered with PDFium at 200 dpi; each of the two code
regions is cropped and decoded on its own by zxing-cpp *and* by pyzbar (so each code reads
without the other), the signature is verified with the data folder's public keys, and what
the code says is checked against the manifest and the ledger.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pypdfium2 as pdfium
import pytest
import zxingcpp
from conftest import PrintedPack
from PIL import Image
from pyzbar import pyzbar

from downtime import codes
from downtime.codes.keys import KeyStore
from downtime.forms import load_forms
from downtime.geometry import FIDUCIALS_MM, code_boxes_mm
from downtime.ledger import Ledger
from downtime.ledger.pages import page_fields, pages_of_pack

DPI = 200
PX_PER_MM = DPI / 25.4


def rendered_pages(pdf_path: Any, dpi: int = DPI) -> Iterator[Image.Image]:
    pdf = pdfium.PdfDocument(pdf_path)
    try:
        for page in pdf:
            yield page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
    finally:
        pdf.close()


def crop_mm(image: Image.Image, box: tuple[float, float, float, float], margin: float = 6.0):
    x, y, w, h = box
    return image.crop(
        (
            int((x - margin) * PX_PER_MM),
            int((y - margin) * PX_PER_MM),
            int((x + w + margin) * PX_PER_MM),
            int((y + h + margin) * PX_PER_MM),
        )
    )


def zxing_texts(image: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


def zbar_texts(image: Image.Image) -> list[str]:
    return [
        r.data.decode("ascii") for r in pyzbar.decode(image, symbols=[pyzbar.ZBarSymbol.QRCODE])
    ]


def _expected_code_boxes(text: str) -> tuple[tuple[float, float, float, float], ...]:
    from downtime.codes import qr

    return code_boxes_mm(qr.encode(text).shape[0])


@pytest.mark.slow
@pytest.mark.parametrize("ward", ["MED42", "KIR7"])
def test_every_page_has_two_verified_codes_matching_manifest(
    example_packs: dict[str, PrintedPack], ward: str
) -> None:
    pack = example_packs[ward]
    keys = KeyStore.open(pack.home / "keys").verification_keys()
    forms_by_code = {f.code: f for f in load_forms().values()}
    pages = pack.manifest["pages"]
    images = list(rendered_pages(pack.pdf))
    assert len(images) == len(pages) > 0
    for image, entry in zip(images, pages, strict=True):
        whole = zxing_texts(image)
        assert len(whole) == 2, f"pdf page {entry['pdf_page']}: {len(whole)} codes on the page"
        text = whole[0]
        assert whole[1] == text, "the two codes of a page must be identical"
        assert text.startswith("DK1:")
        for box in _expected_code_boxes(text):
            region = crop_mm(image, box)
            assert zxing_texts(region) == [text], f"zxing, pdf page {entry['pdf_page']}"
            assert zbar_texts(region) == [text], f"pyzbar, pdf page {entry['pdf_page']}"
        code = codes.decode(text, keys)
        assert code.page_uid == entry["page_uid"]
        assert code.pack_id == pack.manifest["pack_id"]
        assert forms_by_code[code.form_code].id == entry["form"]
        assert code.form_version == entry["form_version"]
        assert (code.page, code.page_count) == (entry["page"], entry["page_count"])
        patient = entry["patient"]
        if patient is None:
            assert code.patient is None
        else:
            assert code.patient is not None
            assert (code.patient.system, code.patient.value) == (
                patient["system"],
                patient["value"],
            )
        assert code.encounter == entry["encounter"]
        assert code.key_id == entry["key_id"]


@pytest.mark.slow
def test_codes_and_fiducials_render_crisp_and_where_promised(
    example_packs: dict[str, PrintedPack],
) -> None:
    """1 px per module images must print without smoothing; marks must be where render says."""
    pack = example_packs["MED42"]
    image = next(rendered_pages(pack.pdf, dpi=300))
    pixels = np.asarray(image)
    px = 300 / 25.4
    text = zxing_texts(image)[0]
    for x, y, w, h in _expected_code_boxes(text):
        region = pixels[
            int(y * px) + 2 : int((y + h) * px) - 2, int(x * px) + 2 : int((x + w) * px) - 2
        ]
        grey = ((region > 40) & (region < 215)).mean()
        assert grey < 0.01, f"{grey:.1%} grey pixels in a QR code: it is being smoothed"
    for name, (x, y, w, h) in FIDUCIALS_MM.items():
        centre = pixels[int((y + h / 2) * px), int((x + w / 2) * px)]
        edge = pixels[int((y + 0.8) * px), int((x + 0.8) * px)]
        assert edge < 60, f"{name} mark missing"
        if name == "bottom-right":
            assert centre > 200, "the bottom-right mark must be hollow (orientation)"
        else:
            assert centre < 60, f"{name} mark must be solid"


def test_ledger_matches_manifest(example_packs: dict[str, PrintedPack]) -> None:
    pack = example_packs["KIR7"]
    with Ledger.open(pack.home / "ledger.sqlite3") as ledger:
        rows = pages_of_pack(ledger, pack.manifest["pack_id"])
        assert [r.page_uid for r in rows] == [p["page_uid"] for p in pack.manifest["pages"]]
        assert [r.serial for r in rows] == [p["form_serial"] for p in pack.manifest["pages"]]
        mar = next(p for p in pack.manifest["pages"] if p["form"] == "mar")
        stored = {f.id: f for f in page_fields(ledger, mar["page_uid"])}
        for field in mar["fields"]:
            assert stored[field["id"]].box_mm == tuple(field["box_mm"])
            assert stored[field["id"]].ref == field.get("ref", {})

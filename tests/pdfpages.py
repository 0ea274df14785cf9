"""Reading printed PDFs back like a person and a scanner do: page text, and the page codes of a
PDFium rendering decoded by zxing-cpp (as in test_pack_codes.py)."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
import zxingcpp

DPI = 200


def page_texts(pdf: Path) -> list[str]:
    doc = pdfium.PdfDocument(pdf)
    try:
        return [page.get_textpage().get_text_bounded() for page in doc]
    finally:
        doc.close()


def page_codes(pdf: Path, pages: range | None = None) -> list[str]:
    """The page code of each page (index in ``pages``, default all), read from a rendering.

    Every page carries two identical codes; both must read, and agree.
    """
    doc = pdfium.PdfDocument(pdf)
    try:
        texts = []
        for index in pages if pages is not None else range(len(doc)):
            image = doc[index].render(scale=DPI / 72, grayscale=True).to_pil().convert("L")
            found = [
                r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
            ]
            assert len(found) == 2 and found[0] == found[1], f"page {index + 1}: {found}"
            texts.append(found[0])
        return texts
    finally:
        doc.close()

"""The ward stage's only importer of pypdfium2: a pack's page count and page sizes, and a
sub-PDF of some of its pages (the same pages, their codes untouched: pages are copied whole,
never redrawn)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from downtime.errors import InputError

POINTS_PER_MM = 72 / 25.4


def _open(data: bytes, what: str):  # type: ignore[no-untyped-def]  # pypdfium2 has no stubs
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        raise InputError(f"{what} cannot be read as a PDF ({e})") from e


def page_count(data: bytes, what: str = "the pack's PDF") -> int:
    document = _open(data, what)
    try:
        return len(document)
    finally:
        document.close()


def page_sizes_mm(data: bytes, what: str = "the PDF") -> list[tuple[float, float]]:
    """Each page's (width, height) in millimetres."""
    document = _open(data, what)
    try:
        sizes = []
        for index in range(len(document)):
            width, height = document[index].get_size()
            sizes.append((width / POINTS_PER_MM, height / POINTS_PER_MM))
        return sizes
    finally:
        document.close()


def subset(data: bytes, pages: Sequence[int]) -> bytes:
    """A PDF of the given pages (0-based, in the order given), copied from ``data``."""
    import pypdfium2 as pdfium

    source = _open(data, "the pack's PDF")
    target = pdfium.PdfDocument.new()
    try:
        target.import_pages(source, list(pages))
        out = io.BytesIO()
        target.save(out)
        return out.getvalue()
    finally:
        target.close()
        source.close()

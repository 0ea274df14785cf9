"""PDF pages through PDFium: a scanner's one image per page at its own resolution, anything
else rendered (see :mod:`downtime.scan.images` for which pages are which)."""

from __future__ import annotations

import ctypes
import math
from collections.abc import Iterator
from typing import Any, BinaryIO

import cv2
import numpy as np
import numpy.typing as npt
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from downtime.scan.images.model import GrayImage, InputFile, PageImage, PageProblem, dpi_of, finish
from downtime.scan.images.problems import bomb, problem, too_many
from downtime.vocab import Reason

# A single image object counts as "the page" when it and the page box overlap this much.
_COVER = 0.95
# Pages with more top-level objects than this are rendered without looking at each object.
_MAX_OBJECTS = 20_000


def read_pdf(
    item: InputFile,
    data: bytes | None,
    stream: BinaryIO,
    size: int,
    max_pixels: int,
    max_pages: int,
    pdf_dpi: int,
    only: int | None = None,
) -> Iterator[PageImage | PageProblem]:
    source = item.source
    opened = pdf_document(item, data, stream, size)
    if isinstance(opened, PageProblem):
        yield opened
        return
    document, complete = opened
    try:
        total = len(document)
        numbers = range(1, min(total, max_pages) + 1)
        if only is not None:
            numbers = range(only, only + 1) if only in numbers else range(0)
        for number in numbers:
            yield _pdf_page(document, source, number, max_pixels, pdf_dpi)
        if only is None:
            yield from pdf_tail(source, total, max_pages, complete)
    finally:
        document.close()


def pdf_document(
    item: InputFile, data: bytes | None, stream: BinaryIO, size: int
) -> tuple[Any, bool] | PageProblem:
    stream.seek(max(0, size - 1024))
    complete = b"%%EOF" in stream.read()
    try:
        return pdfium.PdfDocument(data if data is not None else item.path), complete
    except pdfium.PdfiumError as exc:
        return _pdf_open_problem(item.source, getattr(exc, "err_code", None), complete)
    except Exception:
        return _pdf_open_problem(item.source, None, complete)


def pdf_tail(source: str, total: int, max_pages: int, complete: bool) -> list[PageProblem]:
    if total > max_pages:
        return [too_many(source, max_pages, total)]
    if not complete:
        return [
            problem(
                source,
                total + 1,
                Reason.TRUNCATED_FILE,
                f"the file is cut off (it does not end like a complete PDF); {total} pages "
                "were read, pages after them may be missing. Copy or export the file again",
            )
        ]
    return []


def _pdf_open_problem(source: str, code: int | None, complete: bool) -> PageProblem:
    if code == pdfium_c.FPDF_ERR_PASSWORD:
        return problem(
            source,
            0,
            Reason.ENCRYPTED_PDF,
            "the PDF is protected by a password; remove the password in the scanner software "
            "(turn off PDF encryption) and scan again",
        )
    if code == pdfium_c.FPDF_ERR_SECURITY:
        return problem(
            source,
            0,
            Reason.ENCRYPTED_PDF,
            "the PDF is encrypted in a way this program cannot open; turn off PDF "
            "encryption in the scanner software and scan again",
        )
    if not complete:
        return problem(
            source,
            0,
            Reason.TRUNCATED_FILE,
            "the PDF is cut off (incomplete copy or download, or the scanner had not "
            "finished writing it); copy or export it again, or scan the paper again",
        )
    return problem(
        source,
        0,
        Reason.CORRUPT_FILE,
        "the PDF is damaged and cannot be opened; export it again from the scanner or "
        "scan the paper again",
    )


def _pdf_page(
    document: Any, source: str, number: int, max_pixels: int, pdf_dpi: int
) -> PageImage | PageProblem:
    try:
        page = document[number - 1]
    except Exception:
        return problem(
            source,
            number,
            Reason.CORRUPT_FILE,
            f"page {number} of the PDF is damaged and cannot be read; scan that sheet again",
        )
    try:
        return _pdf_page_image(page, document, source, number, max_pixels, pdf_dpi)
    except Exception:
        return problem(
            source,
            number,
            Reason.CORRUPT_FILE,
            f"page {number} of the PDF could not be decoded; scan that sheet again",
        )
    finally:
        page.close()


def _pdf_page_image(
    page: Any, document: Any, source: str, number: int, max_pixels: int, pdf_dpi: int
) -> PageImage | PageProblem:
    width, height = page.get_size()
    if not (math.isfinite(width) and math.isfinite(height) and width > 0 and height > 0):
        raise ValueError("page has no size")
    images, others, pixels = _page_objects(page)
    biggest = max(images, key=lambda entry: entry[1] * entry[2], default=None)
    if pixels > max_pixels and biggest is not None:
        return bomb(source, number, biggest[1], biggest[2], max_pixels)
    if len(images) == 1 and others == 0 and page.get_rotation() == 0:
        native = _pdf_native_image(page, document, images[0], source, number)
        if native is not None:
            return native
    scale = pdf_dpi / 72
    render_w, render_h = math.ceil(width * scale), math.ceil(height * scale)
    if render_w * render_h > max_pixels:
        return bomb(source, number, render_w, render_h, max_pixels)
    bitmap = page.render(
        scale=scale, force_bitmap_format=pdfium_c.FPDFBitmap_Gray, may_draw_forms=False
    )
    # A bitmap made by pypdfium2 owns a packed buffer that outlives it: no copy needed.
    gray = np.asarray(bitmap.to_numpy(), dtype=np.uint8)
    return PageImage(source, number, finish(gray), (float(pdf_dpi), float(pdf_dpi)), "pdf-render")


def _page_objects(page: Any) -> tuple[list[tuple[Any, int, int]], int, int]:
    """The page's top-level image objects (handle, width, height), how many other visible
    objects it has, and the images' total pixels. Invisible text (an OCR layer) is ignored."""
    count = pdfium_c.FPDFPage_CountObjects(page)
    if count > _MAX_OBJECTS:
        return [], count, 0
    images: list[tuple[Any, int, int]] = []
    others = 0
    pixels = 0
    w, h = ctypes.c_uint(), ctypes.c_uint()
    for index in range(count):
        obj = pdfium_c.FPDFPage_GetObject(page, index)
        kind = pdfium_c.FPDFPageObj_GetType(obj)
        if kind == pdfium_c.FPDF_PAGEOBJ_IMAGE:
            if pdfium_c.FPDFImageObj_GetImagePixelSize(obj, ctypes.byref(w), ctypes.byref(h)):
                images.append((obj, w.value, h.value))
                pixels += w.value * h.value
            else:
                others += 1
        elif not (
            kind == pdfium_c.FPDF_PAGEOBJ_TEXT
            and pdfium_c.FPDFTextObj_GetTextRenderMode(obj)
            == pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE
        ):
            others += 1
    return images, others, pixels


def _pdf_native_image(
    page: Any, document: Any, entry: tuple[Any, int, int], source: str, number: int
) -> PageImage | PageProblem | None:
    """The page's one image at its own resolution, or None when it must be rendered instead
    (not upright, not covering the page, an image mask whose colour comes from the page)."""
    raw, px_w, px_h = entry
    if px_w < 1 or px_h < 1:
        return None
    image = pdfium.PdfObject(raw, page=page, pdf=document)
    a, b, c, d, _e, _f = (float(v) for v in image.get_matrix().get())
    if not (a > 0 and d > 0 and abs(b) <= 1e-6 * a and abs(c) <= 1e-6 * d):
        return None
    left, bottom, right, top = (float(v) for v in image.get_bounds())
    box_l, box_b, box_r, box_t = (float(v) for v in page.get_bbox())
    box_area = (box_r - box_l) * (box_t - box_b)
    image_area = (right - left) * (top - bottom)
    overlap = max(0.0, min(right, box_r) - max(left, box_l)) * max(
        0.0, min(top, box_t) - max(bottom, box_b)
    )
    if box_area <= 0 or overlap < _COVER * box_area or overlap < _COVER * image_area:
        return None
    metadata = image.get_metadata()
    if metadata.colorspace == pdfium_c.FPDF_COLORSPACE_UNKNOWN and metadata.bits_per_pixel == 1:
        return None  # a stencil (/ImageMask): painted in the page's fill colour
    try:
        bitmap = image.get_bitmap(render=False)
    except pdfium.PdfiumError:
        return problem(
            source,
            number,
            Reason.CORRUPT_FILE,
            f"the scanned image on page {number} of the PDF is damaged and cannot be decoded; "
            "scan that sheet again",
        )
    try:
        gray = _bitmap_gray(bitmap.to_numpy(), bitmap.format)
    finally:
        bitmap.warn_on_close = False
        bitmap.close()
    if gray.shape != (px_h, px_w):
        return None
    dpi = dpi_of(px_w / ((right - left) / 72), px_h / ((top - bottom) / 72))
    return PageImage(source, number, finish(gray), dpi, "pdf-image")


def _bitmap_gray(pixels: npt.NDArray[np.uint8], fmt: int) -> GrayImage:
    """A copy of a PDFium bitmap as gray (the bitmap's buffer dies with it)."""
    if fmt == pdfium_c.FPDFBitmap_Gray:
        return np.array(pixels, dtype=np.uint8, copy=True)
    if fmt == pdfium_c.FPDFBitmap_BGR:
        return np.asarray(cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    if fmt == pdfium_c.FPDFBitmap_BGRx:
        return np.asarray(cv2.cvtColor(pixels, cv2.COLOR_BGRA2GRAY), dtype=np.uint8)
    if fmt == pdfium_c.FPDFBitmap_BGRA:
        gray = cv2.cvtColor(pixels, cv2.COLOR_BGRA2GRAY).astype(np.uint16)
        alpha = pixels[:, :, 3].astype(np.uint16)
        return ((gray * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
    raise ValueError(f"unexpected bitmap format {fmt}")

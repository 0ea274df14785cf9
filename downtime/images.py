"""Scan files → page images: the only module that opens the files clerks scan back.

:func:`find_inputs` turns the paths given to ``downtime scan`` into :class:`InputFile` records
(folders recursively), each with the SHA-256 of its bytes and its format sniffed from its
content. :func:`read_pages` turns one of them into grayscale page images, one
:class:`PageImage` per page, or a :class:`PageProblem` for every page (or whole file) that
cannot be read; it never raises for a bad file, so a run over a folder of scans always goes on.

Formats come from an allow-list, recognised by their first bytes and never by file name:

* **PDF** (scanner output, up to 1 KB of junk before ``%PDF-``), through PDFium. A page that
  is one upright image covering the page (what scanners write, optionally with an invisible
  OCR text layer) is used at the image's own resolution, decoded by PDFium without rendering
  (``origin "pdf-image"``; ``/Decode`` arrays, ``/BlackIs1`` and palettes honoured; JPEG, CCITT
  and Flate tested, JBIG2 and JPX as PDFium decodes them); its dpi is the image's pixels ÷
  its placed size in inches (the page size, for a scan). Every other page is rendered at
  ``pdf_dpi`` (``"pdf-render"``, dpi = ``pdf_dpi``): vector pages, several images, visible
  text, a page with ``/Rotate``, an image turned or mirrored by its matrix, an
  ``/ImageMask`` stencil (its colour comes from the page), an image inside a form XObject.
* **TIFF**, every page (G4, LZW, JPEG, Deflate, PackBits, uncompressed), through Pillow.
* **PNG** and **JPEG** (phone photos: EXIF orientation applied), through Pillow.

Images are ``uint8`` H × W arrays, 255 = white, 1-bit images as 0/255, and read-only (copy
one before drawing on it). Decompression bombs are refused from the header before anything
is decoded: a page of more than ``max_pixels`` pixels (:data:`DEFAULT_MAX_PIXELS`, 120
megapixels: an A4 page at 600 dpi is 34.8 MP, A3 at 600 dpi 69.6 MP, a 48 MP phone photo
fits with room to spare) is set aside as ``"decompression-bomb"``; for a PDF page the limit
applies to its images' pixels and to the rendering. Pillow's own hard limit
(``2 × Image.MAX_IMAGE_PIXELS``, about 179 MP) still applies on top; nothing here changes
Pillow's (or anyone's) global settings.

Problem reasons are stable strings (see :data:`REASONS`); messages are for a clerk and never
contain file contents.

Limits worth knowing: a PDF page is classified from its top-level objects only; a clipping
path or soft mask on a page's one image is not detected (scanners write neither), so the
whole image is used; a page whose images fail to decode while rendering comes out blank (the
native path reports them as ``"corrupt-file"``); native decoders (libtiff) may write their own
diagnostics about damaged files to stderr.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import io
import math
import os
import stat
import struct
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final

import cv2
import numpy as np
import numpy.typing as npt
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import ExifTags, Image, TiffImagePlugin

from downtime.errors import InputError

__all__ = [
    "ACCEPTED_FORMATS",
    "DEFAULT_MAX_PAGES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_PDF_DPI",
    "REASONS",
    "InputFile",
    "PageImage",
    "PageProblem",
    "find_inputs",
    "page_numbers",
    "read_page",
    "read_pages",
    "sniff",
]

GrayImage = npt.NDArray[np.uint8]

#: 120 megapixels: A3 at 600 dpi is 69.6 MP, A4 at 600 dpi 34.8 MP; no real scan comes close.
DEFAULT_MAX_PIXELS: Final = 120_000_000
DEFAULT_MAX_PAGES: Final = 2000
DEFAULT_PDF_DPI: Final = 200

ACCEPTED_FORMATS: Final = "PDF, TIFF, PNG or JPEG"

REASONS: Final = frozenset(
    {
        "empty-file",
        "unsupported-format",
        "corrupt-file",
        "truncated-file",
        "encrypted-pdf",
        "decompression-bomb",
        "too-many-pages",
        "unreadable-file",
    }
)

#: Files up to this size are read into memory once, and their hash checked against the one
#: :func:`find_inputs` recorded; larger ones are read from disk as needed (size checked only).
IN_MEMORY_LIMIT = 512 * 1024 * 1024

_CHUNK = 1024 * 1024
_O_NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)
_PDF_JUNK = 1024  # PDFium, like Acrobat, finds "%PDF-" up to 1024 bytes into the file
_HEAD = _PDF_JUNK + 5
_PIL_FORMAT: Final = {"tiff": "TIFF", "png": "PNG", "jpeg": "JPEG"}

# A single image object counts as "the page" when it and the page box overlap this much.
_COVER = 0.95
# Pages with more top-level objects than this are rendered without looking at each object.
_MAX_OBJECTS = 20_000


@dataclass(frozen=True)
class InputFile:
    """One file to read: as named on the command line, or found in a folder named there."""

    source: str  # path as given on the command line, or found under a given folder
    path: Path
    sha256: str  # of the file's bytes ("" when the file could not be read)
    size: int
    kind: str  # "pdf" | "tiff" | "png" | "jpeg" | "unknown" (also for empty or unreadable)


@dataclass(frozen=True)
class PageImage:
    """One page: grayscale ``uint8``, H × W, 255 = white, read-only."""

    source: str
    source_page: int  # 1-based
    image: GrayImage = field(repr=False, compare=False)
    dpi: tuple[float, float] | None  # (x, y) as the file says, else None
    origin: str  # "pdf-image" | "pdf-render" | "tiff" | "png" | "jpeg"


@dataclass(frozen=True)
class PageProblem:
    """A page (or, with ``source_page == 0``, a whole file) that could not be read."""

    source: str
    source_page: int  # 1-based; 0 when the whole file failed before any page
    reason: str  # one of REASONS
    message: str  # for a clerk: what is wrong and what to do; never file contents


# --------------------------------------------------------------------------------------------
# Finding files


def sniff(head: bytes) -> str:
    """The format of a file from its first bytes (at least 1029 of them for a PDF with junk)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if head.find(b"%PDF-", 0, _HEAD) >= 0:
        return "pdf"
    return "unknown"


def find_inputs(paths: Sequence[Path]) -> list[InputFile]:
    """The files to read, in order: each path as given; for a folder, every file below it.

    Folders are walked recursively in a stable order (names sorted by code point at every
    level); hidden files and folders (name starting with ``.``) below a given folder are
    skipped, and so are special files and symbolic links to folders; a symbolic link to a file
    is followed only when that file is inside the folder. A file reached twice is listed once.
    Each file is read once here, in chunks, for its SHA-256 and format. A path that does not
    exist, or a folder that cannot be listed, raises :class:`~downtime.errors.InputError`; a
    file that cannot be read is still listed (``sha256 == ""``) and :func:`read_pages` reports
    it.
    """
    found: list[InputFile] = []
    seen: set[Path] = set()
    for given in paths:
        try:
            info = given.stat()
        except FileNotFoundError:
            raise InputError(
                f"{given}: no such file or folder",
                hint="check the path; scan files and folders of scan files can be named",
            ) from None
        except OSError as exc:
            raise InputError(
                f"{given}: cannot be opened ({exc.strerror or type(exc).__name__})",
                hint="check the path and that you may read it",
            ) from None
        if stat.S_ISDIR(info.st_mode):
            for source, path in _walk(given):
                _add(found, seen, source, path)
        elif stat.S_ISREG(info.st_mode):
            _add(found, seen, str(given), given)
        else:
            raise InputError(
                f"{given}: is neither a file nor a folder",
                hint="name scan files (PDF, TIFF, PNG, JPEG) or folders holding them",
            )
    return found


def _walk(folder: Path) -> Iterator[tuple[str, Path]]:
    root = folder.resolve()

    def visit(directory: Path, shown: Path) -> Iterator[tuple[str, Path]]:
        try:
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            raise InputError(
                f"{shown}: the folder cannot be read ({exc.strerror or type(exc).__name__})",
                hint="check that you may read it, or name the files in it one by one",
            ) from None
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = directory / entry.name
            if entry.is_symlink():
                try:
                    target = path.resolve(strict=True)
                except (OSError, RuntimeError):
                    continue  # dangling or looping link
                if target.is_relative_to(root) and target.is_file():
                    yield str(shown / entry.name), path
            elif entry.is_dir(follow_symlinks=False):
                yield from visit(path, shown / entry.name)
            elif entry.is_file(follow_symlinks=False):
                yield str(shown / entry.name), path

    yield from visit(folder, folder)


def _add(found: list[InputFile], seen: set[Path], source: str, path: Path) -> None:
    try:
        key = path.resolve(strict=True)
    except (OSError, RuntimeError):
        key = path.absolute()
    if key in seen:
        return
    seen.add(key)
    found.append(_describe(source, path))


def _describe(source: str, path: Path) -> InputFile:
    digest = hashlib.sha256()
    head = b""
    size = 0
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(_CHUNK):
                if len(head) < _HEAD:
                    head += chunk[: _HEAD - len(head)]
                digest.update(chunk)
                size += len(chunk)
    except OSError:
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        return InputFile(source, path, "", size, "unknown")
    return InputFile(source, path, digest.hexdigest(), size, sniff(head))


# --------------------------------------------------------------------------------------------
# Reading pages


def read_pages(
    item: InputFile,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_pages: int = DEFAULT_MAX_PAGES,
    pdf_dpi: int = DEFAULT_PDF_DPI,
    only: int | None = None,
    verify: bool = True,
) -> Iterator[PageImage | PageProblem]:
    """Every page of ``item`` as a :class:`PageImage`, or a :class:`PageProblem` where a page
    (``source_page`` ≥ 1) or the whole file (``source_page == 0``) cannot be read.

    Never raises for a bad file. In a multi-page file, the pages before a bad one are yielded
    first; a bad page in the middle is reported and the next ones are still read where the
    format allows. Beyond ``max_pages`` pages, one ``"too-many-pages"`` problem stands for
    the rest. The file's bytes are checked against ``item.sha256`` (files up to
    :data:`IN_MEMORY_LIMIT`), so the pages always come from the bytes that were hashed.

    ``only``: just that page (1-based), without decoding the others, and without the
    problems about the file's end (:func:`page_numbers` reports those). ``verify=False``
    skips the hash check, for a file read from the content-addressed store, which cannot
    change; a PDF is then opened lazily from disk instead of read whole.
    """
    if max_pixels < 1 or max_pages < 1 or pdf_dpi < 1:
        raise ValueError("max_pixels, max_pages and pdf_dpi must be positive")
    opened = _open(item, verify=verify)
    if isinstance(opened, PageProblem):
        yield opened
        return
    data, stream, size = opened
    with stream:
        stream.seek(0)
        kind = sniff(stream.read(_HEAD))
        if kind == "pdf":
            yield from _read_pdf(item, data, stream, size, max_pixels, max_pages, pdf_dpi, only)
        elif kind == "tiff":
            yield from _read_tiff(item.source, stream, size, max_pixels, max_pages, only)
        elif kind in ("png", "jpeg"):
            if only in (None, 1):
                yield _read_single(item.source, kind, stream, size, max_pixels)
        else:
            yield _problem(
                item.source,
                0,
                "unsupported-format",
                f"this is not a scan file this program reads (accepted: {ACCEPTED_FORMATS}, "
                "recognised by their content, whatever the file name); scan the paper again "
                "or export it as one of these",
            )


def page_numbers(
    item: InputFile, *, max_pages: int = DEFAULT_MAX_PAGES
) -> tuple[list[int], list[PageProblem]]:
    """The pages of ``item`` to read (1-based), and the problems known without decoding any:
    a file that cannot be opened at all (page 0), too many pages, a cut-off end.

    Cheap: a PDF's page count and a TIFF's directory chain, not their images. The file's hash
    is checked here, once; the pages are then read with :func:`read_page`.
    """
    opened = _open(item)
    if isinstance(opened, PageProblem):
        return [], [opened]
    data, stream, size = opened
    with stream:
        stream.seek(0)
        kind = sniff(stream.read(_HEAD))
        if kind == "pdf":
            document = _pdf_document(item, data, stream, size)
            if isinstance(document, PageProblem):
                return [], [document]
            doc, complete = document
            total = len(doc)
            doc.close()
            return list(range(1, min(total, max_pages) + 1)), _pdf_tail(
                item.source, total, max_pages, complete
            )
        if kind == "tiff":
            frames, cut, looped = _tiff_directories(stream, size, max_pages + 1)
            if frames == 0:
                return [], [_damaged(item.source, 0, "tiff", cut)]
            numbers = list(range(1, min(frames, max_pages) + 1))
            return numbers, _tiff_tail(item.source, frames, max_pages, cut, looped)
        if kind in ("png", "jpeg"):
            return [1], []
    return [], [p for p in read_pages(item, max_pages=max_pages) if isinstance(p, PageProblem)]


def read_page(
    item: InputFile,
    number: int,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    pdf_dpi: int = DEFAULT_PDF_DPI,
    verify: bool = True,
) -> PageImage | PageProblem:
    """Page ``number`` (1-based) of ``item`` alone."""
    found = list(
        read_pages(item, max_pixels=max_pixels, pdf_dpi=pdf_dpi, only=number, verify=verify)
    )
    for result in found:
        if result.source_page in (0, number):
            return result
    return _problem(
        item.source, number, "unreadable-file", f"the file has no page {number} (any more)"
    )


def _open(
    item: InputFile, *, verify: bool = True
) -> tuple[bytes | None, BinaryIO, int] | PageProblem:
    """The file's bytes (when small enough) and a stream over them, checked against ``item``.

    Without ``verify``, a PDF is left on disk (PDFium reads what it needs) and nothing is
    hashed."""
    try:
        # O_NONBLOCK: should the path have become a pipe, fail instead of waiting for a writer
        stream = open(  # noqa: SIM115 - closed below, or by read_pages
            item.path, "rb", opener=lambda path, flags: os.open(path, flags | _O_NONBLOCK)
        )
    except OSError as exc:
        return _unreadable(item.source, exc)
    try:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode):
            stream.close()
            return _problem(
                item.source,
                0,
                "unreadable-file",
                "this is not a regular file (but a folder, pipe or device); name scan files only",
            )
        if info.st_size == 0:
            stream.close()
            return _empty(item.source)
        if not verify and sniff(stream.read(_HEAD)) == "pdf":
            stream.seek(0)
            return None, stream, info.st_size
        stream.seek(0)
        if info.st_size > IN_MEMORY_LIMIT:
            if info.st_size != item.size:
                stream.close()
                return _changed(item.source)
            return None, stream, info.st_size
        data = stream.read()
        stream.close()
    except OSError as exc:
        stream.close()
        return _unreadable(item.source, exc)
    if verify and (len(data) != item.size or hashlib.sha256(data).hexdigest() != item.sha256):
        if not data:
            return _empty(item.source)
        return _changed(item.source)
    return data, io.BytesIO(data), len(data)


def _empty(source: str) -> PageProblem:
    return _problem(
        source,
        0,
        "empty-file",
        "the file is empty (0 bytes); if the scanner is still writing it, wait until it is "
        "done and scan again, otherwise scan the paper again",
    )


def _unreadable(source: str, exc: OSError) -> PageProblem:
    why = exc.strerror or type(exc).__name__
    return _problem(
        source,
        0,
        "unreadable-file",
        f"the file cannot be read ({why}); check that it still exists and that you may read "
        "it, then scan it again",
    )


def _changed(source: str) -> PageProblem:
    return _problem(
        source,
        0,
        "unreadable-file",
        "the file changed while it was being read (is the scanner still writing it?); wait "
        "until it is complete and scan it again",
    )


def _problem(source: str, page: int, reason: str, message: str) -> PageProblem:
    assert reason in REASONS, reason
    return PageProblem(source, page, reason, message)


def _bomb(
    source: str, page: int, width: int, height: int, max_pixels: int, *, single: bool = False
) -> PageProblem:
    what = "the image" if single else f"page {page}"
    return _problem(
        source,
        page,
        "decompression-bomb",
        f"{what} claims {width} × {height} pixels, more than the {max_pixels:,} allowed; "
        "it was not opened. Scan the paper again at 200–300 dpi",
    )


def _too_many(source: str, max_pages: int, total: int | None) -> PageProblem:
    has = f"has {total} pages" if total is not None else f"has more than {max_pages} pages"
    return _problem(
        source,
        max_pages + 1,
        "too-many-pages",
        f"the file {has}; only the first {max_pages} were read. Split it into files of at "
        f"most {max_pages} pages and scan the file with the rest",
    )


def _finish(image: GrayImage) -> GrayImage:
    out = np.ascontiguousarray(image, dtype=np.uint8)
    out.flags.writeable = False
    return out


def _dpi(x: Any, y: Any) -> tuple[float, float] | None:
    try:
        fx, fy = float(x), float(y)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not (math.isfinite(fx) and math.isfinite(fy) and fx > 0 and fy > 0):
        return None
    return (round(fx, 2), round(fy, 2))


# --------------------------------------------------------------------------------------------
# PDF


def _read_pdf(
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
    opened = _pdf_document(item, data, stream, size)
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
            yield from _pdf_tail(source, total, max_pages, complete)
    finally:
        document.close()


def _pdf_document(
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


def _pdf_tail(source: str, total: int, max_pages: int, complete: bool) -> list[PageProblem]:
    if total > max_pages:
        return [_too_many(source, max_pages, total)]
    if not complete:
        return [
            _problem(
                source,
                total + 1,
                "truncated-file",
                f"the file is cut off (it does not end like a complete PDF); {total} pages "
                "were read, pages after them may be missing. Copy or export the file again",
            )
        ]
    return []


def _pdf_open_problem(source: str, code: int | None, complete: bool) -> PageProblem:
    if code == pdfium_c.FPDF_ERR_PASSWORD:
        return _problem(
            source,
            0,
            "encrypted-pdf",
            "the PDF is protected by a password; remove the password in the scanner software "
            "(turn off PDF encryption) and scan again",
        )
    if code == pdfium_c.FPDF_ERR_SECURITY:
        return _problem(
            source,
            0,
            "encrypted-pdf",
            "the PDF is encrypted in a way this program cannot open; turn off PDF "
            "encryption in the scanner software and scan again",
        )
    if not complete:
        return _problem(
            source,
            0,
            "truncated-file",
            "the PDF is cut off (incomplete copy or download, or the scanner had not "
            "finished writing it); copy or export it again, or scan the paper again",
        )
    return _problem(
        source,
        0,
        "corrupt-file",
        "the PDF is damaged and cannot be opened; export it again from the scanner or "
        "scan the paper again",
    )


def _pdf_page(
    document: Any, source: str, number: int, max_pixels: int, pdf_dpi: int
) -> PageImage | PageProblem:
    try:
        page = document[number - 1]
    except Exception:
        return _problem(
            source,
            number,
            "corrupt-file",
            f"page {number} of the PDF is damaged and cannot be read; scan that sheet again",
        )
    try:
        return _pdf_page_image(page, document, source, number, max_pixels, pdf_dpi)
    except Exception:
        return _problem(
            source,
            number,
            "corrupt-file",
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
        return _bomb(source, number, biggest[1], biggest[2], max_pixels)
    if len(images) == 1 and others == 0 and page.get_rotation() == 0:
        native = _pdf_native_image(page, document, images[0], source, number)
        if native is not None:
            return native
    scale = pdf_dpi / 72
    render_w, render_h = math.ceil(width * scale), math.ceil(height * scale)
    if render_w * render_h > max_pixels:
        return _bomb(source, number, render_w, render_h, max_pixels)
    bitmap = page.render(
        scale=scale, force_bitmap_format=pdfium_c.FPDFBitmap_Gray, may_draw_forms=False
    )
    # A bitmap made by pypdfium2 owns a packed buffer that outlives it: no copy needed.
    gray = np.asarray(bitmap.to_numpy(), dtype=np.uint8)
    return PageImage(source, number, _finish(gray), (float(pdf_dpi), float(pdf_dpi)), "pdf-render")


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
        return _problem(
            source,
            number,
            "corrupt-file",
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
    dpi = _dpi(px_w / ((right - left) / 72), px_h / ((top - bottom) / 72))
    return PageImage(source, number, _finish(gray), dpi, "pdf-image")


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


# --------------------------------------------------------------------------------------------
# Pillow: TIFF, PNG, JPEG


def _read_single(
    source: str, kind: str, stream: BinaryIO, size: int, max_pixels: int
) -> PageImage | PageProblem:
    stream.seek(0)
    with _quiet():
        try:
            image = Image.open(stream, formats=[_PIL_FORMAT[kind]])
        except Image.DecompressionBombError:
            return _problem(
                source,
                1,
                "decompression-bomb",
                "the image claims more pixels than allowed; it was not opened. Scan the "
                "paper again at 200–300 dpi",
            )
        except Exception:
            return _damaged(source, 0, kind, _looks_cut(kind, stream, size))
        with image:
            width, height = image.size
            if width * height > max_pixels:
                return _bomb(source, 1, width, height, max_pixels, single=True)
            if width < 1 or height < 1:
                return _damaged(source, 1, kind, cut=False)
            try:
                if kind == "jpeg" and image.mode == "RGB":
                    image.draft("L", image.size)  # decode luminance only, at full size
                image.load()
                gray = _to_gray(image)
            except Image.DecompressionBombError:
                return _bomb(source, 1, width, height, max_pixels, single=True)
            except Exception:
                return _damaged(source, 1, kind, _looks_cut(kind, stream, size))
            dpi = _info_dpi(image.info)
            orientation = _orientation(image)  # after load(): Pillow's PNG getexif() loads
    if orientation is not None:
        gray = _orient(gray, orientation)
        if dpi is not None and orientation >= 5:
            dpi = (dpi[1], dpi[0])
    return PageImage(source, 1, _finish(gray), dpi, kind)


def _read_tiff(
    source: str,
    stream: BinaryIO,
    size: int,
    max_pixels: int,
    max_pages: int,
    only: int | None = None,
) -> Iterator[PageImage | PageProblem]:
    frames, cut, looped = _tiff_directories(stream, size, max_pages + 1)
    if frames == 0:
        yield _damaged(source, 0, "tiff", cut)
        return
    if cut:
        stream = _tiff_repaired(stream, frames)
    stream.seek(0)
    try:
        with _quiet():
            image = Image.open(stream, formats=["TIFF"])
    except Image.DecompressionBombError:
        yield _problem(
            source,
            1,
            "decompression-bomb",
            "page 1 claims more pixels than allowed; it was not opened. Scan the paper again "
            "at 200–300 dpi",
        )
        return
    except Exception:
        yield _damaged(source, 0, "tiff", _tiff_data_cut_any(stream, size) or cut)
        return
    with image:
        indices = range(min(frames, max_pages))
        if only is not None:
            indices = range(only - 1, only) if only - 1 in indices else range(0)
        for index in indices:
            yield _tiff_frame(image, source, index, size, max_pixels)
    if only is None:
        yield from _tiff_tail(source, frames, max_pages, cut, looped)


def _tiff_tail(
    source: str, frames: int, max_pages: int, cut: bool, looped: bool
) -> list[PageProblem]:
    if frames > max_pages:
        return [_too_many(source, max_pages, None)]
    if cut:
        return [
            _problem(
                source,
                frames + 1,
                "truncated-file",
                f"the file ends early: page {frames + 1} and any after it are missing. Copy "
                "or export the file again, or scan those sheets again",
            )
        ]
    if looped:
        return [
            _problem(
                source,
                frames + 1,
                "corrupt-file",
                f"the file is damaged after page {frames} (its page list loops); pages after "
                "it may be missing. Export the file again or scan the sheets again",
            )
        ]
    return []


def _tiff_frame(
    image: Image.Image, source: str, index: int, size: int, max_pixels: int
) -> PageImage | PageProblem:
    number = index + 1
    with _quiet():
        try:
            image.seek(index)
            width, height = image.size
        except Exception:
            return _damaged(source, number, "tiff", _tiff_data_cut(image, size))
        if width * height > max_pixels:
            return _bomb(source, number, width, height, max_pixels)
        if width < 1 or height < 1:
            return _damaged(source, number, "tiff", cut=False)
        try:
            image.load()
            gray = _to_gray(image)
        except Exception:
            return _damaged(source, number, "tiff", _tiff_data_cut(image, size))
    return PageImage(source, number, _finish(gray), _tiff_dpi(image), "tiff")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Pillow warns about damaged files (and about big images: the limit here is ours); the
    caller hears about the file through a PageProblem instead. Never held across a yield."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _damaged(source: str, page: int, kind: str, cut: bool) -> PageProblem:
    name = {"tiff": "TIFF", "png": "PNG", "jpeg": "JPEG", "pdf": "PDF"}[kind]
    what = f"page {page} of the {name} file" if page and kind == "tiff" else f"the {name} file"
    if cut:
        return _problem(
            source,
            page,
            "truncated-file",
            f"{what} is cut off (incomplete copy, or the scanner had not finished writing "
            "it); copy or export it again, or scan the paper again",
        )
    return _problem(
        source,
        page,
        "corrupt-file",
        f"{what} is damaged and cannot be decoded; export it again or scan the paper again",
    )


def _looks_cut(kind: str, stream: BinaryIO, size: int) -> bool:
    """Does the file lack the end a complete file of its kind has?"""
    try:
        stream.seek(max(0, size - 4096))
        tail = stream.read()
    except (OSError, ValueError):
        return False
    if kind == "png":
        return not tail.endswith(b"IEND\xae\x42\x60\x82")
    if kind == "jpeg":
        return b"\xff\xd9" not in tail  # some cameras put data after the end marker
    return False


def _tiff_directories(stream: BinaryIO, size: int, limit: int) -> tuple[int, bool, bool]:
    """Walk the chain of TIFF image directories (pages) without decoding anything.

    Returns how many complete directories there are (counting stops at ``limit``), whether
    the chain runs past the end of the file (cut off), and whether it loops (damaged).
    """
    stream.seek(0)
    header = stream.read(8)
    if len(header) < 8:
        return 0, True, False
    order = "<" if header[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", header[4:8])
    seen: set[int] = set()
    count = 0
    while offset and count < limit:
        if offset in seen:
            return count, False, True
        seen.add(offset)
        stream.seek(offset)
        raw = stream.read(2)
        if offset + 2 > size or len(raw) < 2:
            return count, True, False
        (entries,) = struct.unpack(order + "H", raw)
        stream.seek(offset + 2 + 12 * entries)
        raw = stream.read(4)
        if len(raw) < 4:
            return count, True, False
        count += 1
        (offset,) = struct.unpack(order + "I", raw)
    return count, False, False


def _tiff_repaired(stream: BinaryIO, frames: int) -> BinaryIO:
    """A copy of a cut-off TIFF whose page chain ends cleanly after its last complete page,
    so that libtiff reads the complete pages without tripping over the missing ones."""
    stream.seek(0)
    data = bytearray(stream.read())
    order = "<" if data[:2] == b"II" else ">"
    (offset,) = struct.unpack_from(order + "I", data, 4)
    for _ in range(frames - 1):
        (entries,) = struct.unpack_from(order + "H", data, offset)
        (offset,) = struct.unpack_from(order + "I", data, offset + 2 + 12 * entries)
    (entries,) = struct.unpack_from(order + "H", data, offset)
    struct.pack_into(order + "I", data, offset + 2 + 12 * entries, 0)
    return io.BytesIO(bytes(data))


def _tiff_data_cut(image: Image.Image, size: int) -> bool:
    """Does the current page's image data reach past the end of the file?"""
    try:
        tags = image.tag_v2  # type: ignore[attr-defined]
        offsets = tags.get(TiffImagePlugin.STRIPOFFSETS) or tags.get(324)
        counts = tags.get(TiffImagePlugin.STRIPBYTECOUNTS) or tags.get(325)
        if not offsets or not counts:
            return False
        if isinstance(offsets, int):
            offsets = (offsets,)
        if isinstance(counts, int):
            counts = (counts,)
        return any(int(o) + int(n) > size for o, n in zip(offsets, counts, strict=False))
    except Exception:
        return False


def _tiff_data_cut_any(stream: BinaryIO, size: int) -> bool:
    frames, cut, _looped = _tiff_directories(stream, size, 1)
    return cut or frames == 0


def _tiff_dpi(image: Image.Image) -> tuple[float, float] | None:
    tags = getattr(image, "tag_v2", None)
    if tags is None:
        return None
    x = tags.get(TiffImagePlugin.X_RESOLUTION)
    y = tags.get(TiffImagePlugin.Y_RESOLUTION)
    unit = tags.get(TiffImagePlugin.RESOLUTION_UNIT, 2)  # the TIFF default is inch
    if x is None or y is None:
        return None
    if unit == 2:
        return _dpi(x, y)
    if unit == 3:  # centimetre
        return _dpi(float(x) * 2.54, float(y) * 2.54)
    return None  # 1: no absolute unit


def _info_dpi(info: Mapping[Any, Any]) -> tuple[float, float] | None:
    value = info.get("dpi")
    if not isinstance(value, tuple) or len(value) != 2:
        return None
    return _dpi(value[0], value[1])


def _orientation(image: Image.Image) -> int | None:
    """The EXIF orientation (2–8) when it asks for a turn or flip, else None."""
    try:
        value = image.getexif().get(ExifTags.Base.Orientation)
    except Exception:
        return None
    return value if isinstance(value, int) and 2 <= value <= 8 else None


def _orient(gray: GrayImage, orientation: int) -> GrayImage:
    """Turn stored pixels upright as EXIF orientation says (as ``ImageOps.exif_transpose``)."""
    turned = {
        2: gray[:, ::-1],
        3: gray[::-1, ::-1],
        4: gray[::-1, :],
        5: gray.T,
        6: np.rot90(gray, -1),
        7: gray.T[::-1, ::-1],
        8: np.rot90(gray, 1),
    }[orientation]
    return np.ascontiguousarray(turned)


def _to_gray(image: Image.Image) -> GrayImage:
    """A loaded Pillow image as gray uint8: alpha composited on white, 1-bit as 0/255,
    16-bit scaled down."""
    mode = image.mode
    if mode == "L":
        return np.asarray(image, dtype=np.uint8)
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return (np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8)
    if mode == "I":
        wide = np.asarray(image, dtype=np.int64)
        return np.asarray(np.clip(wide, 0, 65535) >> 8, dtype=np.uint8)
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        white.alpha_composite(rgba)
        return np.asarray(white.convert("L"), dtype=np.uint8)
    return np.asarray(image.convert("L"), dtype=np.uint8)

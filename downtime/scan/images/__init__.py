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

from downtime.scan.images.inputs import IN_MEMORY_LIMIT as IN_MEMORY_LIMIT
from downtime.scan.images.inputs import find_inputs, list_inputs, sniff
from downtime.scan.images.model import (
    ACCEPTED_FORMATS,
    DEFAULT_MAX_PAGES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_PDF_DPI,
    REASONS,
    InputFile,
    PageImage,
    PageProblem,
    Skipped,
)
from downtime.scan.images.model import GrayImage as GrayImage
from downtime.scan.images.read import page_numbers, read_page, read_pages

__all__ = [
    "ACCEPTED_FORMATS",
    "DEFAULT_MAX_PAGES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_PDF_DPI",
    "REASONS",
    "InputFile",
    "PageImage",
    "PageProblem",
    "Skipped",
    "find_inputs",
    "list_inputs",
    "page_numbers",
    "read_page",
    "read_pages",
    "sniff",
]

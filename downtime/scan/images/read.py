"""Reading pages: each file's format decides which reader turns its pages into images."""

from __future__ import annotations

from collections.abc import Iterator

from downtime.scan.images.inputs import HEAD, open_input, sniff
from downtime.scan.images.model import (
    ACCEPTED_FORMATS,
    DEFAULT_MAX_PAGES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_PDF_DPI,
    InputFile,
    PageImage,
    PageProblem,
)
from downtime.scan.images.pdf import pdf_document, pdf_tail, read_pdf
from downtime.scan.images.problems import damaged, problem
from downtime.scan.images.raster import read_single
from downtime.scan.images.tiff import read_tiff, tiff_directories, tiff_tail
from downtime.vocab import Reason


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
    opened = open_input(item, verify=verify)
    if isinstance(opened, PageProblem):
        yield opened
        return
    data, stream, size = opened
    with stream:
        stream.seek(0)
        kind = sniff(stream.read(HEAD))
        if kind == "pdf":
            yield from read_pdf(item, data, stream, size, max_pixels, max_pages, pdf_dpi, only)
        elif kind == "tiff":
            yield from read_tiff(item.source, stream, size, max_pixels, max_pages, only)
        elif kind in ("png", "jpeg"):
            if only in (None, 1):
                yield read_single(item.source, kind, stream, size, max_pixels)
        else:
            yield problem(
                item.source,
                0,
                Reason.UNSUPPORTED_FORMAT,
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
    opened = open_input(item)
    if isinstance(opened, PageProblem):
        return [], [opened]
    data, stream, size = opened
    with stream:
        stream.seek(0)
        kind = sniff(stream.read(HEAD))
        if kind == "pdf":
            document = pdf_document(item, data, stream, size)
            if isinstance(document, PageProblem):
                return [], [document]
            doc, complete = document
            total = len(doc)
            doc.close()
            return list(range(1, min(total, max_pages) + 1)), pdf_tail(
                item.source, total, max_pages, complete
            )
        if kind == "tiff":
            frames, cut, looped = tiff_directories(stream, size, max_pages + 1)
            if frames == 0:
                return [], [damaged(item.source, 0, "tiff", cut)]
            numbers = list(range(1, min(frames, max_pages) + 1))
            return numbers, tiff_tail(item.source, frames, max_pages, cut, looped)
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
    return problem(
        item.source, number, Reason.UNREADABLE_FILE, f"the file has no page {number} (any more)"
    )

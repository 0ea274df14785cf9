"""Page problems: what went wrong with a file or a page, said for a clerk, with the next step.

Every :class:`~downtime.scan.images.PageProblem` is made here, with a reason from
:data:`~downtime.scan.images.model.REASONS`; messages never contain file contents."""

from __future__ import annotations

from downtime.scan.images.model import REASONS, PageProblem
from downtime.vocab import Reason


def empty(source: str) -> PageProblem:
    return problem(
        source,
        0,
        Reason.EMPTY_FILE,
        "the file is empty (0 bytes); if the scanner is still writing it, wait until it is "
        "done and scan again, otherwise scan the paper again",
    )


def unreadable(source: str, exc: OSError) -> PageProblem:
    why = exc.strerror or type(exc).__name__
    return problem(
        source,
        0,
        Reason.UNREADABLE_FILE,
        f"the file cannot be read ({why}); check that it still exists and that you may read "
        "it, then scan it again",
    )


def changed(source: str) -> PageProblem:
    return problem(
        source,
        0,
        Reason.UNREADABLE_FILE,
        "the file changed while it was being read (is the scanner still writing it?); wait "
        "until it is complete and scan it again",
    )


def problem(source: str, page: int, reason: Reason, message: str) -> PageProblem:
    assert reason in REASONS, reason
    return PageProblem(source, page, reason, message)


def bomb(
    source: str, page: int, width: int, height: int, max_pixels: int, *, single: bool = False
) -> PageProblem:
    what = "the image" if single else f"page {page}"
    return problem(
        source,
        page,
        Reason.DECOMPRESSION_BOMB,
        f"{what} claims {width} × {height} pixels, more than the {max_pixels:,} allowed; "
        "it was not opened. Scan the paper again at 200–300 dpi",
    )


def too_many(source: str, max_pages: int, total: int | None) -> PageProblem:
    has = f"has {total} pages" if total is not None else f"has more than {max_pages} pages"
    return problem(
        source,
        max_pages + 1,
        Reason.TOO_MANY_PAGES,
        f"the file {has}; only the first {max_pages} were read. Split it into files of at "
        f"most {max_pages} pages and scan the file with the rest",
    )


def damaged(source: str, page: int, kind: str, cut: bool) -> PageProblem:
    name = {"tiff": "TIFF", "png": "PNG", "jpeg": "JPEG", "pdf": "PDF"}[kind]
    what = f"page {page} of the {name} file" if page and kind == "tiff" else f"the {name} file"
    if cut:
        return problem(
            source,
            page,
            Reason.TRUNCATED_FILE,
            f"{what} is cut off (incomplete copy, or the scanner had not finished writing "
            "it); copy or export it again, or scan the paper again",
        )
    return problem(
        source,
        page,
        Reason.CORRUPT_FILE,
        f"{what} is damaged and cannot be decoded; export it again or scan the paper again",
    )

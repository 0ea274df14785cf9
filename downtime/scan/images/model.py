"""What :mod:`downtime.scan.images` hands out (input files, page images, page problems), its
limits, and the two helpers every format's reader finishes a page with."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from downtime.vocab import Reason

GrayImage = npt.NDArray[np.uint8]

#: 120 megapixels: A3 at 600 dpi is 69.6 MP, A4 at 600 dpi 34.8 MP; no real scan comes close.
DEFAULT_MAX_PIXELS: Final = 120_000_000
DEFAULT_MAX_PAGES: Final = 2000
DEFAULT_PDF_DPI: Final = 200

ACCEPTED_FORMATS: Final = "PDF, TIFF, PNG or JPEG"

REASONS: Final = frozenset(
    {
        Reason.EMPTY_FILE,
        Reason.UNSUPPORTED_FORMAT,
        Reason.CORRUPT_FILE,
        Reason.TRUNCATED_FILE,
        Reason.ENCRYPTED_PDF,
        Reason.DECOMPRESSION_BOMB,
        Reason.TOO_MANY_PAGES,
        Reason.UNREADABLE_FILE,
    }
)


@dataclass(frozen=True)
class InputFile:
    """One file to read: as named on the command line, or found in a folder named there."""

    source: str  # path as given on the command line, or found under a given folder
    path: Path
    sha256: str  # of the file's bytes ("" when the file could not be read)
    size: int
    kind: str  # "pdf" | "tiff" | "png" | "jpeg" | "unknown" (also for empty or unreadable)


@dataclass(frozen=True)
class Skipped:
    """An entry of a given folder that is not read, and why (a pipe, a device, a broken link).

    Never opened: what it is comes from the folder listing and ``stat`` alone."""

    source: str  # found under a given folder, like InputFile.source
    why: str  # for a clerk: what the entry is


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
    reason: Reason  # one of REASONS
    message: str  # for a clerk: what is wrong and what to do; never file contents


def finish(image: GrayImage) -> GrayImage:
    out = np.ascontiguousarray(image, dtype=np.uint8)
    out.flags.writeable = False
    return out


def dpi_of(x: Any, y: Any) -> tuple[float, float] | None:
    try:
        fx, fy = float(x), float(y)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not (math.isfinite(fx) and math.isfinite(fy) and fx > 0 and fy > 0):
        return None
    return (round(fx, 2), round(fy, 2))

"""Finding and reading page codes: the only module that imports a QR reader.

zxing-cpp is the reader: it is fast on the small regions where codes are expected and reads
blurred and noisy codes where pyzbar fails (see BENCHMARKS.md). pyzbar (libzbar0) is the
second opinion, tried on the whole page when zxing-cpp found nothing.

Search order, cheapest first, stopping as soon as both DK1 codes are found:

1. the four corner regions of the image (codes sit in two diagonal corners of the page,
   whichever way up it was scanned);
2. the whole page;
3. enhanced variants of the whole page (contrast stretched, locally binarised, halved), and
   pyzbar.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from downtime.codes import PREFIX
from downtime.errors import DependencyError

Image = npt.NDArray[np.uint8]
Point = tuple[float, float]

CORNER_REGION_MM = 68.0  # side of the square searched in each corner of the page first
A4_LONG_MM = 297.0


@dataclass(frozen=True)
class Symbol:
    """A decoded QR code: its text and where it is, in pixels of the searched image.

    ``corners`` are the symbol's outer corners as the reader reports them: top-left, top-right,
    bottom-right, bottom-left in the symbol's own frame. A reader that decodes a mirrored
    symbol reports a consistent right-handed frame anyway; registration finds out (see
    scan/register.py).
    """

    text: str
    corners: tuple[Point, Point, Point, Point]
    modules: int  # symbol width in modules (version 10: 57), 0 when unknown
    reader: str  # "zxing-cpp" | "pyzbar"
    stage: str  # "corners" | "page" | "enhanced"

    @property
    def centre(self) -> Point:
        xs, ys = zip(*self.corners, strict=True)
        return sum(xs) / 4.0, sum(ys) / 4.0

    def is_page_code(self) -> bool:
        return self.text.startswith(PREFIX)


@cache
def _zxing() -> Any:
    try:
        import zxingcpp
    except ImportError as e:
        raise DependencyError(
            "the QR reader zxing-cpp is not installed",
            hint="install the project's dependencies: pip install zxing-cpp",
        ) from e
    return zxingcpp


def reader_problem(reader: str) -> str | None:
    """Why a QR reader (``zxing-cpp`` or ``pyzbar``) cannot be loaded, or None when it can.

    pyzbar is the Python half of zbar; it loads the native libzbar (Debian: ``libzbar0``) when
    imported, and a scan without it goes on without the second reader."""
    try:
        if reader == "zxing-cpp":
            _zxing()
        else:
            from pyzbar import pyzbar  # noqa: F401
    except DependencyError as e:
        return e.message
    except ImportError as e:  # pyzbar raises it when libzbar is missing
        return f"{e}"
    return None


def read_zxing(image: Image, offset: Point = (0.0, 0.0), stage: str = "page") -> list[Symbol]:
    zx = _zxing()
    found = zx.read_barcodes(image, formats=zx.BarcodeFormat.QRCode, try_invert=False)
    out = []
    for b in found:
        p = b.position
        corners = tuple(
            (float(q.x) + offset[0], float(q.y) + offset[1])
            for q in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)
        )
        version = str(b.extra.get("Version", "")) if isinstance(b.extra, dict) else ""
        modules = 17 + 4 * int(version) if version.isdigit() else 0
        out.append(Symbol(b.text, corners, modules, "zxing-cpp", stage))  # type: ignore[arg-type]
    return out


def read_zbar(image: Image, stage: str = "enhanced") -> list[Symbol]:
    """pyzbar as a second reader. Its polygon carries no orientation: the corners are ordered
    around the symbol but which one is its top-left is unknown (registration tries all four)."""
    try:
        from pyzbar import pyzbar
    except ImportError:  # libzbar0 missing: the second opinion is simply not available
        return []
    out = []
    for d in pyzbar.decode(image, symbols=[pyzbar.ZBarSymbol.QRCODE]):
        try:
            text = d.data.decode("ascii")
        except UnicodeDecodeError:
            continue
        hull = cv2.convexHull(np.array(d.polygon, dtype=np.float32)).reshape(-1, 2)
        if len(hull) != 4:
            continue
        corners = tuple((float(x), float(y)) for x, y in hull)
        out.append(Symbol(text, corners, 0, "pyzbar", stage))  # type: ignore[arg-type]
    return out


def corner_regions(shape: tuple[int, ...], px_per_mm: float) -> list[tuple[int, int, int, int]]:
    """The four corner squares (x0, y0, x1, y1) of an image where page codes are expected."""
    h, w = shape[:2]
    side = int(CORNER_REGION_MM * px_per_mm)
    sx, sy = min(side, w), min(side, h)
    return [(0, 0, sx, sy), (w - sx, 0, w, sy), (0, h - sy, sx, h), (w - sx, h - sy, w, h)]


def estimate_px_per_mm(shape: tuple[int, ...], dpi: tuple[float, float] | None) -> float:
    """From the file's resolution if known, else assuming the page fills the image."""
    if dpi and dpi[0] > 0:
        return min(dpi) / 25.4
    return max(shape[:2]) / A4_LONG_MM


def find_page_codes(
    image: Image, *, px_per_mm: float, enhance: bool = True
) -> tuple[list[Symbol], list[str]]:
    """Page codes (DK1) on a page image, and the stages that were tried.

    Other QR codes on the page (a medication label stuck on a form) are ignored.
    """
    tried: list[str] = []
    found: list[Symbol] = []

    def add(symbols: Iterable[Symbol]) -> None:
        for s in symbols:
            if s.is_page_code() and not any(_same_place(s, f) for f in found):
                found.append(s)

    tried.append("corners")
    for x0, y0, x1, y1 in corner_regions(image.shape, px_per_mm):
        add(read_zxing(image[y0:y1, x0:x1], (float(x0), float(y0)), "corners"))
    if len(found) >= 2:
        return found, tried
    tried.append("page")
    add(read_zxing(image, stage="page"))
    if len(found) >= 2 or not enhance:
        return found, tried
    # One code is enough to identify the page, but the second one makes the registration
    # much better (it sits in the opposite corner): keep looking for it.
    for name, variant in _variants():
        tried.append(name)
        add(variant(image))
        if len(found) >= 2:
            break
    return found, tried


def _variants() -> Sequence[tuple[str, Callable[[Image], list[Symbol]]]]:
    return (
        ("stretched", lambda im: read_zxing(_stretch(im), stage="enhanced")),
        ("binarised", lambda im: read_zxing(_binarise(im), stage="enhanced")),
        ("halved", _halved),
        ("pyzbar", lambda im: read_zbar(im)),
    )


def _same_place(a: Symbol, b: Symbol) -> bool:
    ax, ay = a.centre
    bx, by = b.centre
    size = max(abs(a.corners[0][0] - a.corners[2][0]), abs(a.corners[0][1] - a.corners[2][1]))
    return abs(ax - bx) < size / 2 and abs(ay - by) < size / 2


def _stretch(image: Image) -> Image:
    lo, hi = np.percentile(image, (1, 99))
    if hi - lo < 1:
        return image
    scaled = (image.astype(np.float32) - lo) * (255.0 / (hi - lo))
    return np.asarray(np.clip(scaled, 0, 255), dtype=np.uint8)


def _binarise(image: Image) -> Image:
    block = max(31, (min(image.shape[:2]) // 40) | 1)
    binary = cv2.adaptiveThreshold(
        image, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block, 10
    )
    return np.asarray(binary, dtype=np.uint8)


def _halved(image: Image) -> list[Symbol]:
    small = np.asarray(
        cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA), dtype=np.uint8
    )
    return [
        Symbol(
            s.text,
            tuple((x * 2.0, y * 2.0) for x, y in s.corners),  # type: ignore[arg-type]
            s.modules,
            s.reader,
            "enhanced",
        )
        for s in read_zxing(small, stage="enhanced")
    ]

"""The ink map of the part of a page that holds the fields, and rectangle sums over it: every
measurement of the reader is one of these, vectorised over the fields of a page."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from downtime.scan.marks.model import FloatArray, Image, IntArray, PageQuality, u8


@dataclass
class Maps:
    """The ink map of the region of the page that holds the fields, and its integral image.

    Coordinates given to the helpers are page pixels; ``origin`` is subtracted here."""

    ink: Image  # max(0, paper − margin − pixel), grey levels
    integral: npt.NDArray[np.int32]
    origin: tuple[int, int]
    quality: PageQuality
    before: npt.NDArray[np.int32] | None = None  # the integral before lines were taken out


def ink_maps(img: Image, q: PageQuality, roi: tuple[int, int, int, int]) -> Maps:
    x0, y0, x1, y1 = roi
    c = q.cell_px
    rows, cols = q.background_map.shape
    cx0, cy0 = max(0, x0 // c - 1), max(0, y0 // c - 1)
    cx1, cy1 = min(cols, x1 // c + 2), min(rows, y1 // c + 2)
    margin = min(255, math.ceil(q.margin))
    block = np.maximum(q.background_map[cy0:cy1, cx0:cx1].astype(np.int16) - margin, 0)
    # the same bilinear interpolation as upsampling the whole map, over the region only
    size = ((cx1 - cx0) * c, (cy1 - cy0) * c)
    up = u8(cv2.resize(block.astype(np.uint8), size, interpolation=cv2.INTER_LINEAR))
    paper = up[y0 - cy0 * c : y1 - cy0 * c, x0 - cx0 * c : x1 - cx0 * c]
    ink = u8(cv2.subtract(paper, img[y0:y1, x0:x1]))
    return Maps(ink, integral(ink), (x0, y0), q)


def integral(image: Image) -> npt.NDArray[np.int32]:
    return np.asarray(cv2.integral(image, sdepth=cv2.CV_32S), dtype=np.int32)


def rect_sums(
    maps: Maps,
    x0: IntArray,
    y0: IntArray,
    x1: IntArray,
    y1: IntArray,
    *,
    lines: bool = False,
) -> FloatArray:
    """Ink sums over [x0, x1) × [y0, y1) (page pixels), element-wise over broadcast arrays;
    with ``lines``, of the ink taken out as straight lines (downtime.scan.marks.lines)."""
    if not lines:
        return _sums(maps.integral, maps.origin, x0, y0, x1, y1)
    if maps.before is None:
        return np.zeros(np.broadcast(x0, y0, x1, y1).shape)
    before = _sums(maps.before, maps.origin, x0, y0, x1, y1)
    return before - _sums(maps.integral, maps.origin, x0, y0, x1, y1)


def _sums(
    ii: npt.NDArray[np.int32],
    origin: tuple[int, int],
    x0: IntArray,
    y0: IntArray,
    x1: IntArray,
    y1: IntArray,
) -> FloatArray:
    ox, oy = origin
    x0, x1, y0, y1 = x0 - ox, x1 - ox, y0 - oy, y1 - oy
    return (
        ii[y1, x1].astype(np.float64)
        - ii[y0, x1].astype(np.float64)
        - ii[y1, x0].astype(np.float64)
        + ii[y0, x0].astype(np.float64)
    )


def mean_ink(
    maps: Maps,
    rect: tuple[IntArray, IntArray, IntArray, IntArray],
    contrast: FloatArray,
    *,
    lines: bool = False,
) -> FloatArray:
    """Mean ink over rectangles as a fraction of each one's contrast (with ``lines``: of the
    ink taken out as straight lines)."""
    x0, y0, x1, y1 = rect
    area = np.maximum((x1 - x0) * (y1 - y0), 1).astype(np.float64)
    return rect_sums(maps, x0, y0, x1, y1, lines=lines) / (area * contrast)


def ragged(counts: IntArray) -> tuple[IntArray, IntArray]:
    """For items of ``counts`` parts each, laid end to end: each part's item and its index
    within the item."""
    item = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    starts = np.cumsum(counts) - counts
    return item, np.arange(int(counts.sum()), dtype=np.int64) - starts[item]


def local_contrast(maps: Maps, boxes: IntArray) -> tuple[FloatArray, FloatArray]:
    """Paper level and contrast (grey levels) at each box's centre."""
    c = maps.quality.cell_px
    cx = (boxes[:, 0] + boxes[:, 2]) // 2 // c
    cy = (boxes[:, 1] + boxes[:, 3]) // 2 // c
    paper = maps.quality.background_map[cy, cx].astype(np.float64)
    return paper, np.maximum(paper * maps.quality.ink_ratio, 1.0)

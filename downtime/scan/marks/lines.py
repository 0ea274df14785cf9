"""Straight lines that are not marks: a fold, a pen stroke along a ruler, a scanner streak.

Such a line crosses a row or a column of boxes and makes each one look ticked. It is told from a
mark by what a mark never does: it runs straight through the whole interior of a field *and*
continues beyond the field on both sides. Candidates are found once per page: thin (up to
``line_max_width_mm``) horizontal and vertical runs of ink at least ``line_min_length_mm`` long
and even along it (every pixel at most twice as dark as the run's lightest), with
``line_fringe_mm`` either side (blur, a slight slant), at half resolution. A candidate row
(column) is then taken out of a field only where it covers the field's interior from side to
side and also ``line_beyond_mm`` of paper outside both opposite edges, from ``line_gap_mm`` out
(further than a tick overruns; there it may cross printed text, so ``line_cover_outside`` of
it is enough): text beside a box, a filled box or a tick running out of its box never
qualifies. In writing areas every candidate goes: no handwriting is a thin, even, straight run
that long. What a mark had under a line goes with it; the rest of the mark stays.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from downtime.scan.marks.maps import Maps, integral, ragged
from downtime.scan.marks.model import Image, IntArray, MarkSettings, px, u8

Rects = tuple[IntArray, IntArray, IntArray, IntArray]


def without_lines(
    maps: Maps, interiors: Rects, outlines: Rects, boxes: npt.NDArray[np.bool_], s: MarkSettings
) -> Maps:
    """The ink map with the straight lines through fields taken out (page pixels: each field's
    measured interior and its printed outline; ``boxes``: which fields are tick boxes);
    ``before`` keeps the map as it was. Lines are found at half resolution (a quarter of the
    work) and taken out at full resolution."""
    strict, loose = _candidates(maps.ink, s)
    ii = (integral(strict), integral(loose))
    ox, oy = maps.origin
    gap, beyond = px(s.line_gap_mm / 2), px((s.line_gap_mm + s.line_beyond_mm) / 2)
    at = (ox, oy, ox, oy)
    # half-resolution rectangles that cover the full-resolution ones (ends rounded up)
    ix0, iy0, ix1, iy1 = (
        (a - o + k) // 2 for a, o, k in zip(interiors, at, (0, 0, 1, 1), strict=True)
    )
    left, top, right, bottom = (
        (a - o + k) // 2 for a, o, k in zip(outlines, at, (0, 0, 1, 1), strict=True)
    )
    clean = maps.ink.copy()
    height, width = clean.shape
    changed = False
    # writing areas: no handwriting is a thin, even, straight run that long (looked for clear
    # of the fringe of the printed outline, taken out everywhere inside)
    clear = px(s.line_fringe_mm / 2) + 1
    wx0, wy0, wx1, wy1 = ix0 + clear, iy0 + clear, ix1 - clear, iy1 - clear
    inked = _sums(ii[0], wx0, wy0, wx1, wy1) > 0
    for k in np.flatnonzero(~boxes & inked).tolist():
        crop = strict[iy0[k] : iy1[k], ix0[k] : ix1[k]]
        mask = np.repeat(np.repeat(crop, 2, axis=0), 2, axis=1).astype(bool)
        y, x = 2 * iy0[k], 2 * ix0[k]
        window = clean[y : y + mask.shape[0], x : x + mask.shape[1]]
        window[mask[: window.shape[0], : window.shape[1]]] = 0
        changed = True
    ix0, iy0, ix1, iy1 = (a[boxes] for a in (ix0, iy0, ix1, iy1))
    left, top, right, bottom = (a[boxes] for a in (left, top, right, bottom))
    # tick boxes, rows: a horizontal line through the interior and on beyond both sides
    for item, lane in _crossing(ii, (iy0, iy1), (ix0, ix1), (left - beyond, left - gap),
                                (right + gap, right + beyond), s, rows=True):  # fmt: skip
        x0, x1 = max(2 * (left[item] - gap), 0), min(2 * (right[item] + gap), width)
        clean[2 * lane : 2 * lane + 2, x0:x1] = 0
        changed = True
    # … and columns: a vertical line through it and on beyond its top and bottom
    for item, lane in _crossing(ii, (ix0, ix1), (iy0, iy1), (top - beyond, top - gap),
                                (bottom + gap, bottom + beyond), s, rows=False):  # fmt: skip
        y0, y1 = max(2 * (top[item] - gap), 0), min(2 * (bottom[item] + gap), height)
        clean[y0:y1, 2 * lane : 2 * lane + 2] = 0
        changed = True
    if not changed:
        return maps
    return Maps(clean, integral(clean), maps.origin, maps.quality, maps.integral)


def _sums(ii: npt.NDArray[np.int32], x0: IntArray, y0: IntArray, x1: IntArray,
          y1: IntArray) -> IntArray:  # fmt: skip
    h, w = ii.shape[0] - 1, ii.shape[1] - 1
    x0, x1 = np.clip(x0, 0, w), np.clip(x1, 0, w)
    y0, y1 = np.clip(y0, 0, h), np.clip(y1, 0, h)
    return np.asarray(ii[y1, x1] - ii[y0, x1] - ii[y1, x0] + ii[y0, x0], dtype=np.int64)


def _candidates(ink: Image, s: MarkSettings) -> tuple[Image, Image]:
    """At half resolution: 1 where a thin, even, straight horizontal or vertical run of ink (or
    its fringe) is, else 0; and the same without "even" (a line passing under darker print)."""
    height, width = ink.shape
    size = (max(1, width // 2), max(1, height // 2))
    half = u8(cv2.resize(ink, size, interpolation=cv2.INTER_AREA))
    length, thick = px(s.line_min_length_mm / 2), px(s.line_max_width_mm / 2) + 1
    fringe = 2 * max(1, px(s.line_fringe_mm / 2)) + 1
    mask = np.zeros(half.shape, np.uint8)
    loose = np.zeros(half.shape, np.uint8)
    for along, across in (((length, 1), (1, thick)), ((1, length), (thick, 1))):
        run = cv2.morphologyEx(half, cv2.MORPH_OPEN, cv2.getStructuringElement(0, along))
        wide = cv2.morphologyEx(run, cv2.MORPH_OPEN, cv2.getStructuringElement(0, across))
        _, thin = cv2.threshold(cv2.subtract(run, wide), 0, 1, cv2.THRESH_BINARY)
        # even along its length: at least half as dark there as the pixel itself (blurred
        # text and a mark next to a line are darker than the lightest spot of their row)
        even = cv2.compare(cv2.add(run, run), half, cv2.CMP_GE)  # 2 × run ≥ pixel
        widen = cv2.getStructuringElement(0, (1, fringe) if along[0] > 1 else (fringe, 1))
        loose = u8(cv2.max(loose, cv2.dilate(thin, widen)))
        thin = u8(cv2.bitwise_and(thin, thin, mask=even))
        mask = u8(cv2.max(mask, cv2.dilate(thin, widen)))
    return mask, loose


def _crossing(
    ii: tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]],
    lanes: tuple[IntArray, IntArray],
    inside: tuple[IntArray, IntArray],
    before: tuple[IntArray, IntArray],
    after: tuple[IntArray, IntArray],
    s: MarkSettings,
    *,
    rows: bool,
) -> list[tuple[int, int]]:
    """(field, row or column) pairs where even candidates cover the interior and candidates
    (even or under darker print) both stretches outside it; coordinates are the map's."""
    start, stop = lanes
    counts = np.maximum(stop - start, 0)
    if not counts.any():
        return []
    item, k = ragged(counts)
    lane = start[item] + k
    limit = ii[0].shape[0 if not rows else 1] - 1
    covered = np.ones(len(item), dtype=bool)
    for (a, b), sums, cover in (
        (inside, ii[0], s.line_cover),
        (before, ii[1], s.line_cover_outside),
        (after, ii[1], s.line_cover_outside),
    ):
        a0, b0 = np.clip(a[item], 0, limit), np.clip(b[item], 0, limit)
        length = np.maximum(b0 - a0, 1)
        if rows:
            total = sums[lane + 1, b0] - sums[lane, b0] - sums[lane + 1, a0] + sums[lane, a0]
        else:
            total = sums[b0, lane + 1] - sums[a0, lane + 1] - sums[b0, lane] + sums[a0, lane]
        covered &= (b0 - a0 > 0) & (total >= cover * length)
    return list(zip(item[covered].tolist(), lane[covered].tolist(), strict=True))

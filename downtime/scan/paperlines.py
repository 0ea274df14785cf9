"""Lines the paper or the scanner drew across a whole strip of a page: a fold, a crease's
shadow, a streak of dirt on the scanner's glass. They cross everything printed or written on
their way and are no one's writing."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

Mask = npt.NDArray[np.uint8]

THROUGH_RUN_MM = 8.0  # a line across a whole strip is found as straight runs this long …
THROUGH_WIDTH_MM = 2.5  # … in a band no wider than this (a crease, a streak, slightly slanted)
THROUGH_SLACK_MM = 2.0  # … that reaches within this of both of the strip's edges
THROUGH_THIN_SHARE = 0.8  # … thin and on one straight line along this share of its length


def through_lines(mask: Mask, px_per_mm: float) -> Mask:
    """Where ``mask`` has thin straight lines that cross the whole strip, top to bottom or
    side to side (widened a little: their blurred edges): a fold, a crease's shadow, a streak
    of dirt on the scanner's glass. No pen writes or strikes out a name that way; a stroke
    through a name stops near its ends."""
    vertical = _top_to_bottom(mask, px_per_mm)
    horizontal = _top_to_bottom(np.ascontiguousarray(mask.T), px_per_mm).T
    return np.asarray(cv2.max(vertical, horizontal), np.uint8)


def _top_to_bottom(mask: Mask, px_per_mm: float) -> Mask:
    """:func:`through_lines`, top to bottom: straight runs (in a band 3 px wide, so that a
    line may slant a little) joined into pieces that reach both ends of the strip; a piece
    whose rows are mostly thin and whose middles lie on one straight line is such a line (it
    may touch printed text on its way), and a band along that line is returned."""
    rows = mask.shape[0]
    run = round(THROUGH_RUN_MM * px_per_mm)
    spread = cv2.dilate(mask, np.ones((1, 3), np.uint8))
    runs = cv2.morphologyEx(spread, cv2.MORPH_OPEN, np.ones((run, 1), np.uint8))
    found = np.zeros_like(mask)
    full = rows - THROUGH_SLACK_MM * px_per_mm
    if np.count_nonzero(runs.any(axis=1)) < full:
        return found  # no run reaches both ends: no such line (the common case, found fast)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(runs, connectivity=8)
    for k in np.flatnonzero(stats[1:count, cv2.CC_STAT_HEIGHT] >= full) + 1:
        x0, y0 = stats[k, cv2.CC_STAT_LEFT], stats[k, cv2.CC_STAT_TOP]
        w, h = stats[k, cv2.CC_STAT_WIDTH], stats[k, cv2.CC_STAT_HEIGHT]
        piece = labels[y0 : y0 + h, x0 : x0 + w] == k
        widths = piece.sum(axis=1)
        thin = (widths > 0) & (widths <= THROUGH_WIDTH_MM * px_per_mm)
        if thin.sum() < THROUGH_THIN_SHARE * h:
            continue
        ys = np.flatnonzero(thin)
        middles = (piece[ys] * np.arange(w)).sum(axis=1) / widths[ys]
        slope, offset = np.polyfit(ys, middles, 1)
        if np.mean(np.abs(middles - (slope * ys + offset)) <= 1.5) < THROUGH_THIN_SHARE:
            continue
        half = int(np.median(widths[ys])) // 2 + 2
        for y in range(rows):
            x = round(x0 + offset + slope * (y - y0))
            found[y, max(x - half, 0) : max(x + half + 1, 0)] = 255
    return found

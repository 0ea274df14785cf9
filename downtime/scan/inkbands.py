"""Where the header and footer of a registered page carry ink, and which of it is out of place
(off the printed glyphs): what the identity check (:mod:`downtime.scan.identity`) counts as
handwriting or a stroke over the printed identity."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from downtime.geometry import PX_PER_MM, Box, box_px
from downtime.scan.paperlines import through_lines

Image = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.uint8]

BACKGROUND_MM = 9  # the paper's brightness: the lightest pixel within this (1 px/mm image)
THROUGH_RATIO = 0.85  # lines across a strip are looked for in ink darker than this × paper


class InkBands:
    """Where the header and footer of a registered page carry ink: darker than ``ink_ratio``
    of the paper round them (the lightest pixel within ``BACKGROUND_MM``, so that a shadow or
    a dim corner of a phone photo is paper, not ink); and the ink kept as out of place."""

    STRIPS_MM = ((18.0, 52.0), (234.0, 254.0))  # top and bottom of the header and footer
    LEFT_MM, RIGHT_MM = 13.0, 190.0

    def __init__(self, registered: Image, ink_ratio: float):
        self._strips: list[tuple[int, Mask, Mask]] = []  # (top px, ink, kept ink)
        self._left = round(self.LEFT_MM * PX_PER_MM)
        right = round(self.RIGHT_MM * PX_PER_MM)
        for top_mm, bottom_mm in self.STRIPS_MM:
            y0, y1 = round(top_mm * PX_PER_MM), round(bottom_mm * PX_PER_MM)
            part = np.ascontiguousarray(registered[y0:y1, self._left : right])
            rows, cols = part.shape
            small = cv2.resize(
                part,
                (round(cols / PX_PER_MM), round(rows / PX_PER_MM)),
                interpolation=cv2.INTER_AREA,
            )
            paper = cv2.dilate(small, np.ones((BACKGROUND_MM, BACKGROUND_MM), np.uint8))
            level = cv2.resize(paper, (cols, rows), interpolation=cv2.INTER_LINEAR)
            limit = cv2.convertScaleAbs(level, alpha=ink_ratio)
            mask = np.asarray(cv2.compare(part, limit, cv2.CMP_LT), dtype=np.uint8)
            # lines across the strip are looked for in fainter ink: a crease's shadow near
            # the ink threshold is found whole, and what of it passed the threshold goes
            faint = cv2.compare(part, cv2.convertScaleAbs(level, alpha=THROUGH_RATIO), cv2.CMP_LT)
            mask = np.where(through_lines(np.asarray(faint, np.uint8), PX_PER_MM) > 0, 0, mask)
            mask = mask.astype(np.uint8)
            self._strips.append((y0, mask, np.zeros_like(mask)))

    def _where(self, box_mm: Box) -> tuple[int, slice, slice]:
        x0, y0, x1, y1 = box_px(box_mm)
        for k, (top, mask, _) in enumerate(self._strips):
            if top <= y0 and y1 <= top + mask.shape[0]:
                columns = slice(max(x0 - self._left, 0), max(x1 - self._left, 0))
                return k, slice(y0 - top, y1 - top), columns
        raise ValueError(f"{box_mm} is outside the header and footer strips")

    def box(self, box_mm: Box) -> Mask:
        """The ink of ``box_mm`` (255 where inked)."""
        k, rows, cols = self._where(box_mm)
        return self._strips[k][1][rows, cols]

    def keep(self, box_mm: Box, where: npt.NDArray[np.bool_] | None = None) -> None:
        """Keep the ink of ``box_mm`` (only where ``where`` is true, if given) as out of
        place."""
        k, rows, cols = self._where(box_mm)
        _, mask, kept = self._strips[k]
        part = mask[rows, cols]
        if where is not None:
            part = np.where(where[: part.shape[0], : part.shape[1]], part, 0).astype(np.uint8)
        kept[rows, cols] = np.maximum(kept[rows, cols], part)

    def kept_px(self, speck_px: int, blot_px: int) -> int:
        """Pixels of kept ink in pen-wide pieces bigger than a speck (a blot or a stain, ink
        thicker than ``blot_px`` every way, is not writing)."""
        total = 0
        blot = np.ones((blot_px, blot_px), np.uint8)
        for _, mask, kept in self._strips:
            if not kept.any():
                continue
            # Blots are found in all the strip's ink, a mottled stain closed first: a band
            # sees only a sliver of a stain that reaches into it.
            solid = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
            thick = cv2.dilate(cv2.morphologyEx(solid, cv2.MORPH_OPEN, blot), np.ones((5, 5)))
            pen = cv2.subtract(kept, thick)
            count, _, stats, _ = cv2.connectedComponentsWithStats(pen, connectivity=8)
            areas = stats[1:count, cv2.CC_STAT_AREA]
            total += int(areas[areas >= speck_px].sum())
        return total


def widest_mm(ink: Mask) -> float:
    """The widest piece of ink, in mm."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    widths = stats[1:count, cv2.CC_STAT_WIDTH]
    return float(widths.max()) / PX_PER_MM if widths.size else 0.0

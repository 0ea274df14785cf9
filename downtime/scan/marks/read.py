"""Reading a registered page: which fields are on it, despeckling, the ink map, the printed
outlines found, then each field read as a checkbox or a writing area."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from downtime.geometry import PX_PER_MM, box_px
from downtime.model import FieldBox
from downtime.scan.marks.checkbox import read_checkboxes
from downtime.scan.marks.lines import without_lines
from downtime.scan.marks.maps import Maps, ink_maps, local_contrast, rect_sums
from downtime.scan.marks.model import (
    FieldReading,
    FloatArray,
    Image,
    IntArray,
    MarkSettings,
    PageQuality,
    px,
    u8,
)
from downtime.scan.marks.quality import check_page, page_quality
from downtime.scan.marks.writing import read_writing
from downtime.vocab import FieldKind, MarkFlag, MarkState


def _despeckled(img: Image, roi: tuple[int, int, int, int], q: PageQuality,
                s: MarkSettings) -> Image:  # fmt: skip
    """On a noisy page, a 3 × 3 median over the fields' region: isolated specks (salt and
    pepper) go, strokes of pen and pencil (3+ px wide at 8 px/mm) stay."""
    if q.noise < s.despeckle_noise:
        return img
    x0, y0, x1, y1 = max(roi[0], 0), max(roi[1], 0), roi[2], roi[3]
    out = img.copy()
    out[y0:y1, x0:x1] = u8(cv2.medianBlur(np.ascontiguousarray(img[y0:y1, x0:x1]), 3))
    return out


def read_fields(
    page: np.ndarray,
    fields: Sequence[FieldBox],
    settings: MarkSettings = MarkSettings(),  # noqa: B008 (frozen dataclass)
    *,
    quality: PageQuality | None = None,
) -> list[FieldReading]:
    """Read every field of a registered page: one reading per field, in the given order.

    ``quality`` is :func:`page_quality` of the same page, if the caller already has it.
    """
    img = check_page(page)
    q = quality if quality is not None else page_quality(img, settings)
    if q.shape != img.shape:
        raise ValueError(f"page quality measured on a {q.shape} image, page is {img.shape}")
    if not fields:
        return []
    boxes = np.array([box_px(f.box_mm) for f in fields], dtype=np.int64).reshape(-1, 4)
    rows, cols = q.background_map.shape
    height, width = rows * q.cell_px, cols * q.cell_px  # the part of the page the map covers
    reach = px(settings.outline_search_mm) + max(px(settings.ring_outer_mm), px(0.5)) + 2
    inside = (
        (boxes[:, 0] - reach >= 0)
        & (boxes[:, 1] - reach >= 0)
        & (boxes[:, 2] + reach < width)
        & (boxes[:, 3] + reach < height)
        & (boxes[:, 2] - boxes[:, 0] >= px(2.0))
        & (boxes[:, 3] - boxes[:, 1] >= px(2.0))
    )
    out: list[FieldReading | None] = [None] * len(fields)
    for i in np.flatnonzero(~inside).tolist():
        out[i] = FieldReading(
            fields[i].id, fields[i].kind, MarkState.UNCERTAIN, 0.0, {}, (MarkFlag.OFF_PAGE,)
        )
    if inside.any():
        used = boxes[inside]
        roi = (
            int(used[:, 0].min()) - reach,
            int(used[:, 1].min()) - reach,
            int(used[:, 2].max()) + reach + 1,
            int(used[:, 3].max()) + reach + 1,
        )
        maps = ink_maps(_despeckled(img, roi, q, settings), q, roi)
        is_box = np.array([f.kind == FieldKind.CHECKBOX for f in fields], dtype=bool)
        used_index = np.flatnonzero(inside)
        line_mm = np.where(is_box[used_index], settings.checkbox_line_mm, settings.writing_line_mm)
        _, contrast = local_contrast(maps, used)
        dx, dy, strength = _find_outline(maps, used, line_mm, contrast, settings)
        # the outlines are found on everything printed; the fields are read without the
        # straight lines that cross them
        inset = np.where(
            is_box[used_index], px(settings.checkbox_inset_mm), px(settings.writing_inset_mm)
        )
        outlines = (used[:, 0] + dx, used[:, 1] + dy, used[:, 2] + dx, used[:, 3] + dy)
        interiors = (
            outlines[0] + inset,
            outlines[1] + inset,
            np.maximum(outlines[2] - inset, outlines[0] + inset + 2),
            np.maximum(outlines[3] - inset, outlines[1] + inset + 2),
        )
        clean = without_lines(maps, interiors, outlines, is_box[used_index], settings)
        position = np.full(len(fields), -1, dtype=np.int64)
        position[used_index] = np.arange(len(used_index))
        for chosen, reader in (
            (inside & is_box, read_checkboxes),
            (inside & ~is_box, read_writing),
        ):
            index = np.flatnonzero(chosen)
            if index.size:
                at = position[index]
                outline = (dx[at], dy[at], strength[at])
                found = reader(clean, fields, index, boxes[index], outline, settings)
                for i, reading in zip(index.tolist(), found, strict=True):
                    out[i] = reading
    return [r for r in out if r is not None]


def _find_outline(
    maps: Maps, boxes: IntArray, line_mm: FloatArray, contrast: FloatArray, s: MarkSettings
) -> tuple[IntArray, IntArray, FloatArray]:
    """Best (dx, dy) of the printed outline around each box, and its strength (1 = ideal).

    Left and right edges are scored together (sums along the middle of the two sides), as are
    top and bottom, so one line of a neighbouring box or a stroke inside rarely outscores the
    box's own pair of lines. A first pass searches ``±outline_search_mm``; the median shift of
    the clear outlines then bounds a second pass to ``±outline_consensus_mm`` around it, ties
    going to the median."""
    reach = px(s.outline_search_mm)
    half = max(1, px(s.outline_window_mm) // 2)
    d = np.arange(-reach, reach + 1, dtype=np.int64)[None, :]
    x0, y0, x1, y1 = (boxes[:, i : i + 1] for i in range(4))
    ay = np.minimum(reach + half, (y1 - y0) // 2 - 2)
    ax = np.minimum(reach + half, (x1 - x0) // 2 - 2)
    ya, yb = y0 + ay, y1 - ay
    xa, xb = x0 + ax, x1 - ax
    cols = rect_sums(maps, x0 + d - half, ya, x0 + d + half, yb) + rect_sums(
        maps, x1 + d - half, ya, x1 + d + half, yb
    )
    rows = rect_sums(maps, xa, y0 + d - half, xb, y0 + d + half) + rect_sums(
        maps, xa, y1 + d - half, xb, y1 + d + half
    )
    line = line_mm * PX_PER_MM * np.maximum(contrast - maps.quality.margin, 1.0)
    ideal_x = 2.0 * (yb - ya)[:, 0] * line
    ideal_y = 2.0 * (xb - xa)[:, 0] * line
    n = np.arange(len(boxes))

    def best(scores: FloatArray, centre: int, within: int) -> IntArray:
        distance = np.abs(d - centre)
        weight = np.where(distance <= within, 1.0 - 0.03 * distance / max(reach, 1), 0.0)
        return np.asarray(np.argmax(scores * weight, axis=1), dtype=np.int64)

    bx, by = best(cols, 0, reach), best(rows, 0, reach)
    strength = np.minimum(cols[n, bx] / ideal_x, rows[n, by] / ideal_y)
    clear = strength >= s.outline_reliable
    if clear.any():
        within = px(s.outline_consensus_mm)
        cx, cy = (round(float(np.median(d[0, b[clear]]))) for b in (bx, by))
        bx, by = best(cols, cx, within), best(rows, cy, within)
        strength = np.minimum(cols[n, bx] / ideal_x, rows[n, by] / ideal_y)
    return d[0, bx], d[0, by], strength

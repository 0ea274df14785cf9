"""Checkboxes: fill, core, cells, coverage and the ring outside, and from them ``marked``,
``empty`` or ``uncertain`` with their flags (``corrected``, ``overrun``, ...)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from downtime.geometry import PX_PER_MM
from downtime.model import FieldBox
from downtime.scan.marks.maps import Maps, local_contrast, mean_ink
from downtime.scan.marks.model import (
    FieldReading,
    FloatArray,
    IntArray,
    MarkSettings,
    px,
    reading,
)
from downtime.vocab import MarkFlag, MarkState


def read_checkboxes(
    maps: Maps,
    fields: Sequence[FieldBox],
    index: IntArray,
    boxes: IntArray,
    outline: tuple[IntArray, IntArray, FloatArray],
    s: MarkSettings,
) -> list[FieldReading]:
    q = maps.quality
    paper, contrast = local_contrast(maps, boxes)
    dx, dy, strength = outline
    left, top = boxes[:, 0] + dx, boxes[:, 1] + dy
    right, bottom = boxes[:, 2] + dx, boxes[:, 3] + dy

    ins = px(s.checkbox_inset_mm)
    ix0, iy0 = left + ins, top + ins
    ix1, iy1 = np.maximum(right - ins, ix0 + 2), np.maximum(bottom - ins, iy0 + 2)
    fill = mean_ink(maps, (ix0, iy0, ix1, iy1), contrast)
    line = mean_ink(maps, (ix0, iy0, ix1, iy1), contrast, lines=True)

    cin = px(s.checkbox_core_inset_mm)
    cx0 = np.minimum(ix0 + cin, (ix0 + ix1) // 2 - 1)
    cy0 = np.minimum(iy0 + cin, (iy0 + iy1) // 2 - 1)
    cx1, cy1 = np.maximum(ix1 - cin, cx0 + 2), np.maximum(iy1 - cin, cy0 + 2)
    core = mean_ink(maps, (cx0, cy0, cx1, cy1), contrast)

    peak = _peak(maps, (ix0, iy0, ix1, iy1), contrast, max(1, s.checkbox_cells))
    ring, crossing = _ring(maps, (left, top, right, bottom), (ix0, iy0, ix1, iy1), contrast, s)

    coverage = _coverage(maps, (ix0, iy0, ix1, iy1), s.strong_ink * contrast - q.margin)
    step = paper_step(maps, boxes, s.stain_window_mm)

    faint = q.faint_marks_may_vanish
    divisor = s.faint_page_empty_divisor if faint else 1.0
    found = strength >= s.outline_min_strength
    corrected = coverage >= s.checkbox_corrected_coverage
    marked = corrected | ((fill >= s.checkbox_marked_fill) & (core >= s.checkbox_marked_core))
    empty = (
        ~marked
        & (fill < s.checkbox_empty_fill / divisor)
        & (peak < s.checkbox_empty_peak / divisor)
    )
    overrun = crossing >= s.overrun_crossing
    if not q.trusts_empty(s):
        faint_empty = empty
        empty = np.zeros_like(empty)
    else:
        faint_empty = empty if faint and not q.wedge_vouches(s) else np.zeros_like(empty)
    stained = step >= (s.stain_step_binarised if q.binarised else s.stain_step)
    state = np.where(
        ~found | stained,
        MarkState.UNCERTAIN,
        np.where(marked, MarkState.MARKED, np.where(empty, MarkState.EMPTY, MarkState.UNCERTAIN)),
    )

    names = (
        "fill", "core", "peak", "coverage", "ring", "crossing", "outline_dx_mm",
        "outline_dy_mm", "outline_strength", "background", "contrast", "line", "paper_step",
    )  # fmt: skip
    values = np.stack(
        [fill, core, peak, coverage, ring, crossing, dx / PX_PER_MM, dy / PX_PER_MM, strength,
         paper, contrast, line, step],
        axis=1,
    ).tolist()  # fmt: skip
    readings = []
    for k, i in enumerate(index.tolist()):
        st = str(state[k])
        flags: list[str] = []
        if not found[k]:
            flags.append(MarkFlag.NO_OUTLINE)
        if st == MarkState.MARKED and corrected[k]:
            flags.append(MarkFlag.CORRECTED)
        if st != MarkState.EMPTY and overrun[k]:
            flags.append(MarkFlag.OVERRUN)
        if faint_empty[k] and found[k]:
            flags.append(MarkFlag.FAINT_PAGE)
        if line[k] >= s.line_flag:
            flags.append(MarkFlag.LINE_THROUGH)
        if stained[k]:
            flags.append(MarkFlag.STAINED)
        readings.append(reading(fields[i], st, names, values[k], flags))
    return readings


STAIN_SHARE = 0.2  # a stain covers at least a fifth of a box's neighbourhood


def paper_step(maps: Maps, boxes: IntArray, window_mm: float) -> FloatArray:
    """How much the paper's own level changes within ``window_mm`` of each box (1 − the paper
    level that ``STAIN_SHARE`` of the neighbourhood is darker than ÷ the lightest paper there):
    ~0 on clean paper and under a phone's gradual shading; large at the edge of a stain, a blot
    or a shadow covering a good part of the neighbourhood, where the paper under the box is not
    the paper beside it and ink cannot be told from the stain. (Not the darkest spot: dense
    print leaves small dips in the paper map of a black-and-white scan.)"""
    q = maps.quality
    c = q.cell_px
    reach = max(1, round(window_mm * PX_PER_MM / c))
    if len(boxes) == 0:
        return np.zeros(0)
    # one window size for every box (tick boxes are all alike): the box's cells and reach
    half = int(np.max((boxes[:, 2:] - boxes[:, :2]) // c)) // 2 + 1 + reach
    paper = np.pad(q.background_map, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(paper, (2 * half + 1, 2 * half + 1))
    cx = (boxes[:, 0] + boxes[:, 2]) // 2 // c
    cy = (boxes[:, 1] + boxes[:, 3]) // 2 // c
    rows, cols = q.background_map.shape
    around = windows[np.clip(cy, 0, rows - 1), np.clip(cx, 0, cols - 1)]
    around = around.reshape(len(boxes), -1).astype(np.float64)
    low = np.percentile(around, STAIN_SHARE * 100, axis=1)
    step: FloatArray = 1.0 - low / np.maximum(around.max(axis=1), 1.0)
    return step


def _peak(
    maps: Maps,
    interior: tuple[IntArray, IntArray, IntArray, IntArray],
    contrast: FloatArray,
    g: int,
) -> FloatArray:
    """The mean ink of the darkest of ``g`` × ``g`` cells of each interior."""
    ix0, iy0, ix1, iy1 = interior
    steps = np.arange(g + 1, dtype=np.int64)[None, :]
    gx = ix0[:, None] + (ix1 - ix0)[:, None] * steps // g
    gy = iy0[:, None] + (iy1 - iy0)[:, None] * steps // g
    cells = mean_ink(
        maps,
        (gx[:, None, :-1], gy[:, :-1, None], gx[:, None, 1:], gy[:, 1:, None]),
        contrast[:, None, None],
    )
    peak: FloatArray = cells.reshape(len(ix0), -1).max(axis=1)
    return peak


def _ring(
    maps: Maps,
    outline: tuple[IntArray, IntArray, IntArray, IntArray],
    interior: tuple[IntArray, IntArray, IntArray, IntArray],
    contrast: FloatArray,
    s: MarkSettings,
) -> tuple[FloatArray, FloatArray]:
    """Ink in the ring just outside each box (``ring``), and ink just outside *and* just inside
    the same side (``crossing``)."""
    left, top, right, bottom = outline
    ix0, iy0, ix1, iy1 = interior
    # ink just outside each side of the outline and just inside it: a stroke crossing the edge
    # has both; printed text next to the box, or a tick kept inside it, has one
    ro, ri, eb = px(s.ring_outer_mm), px(s.ring_inner_mm), px(s.edge_band_mm)
    ring_parts = []
    for k in range(3):  # the ring of each side in thirds, so that one stroke is not averaged away
        ox0, ox1 = _third(left - ro, right + ro, k)
        oy0, oy1 = _third(top - ri, bottom + ri, k)
        ring_parts += [
            (ox0, top - ro, ox1, top - ri),
            (ox0, bottom + ri, ox1, bottom + ro),
            (left - ro, oy0, left - ri, oy1),
            (right + ri, oy0, right + ro, oy1),
        ]
    edge_parts = (
        (ix0, iy0, ix1, iy0 + eb),
        (ix0, iy1 - eb, ix1, iy1),
        (ix0, iy0, ix0 + eb, iy1),
        (ix1 - eb, iy0, ix1, iy1),
    )
    ring_sides = np.stack([mean_ink(maps, r, contrast) for r in ring_parts], axis=1)
    edge_sides = np.stack([mean_ink(maps, r, contrast) for r in edge_parts], axis=1)
    ring = ring_sides.max(axis=1)
    crossing = np.minimum(ring_sides, np.tile(edge_sides, 3)).max(axis=1)
    return ring, crossing


def _third(start: IntArray, stop: IntArray, k: int) -> tuple[IntArray, IntArray]:
    """The k-th third of [start, stop)."""
    return start + (stop - start) * k // 3, start + (stop - start) * (k + 1) // 3


def _coverage(
    maps: Maps, rect: tuple[IntArray, IntArray, IntArray, IntArray], level: FloatArray
) -> FloatArray:
    """Share of each interior's pixels whose ink reaches ``level`` (grey levels, above the
    margin). Interiors of one size (a page has one or two) are gathered in one go."""
    x0, y0, x1, y1 = rect
    ox, oy = maps.origin
    out = np.zeros(len(x0))
    sizes = np.stack([y1 - y0, x1 - x0], axis=1)
    for h, w in np.unique(sizes, axis=0).tolist():
        k = np.flatnonzero((sizes[:, 0] == h) & (sizes[:, 1] == w))
        windows = np.lib.stride_tricks.sliding_window_view(maps.ink, (h, w))
        crops = windows[y0[k] - oy, x0[k] - ox]
        strong = crops >= np.maximum(level[k], 1.0)[:, None, None]
        out[k] = np.count_nonzero(strong, axis=(1, 2)) / float(h * w)
    return out

"""Writing areas: ink in blocks of about ``block_mm``, printed guide lines taken out band by
band, and from them ``written``, ``blank`` or ``uncertain``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from downtime.geometry import PX_PER_MM
from downtime.model import FieldBox
from downtime.scan.marks.maps import Maps, local_contrast, mean_ink, ragged, rect_sums
from downtime.scan.marks.model import (
    FieldReading,
    FloatArray,
    IntArray,
    MarkSettings,
    px,
    reading,
)
from downtime.vocab import MarkFlag, MarkState


def read_writing(
    maps: Maps,
    fields: Sequence[FieldBox],
    index: IntArray,
    boxes: IntArray,
    outline: tuple[IntArray, IntArray, FloatArray],
    s: MarkSettings,
) -> list[FieldReading]:
    q = maps.quality
    n = len(boxes)
    paper, contrast = local_contrast(maps, boxes)
    dx, dy, strength = outline
    ins = px(s.writing_inset_mm)
    ix0, iy0 = boxes[:, 0] + dx + ins, boxes[:, 1] + dy + ins
    ix1 = np.maximum(boxes[:, 2] + dx - ins, ix0 + 2)
    iy1 = np.maximum(boxes[:, 3] + dy - ins, iy0 + 2)
    area = ((ix1 - ix0) * (iy1 - iy0)).astype(np.float64)
    total = rect_sums(maps, ix0, iy0, ix1, iy1) / (area * contrast)
    line = rect_sums(maps, ix0, iy0, ix1, iy1, lines=True) / (area * contrast)

    faint = q.faint_marks_may_vanish
    divisor = s.faint_page_empty_divisor if faint else 1.0
    fill = total.copy()
    blocks = _blocks(maps, (ix0, iy0, ix1, iy1), contrast, s)
    block_item, block_frac = blocks.item, blocks.ink
    # areas that can hold guide lines and have a row of blocks inked all the way across (the
    # middle blocks: guides stop 1.5 mm short of the sides) are measured again band by band,
    # with the ink that runs evenly along each band removed
    tall = (boxes[:, 3] - boxes[:, 1]) > px(s.guide_min_height_mm)
    lined = np.zeros(n, dtype=bool)
    if tall.any():
        rows = np.full(len(blocks.row_item), np.inf)
        sel = blocks.middle & tall[block_item]
        np.minimum.at(rows, blocks.row[sel], block_frac[sel])
        across = np.isfinite(rows) & (rows >= 0.5 * s.block_trace / divisor)
        lined[blocks.row_item[across]] = True
    if lined.any():
        t = np.flatnonzero(lined)
        rect = (ix0[t], iy0[t], ix1[t], iy1[t])
        guided_item, guided_frac, residual = _guided_blocks(maps, rect, contrast[t], area[t], s)
        fill[t] = residual
        keep = ~lined[block_item]
        block_item = np.concatenate([block_item[keep], t[guided_item]])
        block_frac = np.concatenate([block_frac[keep], guided_frac])
    peak = np.zeros(n)
    np.maximum.at(peak, block_item, block_frac)
    strokes = np.bincount(block_item, weights=block_frac >= s.block_stroke, minlength=n)
    traces = np.bincount(block_item, weights=block_frac >= s.block_trace, minlength=n)
    count = np.maximum(np.bincount(block_item, minlength=n), 1)
    found = strength >= s.outline_min_strength
    written = strokes >= s.written_min_blocks
    blank = ~written & (peak < s.block_trace / divisor)
    if not q.trusts_empty(s):
        faint_blank = blank
        blank = np.zeros_like(blank)
    else:
        faint_blank = blank if faint and not q.wedge_vouches(s) else np.zeros_like(blank)
    state = np.where(
        ~found,
        MarkState.UNCERTAIN,
        np.where(written, MarkState.WRITTEN, np.where(blank, MarkState.BLANK, MarkState.UNCERTAIN)),
    )
    names = (
        "fill", "guide_ink", "block_peak", "stroke_blocks", "coverage", "outline_dx_mm",
        "outline_dy_mm", "outline_strength", "background", "contrast", "line",
    )  # fmt: skip
    values = np.stack(
        [fill, total - fill, peak, strokes, traces / count, dx / PX_PER_MM, dy / PX_PER_MM,
         strength, paper, contrast, line],
        axis=1,
    ).tolist()  # fmt: skip
    readings = []
    for k, i in enumerate(index.tolist()):
        st = str(state[k])
        flags: list[str] = []
        if not found[k]:
            flags.append(MarkFlag.NO_OUTLINE)
        if faint_blank[k] and found[k]:
            flags.append(MarkFlag.FAINT_PAGE)
        if line[k] >= s.line_flag:
            flags.append(MarkFlag.LINE_THROUGH)
        readings.append(reading(fields[i], st, names, values[k], flags))
    return readings


@dataclass
class _Blocks:
    item: IntArray  # the field of each block
    ink: FloatArray  # its mean ink
    row: IntArray  # its row of blocks (numbered over all fields)
    middle: npt.NDArray[np.bool_]  # neither the first nor the last block of its row
    row_item: IntArray  # the field of each row of blocks


def _blocks(
    maps: Maps,
    rect: tuple[IntArray, IntArray, IntArray, IntArray],
    contrast: FloatArray,
    s: MarkSettings,
) -> _Blocks:
    """Mean ink of blocks of about ``block_mm`` tiling each interior."""
    x0, y0, x1, y1 = rect
    w, h = x1 - x0, y1 - y0
    size = max(2, px(s.block_mm))
    nx = np.maximum(1, np.rint(w / size).astype(np.int64))
    ny = np.maximum(1, np.rint(h / size).astype(np.int64))
    item, j = ragged(nx * ny)
    bx, by = j % nx[item], j // nx[item]
    xa = x0[item] + bx * w[item] // nx[item]
    xb = x0[item] + (bx + 1) * w[item] // nx[item]
    ya = y0[item] + by * h[item] // ny[item]
    yb = y0[item] + (by + 1) * h[item] // ny[item]
    ink = mean_ink(maps, (xa, ya, xb, yb), contrast[item])
    row_start = np.cumsum(ny) - ny
    middle = (bx > 0) & (bx < nx[item] - 1)
    row_item = np.repeat(np.arange(len(ny), dtype=np.int64), ny)
    return _Blocks(item, ink, row_start[item] + by, middle, row_item)


def _guided_blocks(
    maps: Maps,
    rect: tuple[IntArray, IntArray, IntArray, IntArray],
    contrast: FloatArray,
    area: FloatArray,
    s: MarkSettings,
) -> tuple[IntArray, FloatArray, FloatArray]:
    """Blocks of areas that may carry guide lines, after removing ink that runs evenly along
    a band (guides, printed or photocopied dark): (field, ink) per block, and each field's
    remaining fill. Such areas are few and large, so each is one 2-D grid."""
    band = max(1, px(s.guide_band_mm))
    seg = max(2, px(s.guide_segment_mm))
    tile_px = max(seg, px(s.guide_tile_mm))
    per_block = max(1, round(px(s.block_mm) / band))
    ox, oy = maps.origin
    items: list[IntArray] = []
    inks: list[FloatArray] = []
    fills = np.zeros(len(contrast))
    for k, (x0, y0, x1, y1) in enumerate(zip(*(a.tolist() for a in rect), strict=True)):
        nb, ns = max(1, (y1 - y0) // band), max(1, round((x1 - x0) / seg))
        ys = y0 - oy + np.arange(nb + 1, dtype=np.int64) * (y1 - y0) // nb
        xs = x0 - ox + np.arange(ns + 1, dtype=np.int64) * (x1 - x0) // ns
        corners = maps.integral[np.ix_(ys, xs)].astype(np.float64)
        cell_area = np.diff(ys)[:, None] * np.diff(xs)[None, :]
        cells = np.diff(np.diff(corners, axis=0), axis=1) / (cell_area * contrast[k])
        # the printed level of a band in a tile: a low quantile of its segments
        # (tiles differ by at most one segment; a short tile repeats its last segment)
        nt = max(1, min(ns, round((x1 - x0) / tile_px)))
        first = np.arange(nt + 1, dtype=np.int64) * ns // nt
        width = int(np.diff(first).max())
        index = np.minimum(first[:-1, None] + np.arange(width)[None, :], first[1:, None] - 1)
        q = min(width - 1, int(s.guide_quantile * width))
        printed = np.partition(cells[:, index], q, axis=2)[:, :, q]
        tile_of = np.arange(ns, dtype=np.int64) * nt // ns
        cells = np.maximum(cells - printed[:, tile_of], 0.0)
        # blocks: bands stacked to about block_mm, one segment wide
        starts = np.arange(0, nb, per_block)
        ink = np.add.reduceat(cells * cell_area, starts, axis=0)
        block_area = np.add.reduceat(cell_area, starts, axis=0)
        inks.append((ink / block_area).ravel())
        items.append(np.full(ink.size, k, dtype=np.int64))
        fills[k] = float(ink.sum()) / area[k]
    return np.concatenate(items), np.concatenate(inks), fills

"""A sheet whose printed identity is not its code's: codes pasted onto another patient's page,
and a printed name crossed out with another written in by hand.

Both work on pages as printed (upright, square pixels): apply them before any scanner-like
degradation. ``name-crossed`` is a degradation like the others (one page); pasting codes takes
two pages, so it is :func:`paste_codes`, not in the registry.
"""

from __future__ import annotations

import math
import random

import numpy as np

from downtime.geometry import NAME_LINE_MM, NAME_LINE_PT, Box
from downtime.simulate.codes import code_boxes_px, page_ppm
from downtime.simulate.degraded import Degraded
from downtime.simulate.draw import MM_PER_INCH, Image, Target, bezier, draw_stroke, smooth
from downtime.simulate.hand import write
from downtime.simulate.pixels import mm_box_px
from downtime.vocab import FieldKind

PT_MM = MM_PER_INCH / 72
# Where a hand writes the right name: above the crossed-out one, or right of the identifier.
WRITE_PLACES_MM: tuple[Box, ...] = ((40.0, 19.8, 90.0, 5.4), (68.0, 36.0, 72.0, 8.0))


def paste_codes(page: Image, onto: Image, dpi: float, g: np.random.Generator) -> Degraded:
    """``page``'s two codes cut out with a margin of paper and pasted over ``onto``'s (another
    page, same size and dpi): the sheet shows ``onto``'s name, identifier and serial, and both
    its codes name ``page``. The labels sit up to 0.3 mm off and cast a faint edge."""
    if page.shape != onto.shape:
        raise ValueError("paste_codes takes two pages of the same size and dpi")
    ppm = page_ppm(page, dpi, dpi, "code-pasted")
    out = onto.copy()
    done = []
    for mine, theirs in zip(code_boxes_px(page, ppm), code_boxes_px(onto, ppm), strict=True):
        margin = round(float(g.uniform(1.0, 2.0)) * ppm)
        x0 = min(mine[0], theirs[0]) - margin
        y0 = min(mine[1], theirs[1]) - margin
        x1 = max(mine[2], theirs[2]) + margin
        y1 = max(mine[3], theirs[3]) + margin
        dx, dy = (round(float(v) * ppm) for v in g.uniform(-0.3, 0.3, 2))
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(out.shape[1], x1), min(out.shape[0], y1)
        label = page[y0:y1, x0:x1]
        ty0, tx0 = max(0, y0 + dy), max(0, x0 + dx)
        ty1, tx1 = min(out.shape[0], y1 + dy), min(out.shape[1], x1 + dx)
        out[ty0:ty1, tx0:tx1] = label[ty0 - y0 - dy : ty1 - y0 - dy, tx0 - x0 - dx : tx1 - x0 - dx]
        edge = int(g.integers(170, 220))  # the label's cut edge, as a scanner sees it
        out[ty0:ty1, tx0] = out[ty0:ty1, tx1 - 1] = edge
        out[ty0, tx0:tx1] = out[ty1 - 1, tx0:tx1] = edge
        done.append(f"({tx0}, {ty0})–({tx1}, {ty1}) px")
    return Degraded(
        out, dpi, dpi, 0, "code-pasted: another page's codes pasted at " + ", ".join(done)
    )


def name_crossed(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    """The printed name struck through by hand (one or two slightly wavy pen strokes, past both
    ends) and another name written by hand above it or right of the identifier."""
    ppm = page_ppm(image, dpi_x, dpi_y, "name-crossed")
    rng = random.Random(int(g.integers(0, 2**63)))
    out = image.copy()
    left, right = _name_extent(image, ppm)
    em = NAME_LINE_PT * PT_MM
    baseline = NAME_LINE_MM[1] + 0.8 * em
    ink, width = rng.randint(0, 60), max(1, round(rng.uniform(0.4, 0.7) * ppm))
    strokes = rng.choice((1, 1, 2))
    for k in range(strokes):
        y = baseline - em * rng.uniform(0.2, 0.45) + k * em * 0.15
        start = (left - rng.uniform(1.0, 3.0), y + rng.uniform(-0.6, 0.6))
        end = (right + rng.uniform(1.0, 4.0), y + rng.uniform(-0.6, 0.6))
        line = bezier(start, end, rng.uniform(-0.02, 0.02), 12)
        line[1:-1, 1] += [rng.uniform(-0.25, 0.25) for _ in range(len(line) - 2)]
        draw_stroke(out, smooth(line, 4) * ppm, ink, width)
    x, y, w, h = rng.choice(WRITE_PLACES_MM)
    target = Target(x * ppm, y * ppm, w * ppm, h * ppm, ppm)
    write(out, target, FieldKind.TEXT, "pen", rng)
    note = (
        f"name-crossed: {strokes} stroke(s) through the name ({left:.0f}–{right:.0f} mm), "
        f"another name written at ({x:.0f}, {y:.0f}) mm"
    )
    return Degraded(out, dpi_x, dpi_y, 0, note)


def _name_extent(image: Image, ppm: float) -> tuple[float, float]:
    """Left and right end of the printed name, in mm (the dark columns of its line, short of
    code 1)."""
    x, y, w, h = NAME_LINE_MM
    x0, y0, x1, y1 = mm_box_px((x, y, min(w, 140.0), h - 1.5), ppm)
    dark = (image[y0:y1, x0:x1] < 128).any(axis=0)
    columns = np.flatnonzero(dark)
    if columns.size == 0:
        return x, x + 40.0
    return x + columns[0] / ppm, x + math.ceil(columns[-1]) / ppm

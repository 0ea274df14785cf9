"""What happens to paper and scanners that is not a mark: straight lines through rows and
columns of boxes (a fold, a pen along a ruler, a scanner streak), and black-and-white scanners."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import numpy as np

from downtime.simulate.degraded import Degradation, Degraded
from downtime.simulate.draw import MM_PER_INCH, Image, draw_stroke
from downtime.simulate.pixels import blur, fmt, noise, resample, rotate_small, tone, u8
from downtime.vocab import FieldKind

LINE_KINDS = ("crease", "ruler", "streak")


def lines_through_boxes(
    image: Image, page: Mapping[str, Any], dpi: float, rng: random.Random, count: int = 2
) -> tuple[Image, str]:
    """``count`` straight lines, each through a row or a column of the page's tick boxes
    (manifest entry ``page``), drawn on the upright page image at ``dpi``:

    * ``crease``: a fold's shadow (grey 110–190, 0.15–0.4 mm) across the whole sheet;
    * ``ruler``: a pen stroke along a ruler (ink 0–80, 0.3–0.5 mm, up to ±0.6°) from 3–30 mm
      before the row's first box to as far past its last;
    * ``streak``: dirt on a scanner's glass: a vertical line (grey 40–160, 0.1–0.4 mm) the whole
      height of the sheet, through a column of boxes.

    Each line passes through the boxes' interiors (15–85 % across them). None is a mark: the
    page's truth does not change. Returns the new image and a note of what was drawn."""
    boxes = [f["box_mm"] for f in page["fields"] if f["kind"] == FieldKind.CHECKBOX]
    if not boxes:
        return image, "lines: no tick boxes on the page"
    ppm = dpi / MM_PER_INCH
    height, width = image.shape
    layer = np.full(image.shape, 255, np.uint8)
    notes = []
    for _ in range(count):
        kind = rng.choice(LINE_KINDS)
        x, y, w, h = rng.choice(boxes)
        if kind == "streak" or (kind == "crease" and rng.random() < 0.4):
            at = (x + w * rng.uniform(0.15, 0.85)) * ppm
            ink = rng.randint(40, 160) if kind == "streak" else rng.randint(110, 190)
            thick = rng.uniform(0.1, 0.4) if kind == "streak" else rng.uniform(0.15, 0.4)
            ends = np.array([[at, 0.0], [at, height - 1.0]])
            notes.append(f"{kind} x {at / ppm:.1f} mm, grey {ink}, {thick:.2f} mm")
        elif kind == "crease":
            at = (y + h * rng.uniform(0.15, 0.85)) * ppm
            ink, thick = rng.randint(110, 190), rng.uniform(0.15, 0.4)
            ends = np.array([[0.0, at], [width - 1.0, at]])
            notes.append(f"crease y {at / ppm:.1f} mm, grey {ink}, {thick:.2f} mm")
        else:
            row = [b for b in boxes if abs(b[1] - y) < 0.5]
            start = (min(b[0] for b in row) - rng.uniform(3, 30)) * ppm
            stop = (max(b[0] + b[2] for b in row) + rng.uniform(3, 30)) * ppm
            at = (y + h * rng.uniform(0.15, 0.85)) * ppm
            tilt = np.tan(np.radians(rng.uniform(-0.6, 0.6))) * (stop - start) / 2
            ink, thick = rng.randint(0, 80), rng.uniform(0.3, 0.5)
            ends = np.array([[start, at - tilt], [stop, at + tilt]])
            notes.append(f"ruler y {at / ppm:.1f} mm over {len(row)} boxes, ink {ink}")
        draw_stroke(layer, ends, ink, round(thick * ppm))
    return u8(np.minimum(image, layer)), "lines: " + "; ".join(notes)


def _bitonal(name: str, target: int, lightest: float, darkest: float) -> Degradation:
    """A document scanner set to black and white: the page at ``target`` dpi through the
    scanner's optics, then every pixel black or white at a threshold that keeps ink from
    ``lightest`` to ``darkest`` darkness (relative to paper) and drops anything lighter."""

    def scan(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
        out = resample(image, target / dpi_x, target / dpi_y)
        angle = float(g.uniform(-0.3, 0.3))
        out = rotate_small(out, angle)
        paper = float(g.uniform(238, 250))
        out = noise(blur(tone(out, 0, paper), 0.6 * target / 200), 1.5, g)
        keeps = float(g.uniform(lightest, darkest))
        threshold = paper * (1.0 - keeps)
        out = np.where(out < threshold, np.uint8(0), np.uint8(255)).astype(np.uint8)
        note = (
            f"{name}: resampled {fmt(dpi_x)}×{fmt(dpi_y)} → {target} dpi, skew "
            f"{angle:+.2f}° (ccw), paper {paper:.0f}, threshold {threshold:.0f} (keeps ink "
            f"from {keeps:.2f} of the paper's darkness)"
        )
        return Degraded(u8(out), target, target, 0, note)

    return scan


# A scanner set up for forms filled in pencil keeps ink from 6-18 % darkness (the lightest
# pencil is ~20 %); one left at a mid-grey threshold keeps only 25-50 % and drops light pencil.
BITONAL: dict[str, Degradation] = {
    name: _bitonal(name, target, lightest, darkest)
    for name, target, lightest, darkest in (
        ("bitonal-200", 200, 0.06, 0.18),
        ("bitonal-300", 300, 0.06, 0.18),
        ("bitonal-dark", 200, 0.25, 0.50),
    )
}

"""``stain-corner``: a stain or a tear that takes one page code *and* the registration mark
beside it (code 1 hangs under the top-right mark, code 2 stands on the bottom-left one), leaving
the other code, the other three marks and the printed serial as they were. ``marks-gone``:
every registration mark whited out (cut margins, correction fluid, labels over them), so that
the page can be placed only from its codes."""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from downtime.geometry import FIDUCIALS_MM, SERIAL_FOOTER_MM
from downtime.simulate.codes import code_boxes_px, page_ppm
from downtime.simulate.degraded import Degraded
from downtime.simulate.draw import ONE, SHIFT, Image
from downtime.simulate.pixels import mm_box_px, protect

CORNER_MARKS = ("top-right", "bottom-left")  # the mark beside code 1, beside code 2
KINDS = ("stain", "torn white", "torn dark")
GROW_MM = (1.5, 3.0)  # the damage reaches this far past the code and the mark …
RAGGED_MM = 2.0  # … and its edge wanders outwards by up to this much more
SPARE_MM = 1.5  # what is left alone is spared with this margin (the other code: 3 mm)


def stain_corner(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    ppm = page_ppm(image, dpi_x, dpi_y, "stain-corner")
    boxes = code_boxes_px(image, ppm)
    which = int(g.integers(0, 2))
    how = str(g.choice(KINDS))
    x0, y0, x1, y1 = boxes[which]
    mx0, my0, mx1, my1 = mm_box_px(FIDUCIALS_MM[CORNER_MARKS[which]], ppm)
    grow = float(g.uniform(*GROW_MM)) * ppm
    left, top = min(x0, mx0) - grow, min(y0, my0) - grow
    right, bottom = max(x1, mx1) + grow, max(y1, my1) + grow
    if how.startswith("torn"):  # a torn corner reaches the paper's edges
        width, height = image.shape[1], image.shape[0]
        if which == 0:
            top, right = -RAGGED_MM * ppm, width + RAGGED_MM * ppm
        else:
            left, bottom = -RAGGED_MM * ppm, height + RAGGED_MM * ppm
    mask = _ragged(image.shape[:2], (left, top, right, bottom), ppm, g, round_=how == "stain")
    spared = [FIDUCIALS_MM[n] for n in FIDUCIALS_MM if n != CORNER_MARKS[which]]
    protect(mask, [*spared, SERIAL_FOOTER_MM], ppm, SPARE_MM)
    ox0, oy0, ox1, oy1 = boxes[1 - which]
    margin = round(2 * SPARE_MM * ppm)
    mask[max(0, oy0 - margin) : oy1 + margin, max(0, ox0 - margin) : ox1 + margin] = False
    out = image.copy()
    ys, xs = np.nonzero(mask)
    if how == "stain":  # grey to brown, opaque, mottled, darker where it dried at the rim
        base = float(g.uniform(95, 140))
        kernel = np.ones((5, 5), np.uint8)
        inner = cv2.erode(mask.astype(np.uint8), kernel, iterations=2).astype(bool)
        rim = np.where(inner[ys, xs], 0.0, -25.0)
        values = base + g.normal(0.0, 6.0, ys.size) + rim
        shade = f"grey {base:.0f}"
    elif how == "torn white":  # the scanner's white lid shows through
        values = np.full(ys.size, 255.0)
        shade = "255"
    else:  # a dark table or scanner background
        base = float(g.integers(20, 60))
        values = base + g.normal(0.0, 3.0, ys.size)
        shade = f"background {base:.0f}"
    out[ys, xs] = np.clip(values, 0, 255).astype(np.uint8)
    note = (
        f"stain-corner: {how} ({shade}) over code {which + 1} and the {CORNER_MARKS[which]} "
        f"mark, {left / ppm:.0f}-{right / ppm:.0f} × {top / ppm:.0f}-{bottom / ppm:.0f} mm"
    )
    return Degraded(out, dpi_x, dpi_y, 0, note)


def _ragged(
    shape: tuple[int, int],
    box: tuple[float, float, float, float],
    ppm: float,
    g: np.random.Generator,
    *,
    round_: bool,
) -> npt.NDArray[np.bool_]:
    """A filled outline around ``box`` (px) whose every point is pushed outwards by up to
    :data:`RAGGED_MM`: jagged like a tear, or (``round_``) with its corners cut and its edge
    wandering smoothly, like a dried stain."""
    left, top, right, bottom = box
    steps = max(8, int(max(right - left, bottom - top) / (1.5 * ppm)))
    t = np.linspace(0.0, 1.0, steps, endpoint=False)
    edge = g.uniform(0.0, RAGGED_MM * ppm, (4, steps))
    if round_:
        edge = np.apply_along_axis(lambda e: np.convolve(np.r_[e, e[:4]], np.ones(5) / 5, "valid"),
                                   1, edge)  # fmt: skip
        # bulge outwards in the middle of each side, so the outline still covers the corners
        bulge = np.sin(math.pi * t) * min(right - left, bottom - top) * 0.06
        edge = edge + bulge
    outline = np.concatenate(
        [
            np.column_stack([left + t * (right - left), top - edge[0]]),
            np.column_stack([right + edge[1], top + t * (bottom - top)]),
            np.column_stack([right - t * (right - left), bottom + edge[2]]),
            np.column_stack([left - edge[3], bottom - t * (bottom - top)]),
        ]
    )
    layer = np.zeros(shape, np.uint8)
    pts = np.round(outline * ONE).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(layer, [pts], 1, cv2.LINE_8, SHIFT)
    x0, y0 = max(0, math.floor(left)), max(0, math.floor(top))
    layer[y0 : max(0, math.ceil(bottom)), x0 : max(0, math.ceil(right))] = 1
    return layer.astype(bool)


MARK_MARGIN_MM = 2.0  # ``marks-gone`` whites out each mark with this much paper round it


def marks_gone(image: Image, dpi_x: float, dpi_y: float, _g: np.random.Generator) -> Degraded:
    ppm = page_ppm(image, dpi_x, dpi_y, "marks-gone")
    out = image.copy()
    for box in FIDUCIALS_MM.values():
        left, top, right, bottom = mm_box_px(box, ppm, MARK_MARGIN_MM)
        out[max(top, 0) : bottom, max(left, 0) : right] = 255
    return Degraded(out, dpi_x, dpi_y, 0, "marks-gone: every registration mark whited out")

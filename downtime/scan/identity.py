"""Whose page it shows: the printed identity of a registered page compared with its page code.

The codes say which page a sheet is; the sheet *shows* whose it is: the name, the identifier
under it and the form serial in the footer. A code pasted or photocopied onto another patient's
page, or a name crossed out and another written in by hand, makes the two disagree, and the
page must not be filed under the code's patient. The kit knows what it printed on every page
(the ledger's serial and identifier), so it looks, in this order:

1. **the monospaced lines.** The identifier (header) and the serial (footer) are printed in
   DejaVu Sans Mono Bold: every glyph sits in a cell of known width. The expected line is
   rendered from the same font file and found on the page (one shift for the line, within
   ``LINE_SEARCH_MM``); then each cell is scored, within ``GLYPH_SEARCH_PX``, by normalised
   correlation against the expected glyph and against every other glyph such a line holds. A
   cell where another glyph scores clearly better is a mismatch; a line with several is another
   page's (serials and personnummer carry check characters: another page's differ in several
   cells, while a degraded genuine cell still looks most like itself).
2. **ink over the identity.** Handwriting or strokes where nothing is printed: ink in the white
   bands of the header and footer and beside the monospaced lines, ink in those lines beyond
   the glyphs found there, and a stroke through the name line (a crossed-out name joins its
   letters into one piece of ink far wider than any printed glyph). A thin straight line
   across the whole header or footer (a fold, a scanner streak) is the paper's, not a pen's.

Pages without a patient (the cover) are not checked. Nothing here names a patient: the verdict
says which part disagrees, never what it says.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
import numpy.typing as npt

from downtime.codes.serials import ALPHABET
from downtime.geometry import (
    ID_TEXT_MM,
    ID_TEXT_PT,
    MONO_FONT_FILE,
    NAME_LINE_MM,
    PX_PER_MM,
    SERIAL_FOOTER_MM,
    SERIAL_FOOTER_PT,
    Box,
    box_px,
    font_file,
)
from downtime.model import Identifier
from downtime.scan.inkbands import InkBands, widest_mm

Image = npt.NDArray[np.uint8]
Floats = npt.NDArray[np.float32]
Mask = npt.NDArray[np.uint8]

MM_PER_PT = 25.4 / 72
GLYPHS = "".join(sorted(set("0123456789-" + ALPHABET)))  # what the two lines are made of
SUPERSAMPLE = 4  # glyphs are rendered 4× larger, then shrunk by area: sub-pixel edges
CELL_ABOVE_EM = 0.80  # a cell's rows: from 0.80 em above the baseline (caps are 0.73) …
CELL_BELOW_EM = 0.08  # … to 0.08 em below it (these glyphs have no descenders)
MONO_ADVANCE_EM = 0.6021  # DejaVu Sans Mono: every glyph 1233/2048 em wide
LINE_SEARCH_MM = 0.6  # the line is looked for this far from where it was printed (genuine
# lines are found within 2 px; a wider search lets another text lock onto a wrong place)
GLYPH_SEARCH_PX = 1  # then each glyph this far from its place in the line

# White bands of the identity block, where nothing is printed ([left, top, width, height] mm):
# above the name (title above, the name's accents below), between the identifier and the
# details line, and in the footer between the serial and the name · identifier line. They stop
# at 140 mm, short of where code 1 may reach.
WHITE_BANDS_MM: tuple[Box, ...] = (
    (22.0, 20.3, 118.0, 3.9),
    (15.0, 42.7, 125.0, 2.8),
    (57.0, 244.3, 105.0, 3.0),
)
STRIKE_BANDS_MM: tuple[Box, ...] = (
    (NAME_LINE_MM[0], 24.3, 130.0, 8.7),  # the name: accents to descenders
    (57.0, 247.4, 105.0, 4.6),  # the footer's name · identifier line
)


@dataclass(frozen=True)
class IdentitySettings:
    """Thresholds of the identity check. Measured on 40–120 filled pages of each bench class
    (bench/scan.py's degradations, registered as the scanner does): on genuine pages every
    cell's expected glyph beats every other by 0.08 or more (worst: blur, phone), no ink is
    kept off the printed text, and the widest piece of ink in a name line is 7.4 mm; on pages
    with another patient's codes pasted on, 5–16 cells of each line mismatch, by 0.70 or more;
    on crossed-out names the stroke is 45–105 mm wide and the handwriting 420–5,400 px."""

    mismatch_margin: float = 0.08  # correlation by which another glyph must beat the expected
    glyph_floor: float = 0.6  # a cell whose best glyph correlates less is unreadable
    mismatched_cells: int = 2  # mismatched cells that make a line another page's
    ink_ratio: float = 0.55  # darker than this fraction of the local paper is ink
    speck_px: int = 24  # smaller pieces of ink are specks, noise or toner dust (0.4 mm²)
    blot_px: int = 9  # ink thicker than this (1.1 mm) every way is a blot or a stain, not a pen
    extra_ink_px: int = 80  # more ink than this outside the printed glyphs is handwriting
    strike_mm: float = 18.0  # a piece of ink this wide in a name line is a stroke through it
    rough_search_mm: float = 1.5  # a page placed from its codes alone: its lines looked for wider
    rough_unreadable_cells: int = 2  # … and its identifier confirmed only with at most this many
    # unreadable cells (placed by one code, a genuine page's lines were 0.6 mm off, its
    # identifier wholly read; its footer, furthest from that code, up to 9 cells unreadable)


@dataclass(frozen=True)
class LineReading:
    """One monospaced line as found on the page."""

    cells: int
    mismatched: int  # cells where another glyph scores clearly better than the expected one
    unreadable: int  # cells that look like no glyph at all (smeared, blotted, torn)
    shift_px: tuple[int, int]  # where the line was found, relative to where it was printed
    worst_margin: float  # the largest (other − expected) correlation of any cell


@dataclass(frozen=True)
class IdentityCheck:
    """What the page's printed identity says against its code. ``problem`` is None when it
    agrees; else which part disagrees (never what it says)."""

    problem: str | None
    identifier: LineReading
    serial: LineReading
    extra_ink_px: int
    widest_stroke_mm: float
    unconfirmed: bool = False  # placed roughly, and its identifier could not be read

    @property
    def message(self) -> str:
        """What a clerk reads in `downtime quarantine list` (no patient data)."""
        if self.unconfirmed:
            return (
                f"{self.problem}: the sheet could not be aligned to its form, so whose page it "
                "is rests on its printed identity. Check the sheet, then assign it with "
                "`downtime quarantine assign` by the serial printed in its footer"
            )
        return (
            f"{self.problem}: the page code may have been pasted onto another patient's page, "
            "or the name changed by hand. Check the sheet, then assign it with `downtime "
            "quarantine assign` to the page it really is, by the serial printed in its footer"
        )


def check_identity(
    registered: Image,
    serial: str,
    patient: Identifier,
    settings: IdentitySettings | None = None,
) -> IdentityCheck:
    """Compare the identity printed on ``registered`` (a page registered at ``PX_PER_MM``)
    with the ``serial`` and ``patient`` the page's code and the ledger name."""
    s = settings or IdentitySettings()
    ink = InkBands(registered, s.ink_ratio)
    id_line = _Line(patient.display(), ID_TEXT_MM, ID_TEXT_PT)
    id_read = _read_line(registered, ink, id_line, s)
    serial_line = _Line(serial, SERIAL_FOOTER_MM, SERIAL_FOOTER_PT)
    serial_read = _read_line(registered, ink, serial_line, s)
    for band in WHITE_BANDS_MM:
        ink.keep(band)
    extra = ink.kept_px(s.speck_px, s.blot_px)
    widest = max(widest_mm(ink.box(band)) for band in STRIKE_BANDS_MM)
    problem = None
    lines = {"identifier": id_read, "serial": serial_read}
    wrong = [name for name, read in lines.items() if read.mismatched >= s.mismatched_cells]
    if wrong:
        problem = " and ".join(f"the printed {name}" for name in wrong)
        problem += " differ" if len(wrong) > 1 else " differs"
        problem += " from the page code's"
    elif widest >= s.strike_mm:
        problem = "a stroke through the printed name"
    elif extra > s.extra_ink_px:
        problem = "handwriting over the printed identity"
    return IdentityCheck(problem, id_read, serial_read, extra, round(widest, 1))


def check_identity_placed_roughly(
    registered: Image,
    serial: str,
    patient: Identifier,
    settings: IdentitySettings | None = None,
) -> IdentityCheck:
    """The same comparison for a page placed from its codes alone (its registration marks
    stained or torn away): its lines are looked for further from their places, and only the
    glyphs judge (ink beside the lines means nothing on a page aligned this loosely). Another
    identifier or serial sets it aside as before; so does an identifier that cannot be read:
    nothing else on such a page says it is the code's patient's."""
    s = settings or IdentitySettings()
    ink = InkBands(registered, s.ink_ratio)
    search = s.rough_search_mm
    id_read = _read_line(registered, ink, _Line(patient.display(), ID_TEXT_MM, ID_TEXT_PT), s,
                         search_mm=search)  # fmt: skip
    serial_read = _read_line(registered, ink, _Line(serial, SERIAL_FOOTER_MM, SERIAL_FOOTER_PT),
                             s, search_mm=search)  # fmt: skip
    lines = {"identifier": id_read, "serial": serial_read}
    wrong = [name for name, read in lines.items() if read.mismatched >= s.mismatched_cells]
    problem, unconfirmed = None, False
    if wrong:
        problem = " and ".join(f"the printed {name}" for name in wrong)
        problem += " differ" if len(wrong) > 1 else " differs"
        problem += " from the page code's"
    elif id_read.unreadable > s.rough_unreadable_cells or id_read.mismatched:
        problem, unconfirmed = "the printed identifier cannot be read", True
    return IdentityCheck(problem, id_read, serial_read, 0, 0.0, unconfirmed)


# --------------------------------------------------------------------------------------------
# The monospaced lines


@dataclass(frozen=True)
class _Line:
    text: str
    box_mm: Box
    size_pt: float

    @property
    def em_px(self) -> float:
        """The type size in registered pixels, shrunk as the printer shrinks a text too wide
        for its box."""
        size = self.size_pt
        width_pt = len(self.text) * MONO_ADVANCE_EM * size
        limit_pt = self.box_mm[2] / MM_PER_PT
        if width_pt > limit_pt > 0:
            size = max(size * limit_pt / width_pt, 4.0)
        return size * MM_PER_PT * PX_PER_MM

    def origin_px(self) -> tuple[float, float]:
        """Left end of the baseline, in registered pixels."""
        x, y, _, _ = self.box_mm
        return x * PX_PER_MM, y * PX_PER_MM + 0.8 * self.em_px


@dataclass(frozen=True)
class _Glyphs:
    """Every glyph of :data:`GLYPHS` in its cell at one type size."""

    cells: Floats  # (glyph, rows, columns), grey levels, 255 white
    unit: Floats  # (glyph, rows × columns): each cell centred and of unit length
    shape: tuple[int, int]  # rows, columns of a cell
    advance: float  # px from one cell to the next


@cache
def _glyphs(em_px: float) -> _Glyphs:
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont

    advance = MONO_ADVANCE_EM * em_px
    rows = round((CELL_ABOVE_EM + CELL_BELOW_EM) * em_px)
    cols = round(advance)
    font = ImageFont.truetype(str(font_file(MONO_FONT_FILE)), em_px * SUPERSAMPLE)
    baseline = CELL_ABOVE_EM * em_px * SUPERSAMPLE
    cells = []
    for char in GLYPHS:
        big = PILImage.new("L", (cols * SUPERSAMPLE, rows * SUPERSAMPLE), 255)
        ImageDraw.Draw(big).text((0, baseline), char, font=font, fill=0, anchor="ls")
        small = cv2.resize(np.asarray(big), (cols, rows), interpolation=cv2.INTER_AREA)
        cells.append(small.astype(np.float32))
    stack = np.stack(cells)
    return _Glyphs(stack, _unit(stack.reshape(len(GLYPHS), -1)), (rows, cols), advance)


def _unit(vectors: Floats) -> Floats:
    """Each row centred and scaled to unit length: dot products are then correlations."""
    centred = vectors - vectors.mean(axis=-1, keepdims=True)
    norm = np.sqrt(np.einsum("ij,ij->i", centred, centred))[:, None]
    return np.asarray(centred / np.maximum(norm, 1e-6), dtype=np.float32)


def _read_line(
    registered: Image,
    ink: InkBands,
    line: _Line,
    s: IdentitySettings,
    *,
    search_mm: float = LINE_SEARCH_MM,
) -> LineReading:
    """Find the line and score every cell; keep the ink round it beyond its glyphs."""
    g = _glyphs(line.em_px)
    rows, cols = g.shape
    x0, baseline = line.origin_px()
    top = round(baseline - CELL_ABOVE_EM * line.em_px)
    lefts = [round(x0 + i * g.advance) - round(x0) for i in range(len(line.text))]
    # 1. the line: the expected text, shifted within LINE_SEARCH_MM
    expected = np.full((rows, lefts[-1] + cols), 255, np.float32)
    for left, char in zip(lefts, line.text, strict=True):
        if (k := GLYPHS.find(char)) >= 0:
            expected[:, left : left + cols] = g.cells[k]
    r = GLYPH_SEARCH_PX
    reach = round(search_mm * PX_PER_MM)
    margin = reach + r  # the glyphs of a line found at the edge of its reach have room
    grown = (rows + 2 * margin, expected.shape[1] + 2 * margin)
    area = _crop(registered, round(x0) - margin, top - margin, grown)
    inner = area[r : grown[0] - r, r : grown[1] - r]
    _, _, _, (fx, fy) = cv2.minMaxLoc(cv2.matchTemplate(inner, expected, cv2.TM_CCOEFF_NORMED))
    # 2. every cell against every glyph, each shifted within GLYPH_SEARCH_PX of its place: where
    # the line was found, and where it was printed. Another page's line may match its expected
    # text best a few pixels off, where its cells look like no glyph at all; in its printed place
    # they look like the glyphs they are. The place that explains more cells is kept (the
    # printed place is tried only when some cell is unexplained where the line was found).
    index = [GLYPHS.find(c) for c in line.text]
    reading = _score_cells(area, (fx, fy), g, lefts, index, s)
    if reading[3] and (fx, fy) != (reach, reach):  # cells unexplained where it was found
        reading = min(reading, _score_cells(area, (reach, reach), g, lefts, index, s),
                      key=lambda k: k[3])  # fmt: skip
    (bx, by), scores, mismatched, unreadable, worst = reading
    steps = 2 * r + 1
    known = np.asarray(index) >= 0
    placed = np.full_like(expected, 255)
    for cell in np.flatnonzero(known):
        k = index[cell]
        oy, ox = divmod(int(scores[cell, :, k].argmax()), steps)
        _place(placed, g.cells[k], lefts[cell] + ox - r, oy - r)
    dx, dy = bx - reach, by - reach
    _keep_line_ink(ink, line, placed, (round(x0) + dx, top + dy))
    return LineReading(len(line.text), mismatched, unreadable, (dx, dy), round(worst, 3))


def _score_cells(
    area: Floats,
    at: tuple[int, int],
    g: _Glyphs,
    lefts: list[int],
    index: list[int],
    s: IdentitySettings,
) -> tuple[tuple[int, int], Floats, int, int, float]:
    """The line's cells placed from ``at`` (its top left in ``area``, less the glyph search):
    each cell's best score for every glyph within the search, and how many cells mismatch or
    are unreadable, and the worst margin."""
    rows, cols = g.shape
    r = GLYPH_SEARCH_PX
    steps = 2 * r + 1
    bx, by = at
    views = np.lib.stride_tricks.sliding_window_view(area[by : by + rows + 2 * r], (rows, cols))
    columns = np.add.outer(np.asarray(lefts) + bx, np.arange(steps))  # (cell, dx)
    cells = views[:, columns]  # (dy, cell, dx, rows, cols)
    scores = np.einsum("ij,kj->ik", _unit(cells.reshape(-1, rows * cols)), g.unit)  # no BLAS
    scores = scores.reshape(steps, len(lefts), steps, len(GLYPHS)).transpose(1, 0, 2, 3)
    scores = scores.reshape(len(lefts), steps * steps, len(GLYPHS))  # (cell, shift, glyph)
    best = scores.max(axis=1)
    known = np.asarray(index) >= 0  # a character no template has is not judged
    mine = np.zeros_like(best, dtype=bool)
    mine[np.flatnonzero(known), np.asarray(index)[known]] = True
    own = np.where(mine, best, -np.inf).max(axis=1)[known]
    other = np.where(mine, -np.inf, best).max(axis=1)[known]
    # A mismatch: another glyph clearly better, and clearly there (a smear, a blot or a tear
    # over the line looks like no glyph: unreadable, not another page's).
    mismatched = int(((other - own > s.mismatch_margin) & (other >= s.glyph_floor)).sum())
    unreadable = int((np.maximum(own, other) < s.glyph_floor).sum())
    worst = float((other - own).max()) if other.size else -1.0
    return (int(bx), int(by)), scores, mismatched, unreadable, worst


def _crop(image: Image, left: int, top: int, shape: tuple[int, int]) -> Floats:
    """``shape`` (rows, columns) of ``image`` from (left, top), white beyond the image."""
    rows, cols = shape
    out = np.full((rows, cols), 255, np.float32)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + rows, image.shape[0]), min(left + cols, image.shape[1])
    if y1 > y0 and x1 > x0:
        out[y0 - top : y1 - top, x0 - left : x1 - left] = image[y0:y1, x0:x1]
    return out


def _place(canvas: Floats, glyph: Floats, left: int, top: int) -> None:
    """Darken ``canvas`` with ``glyph`` at (left, top), clipped to the canvas."""
    rows, cols = glyph.shape
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + rows, canvas.shape[0]), min(left + cols, canvas.shape[1])
    if y1 > y0 and x1 > x0:
        part = glyph[y0 - top : y1 - top, x0 - left : x1 - left]
        canvas[y0:y1, x0:x1] = np.minimum(canvas[y0:y1, x0:x1], part)


def _keep_line_ink(ink: InkBands, line: _Line, placed: Floats, at: tuple[int, int]) -> None:
    """Keep the ink in the line's band, from 1.5 mm before it to 140 mm (the header) or 50 mm
    past its end (the footer), that lies off the glyphs found there."""
    x = line.box_mm[0]
    left, top = at
    rows, cols = placed.shape
    right = 140.0 if line.box_mm[1] < 100 else x + cols / PX_PER_MM + 50.0
    box = (x - 1.5, top / PX_PER_MM, right - x + 1.5, rows / PX_PER_MM)
    bx0, by0, bx1, by1 = box_px(box)
    glyphs = np.zeros((by1 - by0, bx1 - bx0), np.uint8)
    gy, gx = top - by0, left - bx0
    h, w = min(rows, glyphs.shape[0] - gy), min(cols, glyphs.shape[1] - gx)
    if h > 0 and w > 0 and gy >= 0 and gx >= 0:
        glyphs[gy : gy + h, gx : gx + w] = placed[:h, :w] < 128
    near = cv2.dilate(glyphs, np.ones((5, 5), np.uint8)).astype(bool)
    ink.keep(box, ~near)

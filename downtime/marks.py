"""Reading tick boxes and writing areas on a registered page image.

Input is a *registered* page: the A4 page frame at :data:`~downtime.geometry.PX_PER_MM`
(1680 × 2376 px, grayscale ``uint8``, 255 = white) as produced by warping a scan with the
page's homography, so every field is where its ``box_mm`` says, give or take the residual
misregistration (~0.3–0.5 mm). The scan may be blurred, noisy, JPEG-compressed, low in
contrast, binarised (fax), photocopied or a phone photo with uneven light.

:func:`read_fields` gives one :class:`FieldReading` per field: for checkboxes ``marked``,
``empty`` or ``uncertain``; for writing areas (every other kind) ``written``, ``blank`` or
``uncertain``. What is not clearly one or the other is ``uncertain``, and goes to a person.

Method
------
1. :func:`page_quality` (once per page, ~0.6 ms) estimates the **paper level** on a 1 mm
   grid — a grey-level closing of the page averaged down, so that darker things smaller than
   ``background_kernel_mm`` (ink, fiducials, banners, filled boxes) are not paper while uneven
   light is — and from it the darkness of solid print (the three solid fiducials), the paper
   noise, and whether the page is binarised or so low in contrast that faint pencil may sink
   under the noise.
2. :func:`read_fields` builds an **ink map** of the part of the page holding the fields,
   ``ink = max(0, paper − margin − pixel)`` (``margin``: ``noise_sigmas`` σ of the paper noise,
   at least ``ink_margin`` of the contrast, so that noise, paper texture and JPEG ringing are
   not ink), and its integral image. Every measurement is then a rectangle sum, vectorised over
   the fields of the page. Ink is expressed as a fraction of the *local* contrast (paper level
   at the field × darkness of print): 0 = paper, 1 = as dark as solid print at that spot, so
   the same thresholds hold in a shadow and on a faded copy.
3. **The printed outline is discounted.** Each field's outline is searched within
   ``±outline_search_mm`` of where ``box_mm`` puts it by summing ink in a thin window over
   *both* opposite edges at once (left + right columns, top + bottom rows, along the middle of
   the sides). Registration error varies smoothly over a page, so the median shift of the clear
   outlines then bounds every field's final shift to ``±outline_consensus_mm`` around it (ties
   to the median): one box cannot jump a millimetre onto a neighbouring rule plus a stroke of
   its own. Only the interior, inset
   ``*_inset_mm`` from the outline's centre line, is measured. The shift found is in the
   metrics (``outline_dx_mm``, ``outline_dy_mm``) with the outline's ``outline_strength``
   (1 = an ideal printed line). Where no outline is found (strength below
   ``outline_min_strength``) the reading is ``uncertain`` with the flag ``no-outline``: without
   its outline we do not know where the box is.
4. **Checkboxes.** ``fill`` (mean ink of the interior; this is the score), ``core`` (the middle,
   ``checkbox_core_inset_mm`` further in), ``peak`` (the darkest of ``checkbox_cells`` ×
   ``checkbox_cells`` cells), ``coverage`` (share of interior pixels of strong ink), ``ring``
   (ink in a ring 0.4–0.75 mm outside the outline, in thirds of each side) and ``crossing``
   (ink just outside *and* just inside the same side). ``marked``: fill and core both at least
   the ``*_marked_*`` levels — ticks, crosses, fills, scribbles and light pencil all cross the
   middle of the box. ``empty``: fill and every cell below the ``*_empty_*`` levels. Otherwise
   ``uncertain``.
   Ink outside the box never marks it: the ring only adds the flag ``overrun`` to a box that is
   marked or uncertain on its own interior. A neighbour's stroke reaching into the edge of an
   empty box raises its fill and peak but not its core, so that box reads ``uncertain`` at
   worst, never ``marked``.
5. **Writing areas.** The interior is tiled into blocks of about ``block_mm``. A block holding
   at least ``block_stroke`` ink holds a stroke, more than ``block_trace`` a trace.
   ``written``: at least ``written_min_blocks`` stroke blocks (handwriting). ``blank``: no
   block above a trace. Anything between — a dot, a smudge, one short stroke, faint pencil —
   is ``uncertain``. The score is the inked fraction of the interior.
   **Guide lines** (light, dashed, at known spacing in areas taller than
   ``guide_min_height_mm``) are mostly below the ink margin already. Where they are not
   (photocopied darker, blurred, JPEG), they show as a row of blocks inked all the way across;
   such an area is measured again in bands ``guide_band_mm`` tall and segments of two dash
   periods (``guide_segment_mm``, so a dashed guide puts the same ink into every segment of its
   band), and in each band of each ``guide_tile_mm`` tile the ``guide_quantile`` of the segments
   — ink present along most of the band, i.e. printed — is subtracted before the blocks are
   judged. Handwriting is uneven along any band and stays; the removed ink is reported as
   ``guide_ink``.

Corrected boxes (convention of this kit)
----------------------------------------
On paper forms people cancel a tick by filling the box in solid or scribbling it out — but a
solid fill is also a perfectly good mark. The reader does not choose between the two: a
checkbox whose interior is at least ``checkbox_corrected_coverage`` (70 %) covered with strong
ink is read ``state = "marked"`` **and** carries the flag ``"corrected"``. The scanner sends
every reading with a flag in :data:`REVIEW_FLAGS` to review, so a filled box is never silently
taken as either "marked" or "cancelled": a person looking at the page decides, with the other
boxes of the same question beside it. (Ticks and crosses cover ≤ 60 % of a box even when
photocopied fat; fills and dense scribbles ≥ 85 %.)

Faint pages
-----------
On a **binarised** (fax-like) page light pencil either survives as black specks or vanishes
without a trace, and a box with a vanished mark is pixel for pixel an empty box. Nothing on such
a page is therefore *clearly* empty: by default (``trust_empty_on_binarised = False``) boxes and
areas without ink read ``uncertain`` with the flag ``faint-page``; any ink at all still reads as
usual (pen marks ``marked``/``written``). On a **low-contrast or noisy** page faint marks may
sink under the noise margin: there the uncertain band is widened downwards — the empty/blank
thresholds are divided by ``faint_page_empty_divisor``, so a few specks make a box
``uncertain`` — and ``empty``/``blank`` readings carry ``faint-page``.

Flags
-----
``corrected`` (filled or scribbled box, see above; needs review), ``no-outline`` (printed outline
not found near its place: ``uncertain``; needs review), ``off-page`` (field not wholly inside the
image: ``uncertain``; needs review), ``overrun`` (ink crosses the box edge — information only: it
is also raised by printed text that touches a box, e.g. a neighbour's label), ``faint-page``
(see above; information — the page itself carries the reason).

Every threshold lives in :class:`MarkSettings`, with its unit and the measurements it was
chosen from; ``tests/test_marks.py`` draws the marks and degradations these were tuned on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from downtime.geometry import FIDUCIALS_MM, HOLLOW_FIDUCIAL, PX_PER_MM, TONE_PATCH_MM, box_px
from downtime.model import FieldBox

CHECKBOX = "checkbox"
MARKED, EMPTY = "marked", "empty"
WRITTEN, BLANK = "written", "blank"
UNCERTAIN = "uncertain"

CORRECTED = "corrected"
OVERRUN = "overrun"
NO_OUTLINE = "no-outline"
OFF_PAGE = "off-page"
FAINT_PAGE = "faint-page"
REVIEW_FLAGS = frozenset({CORRECTED, NO_OUTLINE, OFF_PAGE})
"""Flags that by themselves need a person (``overrun`` and ``faint-page`` are information)."""

PT_MM = 25.4 / 72.0  # one typographic point in mm

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class MarkSettings:
    """Every threshold of the mark reader, in one place.

    Ink quantities are fractions of the *local* contrast: 0 = paper, 1 = as dark as solid print
    at that spot of the page (so a light-pencil line is about 0.2–0.3 where it is drawn, and a
    box "fill" of 0.1 means a tenth of the interior's possible darkness). Lengths are page mm.
    """

    # -- paper level and ink map ---------------------------------------------------------------
    background_kernel_mm: float = 15.0  # closing size: darker things smaller than this are not
    # paper (filled boxes 5 mm, fiducials 6 mm, the allergy banner 9 mm, grey MAR cells 11 mm)
    ink_margin: float = 0.05  # darkness below this fraction of the contrast is never ink …
    noise_sigmas: float = 2.5  # … nor darkness below this many σ of the paper noise: with 2.5 σ
    # clipped away, noise adds < 0.1 % to a box's fill
    strong_ink: float = 0.35  # a pixel at least this dark counts towards "coverage" (well above
    # noise, below any pen: a 0.2-0.3 pencil line does not count, a pen fill does)

    # -- printed outline -----------------------------------------------------------------------
    outline_search_mm: float = 1.0  # look for the printed outline this far around box_mm
    outline_window_mm: float = 0.5  # width of the window summing one edge (line + blur)
    outline_consensus_mm: float = 0.5  # the page's fields then keep to this much around
    # their median shift (registration error varies smoothly over a page), so that one box
    # cannot jump 1 mm onto a neighbouring rule plus a stroke of its own
    outline_reliable: float = 0.5  # outlines at least this strong vote for the median shift
    outline_min_strength: float = 0.4  # found outline ink / ideal outline ink, at least: a
    # clean print measures ~0.95, blurred, JPEG, phone and fax pages 0.67–1.2, a photocopy up
    # to 1.6, blank paper ~0. (Printed text under a box misplaced by > 1 mm reached 0.59: gross
    # misregistration is for the registration stage to catch, not this one.)
    checkbox_line_mm: float = 0.9 * PT_MM  # printed line widths (render._box), for the strength
    writing_line_mm: float = 0.6 * PT_MM

    # -- checkboxes ----------------------------------------------------------------------------
    checkbox_inset_mm: float = 0.6  # interior starts this far inside the outline's centre line
    # (the 0.9 pt line reaches 0.16 mm in; 0.44 mm more keeps blur and JPEG ringing out)
    checkbox_core_inset_mm: float = 0.8  # the core: this much further in (a 1.7–2.2 mm square
    # in 4.5–5 mm boxes that every tick, cross, fill or scribble crosses, and that a
    # neighbour's stroke reaching into the box edge does not)
    checkbox_cells: int = 3  # the interior is cut into cells × cells for "peak" (~1.1 mm cells)
    checkbox_marked_fill: float = 0.015  # marked: fill at least this … (lightest pencil tick
    # measured 0.018 on a clean page, a pen tick ≥ 0.08; empty boxes ≤ 0.001)
    checkbox_marked_core: float = 0.015  # … and core at least this (the mark crosses the middle)
    checkbox_empty_fill: float = 0.004  # empty: fill below this … (4 parts in 1000)
    checkbox_empty_peak: float = 0.012  # … and no cell darker than this (a speck of ~1 px is
    # 0.01 of a cell; anything larger is not "clearly empty")
    checkbox_corrected_coverage: float = 0.7  # ≥ this share of strong-ink pixels: the box is
    # filled in or scribbled out: "corrected" (see the module docstring). Fills and dense
    # scribbles measure ≥ 0.86; fat crosses on a dark photocopy reach 0.6, ticks 0.55
    ring_inner_mm: float = 0.4  # ring outside the box: from here (clear of the printed line) …
    ring_outer_mm: float = 0.75  # … to here (labels to the right start 1 mm out)
    edge_band_mm: float = 0.8  # band of the interior along each side, for "crossing"
    overrun_crossing: float = 0.035  # ink just outside *and* just inside one side: "overrun"
    # (ticks running out of the box measure 0.04–0.45; printed text touching a box can too)

    # -- writing areas -------------------------------------------------------------------------
    writing_inset_mm: float = 0.6  # interior starts this far inside the outline's centre line
    guide_segment_mm: float = 6 * PT_MM  # two periods of the guides' dash (1 pt on, 2 pt off),
    # so a dashed guide puts the same ink into every segment of its row
    guide_band_mm: float = 0.25  # rows are judged in bands this tall (guides are ~0.15 mm)
    guide_tile_mm: float = 20.0  # printed row ink is estimated per tile of this width …
    guide_quantile: float = 0.25  # … as this quantile of the band's segments in the tile: ink
    # in at least 3 of every 4 segments along a band is printed, not written
    guide_min_height_mm: float = 7.4  # guides only in areas taller than this: forms print them
    # every 6.4 mm, never within 1 mm of the bottom (render._guides); lower it for closer guides
    block_mm: float = 2.0  # residual ink is judged in blocks of about this size
    block_trace: float = 0.008  # a block with more ink than this is not blank (a 0.5 mm dot
    # measures 0.02–0.09 in a 2 mm block; blank areas ≤ 0.003 even after JPEG)
    block_stroke: float = 0.05  # a block with at least this much ink holds a stroke (a pen line
    # across a 2 mm block is ~0.15; light pencil ~0.04–0.08)
    written_min_blocks: int = 3  # written: at least this many stroke blocks (two letters of
    # initials cover 4–9; a dot or a single short stroke 1–2)

    # -- faint pages (binarised, low contrast, noisy) --------------------------------------------
    low_contrast_levels: float = 80.0  # contrast (grey levels) below this: a faint page
    faint_margin: float = 0.12  # noise margin above this fraction of the contrast: a faint page
    binarised_share: float = 0.993  # share of pixels in the 4 commonest grey levels: binarised
    # (black, white and the half-way levels an upsampled half-resolution fax adds; a clean
    # rendering has ~0.98, any real scan far less)
    faint_page_empty_divisor: float = 2.5  # empty/blank thresholds are divided by this there
    # The footer's grey tone patch (geometry.TONE_PATCH_MM) is printed at 28 % of solid print.
    # A copier or fax that turns it white (or black) may have erased light pencil too: such a
    # page is read like a binarised one. Outside this range (relative darkness) it counts lost.
    tone_patch_min: float = 0.10
    tone_patch_max: float = 0.70
    despeckle_noise: float = 6.0  # paper noise σ (grey levels) above which specks are removed
    trust_empty_on_binarised: bool = False  # a binarised page can erase light pencil without a
    # trace, so by default nothing on it is "clearly empty": its empty boxes and blank areas are
    # read "uncertain" (flag faint-page). Set to read them empty/blank (still flagged).


@dataclass(frozen=True)
class PageQuality:
    """What a page looks like, measured once and used to adapt the thresholds."""

    background: float  # median paper level, grey levels
    black: float  # level of solid print (the solid fiducials), grey levels
    ink_ratio: float  # 1 − black / paper: how dark print is relative to the paper under it
    contrast: float  # background × ink_ratio, grey levels
    noise: float  # robust σ of the paper, grey levels
    margin: float  # darkness that is never ink, grey levels
    light_range: float  # darkest / brightest paper level on the page (1 = even light)
    binarised: bool  # (almost) only two grey levels, or the grey tone patch lost: fax-like
    low_contrast: bool  # contrast or noise such that faint pencil may sink under the margin
    tone_patch: float  # darkness of the printed grey patch relative to solid print (≈ 0.28)
    shape: tuple[int, int]  # the page image's (height, width) in pixels
    cell_px: int  # pitch of the paper-level grid, pixels
    background_map: Image = field(repr=False, compare=False)  # paper level, one value per cell

    @property
    def faint_marks_may_vanish(self) -> bool:
        return self.binarised or self.low_contrast


@dataclass(frozen=True)
class FieldReading:
    field_id: str
    kind: str
    state: str  # checkbox: marked | empty | uncertain; writing areas: written | blank | uncertain
    score: float  # 0..1, monotone in how much ink the interior holds
    metrics: Mapping[str, float]  # raw measurements behind the verdict
    flags: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------
# Page quality


def _u8(image: object) -> Image:
    return np.asarray(image, dtype=np.uint8)


def _px(mm: float) -> int:
    return round(mm * PX_PER_MM)


def _check_page(page: np.ndarray) -> Image:
    if page.ndim != 2 or page.dtype != np.uint8:
        raise ValueError(f"a registered page is a 2-D uint8 image, not {page.dtype} {page.shape}")
    if page.shape[0] < 64 or page.shape[1] < 64:
        raise ValueError(f"a registered page of {page.shape} pixels is too small")
    return np.ascontiguousarray(page, dtype=np.uint8)


def tone_patch(page: Image, background: float, ink_ratio: float) -> float:
    """Darkness of the printed grey patch relative to solid print: about 0.28 on a faithful
    scan, near 0 (or 1) after a copier or fax thresholded the page."""
    x0, y0, x1, y1 = box_px(TONE_PATCH_MM)
    inset = _px(1.0)
    patch = page[y0 + inset : y1 - inset, x0 + inset : x1 - inset]
    if patch.size == 0:
        return 0.0
    paper_here = float(np.median(page[y1 + inset : y1 + 4 * inset, x0:x1]))
    black = background * (1.0 - ink_ratio)
    span = max(paper_here - black, 1.0)
    return float(np.clip((paper_here - float(np.median(patch))) / span, 0.0, 1.0))


def page_quality(page: np.ndarray, settings: MarkSettings = MarkSettings()) -> PageQuality:
    """Paper level (everywhere, on a 1 mm grid), print darkness, noise, and whether faint
    marks may have been lost (binarised or low-contrast page)."""
    img = _check_page(page)
    h, w = img.shape
    cell = max(2, _px(1.0))
    sub = cell // 2
    # every other pixel of every other half cell is plenty to find the paper, and 12× faster
    sample = img[sub // 2 :: sub, sub // 2 :: sub]
    small = _u8(cv2.resize(sample, (w // cell, h // cell), interpolation=cv2.INTER_AREA))
    small = _u8(cv2.blur(small, (3, 3)))
    k = max(3, round(settings.background_kernel_mm * PX_PER_MM / cell) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    paper = _u8(cv2.blur(cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel), (5, 5)))

    cumulative = np.cumsum(np.bincount(paper.ravel(), minlength=256))

    def level(share: float) -> float:
        return float(np.searchsorted(cumulative, share * cumulative[-1]))

    background = level(0.5)
    light_range = level(0.05) / max(level(0.95), 1.0)

    ink_ratio = _print_darkness(img, paper, cell)
    contrast = max(background * ink_ratio, 1.0)

    counts = cv2.calcHist([np.ascontiguousarray(img[::6, ::4])], [0], None, [256], [0, 256])
    hist = np.asarray(counts, dtype=np.float64).ravel()
    binarised = float(np.sort(hist)[-4:].sum()) >= settings.binarised_share * float(hist.sum())
    tone = tone_patch(img, background, ink_ratio)
    tones_lost = not settings.tone_patch_min <= tone <= settings.tone_patch_max

    noise = _noise(img, paper, cell, contrast)
    margin = max(settings.ink_margin * contrast, settings.noise_sigmas * noise)
    low_contrast = (
        contrast < settings.low_contrast_levels or margin > settings.faint_margin * contrast
    )
    return PageQuality(
        background=background,
        black=background * (1.0 - ink_ratio),
        ink_ratio=ink_ratio,
        contrast=contrast,
        noise=noise,
        margin=margin,
        light_range=light_range,
        binarised=binarised or tones_lost,
        low_contrast=low_contrast,
        tone_patch=tone,
        shape=(h, w),
        cell_px=cell,
        background_map=paper,
    )


def _print_darkness(img: Image, paper: Image, cell: int) -> float:
    """1 − (solid print / paper), measured in the solid fiducials (middle 4 mm of each)."""
    ratios = []
    for name, (x, y, w, h) in FIDUCIALS_MM.items():
        if name == HOLLOW_FIDUCIAL:
            continue
        cx, cy = x + w / 2, y + h / 2
        x0, y0, x1, y1 = box_px((cx - 2.0, cy - 2.0, 4.0, 4.0))
        py, px_ = (y0 + y1) // 2 // cell, (x0 + x1) // 2 // cell
        if x0 < 0 or y0 < 0 or py >= paper.shape[0] or px_ >= paper.shape[1]:
            continue
        inner = float(np.median(img[y0:y1, x0:x1]))
        ratios.append(1.0 - inner / max(float(paper[py, px_]), 1.0))
    found = sorted(r for r in ratios if r >= 0.3)
    if found:
        return min(found[len(found) // 2], 1.0)
    # fiducials unreadable (torn, stained, off the image): the darkest print on the page
    sample = img[::4, ::4]
    dark = float(np.percentile(sample, 0.5))
    return float(np.clip(1.0 - dark / max(float(np.median(paper)), 1.0), 0.15, 1.0))


def _noise(img: Image, paper: Image, cell: int, contrast: float) -> float:
    """Robust σ of the paper: median minus 16th percentile of paper pixels relative to the
    local paper level; one-sided, so that white clipped at 255 does not hide it."""
    h, w = img.shape
    rows = np.arange(cell // 2, min(h, paper.shape[0] * cell), 6 * cell)  # every 6 mm
    width = min(w, paper.shape[1] * cell)
    local = np.repeat(paper[rows // cell], cell // 2, axis=1)[:, : width // 2].astype(np.int16)
    dev = img[rows, : local.shape[1] * 2 : 2].astype(np.int16) - local
    dev = dev[dev >= -int(0.25 * contrast)]
    if dev.size < 100:
        return 0.0
    cumulative = np.cumsum(np.bincount((dev + 255).ravel(), minlength=511))
    p50 = float(np.searchsorted(cumulative, cumulative[-1] * 0.5))
    p16 = float(np.searchsorted(cumulative, cumulative[-1] * 0.16))
    return max(p50 - p16, 0.0)


# --------------------------------------------------------------------------------------------
# Ink map


@dataclass
class _Maps:
    """The ink map of the region of the page that holds the fields, and its integral image.

    Coordinates given to the helpers are page pixels; ``origin`` is subtracted here."""

    ink: Image  # max(0, paper − margin − pixel), grey levels
    integral: npt.NDArray[np.int32]
    origin: tuple[int, int]
    quality: PageQuality


def _maps(img: Image, q: PageQuality, roi: tuple[int, int, int, int]) -> _Maps:
    x0, y0, x1, y1 = roi
    c = q.cell_px
    rows, cols = q.background_map.shape
    cx0, cy0 = max(0, x0 // c - 1), max(0, y0 // c - 1)
    cx1, cy1 = min(cols, x1 // c + 2), min(rows, y1 // c + 2)
    margin = min(255, math.ceil(q.margin))
    block = np.maximum(q.background_map[cy0:cy1, cx0:cx1].astype(np.int16) - margin, 0)
    # the same bilinear interpolation as upsampling the whole map, over the region only
    size = ((cx1 - cx0) * c, (cy1 - cy0) * c)
    up = _u8(cv2.resize(block.astype(np.uint8), size, interpolation=cv2.INTER_LINEAR))
    paper = up[y0 - cy0 * c : y1 - cy0 * c, x0 - cx0 * c : x1 - cx0 * c]
    ink = _u8(cv2.subtract(paper, img[y0:y1, x0:x1]))
    integral = np.asarray(cv2.integral(ink, sdepth=cv2.CV_32S), dtype=np.int32)
    return _Maps(ink, integral, (x0, y0), q)


def _rect(maps: _Maps, x0: IntArray, y0: IntArray, x1: IntArray, y1: IntArray) -> FloatArray:
    """Ink sums over [x0, x1) × [y0, y1) (page pixels), element-wise over broadcast arrays."""
    ox, oy = maps.origin
    ii = maps.integral
    x0, x1, y0, y1 = x0 - ox, x1 - ox, y0 - oy, y1 - oy
    return (
        ii[y1, x1].astype(np.float64)
        - ii[y0, x1].astype(np.float64)
        - ii[y1, x0].astype(np.float64)
        + ii[y0, x0].astype(np.float64)
    )


def _mean_ink(
    maps: _Maps, rect: tuple[IntArray, IntArray, IntArray, IntArray], contrast: FloatArray
) -> FloatArray:
    """Mean ink over rectangles as a fraction of each one's contrast."""
    x0, y0, x1, y1 = rect
    area = np.maximum((x1 - x0) * (y1 - y0), 1).astype(np.float64)
    return _rect(maps, x0, y0, x1, y1) / (area * contrast)


def _ragged(counts: IntArray) -> tuple[IntArray, IntArray]:
    """For items of ``counts`` parts each, laid end to end: each part's item and its index
    within the item."""
    item = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    starts = np.cumsum(counts) - counts
    return item, np.arange(int(counts.sum()), dtype=np.int64) - starts[item]


# --------------------------------------------------------------------------------------------
# Reading


def _despeckled(img: Image, roi: tuple[int, int, int, int], q: PageQuality,
                s: MarkSettings) -> Image:  # fmt: skip
    """On a noisy page, a 3 × 3 median over the fields' region: isolated specks (salt and
    pepper) go, strokes of pen and pencil (3+ px wide at 8 px/mm) stay."""
    if q.noise < s.despeckle_noise:
        return img
    x0, y0, x1, y1 = max(roi[0], 0), max(roi[1], 0), roi[2], roi[3]
    out = img.copy()
    out[y0:y1, x0:x1] = _u8(cv2.medianBlur(np.ascontiguousarray(img[y0:y1, x0:x1]), 3))
    return out


def read_fields(
    page: np.ndarray,
    fields: Sequence[FieldBox],
    settings: MarkSettings = MarkSettings(),
    *,
    quality: PageQuality | None = None,
) -> list[FieldReading]:
    """Read every field of a registered page: one reading per field, in the given order.

    ``quality`` is :func:`page_quality` of the same page, if the caller already has it.
    """
    img = _check_page(page)
    q = quality if quality is not None else page_quality(img, settings)
    if q.shape != img.shape:
        raise ValueError(f"page quality measured on a {q.shape} image, page is {img.shape}")
    if not fields:
        return []
    boxes = np.array([box_px(f.box_mm) for f in fields], dtype=np.int64).reshape(-1, 4)
    rows, cols = q.background_map.shape
    height, width = rows * q.cell_px, cols * q.cell_px  # the part of the page the map covers
    reach = _px(settings.outline_search_mm) + max(_px(settings.ring_outer_mm), _px(0.5)) + 2
    inside = (
        (boxes[:, 0] - reach >= 0)
        & (boxes[:, 1] - reach >= 0)
        & (boxes[:, 2] + reach < width)
        & (boxes[:, 3] + reach < height)
        & (boxes[:, 2] - boxes[:, 0] >= _px(2.0))
        & (boxes[:, 3] - boxes[:, 1] >= _px(2.0))
    )
    out: list[FieldReading | None] = [None] * len(fields)
    for i in np.flatnonzero(~inside).tolist():
        out[i] = FieldReading(fields[i].id, fields[i].kind, UNCERTAIN, 0.0, {}, (OFF_PAGE,))
    if inside.any():
        used = boxes[inside]
        roi = (
            int(used[:, 0].min()) - reach,
            int(used[:, 1].min()) - reach,
            int(used[:, 2].max()) + reach + 1,
            int(used[:, 3].max()) + reach + 1,
        )
        maps = _maps(_despeckled(img, roi, q, settings), q, roi)
        is_box = np.array([f.kind == CHECKBOX for f in fields], dtype=bool)
        used_index = np.flatnonzero(inside)
        line_mm = np.where(is_box[used_index], settings.checkbox_line_mm, settings.writing_line_mm)
        _, contrast = _contrast(maps, used)
        dx, dy, strength = _find_outline(maps, used, line_mm, contrast, settings)
        position = np.full(len(fields), -1, dtype=np.int64)
        position[used_index] = np.arange(len(used_index))
        for chosen, reader in (
            (inside & is_box, _read_checkboxes),
            (inside & ~is_box, _read_writing),
        ):
            index = np.flatnonzero(chosen)
            if index.size:
                at = position[index]
                outline = (dx[at], dy[at], strength[at])
                found = reader(maps, fields, index, boxes[index], outline, settings)
                for i, reading in zip(index.tolist(), found, strict=True):
                    out[i] = reading
    return [r for r in out if r is not None]


def _contrast(maps: _Maps, boxes: IntArray) -> tuple[FloatArray, FloatArray]:
    """Paper level and contrast (grey levels) at each box's centre."""
    c = maps.quality.cell_px
    cx = (boxes[:, 0] + boxes[:, 2]) // 2 // c
    cy = (boxes[:, 1] + boxes[:, 3]) // 2 // c
    paper = maps.quality.background_map[cy, cx].astype(np.float64)
    return paper, np.maximum(paper * maps.quality.ink_ratio, 1.0)


def _find_outline(
    maps: _Maps, boxes: IntArray, line_mm: FloatArray, contrast: FloatArray, s: MarkSettings
) -> tuple[IntArray, IntArray, FloatArray]:
    """Best (dx, dy) of the printed outline around each box, and its strength (1 = ideal).

    Left and right edges are scored together (sums along the middle of the two sides), as are
    top and bottom, so one line of a neighbouring box or a stroke inside rarely outscores the
    box's own pair of lines. A first pass searches ``±outline_search_mm``; the median shift of
    the clear outlines then bounds a second pass to ``±outline_consensus_mm`` around it, ties
    going to the median."""
    reach = _px(s.outline_search_mm)
    half = max(1, _px(s.outline_window_mm) // 2)
    d = np.arange(-reach, reach + 1, dtype=np.int64)[None, :]
    x0, y0, x1, y1 = (boxes[:, i : i + 1] for i in range(4))
    ay = np.minimum(reach + half, (y1 - y0) // 2 - 2)
    ax = np.minimum(reach + half, (x1 - x0) // 2 - 2)
    ya, yb = y0 + ay, y1 - ay
    xa, xb = x0 + ax, x1 - ax
    cols = _rect(maps, x0 + d - half, ya, x0 + d + half, yb) + _rect(
        maps, x1 + d - half, ya, x1 + d + half, yb
    )
    rows = _rect(maps, xa, y0 + d - half, xb, y0 + d + half) + _rect(
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
        within = _px(s.outline_consensus_mm)
        cx, cy = (round(float(np.median(d[0, b[clear]]))) for b in (bx, by))
        bx, by = best(cols, cx, within), best(rows, cy, within)
        strength = np.minimum(cols[n, bx] / ideal_x, rows[n, by] / ideal_y)
    return d[0, bx], d[0, by], strength


def _read_checkboxes(
    maps: _Maps,
    fields: Sequence[FieldBox],
    index: IntArray,
    boxes: IntArray,
    outline: tuple[IntArray, IntArray, FloatArray],
    s: MarkSettings,
) -> list[FieldReading]:
    q = maps.quality
    paper, contrast = _contrast(maps, boxes)
    dx, dy, strength = outline
    left, top = boxes[:, 0] + dx, boxes[:, 1] + dy
    right, bottom = boxes[:, 2] + dx, boxes[:, 3] + dy

    ins = _px(s.checkbox_inset_mm)
    ix0, iy0 = left + ins, top + ins
    ix1, iy1 = np.maximum(right - ins, ix0 + 2), np.maximum(bottom - ins, iy0 + 2)
    fill = _mean_ink(maps, (ix0, iy0, ix1, iy1), contrast)

    cin = _px(s.checkbox_core_inset_mm)
    cx0 = np.minimum(ix0 + cin, (ix0 + ix1) // 2 - 1)
    cy0 = np.minimum(iy0 + cin, (iy0 + iy1) // 2 - 1)
    cx1, cy1 = np.maximum(ix1 - cin, cx0 + 2), np.maximum(iy1 - cin, cy0 + 2)
    core = _mean_ink(maps, (cx0, cy0, cx1, cy1), contrast)

    g = max(1, s.checkbox_cells)
    steps = np.arange(g + 1, dtype=np.int64)[None, :]
    gx = ix0[:, None] + (ix1 - ix0)[:, None] * steps // g
    gy = iy0[:, None] + (iy1 - iy0)[:, None] * steps // g
    cells = _mean_ink(
        maps,
        (gx[:, None, :-1], gy[:, :-1, None], gx[:, None, 1:], gy[:, 1:, None]),
        contrast[:, None, None],
    )
    peak = cells.reshape(len(boxes), -1).max(axis=1)

    # ink just outside each side of the outline and just inside it: a stroke crossing the edge
    # has both; printed text next to the box, or a tick kept inside it, has one
    ro, ri, eb = _px(s.ring_outer_mm), _px(s.ring_inner_mm), _px(s.edge_band_mm)
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
    ring_sides = np.stack([_mean_ink(maps, r, contrast) for r in ring_parts], axis=1)
    edge_sides = np.stack([_mean_ink(maps, r, contrast) for r in edge_parts], axis=1)
    ring = ring_sides.max(axis=1)
    crossing = np.minimum(ring_sides, np.tile(edge_sides, 3)).max(axis=1)

    coverage = _coverage(maps, (ix0, iy0, ix1, iy1), s.strong_ink * contrast - q.margin)

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
    if q.binarised and not s.trust_empty_on_binarised:
        faint_empty = empty
        empty = np.zeros_like(empty)
    else:
        faint_empty = empty if faint else np.zeros_like(empty)
    state = np.where(~found, UNCERTAIN, np.where(marked, MARKED, np.where(empty, EMPTY, UNCERTAIN)))

    names = (
        "fill", "core", "peak", "coverage", "ring", "crossing", "outline_dx_mm",
        "outline_dy_mm", "outline_strength", "background", "contrast",
    )  # fmt: skip
    values = np.stack(
        [fill, core, peak, coverage, ring, crossing, dx / PX_PER_MM, dy / PX_PER_MM, strength,
         paper, contrast],
        axis=1,
    ).tolist()  # fmt: skip
    readings = []
    for k, i in enumerate(index.tolist()):
        st = str(state[k])
        flags: list[str] = []
        if not found[k]:
            flags.append(NO_OUTLINE)
        if st == MARKED and corrected[k]:
            flags.append(CORRECTED)
        if st != EMPTY and overrun[k]:
            flags.append(OVERRUN)
        if faint_empty[k] and found[k]:
            flags.append(FAINT_PAGE)
        f = fields[i]
        row = values[k]
        score = min(max(row[0], 0.0), 1.0)
        readings.append(
            FieldReading(f.id, f.kind, st, score, dict(zip(names, row, strict=True)), tuple(flags))
        )
    return readings


def _third(start: IntArray, stop: IntArray, k: int) -> tuple[IntArray, IntArray]:
    """The k-th third of [start, stop)."""
    return start + (stop - start) * k // 3, start + (stop - start) * (k + 1) // 3


def _coverage(
    maps: _Maps, rect: tuple[IntArray, IntArray, IntArray, IntArray], level: FloatArray
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


def _read_writing(
    maps: _Maps,
    fields: Sequence[FieldBox],
    index: IntArray,
    boxes: IntArray,
    outline: tuple[IntArray, IntArray, FloatArray],
    s: MarkSettings,
) -> list[FieldReading]:
    q = maps.quality
    n = len(boxes)
    paper, contrast = _contrast(maps, boxes)
    dx, dy, strength = outline
    ins = _px(s.writing_inset_mm)
    ix0, iy0 = boxes[:, 0] + dx + ins, boxes[:, 1] + dy + ins
    ix1 = np.maximum(boxes[:, 2] + dx - ins, ix0 + 2)
    iy1 = np.maximum(boxes[:, 3] + dy - ins, iy0 + 2)
    area = ((ix1 - ix0) * (iy1 - iy0)).astype(np.float64)
    total = _rect(maps, ix0, iy0, ix1, iy1) / (area * contrast)

    faint = q.faint_marks_may_vanish
    divisor = s.faint_page_empty_divisor if faint else 1.0
    fill = total.copy()
    blocks = _blocks(maps, (ix0, iy0, ix1, iy1), contrast, s)
    block_item, block_frac = blocks.item, blocks.ink
    # areas that can hold guide lines and have a row of blocks inked all the way across (the
    # middle blocks: guides stop 1.5 mm short of the sides) are measured again band by band,
    # with the ink that runs evenly along each band removed
    tall = (boxes[:, 3] - boxes[:, 1]) > _px(s.guide_min_height_mm)
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
    if q.binarised and not s.trust_empty_on_binarised:
        faint_blank = blank
        blank = np.zeros_like(blank)
    else:
        faint_blank = blank if faint else np.zeros_like(blank)
    state = np.where(
        ~found, UNCERTAIN, np.where(written, WRITTEN, np.where(blank, BLANK, UNCERTAIN))
    )
    names = (
        "fill", "guide_ink", "block_peak", "stroke_blocks", "coverage", "outline_dx_mm",
        "outline_dy_mm", "outline_strength", "background", "contrast",
    )  # fmt: skip
    values = np.stack(
        [fill, total - fill, peak, strokes, traces / count, dx / PX_PER_MM, dy / PX_PER_MM,
         strength, paper, contrast],
        axis=1,
    ).tolist()  # fmt: skip
    readings = []
    for k, i in enumerate(index.tolist()):
        st = str(state[k])
        flags: list[str] = []
        if not found[k]:
            flags.append(NO_OUTLINE)
        if faint_blank[k] and found[k]:
            flags.append(FAINT_PAGE)
        f = fields[i]
        row = values[k]
        score = min(max(row[0], 0.0), 1.0)
        readings.append(
            FieldReading(f.id, f.kind, st, score, dict(zip(names, row, strict=True)), tuple(flags))
        )
    return readings


@dataclass
class _Blocks:
    item: IntArray  # the field of each block
    ink: FloatArray  # its mean ink
    row: IntArray  # its row of blocks (numbered over all fields)
    middle: npt.NDArray[np.bool_]  # neither the first nor the last block of its row
    row_item: IntArray  # the field of each row of blocks


def _blocks(
    maps: _Maps,
    rect: tuple[IntArray, IntArray, IntArray, IntArray],
    contrast: FloatArray,
    s: MarkSettings,
) -> _Blocks:
    """Mean ink of blocks of about ``block_mm`` tiling each interior."""
    x0, y0, x1, y1 = rect
    w, h = x1 - x0, y1 - y0
    size = max(2, _px(s.block_mm))
    nx = np.maximum(1, np.rint(w / size).astype(np.int64))
    ny = np.maximum(1, np.rint(h / size).astype(np.int64))
    item, j = _ragged(nx * ny)
    bx, by = j % nx[item], j // nx[item]
    xa = x0[item] + bx * w[item] // nx[item]
    xb = x0[item] + (bx + 1) * w[item] // nx[item]
    ya = y0[item] + by * h[item] // ny[item]
    yb = y0[item] + (by + 1) * h[item] // ny[item]
    ink = _mean_ink(maps, (xa, ya, xb, yb), contrast[item])
    row_start = np.cumsum(ny) - ny
    middle = (bx > 0) & (bx < nx[item] - 1)
    row_item = np.repeat(np.arange(len(ny), dtype=np.int64), ny)
    return _Blocks(item, ink, row_start[item] + by, middle, row_item)


def _guided_blocks(
    maps: _Maps,
    rect: tuple[IntArray, IntArray, IntArray, IntArray],
    contrast: FloatArray,
    area: FloatArray,
    s: MarkSettings,
) -> tuple[IntArray, FloatArray, FloatArray]:
    """Blocks of areas that may carry guide lines, after removing ink that runs evenly along
    a band (guides, printed or photocopied dark): (field, ink) per block, and each field's
    remaining fill. Such areas are few and large, so each is one 2-D grid."""
    band = max(1, _px(s.guide_band_mm))
    seg = max(2, _px(s.guide_segment_mm))
    tile_px = max(seg, _px(s.guide_tile_mm))
    per_block = max(1, round(_px(s.block_mm) / band))
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

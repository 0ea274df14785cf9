"""The mark reader's model: :class:`MarkSettings` (every threshold, with
its unit), :class:`PageQuality` and :class:`FieldReading`, and page-pixel units."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from downtime.geometry import PX_PER_MM
from downtime.model import FieldBox
from downtime.vocab import MarkState

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

    # -- straight lines (a fold, a pen along a ruler, a scanner streak) ---------------------------
    line_min_length_mm: float = 8.0  # a thin straight run this long is a line, not a mark (a
    # filled 5 mm box overrunning 1 mm each side is 7 mm, and thick)
    line_max_width_mm: float = 3.0  # … if at most this thick (a crease 0.2-0.4 mm, a pen 0.5,
    # two or three of them side by side 1-2 mm; a stain or a banner is thicker)
    line_fringe_mm: float = 0.25  # and this much either side of one goes with it (its blurred
    # edges, and the step of a line slanted by under a degree)
    line_gap_mm: float = 1.2  # it counts only if it also runs outside the field, from this far
    # out (a tick overruns its box by up to ~1 mm) …
    line_beyond_mm: float = 1.5  # … for at least this long, on both sides …
    line_cover: float = 0.9  # … covering this share of the interior …
    line_cover_outside: float = 0.8  # … and this share of both stretches outside (where it
    # crosses a printed label, a line counts under the letters too)
    line_flag: float = 0.01  # an interior that lost this much ink to lines is flagged
    stain_window_mm: float = 4.0  # the paper's level is compared this far around a box …
    stain_step: float = 0.2  # … and a box where it changes by this much is in a stain's edge:
    # uncertain, flagged ``stained`` (measured on bench/scan.py's classes: genuine boxes at most
    # 0.08 on scans, 0.10 under phone photos' shading; boxes by the edge of a blot 0.13–0.58,
    # the one a blot made read marked 0.58)
    stain_step_binarised: float = 0.45  # the same on a black-and-white scan, where dense print
    # dims the paper map (genuine boxes up to 0.35) and a blot is solid black (~1)

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
    # filled in or scribbled out: "corrected" (see downtime.scan.marks). Fills and dense
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
    # The footer's grey wedge (geometry.TONE_WEDGE): its step at TONE_REFERENCE (28 % of solid
    # print) stays grey on a faithful scan. A copier, fax or black-and-white scanner that turns
    # it white (or black) may have erased light pencil too: such a page is read like a
    # binarised one. Outside this range (relative darkness) the tones count as lost …
    tone_patch_min: float = 0.10
    tone_patch_max: float = 0.70
    wedge_grey_steps: int = 4  # … and at least this many wedge steps grey, i.e. between
    wedge_grey_floor: float = 0.02  # this and wedge_dark (a faithful scan keeps 6-7 of the 8)
    wedge_dark: float = 0.6  # on a thresholded page a step this dark (relative) was kept …
    wedge_light: float = 0.25  # … and one this light was dropped
    lightest_mark: float = 0.20  # the lightest mark a person makes, relative to solid print
    # (light pencil measures 0.2-0.3 where it is drawn)
    thin_line_loss: float = 0.04  # a pencil line 0.3 mm wide loses about this much of its
    # darkness to the scanner's blur before the threshold, so a wedge step this much lighter
    # than the lightest mark must have been kept before empty boxes are trusted
    despeckle_noise: float = 6.0  # paper noise σ (grey levels) above which specks are removed
    trust_empty_on_binarised: bool = False  # a thresholded page can erase light pencil
    # without a trace, so by default its empty boxes and blank areas are "clearly empty" only
    # when its wedge shows that the lightest mark would have been kept (see trusts_empty);
    # otherwise they read "uncertain" (flag faint-page). Set to always read them empty/blank.


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
    binarised: bool  # (almost) only two grey levels, or the wedge's grey steps lost: fax-like
    low_contrast: bool  # contrast or noise such that faint pencil may sink under the margin
    tone_patch: float  # darkness of the wedge's reference step relative to solid print (≈ 0.28)
    tone_wedge: tuple[float, ...]  # darkness of every wedge step, relative to solid print
    faintest_kept: float  # the lightest darkness a mark needs to be on this scan: 0 on a
    # faithful one; on a thresholded one the lightest wedge step kept (1.0: unknown)
    shape: tuple[int, int]  # the page image's (height, width) in pixels
    cell_px: int  # pitch of the paper-level grid, pixels
    background_map: Image = field(repr=False, compare=False)  # paper level, one value per cell

    @property
    def faint_marks_may_vanish(self) -> bool:
        return self.binarised or self.low_contrast

    def wedge_vouches(self, s: MarkSettings) -> bool:
        """A thresholded page whose wedge kept a step lighter than the lightest mark by
        ``thin_line_loss``: every mark a person makes is on it."""
        return self.binarised and self.faintest_kept <= s.lightest_mark - s.thin_line_loss + 1e-9

    def trusts_empty(self, s: MarkSettings) -> bool:
        """Whether ink-free boxes and areas can be read clearly empty: on a faithful scan, on
        a thresholded one whose wedge vouches for it, or when the settings say so."""
        return not self.binarised or s.trust_empty_on_binarised or self.wedge_vouches(s)


@dataclass(frozen=True)
class FieldReading:
    field_id: str
    kind: str
    state: MarkState  # checkbox: marked | empty | uncertain; writing: written | blank | uncertain
    score: float  # 0..1, monotone in how much ink the interior holds
    metrics: Mapping[str, float]  # raw measurements behind the verdict
    flags: tuple[str, ...] = ()


def u8(image: object) -> Image:
    return np.asarray(image, dtype=np.uint8)


def px(mm: float) -> int:
    return round(mm * PX_PER_MM)


def reading(
    box: FieldBox, state: str, names: Sequence[str], row: Sequence[float], flags: list[str]
) -> FieldReading:
    """A reading whose score is its first measurement (the interior's ink), kept in 0..1."""
    score = min(max(row[0], 0.0), 1.0)
    metrics = dict(zip(names, row, strict=True))
    return FieldReading(box.id, box.kind, MarkState(state), score, metrics, tuple(flags))

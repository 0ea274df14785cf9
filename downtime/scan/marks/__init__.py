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
4. **Straight lines are not marks** (:mod:`downtime.scan.marks.lines`). A fold, a pen drawn
   along a ruler or a streak from a scanner's glass crosses a whole row or column of boxes and
   would make each look ticked. Thin, even, straight runs at least ``line_min_length_mm`` long
   are found once per page; one is taken out of a tick box only where it covers the interior
   from side to side *and* continues on paper beyond both opposite edges (from
   ``line_gap_mm``, further than a tick overruns), and out of a writing area wherever it runs
   (no handwriting is that straight and long). A box whose only ink was such a line reads
   ``empty``; a tick under a line keeps the rest of its ink and reads ``marked`` (at worst
   ``uncertain``). Either carries the flag ``line-through`` and the metric ``line``.
5. **Checkboxes.** ``fill`` (mean ink of the interior; this is the score), ``core`` (the middle,
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
6. **Writing areas.** The interior is tiled into blocks of about ``block_mm``. A block holding
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
On a **thresholded** page (a fax, a copier, a black-and-white document scanner) light pencil
either survives as black or vanishes without a trace, and a box with a vanished mark is pixel
for pixel an empty box. The footer's **grey wedge** (:data:`~downtime.geometry.TONE_WEDGE`,
eight steps from 4 % to 60 % of solid print) tells what the threshold kept: a faithful scan
keeps its steps grey; a thresholded one turns each white or black, and the lightest black step
is the lightest ink that can be on the page (``PageQuality.faintest_kept``). Where that is at
least ``thin_line_loss`` lighter than ``lightest_mark`` (light pencil, 20 %), every mark a
person makes survived, and ink-free boxes and areas read ``empty``/``blank`` as on any page.
Otherwise — the threshold may have dropped light pencil, or the wedge does not read as a
threshold leaves it (stained, torn, two grey steps) — nothing on the page is *clearly* empty:
boxes and areas without ink read ``uncertain`` with the flag ``faint-page``; any ink at all
still reads as usual (pen marks ``marked``/``written``). ``trust_empty_on_binarised`` reads
them empty/blank regardless (still flagged). On a **low-contrast or noisy** page faint marks may
sink under the noise margin: there the uncertain band is widened downwards — the empty/blank
thresholds are divided by ``faint_page_empty_divisor``, so a few specks make a box
``uncertain`` — and ``empty``/``blank`` readings carry ``faint-page``.

Flags
-----
``corrected`` (filled or scribbled box, see above; needs review), ``no-outline`` (printed outline
not found near its place: ``uncertain``; needs review), ``off-page`` (field not wholly inside the
image: ``uncertain``; needs review), ``overrun`` (ink crosses the box edge — information only:
a box is decided on its own interior, and a neighbour's stroke reaching into an empty box
raises its fill but not its core, so it reads ``uncertain`` at worst; ticks overrun their
box all the time, and printed text touching a box raises it too, so sending every overrun to
review would bury the boxes that need a person), ``stained`` (the paper's own level changes
by ``stain_step`` or more within ``stain_window_mm`` of the box: the edge of a blot, a stain or
a shadow runs by it, and its dark part inside the box would read as a tick: ``uncertain``;
needs review), ``line-through`` (a straight line crossed
the field and was not counted; information), ``faint-page`` (see above; information — the
page itself carries the reason).

Every threshold lives in :class:`MarkSettings`, with its unit and the measurements it was
chosen from; ``tests/test_marks.py`` draws the marks and degradations these were tuned on.
"""

from __future__ import annotations

from downtime.scan.marks.model import (
    PT_MM,
    FieldReading,
    FloatArray,
    Image,
    IntArray,
    MarkSettings,
    PageQuality,
)
from downtime.scan.marks.quality import page_quality, tone_wedge
from downtime.scan.marks.read import read_fields

__all__ = [
    "PT_MM",
    "FieldReading",
    "FloatArray",
    "Image",
    "IntArray",
    "MarkSettings",
    "PageQuality",
    "page_quality",
    "read_fields",
    "tone_wedge",
]

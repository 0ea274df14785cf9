"""Fill printed pages like a person and degrade them like the world: test and drill material.

Used by the tests, the scanning benchmark and downtime drills. Everything is deterministic for
a given seed: filling takes a :class:`random.Random`, degrading a :class:`numpy.random.Generator`
(or a :class:`random.Random`, from which a generator is derived); no global random state is
touched. Images are grayscale ``uint8`` arrays (rows × columns), 255 = white paper. A 200 dpi
page is filled and degraded in a few tens of milliseconds.

Filling
-------
:func:`fill_page` draws on one upright page image, field by field from the manifest entry of
the page (``fields``: ``id``, ``kind``, ``box_mm`` = left, top, width, height in mm from the
page's top-left corner):

* tick boxes (``checkbox``) are marked with probability ``mark_rate`` in one of
  :data:`MARK_STYLES` — ``tick`` (a pen ✓), ``cross`` (✗), ``fill`` (the box inked solid),
  ``scribble`` (several random strokes), ``pencil`` (a light grey tick or cross) — or, when
  asked for in ``styles``, ``corrected`` (see below). Marks are drawn like a hand: 50–110 % of
  the box, off-centre, slightly rotated, overrunning the box edge by at most about 1 mm;
* writing areas (``text``, ``signature``, ``datetime``, ``number``) are written with
  probability ``write_rate`` with handwriting-like strokes (:data:`WRITE_STYLES`: ``pen``
  blue-black, or ``pencil``), word-like clusters along one or more baselines, mostly inside
  the box.

The ground truth is kept clean: **no ink ever lands inside the box of another field** (a mark
that overruns its own box edge is clipped at every other field's box, so a field whose truth
is ``empty`` / ``blank`` is pixel-for-pixel as printed).

:class:`Truth` maps every field id to ``"marked"`` / ``"empty"`` (tick boxes) or
``"written"`` / ``"blank"`` (writing areas), and every marked or written field to its style.

**Corrected boxes.** Style ``corrected`` is a box that was inked solid and then struck through
with a cross that runs past the box corners (the way a wrong tick is "taken back" on paper).
Its truth is ``"marked"`` with style ``"corrected"``: a scanner must at least not call it
empty, and the reader is expected to flag it for a person to review. It is not among the
default styles; pass ``styles=ALL_MARK_STYLES`` (or any sequence containing it) to get it.

Degrading
---------
:func:`degrade` applies one of :data:`DEGRADATIONS` and returns a :class:`Degraded`; chain
them with :func:`then` (``then(degrade(img, 200, "skew", g), "jpeg", g)``).

* ``dpi_x`` / ``dpi_y`` are the resolution the image file would claim: pixels per inch of the
  sheet along the image's columns / rows (after ``rot90`` they swap). Content printed at a
  scale (``fit-97``, ``photocopy``) is at that scale on the sheet: the scale is in ``note``.
  For ``phone`` they are the form's approximate pixels per inch at the middle of the photo
  (a phone picture has no real resolution).
* ``rotation`` is the **clockwise** rotation in degrees (0, 90, 180 or 270) that a scanner must
  apply to the image to make the page upright again: ``upright(d) == np.rot90(d.image,
  -(d.rotation // 90))``. A page turned upside down needs 180; a page the degradation turned 90°
  clockwise needs 270; one turned 90° counter-clockwise needs 90. Small skews (under 45°) are
  not counted: they are in ``note``.
* ``note`` records what was done (angles, scales, offsets, corner moves) for debugging.

``forged``, ``stain-code``, ``stain-corner``, ``marks-gone``, ``codes-destroyed``,
``duplex-back`` and ``name-crossed`` work on the page as printed (upright, square pixels, at
the dpi given): apply them first in a chain.

The degradations (random parameters drawn uniformly from the ranges given):

``scan-200``, ``scan-300``
    a clean flatbed scan: resampled to 200 / 300 dpi, skew ±0.3°, paper 240–250, noise σ 1–2.5.
``skew``
    rotated 0.5–3° either way about the centre, white outside (same size).
``upside-down``, ``rot90``
    turned 180°; turned 90° clockwise or counter-clockwise (rows and columns swap).
``fit-97``
    "fit to page" printing: 97 % about the centre, white margin (same size).
``blur``, ``noise``, ``jpeg``, ``low-contrast``
    Gaussian σ 1–1.5 px at 200 dpi (scaled with the dpi); Gaussian noise σ 12–20 plus
    0.1–0.4 % salt and pepper; JPEG quality 25–40 (Pillow); ink 110–140 on paper 210–230.
``photocopy``
    scale 0.98–1.01 about the centre, shift up to ±2 mm each way, blur σ 0.7 px at 200 dpi,
    hard threshold at 150–175 to toner 15–40 on paper 238–250, toner specks (0.02–0.06 % of
    the pixels, 1–2 px, grey 0–120). Light pencil may vanish.
``fax``
    204 × 98 dpi (the image really is squashed vertically), binarised at 115–140 (light pencil
    vanishes, as it does on a fax), 0.03 % salt and pepper.
``phone``
    a photo at 150–200 dpi: each page corner moved by up to 8 % of the page size, a table
    margin of 1–6 % (grey 50–120) round the page, paper 200–230, one corner 30–50 % darker
    fading out plus a slight vignette, blur σ 0.6–1.1 px, noise σ 2–4, JPEG quality 65–75.
``stain-code``
    an opaque, mottled grey blot (95–140, darker rim) with an irregular outline, radii 0.6–0.75
    of the symbol size, over one of the two codes; the other code (with 3 mm round it), the
    registration marks and the printed serial (with 1.5 mm) are left alone.
``stain-corner``
    one code and the registration mark beside it (code 1 and the top-right mark, or code 2 and
    the bottom-left one) and 1.5–3 mm round them, with a ragged edge up to 2 mm further: an
    opaque, mottled grey stain (95–140, darker rim), or the corner torn away to the paper's
    edges, showing the scanner's white lid or a dark background (20–60). The other code (with
    3 mm round it), the other three marks and the printed serial (with 1.5 mm) are left alone.
``marks-gone``
    every registration mark with 2 mm round it whited out (cut margins, correction fluid, a
    label): the page can be placed only from its codes.
``codes-destroyed``
    both codes (found by reading them, else where a 57-module code is printed) and 1–4 mm
    round them torn away (white, or dark 20–60) or inked over (5–40), with jagged edges; the
    registration marks and the printed serial are left intact.
``forged``
    the page code is read (zxing-cpp), one byte of its body (not the version, key id, system
    code or lengths) is XORed with 1–255, and the re-encoded ``DK1:`` text is drawn as a new
    symbol over both codes: both read, but the signature fails (``bad-signature``).
``duplex-back``
    the blank back of a duplex scan: the front mirrored left-right and blurred, showing
    through at 215–235 on paper 240–248, noise σ 1.5. Its codes may read, mirrored.
``name-crossed``
    the printed name struck through by hand: one or two pen strokes (ink 0–60, 0.4–0.7 mm),
    slightly wavy, from 1–3 mm before the name to 1–4 mm past it, through its lower half; and
    another name written by hand (pen) above the printed one or right of the identifier.

Pasting codes takes two pages, so it is a function of its own, not a degradation:
:func:`paste_codes` (``code-pasted``) cuts one page's two codes out with 1–2 mm of paper round
them and pastes them over another page's (same size and dpi), up to 0.3 mm off, with a faint cut
edge: the sheet shows the other page's name, identifier and serial, and both codes name the
first page.
``bitonal-200``, ``bitonal-300``
    a document scanner set to black and white for pencil-filled forms: resampled to 200 / 300
    dpi, skew ±0.3°, paper 238–250, the optics' blur (σ 0.6 px at 200 dpi), noise σ 1.5, then
    black or white at a threshold that keeps ink from 6–18 % of the paper's darkness.
``bitonal-dark``
    the same at 200 dpi with a mid-grey threshold (keeps ink from 25–50 %): light pencil
    (20–40 %) is often dropped.

Lines
-----
:func:`lines_through_boxes` draws straight lines that are not marks through rows and columns of
a filled page's tick boxes (:data:`LINE_KINDS`: a fold's ``crease``, a pen along a ``ruler``, a
scanner ``streak``); apply it to the upright filled page, before degrading. The truth is
unchanged: a reader must not take such a line for a tick, nor for writing.
"""

from __future__ import annotations

from downtime.simulate.codes import TYPICAL_CODE_MODULES
from downtime.simulate.degrade import DEGRADATIONS, degrade, then
from downtime.simulate.degraded import Degradation, Degraded, Rng, upright
from downtime.simulate.draw import MM_PER_INCH, Image, Points
from downtime.simulate.fill import (
    Truth,
    fill_page,
    fill_pages,
    photocopy_filled_differently,
    render_page,
)
from downtime.simulate.hand import ALL_MARK_STYLES, CORRECTED, MARK_STYLES, WRITE_STYLES
from downtime.simulate.paper import LINE_KINDS, lines_through_boxes
from downtime.simulate.tamper import paste_codes

__all__ = [
    "ALL_MARK_STYLES",
    "CORRECTED",
    "DEGRADATIONS",
    "LINE_KINDS",
    "MARK_STYLES",
    "MM_PER_INCH",
    "TYPICAL_CODE_MODULES",
    "WRITE_STYLES",
    "Degradation",
    "Degraded",
    "Image",
    "Points",
    "Rng",
    "Truth",
    "degrade",
    "fill_page",
    "fill_pages",
    "lines_through_boxes",
    "paste_codes",
    "photocopy_filled_differently",
    "render_page",
    "then",
    "upright",
]

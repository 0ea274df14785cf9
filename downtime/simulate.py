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
them with :meth:`Degraded.then` (``degrade(img, 200, "skew", g).then("jpeg", g)``).

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

``forged``, ``stain-code``, ``codes-destroyed`` and ``duplex-back`` work on the page as printed
(upright, square pixels, at the dpi given): apply them first in a chain.

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
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage

from downtime import base45, codes, qr
from downtime.geometry import (
    FIDUCIALS_MM,
    QR_MODULE_MM,
    SERIAL_FOOTER_MM,
    Box,
    code_boxes_mm,
)

Image = npt.NDArray[np.uint8]
Points = npt.NDArray[np.float64]
Rng = np.random.Generator | random.Random

MM_PER_INCH = 25.4

MARK_STYLES: tuple[str, ...] = ("tick", "cross", "fill", "scribble", "pencil")
CORRECTED = "corrected"
ALL_MARK_STYLES: tuple[str, ...] = (*MARK_STYLES, CORRECTED)
WRITE_STYLES: tuple[str, ...] = ("pen", "pencil")
WRITING_KINDS = frozenset({"text", "signature", "datetime", "number"})

MARKED, EMPTY, WRITTEN, BLANK = "marked", "empty", "written", "blank"

TYPICAL_CODE_MODULES = 57  # QR version 10: a typical page code

_SHIFT = 4  # cv2 drawing: 4 fractional bits of sub-pixel precision
_ONE = 1 << _SHIFT


# --- rendering ----------------------------------------------------------------------------------


def render_page(pdf: Path, index: int, dpi: int) -> Image:
    """Page ``index`` (0-based) of ``pdf`` rendered by PDFium at ``dpi``, grayscale."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    try:
        return _render(document, index, dpi)
    finally:
        document.close()


def _render(document: Any, index: int, dpi: float) -> Image:
    page = document[index]
    try:
        array = np.asarray(page.render(scale=dpi / 72, grayscale=True).to_numpy())
    finally:
        page.close()
    if array.ndim == 3:
        array = array[:, :, 0]
    return np.ascontiguousarray(array, dtype=np.uint8)


# --- filling ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Truth:
    """What was put on a page: field id → ``marked | empty | written | blank``, and the style
    of every marked or written field (``tick``, ``cross``, …, ``pen``, ``pencil``)."""

    fields: dict[str, str] = field(default_factory=dict)
    styles: dict[str, str] = field(default_factory=dict)

    def inked(self) -> set[str]:
        """The ids of the fields that were marked or written."""
        return {fid for fid, state in self.fields.items() if state in (MARKED, WRITTEN)}


def fill_page(
    image: Image,
    page: Mapping[str, Any],
    dpi: float,
    rng: random.Random,
    *,
    mark_rate: float = 0.35,
    write_rate: float = 0.5,
    styles: Sequence[str] = MARK_STYLES,
    write_styles: Sequence[str] = WRITE_STYLES,
) -> tuple[Image, Truth]:
    """Fill ``image`` (the upright page of manifest entry ``page`` at ``dpi``) like a person.

    Returns a new image and its :class:`Truth`; ``image`` is not changed.
    """
    unknown = set(styles) - set(ALL_MARK_STYLES)
    if unknown or not styles:
        raise ValueError(f"mark styles must be among {ALL_MARK_STYLES}, got {sorted(unknown)}")
    if not write_styles or set(write_styles) - set(WRITE_STYLES):
        raise ValueError(f"write styles must be among {WRITE_STYLES}")
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError("fill_page takes a grayscale uint8 image (rows × columns)")
    ppm = dpi / MM_PER_INCH
    out = image.copy()
    fields: list[Mapping[str, Any]] = list(page.get("fields", []))
    guards = [_box_guard(_box(f), ppm, out.shape) for f in fields]
    states: dict[str, str] = {}
    used: dict[str, str] = {}
    for index, entry in enumerate(fields):
        fid, kind, box = str(entry["id"]), str(entry["kind"]), _box(entry)
        if kind == "checkbox":
            if rng.random() < mark_rate:
                style = rng.choice(list(styles))
                local = _Local(out, box, 1.0, ppm)
                _mark(local.canvas, local.target, style, rng)
                local.commit(out, guards, index)
                states[fid], used[fid] = MARKED, style
            else:
                states[fid] = EMPTY
        elif kind in WRITING_KINDS:
            if rng.random() < write_rate:
                style = rng.choice(list(write_styles))
                local = _Local(out, box, 0.6, ppm)
                _write(local.canvas, local.target, kind, style, rng)
                local.commit(out, guards, index)
                states[fid], used[fid] = WRITTEN, style
            else:
                states[fid] = BLANK
        else:
            raise ValueError(f"field {fid!r} has unknown kind {kind!r}")
    return out, Truth(states, used)


def fill_pages(
    pdf: Path,
    manifest: Mapping[str, Any],
    dpi: int,
    seed: int,
    *,
    mark_rate: float = 0.35,
    write_rate: float = 0.5,
    styles: Sequence[str] = MARK_STYLES,
    write_styles: Sequence[str] = WRITE_STYLES,
) -> Iterator[tuple[dict[str, Any], Image, Truth]]:
    """Every page of a printed pack, rendered at ``dpi`` and filled: (manifest entry, image,
    truth). Page ``pdf_page`` is filled with ``random.Random(f"{seed}:{pdf_page}")``, so a page
    comes out the same whether or not the pages before it were filled."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    try:
        for entry in manifest["pages"]:
            number = int(entry["pdf_page"])
            image = _render(document, number - 1, dpi)
            filled, truth = fill_page(
                image,
                entry,
                dpi,
                random.Random(f"{seed}:{number}"),
                mark_rate=mark_rate,
                write_rate=write_rate,
                styles=styles,
                write_styles=write_styles,
            )
            yield dict(entry), filled, truth
    finally:
        document.close()


def photocopy_filled_differently(
    image: Image,
    page: Mapping[str, Any],
    dpi: float,
    seed: int,
    **options: Any,
) -> tuple[tuple[Image, Truth], tuple[Image, Truth]]:
    """One page photocopied and filled in twice: two fills of the same clean ``image``.

    Both sheets carry the same page codes and serial (that is the case to catch: one issued
    page, two different sheets returned). The fills use ``random.Random(f"{seed}:copy-a")`` and
    ``…:copy-b`` (then ``copy-b2``, ``copy-b3``, … while the truth comes out identical, up to
    50 tries, so the two truths differ whenever the page has a field and the rates allow it).
    ``options`` go to :func:`fill_page`. Degrade either image with ``photocopy`` if the copy
    should look copied (strictly the copier degrades the print and not the later handwriting;
    for a scanner that difference does not matter).
    """
    first = fill_page(image, page, dpi, random.Random(f"{seed}:copy-a"), **options)
    second = first
    for attempt in range(50):
        tag = "b" if attempt == 0 else f"b{attempt + 1}"
        second = fill_page(image, page, dpi, random.Random(f"{seed}:copy-{tag}"), **options)
        if second[1] != first[1]:
            break
    return first, second


def _box(entry: Mapping[str, Any]) -> Box:
    x, y, w, h = (float(v) for v in entry["box_mm"])
    return x, y, w, h


def _box_guard(box: Box, ppm: float, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """A field's box in whole pixels, one pixel wider all round (what other ink must avoid)."""
    x, y, w, h = box
    return (
        max(0, math.floor(x * ppm) - 1),
        max(0, math.floor(y * ppm) - 1),
        min(shape[1], math.ceil((x + w) * ppm) + 1),
        min(shape[0], math.ceil((y + h) * ppm) + 1),
    )


@dataclass(frozen=True)
class _Target:
    """Where a field is on a local canvas: the box in canvas pixels and the pixel scale."""

    left: float
    top: float
    width: float
    height: float
    ppm: float

    @property
    def centre(self) -> tuple[float, float]:
        return self.left + self.width / 2, self.top + self.height / 2


class _Local:
    """A white canvas around one field's box (``margin_mm`` wider), for its ink alone."""

    def __init__(self, page: Image, box: Box, margin_mm: float, ppm: float) -> None:
        x, y, w, h = box
        self.x0 = max(0, math.floor((x - margin_mm) * ppm))
        self.y0 = max(0, math.floor((y - margin_mm) * ppm))
        self.x1 = max(self.x0, min(page.shape[1], math.ceil((x + w + margin_mm) * ppm)))
        self.y1 = max(self.y0, min(page.shape[0], math.ceil((y + h + margin_mm) * ppm)))
        self.canvas: Image = np.full((self.y1 - self.y0, self.x1 - self.x0), 255, np.uint8)
        self.target = _Target(x * ppm - self.x0, y * ppm - self.y0, w * ppm, h * ppm, ppm)

    def commit(self, page: Image, guards: Sequence[tuple[int, int, int, int]], own: int) -> None:
        """Keep the ink out of every other field's box, then darken ``page`` with it."""
        x0, y0, x1, y1 = self.x0, self.y0, self.x1, self.y1
        for index, (gx0, gy0, gx1, gy1) in enumerate(guards):
            if index == own or gx1 <= x0 or gx0 >= x1 or gy1 <= y0 or gy0 >= y1:
                continue
            self.canvas[
                max(gy0, y0) - y0 : min(gy1, y1) - y0, max(gx0, x0) - x0 : min(gx1, x1) - x0
            ] = 255
        region = page[y0:y1, x0:x1]
        np.minimum(region, self.canvas, out=region)


def _stroke(canvas: Image, points: Points, ink: int, width: int, closed: bool = False) -> None:
    pts = np.round(points * _ONE).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(canvas, [pts], closed, ink, max(1, width), cv2.LINE_AA, _SHIFT)


def _curve(a: tuple[float, float], b: tuple[float, float], bend: float, n: int = 10) -> Points:
    """A quadratic Bézier from ``a`` to ``b`` bowed sideways by ``bend`` × its length."""
    ax, ay = a
    bx, by = b
    mx, my = (ax + bx) / 2 - (by - ay) * bend, (ay + by) / 2 + (bx - ax) * bend
    t = np.linspace(0.0, 1.0, n)[:, None]
    return np.asarray(
        (1 - t) ** 2 * np.array([ax, ay]) + 2 * (1 - t) * t * np.array([mx, my]) + t**2 * [bx, by],
        dtype=np.float64,
    )


def _smooth(points: Points, steps: int = 5) -> Points:
    """A Catmull-Rom spline through ``points`` (n × 2), ``steps`` samples per segment."""
    if len(points) < 3:
        return points
    ext = np.vstack([points[0], points, points[-1]])
    p0, p1, p2, p3 = (ext[i : len(ext) - 3 + i][:, None, :] for i in range(4))
    t = np.linspace(0.0, 1.0, steps, endpoint=False)[None, :, None]
    curve = 0.5 * (
        2 * p1
        + (p2 - p0) * t
        + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
        + (3 * p1 - p0 - 3 * p2 + p3) * t**3
    )
    return np.vstack([curve.reshape(-1, 2), points[-1:]])


# ---- tick boxes


def _hand(
    target: _Target, rng: random.Random, size: float, shift: float = 0.12, turn: float = 12.0
) -> Callable[[Points], Points]:
    """Box units (-0.5..0.5 across the box) → canvas pixels, scaled by ``size``, rotated and
    moved off-centre like a hand (one placement, shared by every stroke of a mark)."""
    angle = math.radians(rng.uniform(-turn, turn))
    cos, sin = math.cos(angle), math.sin(angle)
    dx, dy = rng.uniform(-shift, shift), rng.uniform(-shift, shift)
    cx, cy = target.centre

    def place(uv: Points) -> Points:
        u, v = uv[:, 0] * size, uv[:, 1] * size
        x = (u * cos - v * sin + dx) * target.width + cx
        y = (u * sin + v * cos + dy) * target.height + cy
        return np.column_stack([x, y])

    return place


def _mark(canvas: Image, target: _Target, style: str, rng: random.Random) -> None:
    ppm = target.ppm
    pen = rng.randint(0, 60)
    pen_width = round(rng.uniform(0.4, 0.7) * ppm)

    def jitter(x: float, y: float, amount: float = 0.05) -> tuple[float, float]:
        return x + rng.uniform(-amount, amount), y + rng.uniform(-amount, amount)

    def tick() -> list[Points]:
        start, bottom, end = jitter(-0.38, 0.0), jitter(-0.08, 0.36), jitter(0.42, -0.46)
        first = _curve(start, bottom, rng.uniform(-0.1, 0.1), 6)
        second = _curve(bottom, end, rng.uniform(-0.12, 0.08), 10)
        return [np.vstack([first, second[1:]])]

    def cross() -> list[Points]:
        return [
            _curve(jitter(-0.42, -0.42, 0.07), jitter(0.42, 0.42, 0.07), rng.uniform(-0.08, 0.08)),
            _curve(jitter(0.42, -0.42, 0.07), jitter(-0.42, 0.42, 0.07), rng.uniform(-0.08, 0.08)),
        ]

    def scribble() -> list[Points]:
        return [
            _smooth(np.array([jitter(0.0, 0.0, 0.45) for _ in range(4)]), 6)
            for _ in range(rng.randint(3, 6))
        ]

    def solid() -> None:
        place = _hand(target, rng, rng.uniform(0.85, 1.05), shift=0.06, turn=4.0)
        shape = place(np.array([jitter(sx * 0.5, sy * 0.5, 0.06) for sx, sy in _CORNERS]))
        pts = np.round(shape * _ONE).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(canvas, [pts], pen, cv2.LINE_AA, _SHIFT)
        _stroke(canvas, shape, pen, pen_width, closed=True)

    def draw(strokes: list[Points], ink: int, width: int) -> None:
        place = _hand(target, rng, rng.uniform(0.5, 1.1))
        for stroke in strokes:
            _stroke(canvas, place(stroke), ink, width)

    if style == "tick":
        draw(tick(), pen, pen_width)
    elif style == "cross":
        draw(cross(), pen, pen_width)
    elif style == "fill":
        solid()
    elif style == "scribble":
        draw(scribble(), pen, pen_width)
    elif style == "pencil":
        grey, thin = rng.randint(150, 200), round(rng.uniform(0.25, 0.35) * ppm)
        draw(tick() if rng.random() < 0.5 else cross(), grey, thin)
    elif style == CORRECTED:
        solid()
        # Struck through past the box corners: 0.4–0.8 mm beyond each corner.
        over_x = 0.5 + rng.uniform(0.4, 0.8) * ppm / target.width
        over_y = 0.5 + rng.uniform(0.4, 0.8) * ppm / target.height
        place = _hand(target, rng, 1.0, shift=0.02, turn=2.0)
        for sx in (-1, 1):
            line = _curve((sx * over_x, -over_y), (-sx * over_x, over_y), rng.uniform(-0.03, 0.03))
            _stroke(canvas, place(line), pen, pen_width)
    else:  # pragma: no cover - styles are checked by fill_page
        raise ValueError(f"unknown mark style {style!r}")


_CORNERS = ((-1, -1), (1, -1), (1, 1), (-1, 1))


# ---- writing areas


def _write(canvas: Image, target: _Target, kind: str, style: str, rng: random.Random) -> None:
    """Handwriting-like clusters in the box. Coordinates are mm from the canvas origin."""
    ppm = target.ppm
    if style == "pencil":
        ink, width = rng.randint(150, 200), round(rng.uniform(0.25, 0.35) * ppm)
    else:
        ink, width = rng.randint(0, 80), round(rng.uniform(0.25, 0.45) * ppm)
    left, top = target.left / ppm, target.top / ppm
    width_mm, height_mm = target.width / ppm, target.height / ppm
    right = left + width_mm
    slant = math.tan(math.radians(rng.uniform(-5.0, 20.0)))

    def pen(points: Points) -> None:
        _stroke(canvas, points * ppm, ink, width)

    def word(x: float, baseline: float, xh: float, letters: int, stretch: float = 1.0) -> float:
        """One word-like cluster starting at ``x``; returns where it ends."""
        pts = [(x, baseline - xh * rng.uniform(0.0, 0.3))]
        drift = rng.uniform(-0.04, 0.04) * xh
        for i in range(letters):
            lw = xh * rng.uniform(0.7, 1.2) * stretch
            b = baseline + drift * i
            r = rng.random()
            high = rng.uniform(1.7, 2.1) if r < 0.15 else rng.uniform(0.8, 1.1)
            low = rng.uniform(0.5, 0.8) if 0.15 <= r < 0.23 else rng.uniform(-0.1, 0.05)
            pts.append((x + lw * rng.uniform(0.25, 0.45), b - xh * high))
            pts.append((x + lw * rng.uniform(0.6, 0.85), b + xh * low))
            x += lw
        path = _smooth(np.array(pts), 5)
        path[:, 0] += (baseline - path[:, 1]) * slant
        pen(path)
        if rng.random() < 0.25:  # an i-dot or a t-bar
            dx = rng.uniform(pts[0][0], x)
            pen(np.array([(dx, baseline - 1.5 * xh), (dx + xh * 0.3, baseline - 1.55 * xh)]))
        return x

    if kind == "signature":
        xh = min(rng.uniform(2.0, 3.5), 0.32 * height_mm)
        baseline = top + height_mm * 0.5 + xh * rng.uniform(0.3, 0.6)
        letters = max(2, min(rng.randint(4, 10), int((width_mm - 2.5) / (xh * 1.2 * 1.3))))
        start = left + rng.uniform(0.5, 1.5)
        end = word(start, baseline, xh, letters, stretch=1.3)
        if rng.random() < 0.5 and end > start + 3:  # an underline flourish
            pen(
                _curve(
                    (start + rng.uniform(0.0, 1.0), baseline + xh * 0.3),
                    (min(end, right - 0.5), baseline + xh * rng.uniform(0.0, 0.4)),
                    rng.uniform(-0.08, 0.08),
                )
            )
        return
    xh = min(rng.uniform(1.3, 2.2), 0.28 * height_mm)
    pitch = xh * rng.uniform(2.7, 3.3)
    slots = max(1, int(height_mm // pitch))
    lines = rng.randint(1, slots)
    # (fewest, most) clusters per line and (fewest, most) letters per cluster
    clusters, letters_range = {
        "datetime": ((1, 3), (2, 5)),
        "number": ((1, 2), (1, 4)),
    }.get(kind, ((1, 1000), (2, 8)))
    for line in range(lines):
        if slots == 1:
            baseline = top + height_mm / 2 + xh * rng.uniform(0.35, 0.65)
        else:
            baseline = top + pitch * (line + 0.5) + xh * rng.uniform(0.4, 0.6)
        x = left + rng.uniform(0.5, 2.0)
        share = rng.uniform(0.2, 0.9) if line == lines - 1 else rng.uniform(0.6, 0.97)
        stop = left + width_mm * share
        most = rng.randint(*clusters)
        for count in range(most):
            letters = rng.randint(*letters_range)
            room = int((right - 1.0 - x) / (xh * 1.2))
            if count and (x > stop or letters > room):
                break
            letters = min(letters, room)
            if letters < 1:
                break
            x = word(x, baseline, xh, letters) + xh * rng.uniform(0.8, 1.6)


# --- degrading ----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Degraded:
    """A degraded page image; see the module docstring for ``dpi_x``, ``dpi_y`` and
    ``rotation`` (the clockwise turn that makes the page upright again)."""

    image: Image
    dpi_x: float
    dpi_y: float
    rotation: int
    note: str

    def then(self, kind: str, rng: Rng) -> Degraded:
        """Degrade this result further; rotations add up and notes are joined."""
        more = degrade(self.image, (self.dpi_x, self.dpi_y), kind, rng)
        return Degraded(
            more.image,
            more.dpi_x,
            more.dpi_y,
            (self.rotation + more.rotation) % 360,
            f"{self.note}; {more.note}",
        )


def upright(degraded: Degraded) -> Image:
    """The degraded image turned by its ``rotation`` (clockwise), so the page is upright."""
    return np.ascontiguousarray(np.rot90(degraded.image, -(degraded.rotation // 90)))


def degrade(image: Image, dpi: float | tuple[float, float], kind: str, rng: Rng) -> Degraded:
    """Apply degradation ``kind`` (one of :data:`DEGRADATIONS`) to ``image`` at ``dpi``
    (one number, or ``(dpi_x, dpi_y)`` for non-square pixels)."""
    function = _DEGRADATIONS.get(kind)
    if function is None:
        raise ValueError(f"unknown degradation {kind!r}; known: {', '.join(DEGRADATIONS)}")
    dpi_x, dpi_y = (float(dpi), float(dpi)) if isinstance(dpi, int | float) else map(float, dpi)
    generator = (
        rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng.getrandbits(64))
    )
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError("degrade takes a grayscale uint8 image (rows × columns)")
    return function(np.ascontiguousarray(image), dpi_x, dpi_y, generator)


Degradation = Callable[[Image, float, float, np.random.Generator], Degraded]


# ---- helpers


def _u8(array: Any) -> Image:
    return np.ascontiguousarray(array, dtype=np.uint8)


def _resample(image: Image, fx: float, fy: float) -> Image:
    width = max(1, round(image.shape[1] * fx))
    height = max(1, round(image.shape[0] * fy))
    shrink = width * height < image.shape[0] * image.shape[1]
    method = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    return _u8(cv2.resize(image, (width, height), interpolation=method))


def _affine(image: Image, matrix: npt.NDArray[np.float64], fill: int) -> Image:
    return _u8(
        cv2.warpAffine(
            image,
            matrix,
            (image.shape[1], image.shape[0]),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=fill,
        )
    )


def _rotate_small(image: Image, degrees: float, fill: int = 255) -> Image:
    """Rotated about its centre by ``degrees`` counter-clockwise (same size, ``fill`` outside)."""
    centre = ((image.shape[1] - 1) / 2, (image.shape[0] - 1) / 2)
    matrix = np.asarray(cv2.getRotationMatrix2D(centre, degrees, 1.0), dtype=np.float64)
    return _affine(image, matrix, fill)


def _tone(image: Image, black: float, white: float) -> Image:
    """Ink 0 → ``black``, paper 255 → ``white``, linearly."""
    return _u8(cv2.convertScaleAbs(image, alpha=(white - black) / 255.0, beta=black))


# A 256-level standard normal: its quantiles at (i + 0.5) / 256. Indexing it with uniform random
# bytes gives Gaussian noise (tails cut at ±2.9 σ) in a few milliseconds a page, where
# Generator.standard_normal takes about 30 ms for 4 megapixels.
_NORMAL = np.array([NormalDist().inv_cdf((i + 0.5) / 256) for i in range(256)])


def _noise(image: Image, sigma: float, g: np.random.Generator) -> Image:
    """``image`` plus Gaussian noise of ``sigma`` grey levels (saturating)."""
    if sigma <= 0:
        return image
    levels = _NORMAL * sigma
    up = np.clip(np.round(levels), 0, 255).astype(np.uint8)
    down = np.clip(np.round(-levels), 0, 255).astype(np.uint8)
    index = g.integers(0, 256, image.shape, dtype=np.uint8)
    out = cv2.add(image, cv2.LUT(index, up))
    return _u8(cv2.subtract(out, cv2.LUT(index, down)))


def _salt_pepper(image: Image, fraction: float, g: np.random.Generator) -> Image:
    out = image.copy()
    flat = out.reshape(-1)
    count = int(flat.size * fraction)
    where = g.integers(0, flat.size, count)
    flat[where] = np.where(g.random(count) < 0.5, 0, 255).astype(np.uint8)
    return out


def _blur(image: Image, sigma_x: float, sigma_y: float | None = None) -> Image:
    sigma_y = sigma_x if sigma_y is None else sigma_y
    return _u8(cv2.GaussianBlur(image, (0, 0), sigmaX=sigma_x, sigmaY=sigma_y))


def _jpeg(image: Image, quality: int) -> Image:
    buffer = io.BytesIO()
    PILImage.fromarray(image, mode="L").save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with PILImage.open(buffer) as decoded:
        return _u8(np.asarray(decoded.convert("L")))


def _mm_box_px(box: Box, ppm: float, margin_mm: float = 0.0) -> tuple[int, int, int, int]:
    x, y, w, h = box
    return (
        math.floor((x - margin_mm) * ppm),
        math.floor((y - margin_mm) * ppm),
        math.ceil((x + w + margin_mm) * ppm),
        math.ceil((y + h + margin_mm) * ppm),
    )


def _protect(mask: npt.NDArray[np.bool_], boxes: Sequence[Box], ppm: float, margin: float) -> None:
    """Clear ``mask`` over ``boxes`` (mm) widened by ``margin`` mm."""
    for box in boxes:
        x0, y0, x1, y1 = _mm_box_px(box, ppm, margin)
        mask[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = False


def _blob(
    shape: tuple[int, int],
    centre: tuple[float, float],
    radii: tuple[float, float],
    angle: float,
    roughness: float,
    g: np.random.Generator,
) -> npt.NDArray[np.bool_]:
    """An irregular filled ellipse (radii in px, ``angle`` in radians) as a boolean mask."""
    theta = np.linspace(0.0, 2 * math.pi, 72, endpoint=False)
    wobble = np.ones_like(theta)
    for harmonic in (2, 3, 5, 7):
        wobble += roughness * g.uniform(-1, 1) * np.sin(harmonic * theta + g.uniform(0, 6.3))
    x = radii[0] * np.cos(theta) * wobble
    y = radii[1] * np.sin(theta) * wobble
    px = centre[0] + x * math.cos(angle) - y * math.sin(angle)
    py = centre[1] + x * math.sin(angle) + y * math.cos(angle)
    mask = np.zeros(shape, np.uint8)
    pts = np.round(np.column_stack([px, py]) * _ONE).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(mask, [pts], 1, cv2.LINE_8, _SHIFT)
    return mask.astype(bool)


def _fmt(value: float) -> str:
    return f"{value:.3g}"


# ---- page codes


def _read_codes(image: Image, ppm: float) -> list[tuple[str, tuple[int, int, int, int]] | None]:
    """For code 1 and code 2 of an upright page: its text and pixel box (left, top, right,
    bottom) as read by zxing-cpp in the corner where it is printed, or None where none reads."""
    import zxingcpp

    # Search the area a code of up to 77 modules (QR version 15) would cover, plus 3 mm.
    widest = code_boxes_mm(77)
    found: list[tuple[str, tuple[int, int, int, int]] | None] = []
    for box in widest:
        x0, y0, x1, y1 = _mm_box_px(box, ppm, 3.0)
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(image.shape[1], x1), min(image.shape[0], y1)
        results = zxingcpp.read_barcodes(
            image[y0:y1, x0:x1], formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
        )
        if not results:
            found.append(None)
            continue
        position = results[0].position
        corners = [
            position.top_left,
            position.top_right,
            position.bottom_right,
            position.bottom_left,
        ]
        xs = [p.x + x0 for p in corners]
        ys = [p.y + y0 for p in corners]
        found.append((str(results[0].text), (min(xs), min(ys), max(xs) + 1, max(ys) + 1)))
    return found


def _code_boxes_px(image: Image, ppm: float) -> list[tuple[int, int, int, int]]:
    """Where the two codes are: as read, or else where a typical code is printed."""
    typical = code_boxes_mm(TYPICAL_CODE_MODULES)
    boxes = []
    for read, box in zip(_read_codes(image, ppm), typical, strict=True):
        boxes.append(read[1] if read is not None else _mm_box_px(box, ppm))
    return boxes


# ---- the degradations


def _scan(target: int) -> Degradation:
    def scan(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
        out = _resample(image, target / dpi_x, target / dpi_y)
        angle = float(g.uniform(-0.3, 0.3))
        out = _rotate_small(out, angle)
        paper = float(g.uniform(240, 250))
        sigma = float(g.uniform(1.0, 2.5))
        out = _noise(_tone(out, 0, paper), sigma, g)
        note = (
            f"scan-{target}: resampled {_fmt(dpi_x)}×{_fmt(dpi_y)} → {target} dpi, "
            f"skew {angle:+.2f}° (ccw), paper {paper:.0f}, noise σ {sigma:.1f}"
        )
        return Degraded(out, target, target, 0, note)

    return scan


def _skew(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    angle = float(g.uniform(0.5, 3.0) * g.choice([-1, 1]))
    out = _rotate_small(image, angle)
    return Degraded(out, dpi_x, dpi_y, 0, f"skew: {angle:+.2f}° (ccw) about the centre")


def _upside_down(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    return Degraded(_u8(np.rot90(image, 2)), dpi_x, dpi_y, 180, "upside-down: turned 180°")


def _rot90(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    if g.random() < 0.5:
        out = _u8(np.rot90(image, -1))
        return Degraded(out, dpi_y, dpi_x, 270, "rot90: turned 90° clockwise")
    out = _u8(np.rot90(image, 1))
    return Degraded(out, dpi_y, dpi_x, 90, "rot90: turned 90° counter-clockwise")


def _fit97(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    scale = 0.97
    cx, cy = (image.shape[1] - 1) / 2, (image.shape[0] - 1) / 2
    matrix = np.array([[scale, 0, (1 - scale) * cx], [0, scale, (1 - scale) * cy]])
    out = _affine(image, matrix, 255)
    return Degraded(out, dpi_x, dpi_y, 0, "fit-97: printed at 97 % about the centre")


def _blurred(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    sigma = float(g.uniform(1.0, 1.5))
    out = _blur(image, sigma * dpi_x / 200, sigma * dpi_y / 200)
    return Degraded(out, dpi_x, dpi_y, 0, f"blur: Gaussian σ {sigma:.2f} px at 200 dpi")


def _noisy(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    sigma = float(g.uniform(12, 20))
    fraction = float(g.uniform(0.001, 0.004))
    out = _salt_pepper(_noise(image, sigma, g), fraction, g)
    note = f"noise: Gaussian σ {sigma:.1f}, salt and pepper {fraction:.2%}"
    return Degraded(out, dpi_x, dpi_y, 0, note)


def _jpeg_low(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    quality = int(g.integers(25, 41))
    return Degraded(_jpeg(image, quality), dpi_x, dpi_y, 0, f"jpeg: quality {quality}")


def _low_contrast(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    ink, paper = float(g.uniform(110, 140)), float(g.uniform(210, 230))
    out = _tone(image, ink, paper)
    return Degraded(out, dpi_x, dpi_y, 0, f"low-contrast: ink {ink:.0f}, paper {paper:.0f}")


def _photocopy(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    scale = float(g.uniform(0.98, 1.01))
    shift_x, shift_y = (float(v) for v in g.uniform(-2.0, 2.0, 2))  # mm
    cx, cy = (image.shape[1] - 1) / 2, (image.shape[0] - 1) / 2
    matrix = np.array(
        [
            [scale, 0, (1 - scale) * cx + shift_x * dpi_x / MM_PER_INCH],
            [0, scale, (1 - scale) * cy + shift_y * dpi_y / MM_PER_INCH],
        ]
    )
    out = _affine(image, matrix, 255)
    out = _blur(out, 0.7 * dpi_x / 200, 0.7 * dpi_y / 200)
    threshold = float(g.uniform(150, 175))
    toner, paper = int(g.integers(15, 40)), int(g.integers(238, 250))
    out = np.where(out < threshold, np.uint8(toner), np.uint8(paper)).astype(np.uint8)
    # Toner specks: single pixels and 2 × 2 dots, dark grey to black.
    count = int(out.size * float(g.uniform(0.0002, 0.0006)))
    ys = g.integers(0, out.shape[0] - 1, count)
    xs = g.integers(0, out.shape[1] - 1, count)
    values = g.integers(0, 120, count).astype(np.uint8)
    out[ys, xs] = values
    big = g.random(count) < 0.3
    out[ys[big] + 1, xs[big]] = values[big]
    out[ys[big], xs[big] + 1] = values[big]
    out[ys[big] + 1, xs[big] + 1] = values[big]
    note = (
        f"photocopy: scale {scale:.3f} about the centre, shift {shift_x:+.1f} mm x "
        f"{shift_y:+.1f} mm y, threshold {threshold:.0f}, {count} specks"
    )
    return Degraded(out, dpi_x, dpi_y, 0, note)


def _fax(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    out = _resample(image, 204 / dpi_x, 98 / dpi_y)
    threshold = float(g.uniform(115, 140))
    out = np.where(out < threshold, np.uint8(0), np.uint8(255)).astype(np.uint8)
    out = _salt_pepper(out, 0.0003, g)
    note = f"fax: 204 × 98 dpi (squashed vertically), threshold {threshold:.0f}"
    return Degraded(out, 204.0, 98.0, 0, note)


def _phone(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    dpi = float(g.uniform(150, 200))
    paper = float(g.uniform(200, 230))
    page = _tone(_resample(image, dpi / dpi_x, dpi / dpi_y), 0, paper)
    page_h, page_w = page.shape
    # The page's corners, each moved by up to 8 % of the page size, then a table margin.
    corners = np.array([(0, 0), (page_w, 0), (page_w, page_h), (0, page_h)], dtype=np.float64)
    moves = g.uniform(-0.08, 0.08, (4, 2)) * [page_w, page_h]
    placed = corners + moves
    margin = g.uniform(0.01, 0.06, 4) * [page_w, page_h, page_w, page_h]
    placed -= placed.min(axis=0) - margin[:2]
    frame_w = math.ceil(placed[:, 0].max() + margin[2])
    frame_h = math.ceil(placed[:, 1].max() + margin[3])
    source = corners.astype(np.float32)
    homography = cv2.getPerspectiveTransform(source, placed.astype(np.float32))
    table = float(g.uniform(50, 120))
    out = cv2.warpPerspective(
        page,
        homography,
        (frame_w, frame_h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=table,
    )
    # Uneven light: one corner 30-50 % darker, fading out, and a soft vignette.
    dark = float(g.uniform(0.3, 0.5))
    corner = int(g.integers(0, 4))
    grid = np.linspace(0.0, 1.0, 48)
    gx, gy = np.meshgrid(grid, grid)
    if corner in (1, 2):
        gx = 1 - gx
    if corner in (2, 3):
        gy = 1 - gy
    distance = np.sqrt(gx**2 + gy**2) / math.sqrt(2)
    gain = 1 - dark * np.clip(1 - distance / 0.9, 0, 1) ** 1.5
    gain *= 1 - 0.12 * (((gx - 0.5) ** 2 + (gy - 0.5) ** 2) * 2)
    light = cv2.resize(gain.astype(np.float32), (frame_w, frame_h), interpolation=cv2.INTER_LINEAR)
    out = _u8(cv2.multiply(out.astype(np.float32), light, dtype=cv2.CV_8U))
    sigma = float(g.uniform(0.6, 1.1))
    out = _blur(out, sigma)
    out = _noise(out, float(g.uniform(2.0, 4.0)), g)
    quality = int(g.integers(65, 76))
    out = _jpeg(out, quality)
    where = ", ".join(f"({x:.0f}, {y:.0f})" for x, y in placed)
    note = (
        f"phone: ~{dpi:.0f} dpi, page corners at {where} px in a {frame_w} × {frame_h} frame "
        f"(moved {', '.join(f'({x:+.0f}, {y:+.0f})' for x, y in moves)} px), paper "
        f"{paper:.0f}, table {table:.0f}, corner {corner} {dark:.0%} darker, blur σ "
        f"{sigma:.2f}, jpeg quality {quality}"
    )
    return Degraded(out, dpi, dpi, 0, note)


def _page_ppm(image: Image, dpi_x: float, dpi_y: float, kind: str) -> float:
    if abs(dpi_x - dpi_y) > 0.01:
        raise ValueError(f"{kind} takes the page as printed (square pixels): apply it first")
    return dpi_x / MM_PER_INCH


def _frame_boxes() -> list[Box]:
    """What a blot or a tear must leave alone: the registration marks and the printed serial."""
    return [*FIDUCIALS_MM.values(), SERIAL_FOOTER_MM]


def _stain_code(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    ppm = _page_ppm(image, dpi_x, dpi_y, "stain-code")
    boxes = _code_boxes_px(image, ppm)
    which = int(g.integers(0, 2))
    x0, y0, x1, y1 = boxes[which]
    size = max(x1 - x0, y1 - y0)
    centre = (
        (x0 + x1) / 2 + g.uniform(-0.08, 0.08) * size,
        (y0 + y1) / 2 + g.uniform(-0.08, 0.08) * size,
    )
    radii = (float(g.uniform(0.6, 0.75) * size), float(g.uniform(0.6, 0.75) * size))
    mask = _blob(image.shape[:2], centre, radii, float(g.uniform(0, math.pi)), 0.06, g)
    _protect(mask, _frame_boxes(), ppm, 1.5)
    ox0, oy0, ox1, oy1 = boxes[1 - which]
    margin = round(3 * ppm)
    mask[max(0, oy0 - margin) : oy1 + margin, max(0, ox0 - margin) : ox1 + margin] = False
    # Grey-brown and opaque, mottled, with a darker rim where the liquid dried.
    base = float(g.uniform(95, 140))
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8), iterations=2).astype(bool)
    out = image.copy()
    ys, xs = np.nonzero(mask)
    mottle = g.normal(0.0, 6.0, ys.size)
    rim = np.where(inner[ys, xs], 0.0, -25.0)
    out[ys, xs] = np.clip(base + mottle + rim, 0, 255).astype(np.uint8)
    note = (
        f"stain-code: an opaque blot (grey {base:.0f}) over code {which + 1}, centre "
        f"({centre[0]:.0f}, {centre[1]:.0f}) px, radii {radii[0]:.0f} × {radii[1]:.0f} px"
    )
    return Degraded(out, dpi_x, dpi_y, 0, note)


def _codes_destroyed(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    ppm = _page_ppm(image, dpi_x, dpi_y, "codes-destroyed")
    out = image.copy()
    done = []
    for number, (x0, y0, x1, y1) in enumerate(_code_boxes_px(image, ppm), start=1):
        grow = float(g.uniform(1.0, 2.0)) * ppm
        # A jagged outline around the code: every point pushed outwards by up to 2 mm more.
        left, top, right, bottom = x0 - grow, y0 - grow, x1 + grow, y1 + grow
        steps = max(4, int((right - left) / (2 * ppm)))
        t = np.linspace(0.0, 1.0, steps, endpoint=False)
        edge = g.uniform(0.0, 2.0 * ppm, (4, steps))
        outline = np.concatenate(
            [
                np.column_stack([left + t * (right - left), top - edge[0]]),
                np.column_stack([right + edge[1], top + t * (bottom - top)]),
                np.column_stack([right - t * (right - left), bottom + edge[2]]),
                np.column_stack([left - edge[3], bottom - t * (bottom - top)]),
            ]
        )
        layer = np.zeros(out.shape, np.uint8)
        pts = np.round(outline * _ONE).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(layer, [pts], 1, cv2.LINE_8, _SHIFT)
        layer[
            max(0, math.floor(top)) : math.ceil(bottom), max(0, math.floor(left)) : math.ceil(right)
        ] = 1
        mask = layer.astype(bool)
        _protect(mask, _frame_boxes(), ppm, 1.0)
        how = str(g.choice(["torn (white)", "torn (dark)", "inked over"]))
        value = {"torn (white)": 255, "torn (dark)": int(g.integers(20, 60))}.get(
            how, int(g.integers(5, 40))
        )
        out[mask] = value
        done.append(f"code {number} {how}")
    return Degraded(out, dpi_x, dpi_y, 0, "codes-destroyed: " + ", ".join(done))


def _forged(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    ppm = _page_ppm(image, dpi_x, dpi_y, "forged")
    reads = _read_codes(image, ppm)
    texts = [read[0] for read in reads if read is not None]
    if not texts or not texts[0].startswith(codes.PREFIX):
        raise ValueError("forged: the page has no readable DK1 page code to alter")
    raw = bytearray(base45.decode(texts[0][len(codes.PREFIX) :]))
    body_len = len(raw) - codes.SIGNATURE_SIZE
    # A byte that no structural check reads before the signature: not the version, key id,
    # system code or the three lengths (page uid … pack id, and the texts, are fair game), so
    # the altered code still parses and fails on its signature, as a forgery would.
    candidates = [
        *range(1 + codes.KEY_ID_SIZE, codes.HEADER_SIZE - 4),
        *range(codes.HEADER_SIZE, body_len),
    ]
    position = int(g.choice(candidates))
    raw[position] ^= int(g.integers(1, 256))
    text = codes.PREFIX + base45.encode(bytes(raw))
    matrix = qr.encode(text)
    modules = matrix.shape[0]
    symbol_px = round(modules * QR_MODULE_MM * ppm)
    symbol = cv2.resize(
        np.where(matrix, 0, 255).astype(np.uint8),
        (symbol_px, symbol_px),
        interpolation=cv2.INTER_NEAREST,
    )
    out = image.copy()
    quiet = round(QR_MODULE_MM * ppm)
    for read, box in zip(reads, code_boxes_mm(modules), strict=True):
        if read is not None:  # white out the old symbol (and a module around it)
            x0, y0, x1, y1 = read[1]
            out[max(0, y0 - quiet) : y1 + quiet, max(0, x0 - quiet) : x1 + quiet] = 255
        left, top = round(box[0] * ppm), round(box[1] * ppm)
        out[top : top + symbol_px, left : left + symbol_px] = symbol
    note = f"forged: byte {position} of {body_len} in the body flipped, both codes replaced"
    return Degraded(out, dpi_x, dpi_y, 0, note)


def _duplex_back(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    paper = float(g.uniform(240, 248))
    ink = float(g.uniform(215, min(235, paper - 6)))
    through = _blur(_u8(image[:, ::-1]), 1.2 * dpi_x / 200, 1.2 * dpi_y / 200)
    out = _noise(_tone(through, ink, paper), 1.5, g)
    note = (
        f"duplex-back: the front mirrored left-right, showing through at {ink:.0f} on {paper:.0f}"
    )
    return Degraded(out, dpi_x, dpi_y, 0, note)


_DEGRADATIONS: dict[str, Degradation] = {
    "scan-200": _scan(200),
    "scan-300": _scan(300),
    "skew": _skew,
    "upside-down": _upside_down,
    "rot90": _rot90,
    "fit-97": _fit97,
    "blur": _blurred,
    "noise": _noisy,
    "jpeg": _jpeg_low,
    "low-contrast": _low_contrast,
    "photocopy": _photocopy,
    "fax": _fax,
    "phone": _phone,
    "stain-code": _stain_code,
    "codes-destroyed": _codes_destroyed,
    "forged": _forged,
    "duplex-back": _duplex_back,
}
DEGRADATIONS: tuple[str, ...] = tuple(_DEGRADATIONS)

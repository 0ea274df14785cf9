"""The degradations (:data:`DEGRADATIONS`): what scanners, copiers, faxes, phones, stains and
forgers do to a page, each a function of the image, its dpi and a random generator."""

from __future__ import annotations

import math

import cv2
import numpy as np

from downtime import codes
from downtime.codes import base45, qr
from downtime.geometry import QR_MODULE_MM, code_boxes_mm
from downtime.simulate.codes import code_boxes_px, frame_boxes, page_ppm, read_codes
from downtime.simulate.corner import marks_gone, stain_corner
from downtime.simulate.degraded import Degradation, Degraded, Rng
from downtime.simulate.draw import MM_PER_INCH, ONE, SHIFT, Image
from downtime.simulate.paper import BITONAL
from downtime.simulate.pixels import (
    affine,
    blob,
    blur,
    fmt,
    jpeg,
    noise,
    protect,
    resample,
    rotate_small,
    salt_pepper,
    tone,
    u8,
)
from downtime.simulate.tamper import name_crossed


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


def then(degraded: Degraded, kind: str, rng: Rng) -> Degraded:
    """Degrade a result further (``then(degrade(img, 200, "skew", g), "jpeg", g)``)."""
    more = degrade(degraded.image, (degraded.dpi_x, degraded.dpi_y), kind, rng)
    return degraded.followed_by(more)


# ---- the degradations


def _scan(target: int) -> Degradation:
    def scan(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
        out = resample(image, target / dpi_x, target / dpi_y)
        angle = float(g.uniform(-0.3, 0.3))
        out = rotate_small(out, angle)
        paper = float(g.uniform(240, 250))
        sigma = float(g.uniform(1.0, 2.5))
        out = noise(tone(out, 0, paper), sigma, g)
        note = (
            f"scan-{target}: resampled {fmt(dpi_x)}×{fmt(dpi_y)} → {target} dpi, "
            f"skew {angle:+.2f}° (ccw), paper {paper:.0f}, noise σ {sigma:.1f}"
        )
        return Degraded(out, target, target, 0, note)

    return scan


def _skew(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    angle = float(g.uniform(0.5, 3.0) * g.choice([-1, 1]))
    out = rotate_small(image, angle)
    return Degraded(out, dpi_x, dpi_y, 0, f"skew: {angle:+.2f}° (ccw) about the centre")


def _upside_down(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    return Degraded(u8(np.rot90(image, 2)), dpi_x, dpi_y, 180, "upside-down: turned 180°")


def _rot90(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    if g.random() < 0.5:
        out = u8(np.rot90(image, -1))
        return Degraded(out, dpi_y, dpi_x, 270, "rot90: turned 90° clockwise")
    out = u8(np.rot90(image, 1))
    return Degraded(out, dpi_y, dpi_x, 90, "rot90: turned 90° counter-clockwise")


def _fit97(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    scale = 0.97
    cx, cy = (image.shape[1] - 1) / 2, (image.shape[0] - 1) / 2
    matrix = np.array([[scale, 0, (1 - scale) * cx], [0, scale, (1 - scale) * cy]])
    out = affine(image, matrix, 255)
    return Degraded(out, dpi_x, dpi_y, 0, "fit-97: printed at 97 % about the centre")


def _blurred(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    sigma = float(g.uniform(1.0, 1.5))
    out = blur(image, sigma * dpi_x / 200, sigma * dpi_y / 200)
    return Degraded(out, dpi_x, dpi_y, 0, f"blur: Gaussian σ {sigma:.2f} px at 200 dpi")


def _noisy(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    sigma = float(g.uniform(12, 20))
    fraction = float(g.uniform(0.001, 0.004))
    out = salt_pepper(noise(image, sigma, g), fraction, g)
    note = f"noise: Gaussian σ {sigma:.1f}, salt and pepper {fraction:.2%}"
    return Degraded(out, dpi_x, dpi_y, 0, note)


def _jpeg_low(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    quality = int(g.integers(25, 41))
    return Degraded(jpeg(image, quality), dpi_x, dpi_y, 0, f"jpeg: quality {quality}")


def _low_contrast(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    ink, paper = float(g.uniform(110, 140)), float(g.uniform(210, 230))
    out = tone(image, ink, paper)
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
    out = affine(image, matrix, 255)
    out = blur(out, 0.7 * dpi_x / 200, 0.7 * dpi_y / 200)
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
    out = resample(image, 204 / dpi_x, 98 / dpi_y)
    threshold = float(g.uniform(115, 140))
    out = np.where(out < threshold, np.uint8(0), np.uint8(255)).astype(np.uint8)
    out = salt_pepper(out, 0.0003, g)
    note = f"fax: 204 × 98 dpi (squashed vertically), threshold {threshold:.0f}"
    return Degraded(out, 204.0, 98.0, 0, note)


def _phone(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    dpi = float(g.uniform(150, 200))
    paper = float(g.uniform(200, 230))
    page = tone(resample(image, dpi / dpi_x, dpi / dpi_y), 0, paper)
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
    out = u8(cv2.multiply(out.astype(np.float32), light, dtype=cv2.CV_8U))
    sigma = float(g.uniform(0.6, 1.1))
    out = blur(out, sigma)
    out = noise(out, float(g.uniform(2.0, 4.0)), g)
    quality = int(g.integers(65, 76))
    out = jpeg(out, quality)
    where = ", ".join(f"({x:.0f}, {y:.0f})" for x, y in placed)
    note = (
        f"phone: ~{dpi:.0f} dpi, page corners at {where} px in a {frame_w} × {frame_h} frame "
        f"(moved {', '.join(f'({x:+.0f}, {y:+.0f})' for x, y in moves)} px), paper "
        f"{paper:.0f}, table {table:.0f}, corner {corner} {dark:.0%} darker, blur σ "
        f"{sigma:.2f}, jpeg quality {quality}"
    )
    return Degraded(out, dpi, dpi, 0, note)


def _stain_code(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    ppm = page_ppm(image, dpi_x, dpi_y, "stain-code")
    boxes = code_boxes_px(image, ppm)
    which = int(g.integers(0, 2))
    x0, y0, x1, y1 = boxes[which]
    size = max(x1 - x0, y1 - y0)
    centre = (
        (x0 + x1) / 2 + g.uniform(-0.08, 0.08) * size,
        (y0 + y1) / 2 + g.uniform(-0.08, 0.08) * size,
    )
    radii = (float(g.uniform(0.6, 0.75) * size), float(g.uniform(0.6, 0.75) * size))
    mask = blob(image.shape[:2], centre, radii, float(g.uniform(0, math.pi)), 0.06, g)
    protect(mask, frame_boxes(), ppm, 1.5)
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
    ppm = page_ppm(image, dpi_x, dpi_y, "codes-destroyed")
    out = image.copy()
    done = []
    for number, (x0, y0, x1, y1) in enumerate(code_boxes_px(image, ppm), start=1):
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
        pts = np.round(outline * ONE).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(layer, [pts], 1, cv2.LINE_8, SHIFT)
        layer[
            max(0, math.floor(top)) : math.ceil(bottom), max(0, math.floor(left)) : math.ceil(right)
        ] = 1
        mask = layer.astype(bool)
        protect(mask, frame_boxes(), ppm, 1.0)
        how = str(g.choice(["torn (white)", "torn (dark)", "inked over"]))
        value = {"torn (white)": 255, "torn (dark)": int(g.integers(20, 60))}.get(
            how, int(g.integers(5, 40))
        )
        out[mask] = value
        done.append(f"code {number} {how}")
    return Degraded(out, dpi_x, dpi_y, 0, "codes-destroyed: " + ", ".join(done))


def _forged(image: Image, dpi_x: float, dpi_y: float, g: np.random.Generator) -> Degraded:
    ppm = page_ppm(image, dpi_x, dpi_y, "forged")
    reads = read_codes(image, ppm)
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
    through = blur(u8(image[:, ::-1]), 1.2 * dpi_x / 200, 1.2 * dpi_y / 200)
    out = noise(tone(through, ink, paper), 1.5, g)
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
    "stain-corner": stain_corner,
    "marks-gone": marks_gone,
    "codes-destroyed": _codes_destroyed,
    "forged": _forged,
    "duplex-back": _duplex_back,
    "name-crossed": name_crossed,
    **BITONAL,
}
DEGRADATIONS: tuple[str, ...] = tuple(_DEGRADATIONS)

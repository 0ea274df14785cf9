"""Registration: the homography from the page frame (mm) to a scanned image (px).

Correspondences come from what the page printed at known places: the outer corners of the
page codes (4 points each) and the centres of the four registration marks. A homography
covers skew, "fit to page" scaling, photocopier drift and a phone's perspective alike; pages
scanned at 204 × 98 dpi (fax) are just a different scale in x and y.

Steps: each way of matching the decoded codes to the two printed code boxes gives a first
homography; the marks are looked for where it predicts them; the hypothesis that explains the
most marks with the smallest error wins and is refitted on every point. The residual (RMS
error of the points, in mm) says how well the page registered. Without readable codes the page
can still be registered from the four marks alone (the hollow one is bottom-right), which is
how a page whose codes were destroyed is read once a clerk assigns it by its serial.

A mirrored page (the show-through of a duplex back) never fits: readers decode mirrored codes
without saying so, but no proper homography maps the page frame onto a mirror image.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from downtime.codes import qr
from downtime.geometry import (
    FIDUCIAL_MM,
    FIDUCIALS_MM,
    HOLLOW_FIDUCIAL,
    PAGE_MM,
    PX_PER_MM,
    code_boxes_mm,
)
from downtime.scan.decode import Symbol

Image = npt.NDArray[np.uint8]
Matrix = npt.NDArray[np.float64]
Pair = tuple[tuple[float, float], tuple[float, float]]  # (mm on the page, px in the image)

MAX_RESIDUAL_MM = 1.5  # a page registered worse than this is flagged, its marks not trusted
MAX_FIT_MM = 4.0  # a hypothesis with a larger error is not the page at all
MARK_SEARCH_MM = 7.0  # how far from its predicted centre a registration mark is looked for
MARK_SIZE_TOLERANCE = 0.35  # a mark's measured side may differ this much (fraction) from 6 mm
MIN_PX_PER_MM, MAX_PX_PER_MM = 1.5, 48.0  # 38–1200 dpi: outside this, a hypothesis is nonsense


@dataclass(frozen=True)
class Registration:
    homography: Matrix  # 3 × 3, page mm → image px
    residual_mm: float  # RMS error of the points used, in mm
    max_error_mm: float
    rotation: int  # clockwise degrees applied to the image to make the page upright
    points: int  # correspondences used
    marks: tuple[str, ...]  # registration marks found
    codes: int  # page codes used
    method: str  # "codes+marks" | "codes" | "marks"

    @property
    def clean(self) -> bool:
        return self.residual_mm <= MAX_RESIDUAL_MM

    def to_image(self, points_mm: Sequence[tuple[float, float]]) -> npt.NDArray[np.float64]:
        pts = np.asarray(points_mm, dtype=np.float64).reshape(-1, 1, 2)
        mapped = cv2.perspectiveTransform(pts, self.homography)
        return np.asarray(mapped, dtype=np.float64).reshape(-1, 2)


def _homography(
    src: Sequence[tuple[float, float]], dst: Sequence[tuple[float, float]]
) -> Matrix | None:
    """Least-squares homography mapping ``src`` (mm) onto ``dst`` (px)."""
    h, _ = cv2.findHomography(np.array(src, np.float64), np.array(dst, np.float64), 0)
    return None if h is None else np.asarray(h, dtype=np.float64)


def _corners_mm(box: tuple[float, float, float, float]) -> list[tuple[float, float]]:
    x, y, w, h = box
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]


def _mark_centres() -> dict[str, tuple[float, float]]:
    return {n: (x + w / 2, y + h / 2) for n, (x, y, w, h) in FIDUCIALS_MM.items()}


# --------------------------------------------------------------------------------------------
# From codes (and marks)


def register_with_codes(image: Image, symbols: Sequence[Symbol]) -> Registration | None:
    """The best registration explaining the given page codes, or None if none fits."""
    best: Registration | None = None
    for pairs in _hypotheses(symbols):
        h0 = _homography([p for p, _ in pairs], [q for _, q in pairs])
        if h0 is None or not _proper(h0) or not _plausible_scale(h0):
            continue
        candidate = _refine(image, h0, pairs, codes=len(pairs) // 4)
        if candidate is not None and (best is None or _better(candidate, best)):
            best = candidate
    return best


def _hypotheses(symbols: Sequence[Symbol]) -> list[list[Pair]]:
    """Every way of matching up to two symbols to the two printed code boxes."""
    usable = [s for s in symbols if s.is_page_code()][:2]
    if not usable:
        return []
    modules = usable[0].modules or qr.encode(usable[0].text).shape[0]
    boxes = [_corners_mm(b) for b in code_boxes_mm(modules)]
    out = []
    for assignment in itertools.permutations(range(2), len(usable)):
        for orders in itertools.product(*(_corner_orders(s) for s in usable)):
            pairs: list[Pair] = []
            for box_index, corners in zip(assignment, orders, strict=True):
                pairs.extend(zip(boxes[box_index], corners, strict=True))
            out.append(pairs)
    return out


def _corner_orders(symbol: Symbol) -> list[tuple[tuple[float, float], ...]]:
    """zxing-cpp knows which corner is the symbol's top-left; pyzbar does not."""
    c = symbol.corners
    if symbol.reader == "zxing-cpp":
        return [c]
    rotations = [c[i:] + c[:i] for i in range(4)]
    return rotations + [tuple(reversed(r)) for r in rotations]


def _proper(h: Matrix) -> bool:
    """Orientation-preserving (not a mirror image), and not degenerate."""
    return float(np.linalg.det(h[:2, :2])) > 0


def _plausible_scale(h: Matrix) -> bool:
    _, scale = _predict(h, (105.0, 148.5))
    return MIN_PX_PER_MM <= scale <= MAX_PX_PER_MM


def _refine(
    image: Image,
    h0: Matrix,
    pairs: list[Pair],
    *,
    codes: int,
) -> Registration | None:
    """Look for the marks where ``h0`` predicts them, refit, and look again for the marks not
    yet found (one code's corners extrapolate poorly to the far side of the page; the marks
    found near it correct that), until no more are found."""
    h, marks = h0, dict[str, tuple[float, float]]()
    while True:
        found = _find_marks(image, h)
        src = [p for p, _ in pairs] + [_mark_centres()[n] for n in found]
        dst = [q for _, q in pairs] + [found[n] for n in found]
        refit = _homography(src, dst)
        if refit is None or not _proper(refit):
            return None
        h = refit
        if set(found) <= set(marks):
            break
        marks = found
    residual, worst = _errors(h, src, dst)
    if worst > MAX_FIT_MM:
        return None
    if codes == 1 and not _spread(marks):
        # One code's four corners and marks beside it fit a page bent out of shape just as
        # well: the marks must reach across the page, both ways.
        return None
    method = "codes+marks" if marks else "codes"
    return Registration(
        h, residual, worst, _rotation(h), len(src), tuple(sorted(marks)), codes, method
    )


def _spread(marks: dict[str, tuple[float, float]]) -> bool:
    """At least three marks: then they span the page in both directions."""
    return len(marks) >= 3


def _better(a: Registration, b: Registration) -> bool:
    return (len(a.marks), -a.residual_mm) > (len(b.marks), -b.residual_mm)


def _errors(
    h: Matrix, src: Sequence[tuple[float, float]], dst: Sequence[tuple[float, float]]
) -> tuple[float, float]:
    """RMS and worst error in mm: image points mapped back to the page frame."""
    inv = np.linalg.inv(h)
    back = cv2.perspectiveTransform(np.array(dst, np.float64).reshape(-1, 1, 2), inv)
    err = np.linalg.norm(back.reshape(-1, 2) - np.array(src, np.float64), axis=1)
    return float(np.sqrt(np.mean(err**2))), float(err.max())


def _rotation(h: Matrix) -> int:
    """The clockwise turn (0/90/180/270) that makes the page upright in the image."""
    centre, above = cv2.perspectiveTransform(
        np.array([[[105.0, 148.5]], [[105.0, 100.0]]], np.float64), h
    ).reshape(-1, 2)
    dx, dy = above - centre
    # angle of the page's "up" in the image, clockwise from the image's up
    angle = (np.degrees(np.arctan2(dx, -dy)) + 360.0) % 360.0
    return int((360 - round(angle / 90.0) * 90) % 360)


# --------------------------------------------------------------------------------------------
# Registration marks


def _find_marks(image: Image, h: Matrix) -> dict[str, tuple[float, float]]:
    """Centres (px) of the registration marks found near where ``h`` predicts them, each
    solid or hollow as printed."""
    found = {}
    for name, centre in _mark_centres().items():
        (px, py), scale = _predict(h, centre)
        hit = _mark_near(image, px, py, scale, hollow=name == HOLLOW_FIDUCIAL)
        if hit is not None:
            found[name] = hit
    return found


def _predict(h: Matrix, point: tuple[float, float]) -> tuple[tuple[float, float], float]:
    """Where ``point`` (mm) lands in the image, and the local scale there (px per mm)."""
    pts = np.array([[point], [(point[0] + 1.0, point[1])], [(point[0], point[1] + 1.0)]])
    (x, y), ex, ey = cv2.perspectiveTransform(pts.astype(np.float64), h).reshape(-1, 2)
    (ax, ay), (bx, by) = ex - (x, y), ey - (x, y)
    scale = float(np.sqrt(abs(ax * by - ay * bx)))  # area of the image of a 1 mm square
    return (float(x), float(y)), scale


def _mark_near(
    image: Image, px: float, py: float, scale: float, *, hollow: bool
) -> tuple[float, float] | None:
    r = int(MARK_SEARCH_MM * scale)
    x0, y0 = max(int(px) - r, 0), max(int(py) - r, 0)
    x1, y1 = min(int(px) + r, image.shape[1]), min(int(py) + r, image.shape[0])
    if not MIN_PX_PER_MM <= scale <= MAX_PX_PER_MM or x1 - x0 < r or y1 - y0 < r:
        return None
    window = image[y0:y1, x0:x1]
    blob = _square_blob(window, scale, hollow=hollow, near=(px - x0, py - y0))
    if blob is None:
        return None
    return blob[0] + x0, blob[1] + y0


def _square_blob(
    window: Image, scale: float, *, hollow: bool | None, near: tuple[float, float]
) -> tuple[float, float] | None:
    """The centre of the dark ~6 mm square in ``window`` closest to ``near``."""
    side = FIDUCIAL_MM * scale
    lo, hi = side * (1 - MARK_SIZE_TOLERANCE), side * (1 + MARK_SIZE_TOLERANCE)
    if window.shape[0] < 8 or window.shape[1] < 8:
        return None
    threshold, binary = cv2.threshold(window, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    dark = np.asarray(binary, dtype=np.uint8)
    if threshold > 235:  # nothing dark at all in the window
        return None
    n, _, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    best: tuple[float, float] | None = None
    best_distance = float("inf")
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if not (lo <= w <= hi and lo <= h <= hi and 0.6 < w / h < 1.66):
            continue
        fill = area / float(w * h)
        is_hollow = fill < 0.93 and _centre_is_light(dark, x, y, w, h)
        if fill < 0.55 or (hollow is not None and is_hollow != hollow):
            continue
        cx, cy = x + w / 2.0, y + h / 2.0
        distance = (cx - near[0]) ** 2 + (cy - near[1]) ** 2
        if distance < best_distance:
            best, best_distance = (cx, cy), distance
    return best


def _centre_is_light(dark: Image, x: int, y: int, w: int, h: int) -> bool:
    cx, cy = x + w // 2, y + h // 2
    rx, ry = max(w // 8, 1), max(h // 8, 1)
    return float(dark[cy - ry : cy + ry + 1, cx - rx : cx + rx + 1].mean()) < 128


# --------------------------------------------------------------------------------------------
# From the marks alone


def register_with_marks(image: Image, px_per_mm: float) -> Registration | None:
    """Register a page from its four registration marks alone (no readable code)."""
    h_img, w_img = image.shape[:2]
    quarter = (w_img // 2, h_img // 2)
    found: list[tuple[float, float, bool]] = []
    for qx, qy in itertools.product((0, 1), (0, 1)):
        x0, y0 = qx * quarter[0], qy * quarter[1]
        window = image[y0 : y0 + quarter[1], x0 : x0 + quarter[0]]
        corner = (qx * window.shape[1], qy * window.shape[0])
        blob = _square_blob(window, px_per_mm, hollow=None, near=corner)
        if blob is None:
            return None
        bx, by = int(blob[0]), int(blob[1])
        side = int(FIDUCIAL_MM * px_per_mm)
        cut = window[max(by - side, 0) : by + side, max(bx - side, 0) : bx + side]
        _, dark = cv2.threshold(cut, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
        cy, cx = dark.shape[0] // 2, dark.shape[1] // 2
        r = max(side // 8, 1)
        light = float(dark[cy - r : cy + r + 1, cx - r : cx + r + 1].mean()) < 128
        found.append((blob[0] + x0, blob[1] + y0, light))
    hollow = [i for i, f in enumerate(found) if f[2]]
    if len(hollow) != 1:
        return None
    return _fit_marks(found, hollow[0])


def _fit_marks(found: list[tuple[float, float, bool]], hollow: int) -> Registration | None:
    """Name the four marks going round the page from the hollow (bottom-right) one."""
    pts = np.array([(x, y) for x, y, _ in found], np.float64)
    centre = pts.mean(axis=0)
    angles = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    order = list(np.argsort(angles))  # clockwise in image coordinates (y down)
    start = order.index(hollow)
    ring = [order[(start + k) % 4] for k in range(4)]
    # clockwise from bottom-right on an upright page: bottom-left, top-left, top-right
    names = ["bottom-right", "bottom-left", "top-left", "top-right"]
    centres = _mark_centres()
    src = [centres[n] for n in names]
    dst = [tuple(pts[i]) for i in ring]
    h = _homography(src, dst)
    if h is None or not _proper(h):
        return None
    sides = [np.linalg.norm(pts[ring[k]] - pts[ring[(k + 1) % 4]]) for k in range(4)]
    short, long = (sides[0] + sides[2]) / 2, (sides[1] + sides[3]) / 2
    expected = (279.0 - 18.0) / (192.0 - 18.0)
    if not 0.85 < (long / short) / expected < 1.15:
        return None  # not the marks of one page (or a mirror image of one)
    return Registration(h, 0.0, 0.0, _rotation(h), 4, tuple(sorted(names)), 0, "marks")


# --------------------------------------------------------------------------------------------
# The registered image


def warp(image: Image, registration: Registration, px_per_mm: float = PX_PER_MM) -> Image:
    """The page frame at ``px_per_mm``, upright, from the scanned image."""
    scale = np.diag([1.0 / px_per_mm, 1.0 / px_per_mm, 1.0])
    to_image = registration.homography @ scale  # registered px → mm → image px
    size = (round(PAGE_MM[0] * px_per_mm), round(PAGE_MM[1] * px_per_mm))
    return cv2.warpPerspective(
        image,
        to_image,
        size,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=255,
    ).astype(np.uint8)

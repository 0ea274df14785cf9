"""Registration marks: the four 6 mm squares 15 mm inside the paper's edges (the bottom-right one
hollow), found in a scanned image near where a page-frame transform predicts them."""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from downtime.geometry import FIDUCIAL_MM, FIDUCIALS_MM, HOLLOW_FIDUCIAL, PAGE_MM

Image = npt.NDArray[np.uint8]
Matrix = npt.NDArray[np.float64]  # 3 × 3, page mm → image px

MARK_SEARCH_MM = 7.0  # how far from its predicted centre a registration mark is looked for
MARK_SIZE_TOLERANCE = 0.35  # a mark's measured side may differ this much (fraction) from 6 mm
MIN_PX_PER_MM, MAX_PX_PER_MM = 1.5, 48.0  # 38–1200 dpi: outside this, a hypothesis is nonsense
MIN_PAGE_PX = (  # short and long side of an A4 page at MIN_PX_PER_MM (315 × 446 px, 38 dpi):
    math.ceil(PAGE_MM[0] * MIN_PX_PER_MM),  # a smaller image holds no page
    math.ceil(PAGE_MM[1] * MIN_PX_PER_MM),
)


def mark_centres() -> dict[str, tuple[float, float]]:
    """The centre of each registration mark, in mm from the page's top-left corner."""
    return {n: (x + w / 2, y + h / 2) for n, (x, y, w, h) in FIDUCIALS_MM.items()}


def find_marks(image: Image, h: Matrix) -> dict[str, tuple[float, float]]:
    """Centres (px) of the registration marks found near where ``h`` predicts them, each
    solid or hollow as printed."""
    found = {}
    for name, centre in mark_centres().items():
        (px, py), scale = predict(h, centre)
        hit = _mark_near(image, px, py, scale, hollow=name == HOLLOW_FIDUCIAL)
        if hit is not None:
            found[name] = hit
    return found


def predict(h: Matrix, point: tuple[float, float]) -> tuple[tuple[float, float], float]:
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
    blob = square_blob(window, scale, hollow=hollow, near=(px - x0, py - y0))
    if blob is None:
        return None
    return blob[0] + x0, blob[1] + y0


def square_blob(
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

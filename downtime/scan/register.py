"""Registration: the homography from the page frame (mm) to a scanned image (px).

Correspondences come from what the page printed at known places: the outer corners of the
page codes (4 points each) and the centres of the four registration marks. A homography
covers skew, "fit to page" scaling, photocopier drift and a phone's perspective alike; pages
scanned at 204 × 98 dpi (fax) are just a different scale in x and y.

Steps: each way of matching the decoded codes to the two printed code boxes gives a first
transform; the marks are looked for where it predicts them; the hypothesis that explains the
most marks with the smallest error wins and is refitted on every point. The residual (RMS
error of the points, in mm) says how well the page registered.

Which transform: a homography is trusted only where its points could show it wrong, i.e. two
codes at opposite corners, or one code and all four marks. Fitted to one code's corners and
the marks beside it (one band of the page), its perspective terms follow the noise: it put the
far marks 9-12 mm off, so a page whose other code and the mark beside it were stained away
lost the far marks too and was set aside. With one code and three marks it fits every point
exactly whatever the page's fourth corner does (1 mm off there on a flat scan, with a residual
of 0.05 mm). Such points are fitted with an affine transform: exact for a scanner or a copier,
it finds the far marks, and its residual says how well the page registered. A homography
still leads the search for the last mark once the points span the page (it follows a photo's
perspective); a photo registered from one code and three marks shows its perspective in the
affine residual and is not ``clean``.

Without readable codes the page can still be registered from the four marks alone (the hollow
one is bottom-right), which is how a page whose codes were destroyed is read once a clerk
assigns it by its serial. A page whose code verifies but which registers neither way (every
mark gone, crumpled) still came back: :func:`register_roughly` places it from its codes alone,
for the image kept of it; such a registration is never ``clean``, and nothing read through it
is trusted.

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
    PAGE_MM,
    PX_PER_MM,
    code_boxes_mm,
)
from downtime.scan.decode import Symbol
from downtime.scan.fiducials import (
    MAX_PX_PER_MM,
    MIN_PX_PER_MM,
    find_marks,
    mark_centres,
    predict,
    square_blob,
)
from downtime.vocab import MarkFlag

Image = npt.NDArray[np.uint8]
Matrix = npt.NDArray[np.float64]
Pair = tuple[tuple[float, float], tuple[float, float]]  # (mm on the page, px in the image)

MAX_RESIDUAL_MM = 1.5  # a page registered worse than this is flagged, its marks not trusted
MAX_FIT_MM = 4.0  # a hypothesis with a larger error is not the page at all
ROUGH = "rough"  # the method of a registration from the codes alone that did not check out
MIN_INSIDE = 0.9  # a rough placement with more of the page outside the image is not the page:
# a mirror image's code, read as if transposed, puts 30-91 % of the page outside it
SPAN_FRACTION = 0.4  # points span the page both ways when their convex hull covers this much
# of the rectangle of the mark centres: one code with two diagonal marks 0.50-0.59, with the two
# marks beside it 0.10-0.12, one code alone 0.03


@dataclass(frozen=True)
class Registration:
    homography: Matrix  # 3 × 3, page mm → image px
    residual_mm: float  # RMS error of the points used, in mm
    max_error_mm: float
    rotation: int  # clockwise degrees applied to the image to make the page upright
    points: int  # correspondences used
    marks: tuple[str, ...]  # registration marks found
    codes: int  # page codes used
    method: str  # "codes+marks" | "codes" | "marks" | ROUGH

    @property
    def clean(self) -> bool:
        return self.method != ROUGH and self.residual_mm <= MAX_RESIDUAL_MM

    @property
    def flag(self) -> MarkFlag:
        """The flag of every field read through this registration when it is not clean."""
        return MarkFlag.UNREGISTERED if self.method == ROUGH else MarkFlag.REGISTRATION

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


def _affine(
    src: Sequence[tuple[float, float]], dst: Sequence[tuple[float, float]]
) -> Matrix | None:
    """Least-squares affine transform (as a 3 × 3 matrix) mapping ``src`` (mm) onto ``dst``
    (px). Every point counts: a robust fit (LMedS) takes one code's four corners for the
    majority and leaves the marks across the page out of it."""
    a = np.zeros((2 * len(src), 6), np.float64)
    a[0::2, 0:2], a[0::2, 2] = src, 1.0
    a[1::2, 3:5], a[1::2, 5] = src, 1.0
    b = np.array(dst, np.float64).reshape(-1, 1)
    ok, params = cv2.solve(a, b, flags=cv2.DECOMP_SVD)
    if not ok:
        return None
    return np.vstack([np.asarray(params, np.float64).reshape(2, 3), [0.0, 0.0, 1.0]])


def _spans(points_mm: Sequence[tuple[float, float]]) -> bool:
    """Do the points reach across the page both ways (see :data:`SPAN_FRACTION`)?"""
    hull = cv2.convexHull(np.array(points_mm, np.float32))
    (left, top), (right, bottom) = (mark_centres()[n] for n in ("top-left", "bottom-right"))
    return float(cv2.contourArea(hull)) >= SPAN_FRACTION * (right - left) * (bottom - top)


def _fit(
    src: Sequence[tuple[float, float]],
    dst: Sequence[tuple[float, float]],
    *,
    codes: int,
    marks: int,
) -> Matrix | None:
    """A homography where the points determine one and can show that it is wrong: two codes
    at opposite corners, or one code with all four marks. Else an affine transform (see the
    module's docstring)."""
    if codes >= 2 or marks >= len(FIDUCIALS_MM):
        return _homography(src, dst)
    return _affine(src, dst)


def _corners_mm(box: tuple[float, float, float, float]) -> list[tuple[float, float]]:
    x, y, w, h = box
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]


# --------------------------------------------------------------------------------------------
# From codes (and marks)


def register_with_codes(image: Image, symbols: Sequence[Symbol]) -> Registration | None:
    """The best registration explaining the given page codes, or None if none fits."""
    best: Registration | None = None
    for pairs in _hypotheses(symbols):
        codes = len(pairs) // 4
        h0 = _fit([p for p, _ in pairs], [q for _, q in pairs], codes=codes, marks=0)
        if h0 is None or not _proper(h0) or not _plausible_scale(h0):
            continue
        candidate = _refine(image, h0, pairs, codes=codes)
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
    _, scale = predict(h, (105.0, 148.5))
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
    found near it correct that), until no more are found. Then fit what was found."""
    h, marks = h0, dict[str, tuple[float, float]]()
    while True:
        found = find_marks(image, h)
        src = [p for p, _ in pairs] + [mark_centres()[n] for n in found]
        dst = [q for _, q in pairs] + [found[n] for n in found]
        # Where to look next: once the points span the page, a homography follows a photo's
        # perspective out to the last mark, even if it cannot yet be trusted to read by.
        ahead = _homography(src, dst) if codes >= 2 or _spans(src) else _affine(src, dst)
        if ahead is None or not _proper(ahead):
            return None
        h = ahead
        done = set(found) <= set(marks)
        marks = found
        if done:
            break
    fitted = _fit(src, dst, codes=codes, marks=len(marks))
    if fitted is None or not _proper(fitted):
        return None
    h = fitted
    residual, worst = _errors(h, src, dst)
    if worst > MAX_FIT_MM:
        return None
    if codes == 1 and not _spread(src, marks, worst):
        return None
    method = "codes+marks" if marks else "codes"
    return Registration(
        h, residual, worst, _rotation(h), len(src), tuple(sorted(marks)), codes, method
    )


def _spread(
    src: Sequence[tuple[float, float]], marks: dict[str, tuple[float, float]], worst: float
) -> bool:
    """Does one code with these marks say where the whole page is? One code's four corners
    and marks beside it fit a page bent out of shape just as well: the marks must reach across
    the page, both ways. Three marks always do; two (diagonal from each other, or both across
    from the code) leave the fit few points to spare, so it must be close."""
    if not _spans(src):
        return False
    return len(marks) >= 3 or worst <= MAX_RESIDUAL_MM


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


def register_roughly(image: Image, symbols: Sequence[Symbol]) -> Registration | None:
    """Where the page most likely is, for a page whose code verified but which did not
    register: of the placements its codes give (both together, or each alone: on a crumpled
    page they may not agree), the one that finds the most marks and puts most of the page
    inside the image. Never ``clean``: it is for the image kept of the page and a reviewer's
    eyes, not for reading marks. None when no placement fits its codes with the page inside
    the image (they were read from a mirror image)."""
    usable = [s for s in symbols if s.is_page_code()][:2]
    best: tuple[tuple[int, float], Registration] | None = None
    alone = [[s] for s in usable] if len(usable) > 1 else []
    for pairs in [*_hypotheses(usable), *(p for one in alone for p in _hypotheses(one))]:
        src, dst, codes = [p for p, _ in pairs], [q for _, q in pairs], len(pairs) // 4
        h = _fit(src, dst, codes=codes, marks=0)
        if h is None or not _proper(h) or not _plausible_scale(h):
            continue
        residual, worst = _errors(h, src, dst)
        score = (len(find_marks(image, h)), _inside(image, h))
        fits = worst <= MAX_FIT_MM and score[1] >= MIN_INSIDE
        if fits and (best is None or score > best[0]):
            rotation = _rotation(h)
            best = score, Registration(h, residual, worst, rotation, len(src), (), codes, ROUGH)
    return None if best is None else best[1]


def _inside(image: Image, h: Matrix) -> float:
    """The fraction of the page (as ``h`` places it) that lies inside the image."""
    (x0, y0), (x1, y1) = (0.0, 0.0), PAGE_MM
    page = np.array([[[x0, y0]], [[x1, y0]], [[x1, y1]], [[x0, y1]]], np.float64)
    outline = cv2.perspectiveTransform(page, h).astype(np.float32)
    rows, cols = image.shape[:2]
    frame = np.array([[0, 0], [cols, 0], [cols, rows], [0, rows]], np.float32)
    area, _ = cv2.intersectConvexConvex(outline.reshape(-1, 2), frame)
    return float(area) / max(float(cv2.contourArea(outline)), 1e-9)


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
        blob = square_blob(window, px_per_mm, hollow=None, near=corner)
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
    centres = mark_centres()
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

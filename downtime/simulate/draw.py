"""What filling and degrading share: image types, units, and drawing strokes with sub-pixel
precision (cv2's fixed-point coordinates)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
Points = npt.NDArray[np.float64]

MM_PER_INCH = 25.4

SHIFT = 4  # cv2 drawing: 4 fractional bits of sub-pixel precision
ONE = 1 << SHIFT


@dataclass(frozen=True)
class Target:
    """Where a field is on a local canvas: the box in canvas pixels and the pixel scale."""

    left: float
    top: float
    width: float
    height: float
    ppm: float

    @property
    def centre(self) -> tuple[float, float]:
        return self.left + self.width / 2, self.top + self.height / 2


def draw_stroke(canvas: Image, points: Points, ink: int, width: int, closed: bool = False) -> None:
    pts = np.round(points * ONE).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(canvas, [pts], closed, ink, max(1, width), cv2.LINE_AA, SHIFT)


def bezier(a: tuple[float, float], b: tuple[float, float], bend: float, n: int = 10) -> Points:
    """A quadratic Bézier from ``a`` to ``b`` bowed sideways by ``bend`` × its length."""
    ax, ay = a
    bx, by = b
    mx, my = (ax + bx) / 2 - (by - ay) * bend, (ay + by) / 2 + (bx - ax) * bend
    t = np.linspace(0.0, 1.0, n)[:, None]
    return np.asarray(
        (1 - t) ** 2 * np.array([ax, ay]) + 2 * (1 - t) * t * np.array([mx, my]) + t**2 * [bx, by],
        dtype=np.float64,
    )


def smooth(points: Points, steps: int = 5) -> Points:
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

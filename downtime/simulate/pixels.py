"""Image operations the degradations are made of: resampling, warping, tone, noise, blur,
JPEG, and masks in page millimetres."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage

from downtime.geometry import Box
from downtime.simulate.draw import ONE, SHIFT, Image


def u8(array: Any) -> Image:
    return np.ascontiguousarray(array, dtype=np.uint8)


def resample(image: Image, fx: float, fy: float) -> Image:
    width = max(1, round(image.shape[1] * fx))
    height = max(1, round(image.shape[0] * fy))
    shrink = width * height < image.shape[0] * image.shape[1]
    method = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    return u8(cv2.resize(image, (width, height), interpolation=method))


def affine(image: Image, matrix: npt.NDArray[np.float64], fill: int) -> Image:
    return u8(
        cv2.warpAffine(
            image,
            matrix,
            (image.shape[1], image.shape[0]),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=fill,
        )
    )


def rotate_small(image: Image, degrees: float, fill: int = 255) -> Image:
    """Rotated about its centre by ``degrees`` counter-clockwise (same size, ``fill`` outside)."""
    centre = ((image.shape[1] - 1) / 2, (image.shape[0] - 1) / 2)
    matrix = np.asarray(cv2.getRotationMatrix2D(centre, degrees, 1.0), dtype=np.float64)
    return affine(image, matrix, fill)


def tone(image: Image, black: float, white: float) -> Image:
    """Ink 0 → ``black``, paper 255 → ``white``, linearly."""
    return u8(cv2.convertScaleAbs(image, alpha=(white - black) / 255.0, beta=black))


# A 256-level standard normal: its quantiles at (i + 0.5) / 256. Indexing it with uniform random
# bytes gives Gaussian noise (tails cut at ±2.9 σ) in a few milliseconds a page, where
# Generator.standard_normal takes about 30 ms for 4 megapixels.
_NORMAL = np.array([NormalDist().inv_cdf((i + 0.5) / 256) for i in range(256)])


def noise(image: Image, sigma: float, g: np.random.Generator) -> Image:
    """``image`` plus Gaussian noise of ``sigma`` grey levels (saturating)."""
    if sigma <= 0:
        return image
    levels = _NORMAL * sigma
    up = np.clip(np.round(levels), 0, 255).astype(np.uint8)
    down = np.clip(np.round(-levels), 0, 255).astype(np.uint8)
    index = g.integers(0, 256, image.shape, dtype=np.uint8)
    out = cv2.add(image, cv2.LUT(index, up))
    return u8(cv2.subtract(out, cv2.LUT(index, down)))


def salt_pepper(image: Image, fraction: float, g: np.random.Generator) -> Image:
    out = image.copy()
    flat = out.reshape(-1)
    count = int(flat.size * fraction)
    where = g.integers(0, flat.size, count)
    flat[where] = np.where(g.random(count) < 0.5, 0, 255).astype(np.uint8)
    return out


def blur(image: Image, sigma_x: float, sigma_y: float | None = None) -> Image:
    sigma_y = sigma_x if sigma_y is None else sigma_y
    return u8(cv2.GaussianBlur(image, (0, 0), sigmaX=sigma_x, sigmaY=sigma_y))


def jpeg(image: Image, quality: int) -> Image:
    buffer = io.BytesIO()
    PILImage.fromarray(image, mode="L").save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with PILImage.open(buffer) as decoded:
        return u8(np.asarray(decoded.convert("L")))


def mm_box_px(box: Box, ppm: float, margin_mm: float = 0.0) -> tuple[int, int, int, int]:
    x, y, w, h = box
    return (
        math.floor((x - margin_mm) * ppm),
        math.floor((y - margin_mm) * ppm),
        math.ceil((x + w + margin_mm) * ppm),
        math.ceil((y + h + margin_mm) * ppm),
    )


def protect(mask: npt.NDArray[np.bool_], boxes: Sequence[Box], ppm: float, margin: float) -> None:
    """Clear ``mask`` over ``boxes`` (mm) widened by ``margin`` mm."""
    for box in boxes:
        x0, y0, x1, y1 = mm_box_px(box, ppm, margin)
        mask[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = False


def blob(
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
    pts = np.round(np.column_stack([px, py]) * ONE).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(mask, [pts], 1, cv2.LINE_8, SHIFT)
    return mask.astype(bool)


def fmt(value: float) -> str:
    return f"{value:.3g}"

"""Ink drawn like a hand: marks in tick boxes (:data:`MARK_STYLES`, ``corrected``) and
handwriting-like strokes in writing areas (:data:`WRITE_STYLES`), on a field's local canvas."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import cv2
import numpy as np

from downtime.simulate.draw import ONE, SHIFT, Image, Points, Target, bezier, draw_stroke, smooth
from downtime.vocab import FieldKind

MARK_STYLES: tuple[str, ...] = ("tick", "cross", "fill", "scribble", "pencil")
CORRECTED = "corrected"
ALL_MARK_STYLES: tuple[str, ...] = (*MARK_STYLES, CORRECTED)
WRITE_STYLES: tuple[str, ...] = ("pen", "pencil")

# ---- tick boxes


def _hand(
    target: Target, rng: random.Random, size: float, shift: float = 0.12, turn: float = 12.0
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


def mark(canvas: Image, target: Target, style: str, rng: random.Random) -> None:
    ppm = target.ppm
    pen = rng.randint(0, 60)
    pen_width = round(rng.uniform(0.4, 0.7) * ppm)

    def jitter(x: float, y: float, amount: float = 0.05) -> tuple[float, float]:
        return x + rng.uniform(-amount, amount), y + rng.uniform(-amount, amount)

    def tick() -> list[Points]:
        start, bottom, end = jitter(-0.38, 0.0), jitter(-0.08, 0.36), jitter(0.42, -0.46)
        first = bezier(start, bottom, rng.uniform(-0.1, 0.1), 6)
        second = bezier(bottom, end, rng.uniform(-0.12, 0.08), 10)
        return [np.vstack([first, second[1:]])]

    def cross() -> list[Points]:
        return [
            bezier(jitter(-0.42, -0.42, 0.07), jitter(0.42, 0.42, 0.07), rng.uniform(-0.08, 0.08)),
            bezier(jitter(0.42, -0.42, 0.07), jitter(-0.42, 0.42, 0.07), rng.uniform(-0.08, 0.08)),
        ]

    def scribble() -> list[Points]:
        return [
            smooth(np.array([jitter(0.0, 0.0, 0.45) for _ in range(4)]), 6)
            for _ in range(rng.randint(3, 6))
        ]

    def solid() -> None:
        place = _hand(target, rng, rng.uniform(0.85, 1.05), shift=0.06, turn=4.0)
        shape = place(np.array([jitter(sx * 0.5, sy * 0.5, 0.06) for sx, sy in _CORNERS]))
        pts = np.round(shape * ONE).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(canvas, [pts], pen, cv2.LINE_AA, SHIFT)
        draw_stroke(canvas, shape, pen, pen_width, closed=True)

    def draw(strokes: list[Points], ink: int, width: int) -> None:
        place = _hand(target, rng, rng.uniform(0.5, 1.1))
        for stroke in strokes:
            draw_stroke(canvas, place(stroke), ink, width)

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
            line = bezier((sx * over_x, -over_y), (-sx * over_x, over_y), rng.uniform(-0.03, 0.03))
            draw_stroke(canvas, place(line), pen, pen_width)
    else:  # pragma: no cover - styles are checked by fill_page
        raise ValueError(f"unknown mark style {style!r}")


_CORNERS = ((-1, -1), (1, -1), (1, 1), (-1, 1))


# ---- writing areas


def write(canvas: Image, target: Target, kind: str, style: str, rng: random.Random) -> None:
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
        draw_stroke(canvas, points * ppm, ink, width)

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
        path = smooth(np.array(pts), 5)
        path[:, 0] += (baseline - path[:, 1]) * slant
        pen(path)
        if rng.random() < 0.25:  # an i-dot or a t-bar
            dx = rng.uniform(pts[0][0], x)
            pen(np.array([(dx, baseline - 1.5 * xh), (dx + xh * 0.3, baseline - 1.55 * xh)]))
        return x

    if kind == FieldKind.SIGNATURE:
        xh = min(rng.uniform(2.0, 3.5), 0.32 * height_mm)
        baseline = top + height_mm * 0.5 + xh * rng.uniform(0.3, 0.6)
        letters = max(2, min(rng.randint(4, 10), int((width_mm - 2.5) / (xh * 1.2 * 1.3))))
        start = left + rng.uniform(0.5, 1.5)
        end = word(start, baseline, xh, letters, stretch=1.3)
        if rng.random() < 0.5 and end > start + 3:  # an underline flourish
            pen(
                bezier(
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
    shapes: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
        FieldKind.DATETIME: ((1, 3), (2, 5)),
        FieldKind.NUMBER: ((1, 2), (1, 4)),
    }
    clusters, letters_range = shapes.get(kind, ((1, 1000), (2, 8)))
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

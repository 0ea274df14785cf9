"""Printed pages rendered, then filled like a person, field by field, with the truth kept."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from downtime.geometry import Box
from downtime.simulate.draw import MM_PER_INCH, Image, Target
from downtime.simulate.hand import ALL_MARK_STYLES, MARK_STYLES, WRITE_STYLES, mark, write
from downtime.vocab import WRITING_KINDS, FieldKind, MarkState

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
        return {
            fid
            for fid, state in self.fields.items()
            if state in (MarkState.MARKED, MarkState.WRITTEN)
        }


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
        if kind == FieldKind.CHECKBOX:
            if rng.random() < mark_rate:
                style = rng.choice(list(styles))
                local = _Local(out, box, 1.0, ppm)
                mark(local.canvas, local.target, style, rng)
                local.commit(out, guards, index)
                states[fid], used[fid] = MarkState.MARKED, style
            else:
                states[fid] = MarkState.EMPTY
        elif kind in WRITING_KINDS:
            if rng.random() < write_rate:
                style = rng.choice(list(write_styles))
                local = _Local(out, box, 0.6, ppm)
                write(local.canvas, local.target, kind, style, rng)
                local.commit(out, guards, index)
                states[fid], used[fid] = MarkState.WRITTEN, style
            else:
                states[fid] = MarkState.BLANK
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


class _Local:
    """A white canvas around one field's box (``margin_mm`` wider), for its ink alone."""

    def __init__(self, page: Image, box: Box, margin_mm: float, ppm: float) -> None:
        x, y, w, h = box
        self.x0 = max(0, math.floor((x - margin_mm) * ppm))
        self.y0 = max(0, math.floor((y - margin_mm) * ppm))
        self.x1 = max(self.x0, min(page.shape[1], math.ceil((x + w + margin_mm) * ppm)))
        self.y1 = max(self.y0, min(page.shape[0], math.ceil((y + h + margin_mm) * ppm)))
        self.canvas: Image = np.full((self.y1 - self.y0, self.x1 - self.x0), 255, np.uint8)
        self.target = Target(x * ppm - self.x0, y * ppm - self.y0, w * ppm, h * ppm, ppm)

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

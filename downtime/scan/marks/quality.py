"""Page quality: paper level on a 1 mm grid, print darkness, noise, the grey wedge, and whether
faint marks may have been lost (binarised or low-contrast page) or are known to have been kept."""

from __future__ import annotations

import cv2
import numpy as np

from downtime.geometry import (
    FIDUCIALS_MM,
    HOLLOW_FIDUCIAL,
    PX_PER_MM,
    TONE_REFERENCE,
    TONE_WEDGE,
    TONE_WEDGE_MM,
    box_px,
    tone_steps_mm,
)
from downtime.scan.marks.model import Image, MarkSettings, PageQuality, px, u8


def check_page(page: np.ndarray) -> Image:
    if page.ndim != 2 or page.dtype != np.uint8:
        raise ValueError(f"a registered page is a 2-D uint8 image, not {page.dtype} {page.shape}")
    if page.shape[0] < 64 or page.shape[1] < 64:
        raise ValueError(f"a registered page of {page.shape} pixels is too small")
    return np.ascontiguousarray(page, dtype=np.uint8)


def tone_wedge(page: Image, background: float, ink_ratio: float) -> tuple[float, ...]:
    """Darkness of each step of the printed grey wedge relative to solid print (0 = paper,
    1 = solid print), in the order of :data:`~downtime.geometry.TONE_WEDGE`: about the printed
    darkness on a faithful scan, 0 or 1 each after a threshold (black-and-white scanner,
    copier, fax)."""
    x0, _, x1, y1 = box_px(TONE_WEDGE_MM)
    inset = px(1.0)
    below = page[y1 + inset : y1 + 4 * inset, x0:x1]
    if below.size == 0:
        return tuple(0.0 for _ in TONE_WEDGE)
    paper_here = float(np.median(below))
    black = background * (1.0 - ink_ratio)
    span = max(paper_here - black, 1.0)
    side = px(0.6)
    out = []
    for box in tone_steps_mm():
        sx0, sy0, sx1, sy1 = box_px(box)
        step = page[sy0 + side : sy1 - side, sx0 + side : sx1 - side]
        level = float(np.median(step)) if step.size else paper_here
        out.append(float(np.clip((paper_here - level) / span, 0.0, 1.0)))
    return tuple(out)


def faintest_kept(wedge: tuple[float, ...], s: MarkSettings) -> float:
    """On a page whose tones were lost: the darkness of the lightest wedge step still dark.

    Read only when the wedge looks the way a threshold leaves it: light steps white, at most
    one step grey (the one the threshold cut through: noise dithers it), then every darker
    step dark. Anything else (a stain, a tear, nothing kept, even the lightest step dark)
    gives 1.0: nothing is vouched for."""
    dark = [value >= s.wedge_dark for value in wedge]
    light = [value <= s.wedge_light for value in wedge]
    if True not in dark or not light[0]:
        return 1.0
    first = dark.index(True)
    cut = first - 1 if not light[first - 1] else first
    if not all(light[:cut]) or not all(dark[first:]):
        return 1.0
    return TONE_WEDGE[first]


def tones_kept(wedge: tuple[float, ...], s: MarkSettings) -> bool:
    """Whether the scan kept grey as grey: the reference step grey and enough of the others
    between paper and print (a threshold leaves at most one step grey)."""
    reference = wedge[TONE_WEDGE.index(TONE_REFERENCE)]
    greys = sum(s.wedge_grey_floor < value < s.wedge_dark for value in wedge)
    return s.tone_patch_min <= reference <= s.tone_patch_max and greys >= s.wedge_grey_steps


def page_quality(page: np.ndarray, settings: MarkSettings = MarkSettings()) -> PageQuality:  # noqa: B008 (frozen dataclass)
    """Paper level (everywhere, on a 1 mm grid), print darkness, noise, and whether faint
    marks may have been lost (binarised or low-contrast page)."""
    img = check_page(page)
    h, w = img.shape
    cell = max(2, px(1.0))
    sub = cell // 2
    # every other pixel of every other half cell is plenty to find the paper, and 12× faster
    sample = img[sub // 2 :: sub, sub // 2 :: sub]
    small = u8(cv2.resize(sample, (w // cell, h // cell), interpolation=cv2.INTER_AREA))
    small = u8(cv2.blur(small, (3, 3)))
    k = max(3, round(settings.background_kernel_mm * PX_PER_MM / cell) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    paper = u8(cv2.blur(cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel), (5, 5)))

    cumulative = np.cumsum(np.bincount(paper.ravel(), minlength=256))

    def level(share: float) -> float:
        return float(np.searchsorted(cumulative, share * cumulative[-1]))

    background = level(0.5)
    light_range = level(0.05) / max(level(0.95), 1.0)

    ink_ratio = _print_darkness(img, paper, cell)
    contrast = max(background * ink_ratio, 1.0)

    counts = cv2.calcHist([np.ascontiguousarray(img[::6, ::4])], [0], None, [256], [0, 256])
    hist = np.asarray(counts, dtype=np.float64).ravel()
    binarised = float(np.sort(hist)[-4:].sum()) >= settings.binarised_share * float(hist.sum())
    wedge = tone_wedge(img, background, ink_ratio)
    tone = wedge[TONE_WEDGE.index(TONE_REFERENCE)]
    thresholded = binarised or not tones_kept(wedge, settings)

    noise = _noise(img, paper, cell, contrast)
    margin = max(settings.ink_margin * contrast, settings.noise_sigmas * noise)
    low_contrast = (
        contrast < settings.low_contrast_levels or margin > settings.faint_margin * contrast
    )
    return PageQuality(
        background=background,
        black=background * (1.0 - ink_ratio),
        ink_ratio=ink_ratio,
        contrast=contrast,
        noise=noise,
        margin=margin,
        light_range=light_range,
        binarised=thresholded,
        low_contrast=low_contrast,
        tone_patch=tone,
        tone_wedge=wedge,
        faintest_kept=faintest_kept(wedge, settings) if thresholded else 0.0,
        shape=(h, w),
        cell_px=cell,
        background_map=paper,
    )


def _print_darkness(img: Image, paper: Image, cell: int) -> float:
    """1 − (solid print / paper), measured in the solid fiducials (middle 4 mm of each)."""
    ratios = []
    for name, (x, y, w, h) in FIDUCIALS_MM.items():
        if name == HOLLOW_FIDUCIAL:
            continue
        cx, cy = x + w / 2, y + h / 2
        x0, y0, x1, y1 = box_px((cx - 2.0, cy - 2.0, 4.0, 4.0))
        py, px_ = (y0 + y1) // 2 // cell, (x0 + x1) // 2 // cell
        if x0 < 0 or y0 < 0 or py >= paper.shape[0] or px_ >= paper.shape[1]:
            continue
        inner = float(np.median(img[y0:y1, x0:x1]))
        ratios.append(1.0 - inner / max(float(paper[py, px_]), 1.0))
    found = sorted(r for r in ratios if r >= 0.3)
    if found:
        return min(found[len(found) // 2], 1.0)
    # fiducials unreadable (torn, stained, off the image): the darkest print on the page
    sample = img[::4, ::4]
    dark = float(np.percentile(sample, 0.5))
    return float(np.clip(1.0 - dark / max(float(np.median(paper)), 1.0), 0.15, 1.0))


def _noise(img: Image, paper: Image, cell: int, contrast: float) -> float:
    """Robust σ of the paper: median minus 16th percentile of paper pixels relative to the
    local paper level; one-sided, so that white clipped at 255 does not hide it."""
    h, w = img.shape
    rows = np.arange(cell // 2, min(h, paper.shape[0] * cell), 6 * cell)  # every 6 mm
    width = min(w, paper.shape[1] * cell)
    local = np.repeat(paper[rows // cell], cell // 2, axis=1)[:, : width // 2].astype(np.int16)
    dev = img[rows, : local.shape[1] * 2 : 2].astype(np.int16) - local
    dev = dev[dev >= -int(0.25 * contrast)]
    if dev.size < 100:
        return 0.0
    cumulative = np.cumsum(np.bincount((dev + 255).ravel(), minlength=511))
    p50 = float(np.searchsorted(cumulative, cumulative[-1] * 0.5))
    p16 = float(np.searchsorted(cumulative, cumulative[-1] * 0.16))
    return max(p50 - p16, 0.0)

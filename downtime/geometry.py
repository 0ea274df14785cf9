"""The page frame every form shares: where the marks, codes and serial are printed.

Millimetres from the **top-left** corner of an A4 portrait sheet, ``[left, top, width,
height]`` for boxes. The renderer draws from these numbers and the scanner looks for what was
drawn with the same numbers, so they live in one place.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

Box = tuple[float, float, float, float]

PAGE_MM = (210.0, 297.0)
BODY_ORIGIN_MM = (15.0, 64.0)  # top-left of the body area forms draw into
BODY_SIZE_MM = (180.0, 168.0)

# Registration marks: 6 mm squares whose outer edges sit 15 mm inside the paper edge (marks at
# 8 mm were clipped on scans skewed by 3.5°). The bottom-right one is hollow, so the page's
# orientation is never ambiguous.
FIDUCIAL_MM = 6.0
FIDUCIALS_MM: dict[str, Box] = {
    "top-left": (15.0, 15.0, FIDUCIAL_MM, FIDUCIAL_MM),
    "top-right": (189.0, 15.0, FIDUCIAL_MM, FIDUCIAL_MM),
    "bottom-left": (15.0, 276.0, FIDUCIAL_MM, FIDUCIAL_MM),
    "bottom-right": (189.0, 276.0, FIDUCIAL_MM, FIDUCIAL_MM),
}
HOLLOW_FIDUCIAL = "bottom-right"
FIDUCIAL_HOLE_MM = 2.6

# The page code: modules of 0.635 mm (1/40 in: 5 px at 200 dpi, 7.5 px at 300 dpi; a code
# needs at least 0.6 mm to survive copying). Code 1 hangs from its top-right corner under the
# top-right mark; code 2 stands on its bottom-left corner over the bottom-left mark, so a stain
# or a torn corner takes at most one of them.
QR_MODULE_MM = 0.635
CODE1_TOP_RIGHT_MM = (195.0, 24.0)
CODE2_BOTTOM_LEFT_MM = (15.0, 273.0)

# Whose page it is, in the header: the name in bold, and under it the identifier in monospaced
# bold type (MONO_FONT_FILE), where the scanner compares it glyph by glyph with the page code's.
# A text box is [left, top, width, height]: the baseline is at top + 0.8 × the type size, and a
# text wider than the box is printed smaller to fit it.
NAME_LINE_MM: Box = (15.0, 25.5, 140.0, 8.0)
NAME_LINE_PT = 20.0
ID_TEXT_MM: Box = (15.0, 37.3, 80.0, 6.0)
ID_TEXT_PT = 17.0
MONO_FONT_FILE = "DejaVuSansMono-Bold.ttf"

# The form serial in large type in the footer (and small in the header), monospaced too.
SERIAL_FOOTER_MM: Box = (57.0, 239.0, 120.0, 6.0)
SERIAL_FOOTER_PT = 16.0

# A grey wedge in the footer: steps printed from lighter than the faintest pencil to darker than
# any, left to right. A faithful scan keeps every step grey. A black-and-white scanner, a copier
# or a fax turns each step white or black at its threshold: the lightest step still black says
# how light a mark can be and still be on the scan (downtime.scan.marks reads it).
TONE_WEDGE_MM: Box = (150.0, 236.5, 32.0, 5.0)
TONE_WEDGE: tuple[float, ...] = (0.04, 0.08, 0.12, 0.16, 0.20, 0.28, 0.40, 0.60)  # darkness
TONE_REFERENCE = 0.28  # the step as dark as a typical pencil stroke: grey on a faithful scan


def tone_steps_mm() -> tuple[Box, ...]:
    """Where each step of the wedge is printed, in the order of :data:`TONE_WEDGE`."""
    x, y, w, h = TONE_WEDGE_MM
    step = w / len(TONE_WEDGE)
    return tuple((x + k * step, y, step, h) for k in range(len(TONE_WEDGE)))


# Registered page images (what the scanner keeps and reads marks from): the page frame at this
# resolution, 8 px/mm ≈ 203 dpi.
PX_PER_MM = 8.0


def code_boxes_mm(modules: int) -> tuple[Box, Box]:
    """Where the two codes of a page with a ``modules``-wide symbol are printed."""
    size = modules * QR_MODULE_MM
    x1, y1 = CODE1_TOP_RIGHT_MM
    x2, y2 = CODE2_BOTTOM_LEFT_MM
    return (x1 - size, y1, size, size), (x2, y2 - size, size, size)


def box_px(box_mm: Box, px_per_mm: float = PX_PER_MM) -> tuple[int, int, int, int]:
    """A box in whole pixels of a registered page image: left, top, right, bottom."""
    x, y, w, h = box_mm
    return (
        round(x * px_per_mm),
        round(y * px_per_mm),
        round((x + w) * px_per_mm),
        round((y + h) * px_per_mm),
    )


def font_file(name: str) -> Path:
    """One of the embedded TrueType files (``resources/fonts``): the printer draws with it and
    the scanner renders the same glyphs to compare them with what it sees."""
    return Path(str(resources.files("downtime") / "resources" / "fonts" / name))

"""Where a page's codes are, for the degradations that aim at them, and what they must spare."""

from __future__ import annotations

from downtime.geometry import FIDUCIALS_MM, SERIAL_FOOTER_MM, Box, code_boxes_mm
from downtime.simulate.draw import MM_PER_INCH, Image
from downtime.simulate.pixels import mm_box_px

TYPICAL_CODE_MODULES = 57  # QR version 10: a typical page code


def read_codes(image: Image, ppm: float) -> list[tuple[str, tuple[int, int, int, int]] | None]:
    """For code 1 and code 2 of an upright page: its text and pixel box (left, top, right,
    bottom) as read by zxing-cpp in the corner where it is printed, or None where none reads."""
    import zxingcpp

    # Search the area a code of up to 77 modules (QR version 15) would cover, plus 3 mm.
    widest = code_boxes_mm(77)
    found: list[tuple[str, tuple[int, int, int, int]] | None] = []
    for box in widest:
        x0, y0, x1, y1 = mm_box_px(box, ppm, 3.0)
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(image.shape[1], x1), min(image.shape[0], y1)
        results = zxingcpp.read_barcodes(
            image[y0:y1, x0:x1], formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
        )
        if not results:
            found.append(None)
            continue
        position = results[0].position
        corners = [
            position.top_left,
            position.top_right,
            position.bottom_right,
            position.bottom_left,
        ]
        xs = [p.x + x0 for p in corners]
        ys = [p.y + y0 for p in corners]
        found.append((str(results[0].text), (min(xs), min(ys), max(xs) + 1, max(ys) + 1)))
    return found


def code_boxes_px(image: Image, ppm: float) -> list[tuple[int, int, int, int]]:
    """Where the two codes are: as read, or else where a typical code is printed."""
    typical = code_boxes_mm(TYPICAL_CODE_MODULES)
    boxes = []
    for read, box in zip(read_codes(image, ppm), typical, strict=True):
        boxes.append(read[1] if read is not None else mm_box_px(box, ppm))
    return boxes


def page_ppm(image: Image, dpi_x: float, dpi_y: float, kind: str) -> float:
    if abs(dpi_x - dpi_y) > 0.01:
        raise ValueError(f"{kind} takes the page as printed (square pixels): apply it first")
    return dpi_x / MM_PER_INCH


def frame_boxes() -> list[Box]:
    """What a blot or a tear must leave alone: the registration marks and the printed serial."""
    return [*FIDUCIALS_MM.values(), SERIAL_FOOTER_MM]

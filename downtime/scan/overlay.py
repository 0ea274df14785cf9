"""Debug overlays: what the scanner saw, as an annotated PNG per page.

The registered page with every field's box in the colour of its verdict (marked: green,
written: blue, uncertain: orange, empty/blank: grey) and its score. The header and footer
areas that print the patient's name and identifier are blacked out: an overlay is about
geometry and verdicts, and may end up in a bug report.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from downtime import files
from downtime.geometry import BODY_ORIGIN_MM, BODY_SIZE_MM, box_px
from downtime.model import FieldBox
from downtime.scan.decode import Symbol
from downtime.scan.marks import FieldReading

Image = npt.NDArray[np.uint8]

COLOURS = {  # BGR
    "marked": (40, 160, 40),
    "written": (200, 90, 20),
    "uncertain": (0, 140, 255),
    "empty": (150, 150, 150),
    "blank": (150, 150, 150),
}
UNREADABLE_SIGMA = 4.0  # px of blur on a halved page: layout visible, text not
# Page areas (mm) that print who the page belongs to. The ward cover sheet prints the whole
# census in its body, so there the body is blacked out too.
PRIVATE_MM = ((15.0, 23.0, 140.0, 39.0), (57.0, 246.5, 130.0, 6.0))
BODY_MM = (*BODY_ORIGIN_MM, *BODY_SIZE_MM)


def draw_unregistered(
    folder: Path,
    source: str,
    page: int,
    image: Image,
    symbols: Sequence[Symbol],
    reason: str | None,
) -> Path:
    """A page that was not identified: the image as scanned, halved and blurred past reading
    (it was not aligned, so where its name is printed is not known), the page codes found
    outlined, and the verdict."""
    scale = 0.5
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    unreadable = cv2.GaussianBlur(np.asarray(small, dtype=np.uint8), (0, 0), UNREADABLE_SIGMA)
    canvas = cv2.cvtColor(np.asarray(unreadable, dtype=np.uint8), cv2.COLOR_GRAY2BGR)
    for symbol in symbols:
        corners = np.array(symbol.corners, dtype=np.float64) * scale
        cv2.polylines(canvas, [corners.astype(np.int32)], True, (200, 0, 200), 2)
    label = reason or "blank"
    cv2.putText(canvas, label, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 220), 2)
    return _write(folder, source, page, canvas)


def draw_overlay(
    folder: Path,
    source: str,
    page: int,
    registered: Image,
    fields: Sequence[FieldBox],
    readings: Sequence[FieldReading],
    *,
    census_page: bool = False,
) -> Path:
    """``census_page``: the page lists patients in its body (the ward cover sheet)."""
    canvas = cv2.cvtColor(registered, cv2.COLOR_GRAY2BGR)
    for box in (*PRIVATE_MM, BODY_MM) if census_page else PRIVATE_MM:
        x0, y0, x1, y1 = box_px(box)
        canvas[y0:y1, x0:x1] = 0
    by_id = {r.field_id: r for r in readings}
    for f in fields:
        reading = by_id.get(f.id)
        state = reading.state if reading else "uncertain"
        x0, y0, x1, y1 = box_px(f.box_mm)
        colour = COLOURS.get(state, COLOURS["uncertain"])
        cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, 2 if state != "empty" else 1)
        if reading is not None and state not in ("empty", "blank"):
            label = f"{reading.score:.2f}"
            cv2.putText(canvas, label, (x0, y0 - 2), cv2.FONT_HERSHEY_SIMPLEX, 0.35, colour, 1)
    return _write(folder, source, page, canvas)


def _write(folder: Path, source: str, page: int, canvas: npt.NDArray[Any]) -> Path:
    files.private_folder(folder)
    # The file's name, and a short hash of its whole path: scanners reuse names across folders.
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(source).name)
    tag = hashlib.sha256(source.encode("utf-8")).hexdigest()[:8]
    path = folder / f"{name}-{tag}-p{page:03d}.png"
    ok, png = cv2.imencode(".png", canvas, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if ok:
        files.write_atomic(path, png.tobytes())
    return path

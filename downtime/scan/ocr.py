"""Reading the printed form serial with Tesseract: the only module that runs an OCR engine.

Used only when both page codes of a page are destroyed. The serial's two check characters
decide: a reading that fails them is no reading, so OCR can never silently name another page
(see downtime.codes.serials). Tesseract comes from the system's packages (Debian:
``tesseract-ocr``); when it is missing, pages without a readable code are simply set aside.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
import numpy.typing as npt

from downtime.codes.serials import ALPHABET, parse_serial
from downtime.errors import SerialError
from downtime.geometry import SERIAL_FOOTER_MM, box_px

Image = npt.NDArray[np.uint8]
TIMEOUT_S = 30.0  # one line of text takes ~0.1 s; a busy machine (every core scanning) more
# How the serial's crop is prepared for Tesseract, tried in turn until a reading passes the
# check characters: enlarged 2× and binarised (Otsu) reads 98.5 % of serials on pages with both
# codes torn away at 150 dpi; each of the rest, in a measured 600, read right at 3× binarised or
# at 1.5× in grey (Tesseract drops or doubles a glyph at one scale, not at another). A reading
# that fails the check characters is no reading, so trying again never names another page.
PREPARATIONS = ((2.0, True), (3.0, True), (1.5, False), (3.0, False))
SERIAL_WIDTH_MM = 52.0  # "XXXX-XXXX-XXXX" in 16 pt DejaVu Sans Mono Bold
# Tesseract's language data the serial is read with (Debian: tesseract-ocr-eng, which
# tesseract-ocr brings): the serial's alphabet is Latin capitals and digits.
LANGUAGES = ("eng",)


@dataclass(frozen=True)
class TesseractInfo:
    """The Tesseract on this computer, as ``downtime doctor`` reports it."""

    path: str
    version: str  # its first line of ``--version`` ("tesseract 5.3.0"), "" when it said none
    languages: tuple[str, ...]  # the language data installed (``--list-langs``)


@cache
def tesseract() -> str | None:
    return shutil.which("tesseract")


def tesseract_info() -> TesseractInfo | None:
    """Where Tesseract is, its version and its language data; None when it is not on PATH."""
    exe = tesseract()
    if exe is None:
        return None
    version = _ask(exe, "--version")
    listed = _ask(exe, "--list-langs").splitlines()
    # The first line says where the data is ("List of available languages in …"), then one
    # language a line.
    languages = tuple(line.strip() for line in listed[1:] if line.strip())
    return TesseractInfo(exe, version.splitlines()[0].strip() if version else "", languages)


def _ask(exe: str, flag: str) -> str:
    try:
        done = subprocess.run(  # noqa: S603 - a fixed executable found on PATH, no shell
            [exe, flag], capture_output=True, timeout=TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    # Older versions print to stderr.
    return (done.stdout or done.stderr).decode("utf-8", errors="replace")


def read_serial(registered: Image) -> str | None:
    """The serial printed in the footer of a registered page, only if its check characters
    hold; None when it cannot be read with certainty (or Tesseract is not installed)."""
    exe = tesseract()
    if exe is None:
        return None
    # Just the serial: its label ends 0.5 mm above it, and 14 mono characters of 16 pt end
    # about 50 mm to the right of its start.
    x, y, _, h = SERIAL_FOOTER_MM
    x0, y0, x1, y1 = box_px((x - 1.5, y - 0.2, SERIAL_WIDTH_MM + 3.0, h + 1.0))
    crop = registered[max(y0, 0) : y1, max(x0, 0) : x1]
    for scale, binarise in PREPARATIONS:
        serial = _read_once(exe, crop, scale, binarise)
        if serial is not None:
            return serial
    return None


def _read_once(exe: str, crop: Image, scale: float, binarise: bool) -> str | None:
    big = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    if binarise:
        _, big = cv2.threshold(big, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    ok, png = cv2.imencode(".png", np.asarray(big, dtype=np.uint8))
    if not ok:
        return None
    allowed = "".join(sorted(set(ALPHABET))) + "-"
    one_line = ["--psm", "7", "-c", f"tessedit_char_whitelist={allowed}"]
    try:
        done = subprocess.run(  # noqa: S603 - a fixed executable found on PATH, no shell
            [exe, "stdin", "stdout", "-l", "+".join(LANGUAGES), *one_line],
            input=png.tobytes(),
            capture_output=True,
            timeout=TIMEOUT_S,
            # one thread: scan workers already use every core, and Tesseract's own OpenMP
            # threads would fight them (its documentation advises this for parallel runs)
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = done.stdout.decode("ascii", errors="ignore").strip()
    try:
        return parse_serial(text)
    except SerialError:
        return None

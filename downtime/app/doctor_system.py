"""``downtime doctor``'s checks of what the kit runs on: Tesseract and its language data, the
QR readers (zxing-cpp, and libzbar through pyzbar), the QR encoder in use, the fonts.

Each QR reader is asked to read a page code made by the encoder in use, as a scan would: a
reader that loads but reads nothing is as good as missing.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from downtime.app.doctor_check import FAILED, OK, WARNING, Check
from downtime.codes.qr import ENCODERS, encode, encoder_name
from downtime.errors import DowntimeError, Said
from downtime.pack.fonts import font_problems
from downtime.scan.decode import read_zbar, read_zxing, reader_problem
from downtime.scan.ocr import LANGUAGES, tesseract_info

Image = npt.NDArray[np.uint8]
APT = "sudo apt-get install"  # Debian and Ubuntu: the packages the README names
PROBE_TEXT = "DK1:DOCTOR-PROBE-0123456789"  # read back by each QR reader
PROBE_PX = 6  # pixels per module of the probe image (a clean 300 dpi print is about 7.5)


def dependency_checks(qr_encoder: str) -> list[Check]:
    try:
        probe: Image | None = _probe_image(encode(PROBE_TEXT, qr_encoder))
    except DowntimeError:
        probe = None  # the encoder check says why
    return [
        tesseract_check(),
        reader_check("zxing-cpp", probe),
        reader_check("pyzbar", probe),
        encoder_check(qr_encoder),
        fonts_check(),
    ]


def tesseract_check() -> Check:
    found = tesseract_info()
    if found is None:
        return Check(
            "tesseract",
            FAILED,
            "Tesseract is not on PATH: a page whose two codes are destroyed is set aside, "
            "not read by its printed serial",
            f"{APT} tesseract-ocr",
            Said("tesseract_missing"),
        )
    lacking = [lang for lang in LANGUAGES if lang not in found.languages]
    where = f"{found.version or 'Tesseract'} at {found.path}"
    if lacking:
        packages = " ".join(f"tesseract-ocr-{lang}" for lang in lacking)
        return Check(
            "tesseract",
            FAILED,
            f"{where} has no language data {', '.join(lacking)} (it has: "
            f"{', '.join(found.languages) or 'none'})",
            f"{APT} {packages}",
            Said(
                "tesseract_lacks",
                {
                    "where": where,
                    "lacking": ", ".join(lacking),
                    "has": ", ".join(found.languages) or "–",
                },
            ),
        )
    languages = ", ".join(LANGUAGES)
    said = Said("tesseract_ok", {"where": where, "languages": languages})
    return Check("tesseract", OK, f"{where}, language data {languages}", said=said)


READERS = {
    "zxing-cpp": (
        "zxing-cpp (the QR reader)",
        "scans cannot read page codes",
        "install the kit's Python dependencies: pip install zxing-cpp",
    ),
    "pyzbar": (
        "libzbar (pyzbar, the second QR reader)",
        "a code zxing-cpp cannot read gets no second try: more pages are set aside",
        f"{APT} libzbar0",
    ),
}


def reader_check(reader: str, probe: Image | None) -> Check:
    name = "zbar" if reader == "pyzbar" else reader
    title, without, fix = READERS[reader]
    problem = reader_problem(reader)
    if problem is not None:
        said = Said(f"{name}_unloaded", {"problem": problem})
        return Check(name, FAILED, f"{title} cannot be loaded ({problem}): {without}", fix, said)
    if probe is None:
        what = f"{title} loads (no QR encoder to make a code for it to read)"
        return Check(name, OK, what, said=Said(f"{name}_untried"))
    read = read_zxing(probe) if reader == "zxing-cpp" else read_zbar(probe)
    if [s.text for s in read] != [PROBE_TEXT]:
        what, said = f"{title} loads but cannot read a code: {without}", Said(f"{name}_unread")
        return Check(name, FAILED, what, fix, said)
    return Check(name, OK, f"{title} reads a page code", said=Said(f"{name}_ok"))


def encoder_check(name: str) -> Check:
    try:
        used = encoder_name(name)
    except DowntimeError as e:
        fix = e.hint or "qr_encoder = 'auto' in site.toml (or zxing-cpp or qrcode)"
        said = Said("encoder_failed", {"message": e.message})
        return Check("qr-encoder", FAILED, f"{e.message}: packs cannot be printed", fix, said)
    chosen = f"qr_encoder = {name!r} in site.toml" if name != "auto" else "auto"
    what = f"{used} ({chosen})"
    fastest = next(iter(ENCODERS))
    if used != fastest:
        return Check(
            "qr-encoder",
            WARNING,
            f"{what}: each page code takes 15-20 ms to make, not 0.5 ms as with {fastest}: "
            "packs print several times slower",
            f"pip install {fastest}" if name == "auto" else "qr_encoder = 'auto' in site.toml",
            Said("encoder_slow", {"what": what, "fastest": fastest}),
        )
    return Check("qr-encoder", OK, what)


def fonts_check() -> Check:
    problems = font_problems()
    if problems:
        return Check(
            "fonts",
            FAILED,
            f"{'; '.join(problems)}: packs cannot be printed",
            "reinstall the kit (its fonts ship in the package)",
            Said("fonts_failed", {"problems": "; ".join(problems)}),
        )
    what = "DejaVu Sans (regular, bold) and DejaVu Sans Mono Bold print"
    return Check("fonts", OK, what, said=Said("fonts_ok"))


def _probe_image(matrix: npt.NDArray[np.bool_]) -> Image:
    """A QR matrix as a clean greyscale image with a quiet zone, as a scanner would see it."""
    dark = np.kron(matrix.astype(np.uint8), np.ones((PROBE_PX, PROBE_PX), dtype=np.uint8))
    image = np.where(dark > 0, 0, 255).astype(np.uint8)
    return np.pad(image, 4 * PROBE_PX, constant_values=255)

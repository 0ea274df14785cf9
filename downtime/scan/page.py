"""One scanned page, start to finish: identify, register, read. Runs in a worker process
(:mod:`downtime.scan.workers`).

Everything a worker needs comes in a :class:`WorkerConfig`; it opens the ledger read-only (to
find an identified page's field layout) and writes only content-addressed files (the
registered page image, and the debug overlay when asked). What it returns is small and
picklable; the ledger is written by the main process alone.

Order for each page, and why:

1. **identify** — find DK1 codes, verify each signature before reading anything from it. Two
   verified codes that disagree, or a verified code beside one that fails, set the page aside
   (someone has pasted a code over another). No code at all: read the printed serial
   (Tesseract) and accept it only if its check characters hold; else the page is blank (no ink)
   or set aside as ``no-page-code``.
2. **register** — a homography from the code corners and the registration marks; a mirrored
   page (the show-through of a duplex back) registers only when flipped: it is blank. A
   genuine page that does not register (its marks stained or torn away, crumpled) has still
   come back: it is placed roughly from its codes and returned, never set aside as missing.
3. **check whose page it shows** — the printed identifier and serial against the code's (see
   :mod:`downtime.scan.identity`); another patient's, or ink over them, sets the page aside.
   A page placed from its codes alone is checked too: its codes place the header and footer
   closely enough (a code pasted onto a sheet that also cannot be aligned must not file the
   sheet under the code's patient); where they do not, the page goes to a person.
4. **read** — every field of the page's layout from the ledger: tick boxes and writing areas.
   A page that registers poorly is read, but every field is ``uncertain`` (flagged
   ``registration``; ``unregistered`` when it was placed from its codes alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import cv2
import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from downtime import codes
from downtime.errors import PageCodeError
from downtime.geometry import box_px
from downtime.ledger import IssuedPage, Ledger
from downtime.ledger.pages import issued_page, page_by_serial
from downtime.ledger.store import Store
from downtime.scan import decode, identity, marks, ocr, register
from downtime.scan.fiducials import MIN_PAGE_PX, MIN_PX_PER_MM
from downtime.scan.outcome import PageOutcome, PageTask, WorkerConfig
from downtime.scan.overlay import draw_overlay, draw_unregistered
from downtime.vocab import MarkState, Reason, ScanStatus

Image = npt.NDArray[np.uint8]
REGISTERED_QUALITY = 80  # JPEG quality of the stored registered page image (~300 KB a page;
# two pages fit one attachment under Medplum's 1 MB string limit)
BLANK_INK_FRACTION = 0.002  # a page with less than this fraction of dark pixels is blank
DARK_BELOW_BACKGROUND = 55  # grey levels below the paper that count as ink for that test:
# printed black on the dullest scans is 70+ below the paper; show-through is 35 at most
MIRRORED = "the page code is genuine but this is a mirror image of the page: rescan its front"
UNREGISTERED = (
    "the page code is genuine but the page could not be aligned to its form: returned with "
    "every field for review; a flat rescan, the whole page in view, may read it"
)


# --------------------------------------------------------------------------------------------
# The page


def scan_image(
    image: Image,
    dpi: tuple[float, float] | None,
    task: PageTask,
    config: WorkerConfig,
    keys: Sequence[Ed25519PublicKey],
    ledger: Ledger,
) -> PageOutcome:
    image, dpi = square_pixels(image, dpi)
    if too_small(image):
        return _too_small(task, image)
    if is_blank(image):
        # Nothing printed black: a blank sheet, or the back of a duplex scan where the front
        # shows through (faint, mirrored; its codes may even decode: they never identify it).
        outcome, symbols = _blank(task, None), list[decode.Symbol]()
    else:
        px_per_mm = decode.estimate_px_per_mm(image.shape, dpi)
        symbols, _ = decode.find_page_codes(image, px_per_mm=px_per_mm)
        outcome = _identify(image, px_per_mm, symbols, task, config, keys, ledger)
    if config.debug_dir is not None and outcome.status != "identified":
        draw_unregistered(
            config.debug_dir, task.file.source, task.index, image, symbols, outcome.reason
        )
    return outcome


def _identify(
    image: Image,
    px_per_mm: float,
    symbols: Sequence[decode.Symbol],
    task: PageTask,
    config: WorkerConfig,
    keys: Sequence[Ed25519PublicKey],
    ledger: Ledger,
) -> PageOutcome:
    verified: list[tuple[decode.Symbol, codes.PageCode]] = []
    failures: list[PageCodeError] = []
    for symbol in symbols:
        try:
            verified.append((symbol, codes.decode(symbol.text, keys)))
        except PageCodeError as e:
            failures.append(e)
    if verified and (failures or len({c.page_uid for _, c in verified}) > 1):
        return _set_aside(
            task,
            Reason.CODES_DISAGREE,
            "the page carries two different page codes: one may have been pasted over the "
            "other; check the paper original",
        )
    if failures:
        return _set_aside(task, failures[0].reason, failures[0].message)
    if verified:
        return _identified_by_code(
            image, [s for s, _ in verified], verified[0][1], task, config, ledger
        )
    return _without_code(image, px_per_mm, task, config, ledger)


def square_pixels(
    image: Image, dpi: tuple[float, float] | None
) -> tuple[Image, tuple[float, float] | None]:
    """Resample an image with non-square pixels (a fax: 204 × 98 dpi) to square ones; QR
    readers and the mark finder expect them."""
    if dpi is None or abs(dpi[0] - dpi[1]) <= 0.02 * max(dpi):
        return image, dpi
    target = max(dpi)
    resized = cv2.resize(
        image, None, fx=target / dpi[0], fy=target / dpi[1], interpolation=cv2.INTER_LINEAR
    )
    return np.asarray(resized, dtype=np.uint8), (target, target)


def _identified_by_code(
    image: Image,
    symbols: list[decode.Symbol],
    code: codes.PageCode,
    task: PageTask,
    config: WorkerConfig,
    ledger: Ledger,
) -> PageOutcome:
    reg = register.register_with_codes(image, symbols)
    if reg is None:
        if _registers_mirrored(image):
            return _blank(task, Reason.SHOW_THROUGH)
        # Genuine: it has come back even if it cannot be aligned (2. above), every field unsure.
        reg = register.register_roughly(image, symbols)
        if reg is None:  # its codes read only from a mirror image of it
            return _set_aside(task, Reason.REGISTRATION_FAILED, MIRRORED, code=code)
    outcome = _read(image, reg, code.page_uid, "code", task, config, ledger, code=code)
    if reg.method == register.ROUGH and outcome.status == ScanStatus.IDENTIFIED:
        return replace(outcome, message=UNREGISTERED)
    return outcome


def _without_code(
    image: Image, px_per_mm: float, task: PageTask, config: WorkerConfig, ledger: Ledger
) -> PageOutcome:
    reg = register.register_with_marks(image, px_per_mm)
    if reg is not None and config.ocr:
        serial = ocr.read_serial(register.warp(image, reg))
        page = page_by_serial(ledger, serial) if serial else None
        if page is not None:
            return _read(image, reg, page.page_uid, "serial", task, config, ledger)
    return _set_aside(
        task,
        Reason.NO_PAGE_CODE,
        "no readable page code: rescan at 200 dpi or more, or type the printed form serial "
        "with `downtime quarantine assign`",
    )


def _read(
    image: Image,
    reg: register.Registration,
    page_uid: str,
    via: str,
    task: PageTask,
    config: WorkerConfig,
    ledger: Ledger,
    *,
    code: codes.PageCode | None = None,
) -> PageOutcome:
    page = issued_page(ledger, page_uid)
    if page is None:
        return _set_aside(
            task,
            Reason.UNKNOWN_PAGE,
            "the page code is genuine but this ledger has no record of the page: scan it "
            "where its pack was printed, or import the pack's manifest",
            code=code,
        )
    if code is not None and not _matches(code, page):
        return _set_aside(
            task, Reason.LEDGER_MISMATCH, "the page code and the ledger disagree about this page"
        )
    registered = register.warp(image, reg)
    # A clerk who assigned the page saw the sheet. A page placed from its codes alone is
    # checked too: its codes place its header and footer well enough to compare the glyphs, and
    # where they do not, the lines do not read as its own and the page goes to a person.
    if via != "assigned" and page.patient is not None:
        check = (
            identity.check_identity_placed_roughly
            if reg.method == register.ROUGH
            else identity.check_identity
        )
        shown = check(registered, page.serial, page.patient)
        if shown.problem is not None:
            why = Reason.IDENTITY_UNCONFIRMED if shown.unconfirmed else Reason.IDENTITY_MISMATCH
            return _set_aside(task, why, shown.message, code=code)
    fields = list(page.fields)
    readings = marks.read_fields(registered, fields, config.mark_settings)
    if not reg.clean:
        readings = [_unsure(r, reg.flag) for r in readings]
    store = Store(config.home, config.store_dir)
    # JPEG, not PNG: 5 ms instead of 60-110 ms a page (BENCHMARKS.md). The lossless original
    # is kept; the marks were read before compression; this copy is for review and the record.
    ok, jpeg = cv2.imencode(".jpg", registered, [cv2.IMWRITE_JPEG_QUALITY, REGISTERED_QUALITY])
    if not ok:
        raise RuntimeError("the registered page image could not be encoded")
    registered_as = store.put_bytes(jpeg.tobytes(), ".jpg")
    patient = page.patient
    outcome = PageOutcome(
        source=task.file.source,
        source_page=task.index,
        file_sha256=task.file.sha256,
        status=ScanStatus.IDENTIFIED,
        page_uid=page_uid,
        form_code=page.form_code,
        page=page.page_no,
        patient=patient,
        via=via,
        rotation=reg.rotation,
        residual_mm=round(reg.residual_mm, 3),
        readings=tuple(readings),
        crops=tuple(box_px(f.box_mm) for f in fields),
        registered_as=registered_as,
    )
    if config.debug_dir is not None:
        draw_overlay(
            config.debug_dir,
            task.file.source,
            task.index,
            registered,
            fields,
            readings,
            census_page=patient is None,
        )
    return outcome


def _matches(code: codes.PageCode, page: IssuedPage) -> bool:
    return (
        code.form_code == page.form_code
        and code.form_version == page.form_version
        and code.page == page.page_no
        and code.page_count == page.page_count
        and code.patient == page.patient
    )


def _unsure(reading: marks.FieldReading, flag: str) -> marks.FieldReading:
    return replace(reading, state=MarkState.UNCERTAIN, flags=(*reading.flags, flag))


def _registers_mirrored(image: Image) -> bool:
    flipped = np.ascontiguousarray(image[:, ::-1])
    px_per_mm = decode.estimate_px_per_mm(flipped.shape, None)
    symbols, _ = decode.find_page_codes(flipped, px_per_mm=px_per_mm, enhance=False)
    return register.register_with_codes(flipped, symbols) is not None


def too_small(image: Image) -> bool:
    """Smaller than an A4 page at the lowest resolution registration considers: no page."""
    short, long = sorted(int(n) for n in image.shape[:2])
    return short < MIN_PAGE_PX[0] or long < MIN_PAGE_PX[1]


def _too_small(task: PageTask, image: Image) -> PageOutcome:
    h, w = image.shape[:2]
    return _set_aside(
        task,
        Reason.TOO_SMALL,
        f"the image is {w} × {h} pixels, too small to hold a page (an A4 page at the lowest "
        f"resolution read, {MIN_PX_PER_MM * 25.4:.0f} dpi, is {MIN_PAGE_PX[0]} × "
        f"{MIN_PAGE_PX[1]}): "
        "if it is a scan, scan the paper again at 200–300 dpi; if it is not a page (an icon, "
        "a thumbnail), leave it out of the scan folder",
    )


def is_blank(image: Image) -> bool:
    """No ink darker than show-through anywhere (every fourth row and column looked at: the
    registration marks and codes alone are thousands of such pixels on a printed page)."""
    sample = image[::4, ::4]
    background = float(np.median(sample))
    dark = sample < background - DARK_BELOW_BACKGROUND
    return float(dark.mean()) < BLANK_INK_FRACTION


def _blank(task: PageTask, reason: Reason | None) -> PageOutcome:
    return PageOutcome(task.file.source, task.index, task.file.sha256, ScanStatus.BLANK, reason)


def _set_aside(
    task: PageTask, reason: Reason, message: str, *, code: codes.PageCode | None = None
) -> PageOutcome:
    """Quarantine. Only a *verified* code's page uid is carried (never an unverified one)."""
    return PageOutcome(
        task.file.source,
        task.index,
        task.file.sha256,
        ScanStatus.QUARANTINED,
        reason,
        message,
        page_uid=code.page_uid if code is not None else None,
    )


def read_assigned(
    image: Image,
    dpi: tuple[float, float] | None,
    task: PageTask,
    page_uid: str,
    config: WorkerConfig,
    ledger: Ledger,
) -> PageOutcome:
    """A set-aside page a clerk has attached to ``page_uid`` by its serial: register it from
    its registration marks (else from the codes on it, roughly: every field then uncertain)
    and read it like any other page."""
    image, dpi = square_pixels(image, dpi)
    px_per_mm = decode.estimate_px_per_mm(image.shape, dpi)
    reg = register.register_with_marks(image, px_per_mm)
    if reg is None:  # marks stained or torn away: where its codes place it
        symbols, _ = decode.find_page_codes(image, px_per_mm=px_per_mm)
        reg = register.register_with_codes(image, symbols) or register.register_roughly(
            image, symbols
        )
    if reg is None:
        return _set_aside(
            task,
            Reason.REGISTRATION_FAILED,
            "the page's registration marks could not be found: rescan it flat, whole page in view",
        )
    return _read(image, reg, page_uid, "assigned", task, config, ledger)

"""The runs: one class scanned into a fresh copy of the data folder and judged, the whole-run
speed with each number of jobs, and the cost of each stage of one page."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scan_cases import Case, Job, SourcePage, make_jobs, make_page, write_case
from scan_judge import Tally, judge, naive_baseline

from downtime import codes
from downtime.app import scan_files
from downtime.codes.keys import KeyStore
from downtime.ledger import Ledger
from downtime.ledger.pages import issued_page, page_fields
from downtime.ledger.store import Store
from downtime.scan import decode, identity, images, marks, register
from downtime.scan import page as scan_page
from downtime.scan.run import PageRecord, ScanOptions

# --------------------------------------------------------------------------------------------
# Accuracy runs


def fresh_home(base: Path, to: Path) -> Path:
    shutil.copytree(base, to)
    return to


def run_case(
    case: Case,
    pages: Sequence[SourcePage],
    seed: int,
    base_home: Path,
    work: Path,
    pool: ProcessPoolExecutor,
    scan_jobs: int,
    debug_dir: Path | None,
    keep: bool,
) -> Tally:
    slug = "".join(ch if ch.isalnum() or ch in "+-" else "_" for ch in case.name)
    jobs = make_jobs(case, pages, seed)
    made = list(pool.map(make_page, jobs))
    folder, naive = work / slug / "scan", work / slug / "naive"
    paths = write_case(case, made, folder, naive)
    home = fresh_home(base_home, work / slug / "home")
    records: list[PageRecord] = []
    options = ScanOptions(jobs=scan_jobs, debug_dir=debug_dir / slug if debug_dir else None)
    start = time.perf_counter()
    scan_files(paths, home=home, options=options, emit=records.append, progress=_quiet)
    seconds = time.perf_counter() - start
    tally = judge(case, made, records, seconds)
    naive_baseline(tally, made, naive, scan_jobs)
    if not keep:
        shutil.rmtree(work / slug)
    return tally


def _quiet(done: int, total: int) -> None:
    pass


# --------------------------------------------------------------------------------------------
# Speed


@dataclass(frozen=True)
class SpeedRow:
    dpi: int
    jobs: int
    pages: int
    identified: int  # the right page uid
    misidentified: int
    seconds: float
    mb_per_page: float


Places = dict[tuple[str, int], str]  # (file name, page) → the page uid printed there


def speed_files(
    pages: Sequence[SourcePage], dpi: int, seed: int, folder: Path, pool: ProcessPoolExecutor
) -> tuple[list[Path], Places]:
    case = Case(f"speed-{dpi}", (f"scan-{dpi}",), "pdf", 300)
    made = list(pool.map(make_page, [Job(case, n, p, seed) for n, p in enumerate(pages, 1)]))
    paths = write_case(case, made, folder / f"speed-{dpi}", folder / f"speed-{dpi}-naive")
    return paths, {(m.file, m.file_page): m.job.page.entry["page_uid"] for m in made}


def speed_run(
    paths: list[Path], places: Places, base_home: Path, home: Path, jobs: int, dpi: int
) -> SpeedRow:
    fresh_home(base_home, home)
    records: list[PageRecord] = []
    start = time.perf_counter()
    scan_files(paths, home=home, options=ScanOptions(jobs=jobs), emit=records.append,
               progress=_quiet)  # fmt: skip
    seconds = time.perf_counter() - start
    shutil.rmtree(home)
    size = sum(p.stat().st_size for p in paths)
    pairs = [(r, places.get((Path(r.source).name, r.source_page))) for r in records]
    ok = sum(r.status == "identified" and r.page_uid == t for r, t in pairs)
    wrong = sum(r.page_uid is not None and r.page_uid != t for r, t in pairs)
    mb = size / max(len(records), 1) / 1e6
    return SpeedRow(dpi, jobs, len(records), ok, wrong, seconds, mb)


STAGES = (
    "decode file",
    "blank test",
    "find codes",
    "verify",
    "register",
    "warp",
    "check identity",
    "read fields",
    "encode registered image",
    "store it",
)


def encode_registered(registered: np.ndarray) -> tuple[bytes, str]:
    """The registered page image as the scanner stores it: JPEG at its REGISTERED_QUALITY (PNG,
    compression 1, before that setting existed)."""
    quality = getattr(scan_page, "REGISTERED_QUALITY", None)
    if quality is not None:
        _ok, jpeg = cv2.imencode(".jpg", registered, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        return jpeg.tobytes(), ".jpg"
    _ok, png = cv2.imencode(".png", registered, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return png.tobytes(), ".png"


def stage_costs(pdfs: list[Path], home: Path, sample: int) -> dict[str, float]:
    """Milliseconds per page for each step of scan_page.scan_image, in-process, over the first
    ``sample`` pages of ``pdfs`` (after one page to warm up)."""
    keys = KeyStore.open(home / "keys").verification_keys()
    ledger = Ledger.open_readonly(home / "ledger.sqlite3")
    store = Store(home)
    totals = dict.fromkeys(STAGES, 0.0)
    done = 0
    try:
        for item in images.find_inputs(pdfs):
            numbers, _ = images.page_numbers(item)
            for index in numbers:
                if done > sample:
                    break
                clock = [time.perf_counter()]

                def lap(stage: str, clock: list[float] = clock, first: bool = done == 0) -> None:
                    now = time.perf_counter()
                    if not first:
                        totals[stage] += now - clock[0]
                    clock[0] = now

                page = images.read_page(item, index, verify=False)
                assert isinstance(page, images.PageImage)
                lap("decode file")
                image, dpi = scan_page.square_pixels(page.image, page.dpi)
                scan_page.is_blank(image)
                lap("blank test")
                ppm = decode.estimate_px_per_mm(image.shape, dpi)
                symbols, _ = decode.find_page_codes(image, px_per_mm=ppm)
                lap("find codes")
                verified = [codes.decode(s.text, keys) for s in symbols]
                code = verified[0]
                lap("verify")
                reg = register.register_with_codes(image, symbols)
                assert reg is not None
                lap("register")
                registered = register.warp(image, reg)
                lap("warp")
                issued = issued_page(ledger, code.page_uid)
                if issued is not None and issued.patient is not None:
                    identity.check_identity(registered, issued.serial, issued.patient)
                lap("check identity")
                marks.read_fields(registered, page_fields(ledger, code.page_uid))
                lap("read fields")
                data, suffix = encode_registered(registered)
                lap("encode registered image")
                store.put_bytes(data, suffix)
                lap("store it")
                done += 1
    finally:
        ledger.close()
    return {k: v / max(done - 1, 1) * 1000 for k, v in totals.items()}

"""Scanning accuracy per degradation class, and speed: printed example packs, filled and degraded.

    python bench/scan.py --pages-per-class 60 --seed 1 --speed-pages 300 --jobs 1 2 --write

The bundled example census is printed (``downtime pack --example --all-wards``, as often as it
takes to have enough distinct pages). For every degradation of :mod:`downtime.simulate`, for
"clean" and for a few realistic combinations, N distinct patient and admission pages are
rendered, filled like a person (:func:`simulate.fill_page`), degraded, and written the way that
class arrives in reality (scanner PDFs of JPEG pages, PNG files with their dpi, fax TIFFs at
204 × 98 dpi in G4, phone JPEGs). Each class is then scanned by the real scanner
(:func:`downtime.app.scan_files`) into a fresh copy of the data folder and every record is
compared with the ground truth: the page uid from the manifest, the expected rotation and the
:class:`simulate.Truth` of every field.

Speed: ``--speed-pages`` filled pages as scanner PDFs (one JPEG image per page, quality 85)
at 200 and 300 dpi, the whole ``scan_files`` run timed with each ``--jobs``; and the cost of
each stage of one page, timed in-process. The naive baseline decodes every whole page with
``zbarimg`` (Debian ``zbar-tools``), as simple form scanners do.

With ``--write`` the tables replace the "Scan" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pack import replace_section  # noqa: E402

from downtime import base45, codes, decode, images, marks, ocr, pagework, register  # noqa: E402
from downtime import simulate as sim  # noqa: E402
from downtime.app import PackRequest, run_pack, scan_files  # noqa: E402
from downtime.keys import KeyStore  # noqa: E402
from downtime.ledger import Ledger  # noqa: E402
from downtime.scan import PageRecord, ScanOptions  # noqa: E402
from downtime.store import Store  # noqa: E402

SCANNER, PHONE = "scanner", "phone"
# Targets (from the issue): identification, and tick boxes (accuracy, most false-confident).
ID_TARGET = {SCANNER: 0.999, PHONE: 0.99}
MOST_FALSE_CONFIDENT = 0.0005
BOX_TARGET: dict[str, tuple[float, float | None]] = {
    SCANNER: (0.999, MOST_FALSE_CONFIDENT),
    PHONE: (0.995, None),
}
SPEED_TARGET = {(200, 2): 30, (200, 1): 15}  # pages/s: (dpi, jobs) → at least
PDF_BATCH = 25  # pages per scanner PDF
FAX_BATCH = 10  # pages per fax TIFF
PDF_QUALITY = 85  # JPEG quality of a scanner's PDF pages
PHONE_QUALITY = 92  # a phone's own JPEG (the simulated photo was compressed once already)
PHONE_DPI = 72  # what phones write into JFIF/EXIF: no real resolution
PENCIL_HEAVY = ("pencil", "pencil", "pencil", "tick", "cross")  # rng.choice: 60 % pencil
PENCIL_WRITING = ("pencil", "pencil", "pen")
SUFFIX = {"jpeg": "jpg", "png": "png", "tiff": "tif"}


@dataclass(frozen=True)
class Case:
    """One class of pages: how they are degraded and how they arrive."""

    name: str
    chain: tuple[str, ...]  # simulate degradations, applied in order
    arrival: str  # pdf (JPEG pages) | png | fax (G4 TIFF, 204 × 98 dpi) | jpeg (phone)
    render_dpi: int = 200  # the printed page is rasterised at this resolution, then filled
    target: str | None = SCANNER  # which targets apply (None: reported only)
    expect: str = "identified"  # identified | bad-signature | blank
    styles: tuple[str, ...] = sim.MARK_STYLES
    write_styles: tuple[str, ...] = sim.WRITE_STYLES


CASES: tuple[Case, ...] = (
    Case("clean", (), "png"),
    Case("scan-200", ("scan-200",), "pdf", 300),
    Case("scan-300", ("scan-300",), "pdf", 300),
    Case("skew", ("skew",), "pdf"),
    Case("upside-down", ("upside-down",), "pdf"),
    Case("rot90", ("rot90",), "pdf"),
    Case("fit-97", ("fit-97",), "pdf"),
    Case("blur", ("blur",), "png"),
    Case("noise", ("noise",), "png"),
    Case("jpeg", ("jpeg",), "png"),
    Case("low-contrast", ("low-contrast",), "png"),
    Case("photocopy", ("photocopy",), "pdf", target=None),
    Case("fax", ("fax",), "fax", target=None),
    Case("phone", ("phone",), "jpeg", target=PHONE),
    Case("stain-code", ("stain-code",), "pdf"),
    Case("codes-destroyed", ("codes-destroyed",), "pdf", target=None),
    Case("forged", ("forged",), "pdf", target=None, expect="bad-signature"),
    Case("duplex-back", ("duplex-back",), "pdf", target=None, expect="blank"),
    # realistic combinations
    Case("skew+jpeg", ("skew", "jpeg"), "png"),
    Case("rot90+noise", ("rot90", "noise"), "png"),
    Case("photocopy+scan-200", ("photocopy", "scan-200"), "pdf", 300, target=None),
    Case("stain-code+scan-200", ("stain-code", "scan-200"), "pdf", 300),
    Case("scan-200, all mark styles", ("scan-200",), "pdf", 300, styles=sim.ALL_MARK_STYLES),
    Case(
        "phone, pencil-heavy",
        ("phone",),
        "jpeg",
        target=PHONE,
        styles=PENCIL_HEAVY,
        write_styles=PENCIL_WRITING,
    ),
)
CASE_NAMES = {c.name for c in CASES}


# --------------------------------------------------------------------------------------------
# Setup: the example census, printed


@dataclass(frozen=True)
class SourcePage:
    pdf: Path
    entry: dict[str, Any]  # the page's manifest entry


def print_packs(home: Path, out: Path, rounds: int) -> list[list[SourcePage]]:
    """The example census printed ``rounds`` times into one data folder (each round's packs
    supersede the previous round's; every page stays issued). Patient and admission pages of
    each round, in print order."""
    example = Path(str(resources.files("downtime") / "resources" / "example"))
    issued = datetime.now(UTC).replace(microsecond=0)
    found = []
    for r in range(rounds):
        request = PackRequest(
            example / "patients.csv",
            example / "medications.csv",
            None,
            out / f"round-{r + 1}",
            False,
            issued - timedelta(hours=8 * (rounds - 1 - r)),
            date.today(),
            1,
        )
        pages = []
        for result in sorted(run_pack(request, home=home), key=lambda x: x.ward):
            manifest = json.loads(result.manifest.read_text(encoding="utf-8"))
            pages += [SourcePage(result.pdf, p) for p in manifest["pages"] if p["form"] != "cover"]
        found.append(pages)
    return found


# --------------------------------------------------------------------------------------------
# Making pages (in worker processes)


@dataclass(frozen=True)
class Job:
    case: Case
    number: int  # 1-based within the class
    page: SourcePage
    seed: int


@dataclass
class Made:
    """One filled, degraded page, encoded as it arrives (one page's bytes)."""

    job: Job
    data: bytes
    kind: str  # jpeg | png | tiff
    size: tuple[int, int]  # width, height in pixels
    dpi: tuple[float, float]
    truth: sim.Truth
    rotation: int
    note: str
    file: str = ""  # where the scanner gets it: file name …
    file_page: int = 1  # … and 1-based page in it


def make_page(job: Job) -> Made:
    case, entry = job.case, job.page.entry
    image = sim.render_page(job.page.pdf, int(entry["pdf_page"]) - 1, case.render_dpi)
    tag = f"{job.seed}:{case.name}:{job.number}"
    filled, truth = sim.fill_page(
        image,
        entry,
        case.render_dpi,
        random.Random(tag),
        styles=case.styles,
        write_styles=case.write_styles,
    )
    g = np.random.default_rng(random.Random(tag + ":degrade").getrandbits(64))
    if case.chain:
        done = sim.degrade(filled, case.render_dpi, case.chain[0], g)
        for kind in case.chain[1:]:
            done = done.then(kind, g)
    else:
        d = float(case.render_dpi)
        done = sim.Degraded(filled, d, d, 0, "clean: as rendered")
    out = io.BytesIO()
    picture = Image.fromarray(done.image)
    dpi = (done.dpi_x, done.dpi_y)
    if case.arrival == "pdf":
        picture.save(out, "JPEG", quality=PDF_QUALITY)
        kind = "jpeg"
    elif case.arrival == "jpeg":
        dpi = (PHONE_DPI, PHONE_DPI)
        picture.save(out, "JPEG", quality=PHONE_QUALITY, dpi=dpi)
        kind = "jpeg"
    elif case.arrival == "fax":
        picture.convert("1", dither=Image.Dither.NONE).save(
            out, "TIFF", compression="group4", dpi=dpi
        )
        kind = "tiff"
    else:
        picture.save(out, "PNG", dpi=dpi, compress_level=1)
        kind = "png"
    width, height = picture.size
    return Made(job, out.getvalue(), kind, (width, height), dpi, truth, done.rotation, done.note)


def write_pdf(path: Path, pages: Sequence[Made]) -> None:
    """A scanner's PDF: one JPEG image filling each page, page size from the image's dpi."""
    objects: list[bytes] = []

    def add(obj: bytes) -> int:
        objects.append(obj)
        return len(objects)

    catalog = add(b"")  # filled in below
    tree = add(b"")
    kids = []
    for n, made in enumerate(pages):
        w, h = made.size
        pw, ph = w * 72 / made.dpi[0], h * 72 / made.dpi[1]
        image = add(
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
            b"/BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n%s\nendstream"
            % (w, h, len(made.data), made.data)
        )
        draw = b"q %.4f 0 0 %.4f 0 0 cm /Im%d Do Q" % (pw, ph, n)
        content = add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(draw), draw))
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.4f %.4f] /Contents %d 0 R "
                b"/Resources << /XObject << /Im%d %d 0 R >> >> >>"
                % (tree, pw, ph, content, n, image)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % tree
    refs = b" ".join(b"%d 0 R" % k for k in kids)
    objects[tree - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (refs, len(kids))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        catalog,
        xref,
    )
    path.write_bytes(bytes(out))


def write_case(case: Case, made: list[Made], folder: Path, naive: Path) -> list[Path]:
    """The class's files as they arrive (into ``folder``), and one file per page for zbarimg
    (into ``naive``: the same bytes, one page each)."""
    folder.mkdir(parents=True)
    naive.mkdir(parents=True)
    if case.arrival in ("pdf", "fax"):
        batch = PDF_BATCH if case.arrival == "pdf" else FAX_BATCH
        for start in range(0, len(made), batch):
            chunk = made[start : start + batch]
            suffix = "pdf" if case.arrival == "pdf" else "tif"
            name = f"batch-{start // batch + 1:02d}.{suffix}"
            if case.arrival == "pdf":
                write_pdf(folder / name, chunk)
            else:
                frames = [Image.open(io.BytesIO(m.data)) for m in chunk]
                frames[0].save(
                    folder / name,
                    "TIFF",
                    save_all=True,
                    append_images=frames[1:],
                    compression="group4",
                    dpi=chunk[0].dpi,
                )
            for k, m in enumerate(chunk, start=1):
                m.file, m.file_page = name, k
    else:
        for m in made:
            m.file = f"page-{m.job.number:03d}.{SUFFIX[m.kind]}"
            (folder / m.file).write_bytes(m.data)
    for m in made:
        (naive / f"{m.job.number:03d}.{SUFFIX[m.kind]}").write_bytes(m.data)
    return sorted(folder.iterdir())


# --------------------------------------------------------------------------------------------
# Judging the records


@dataclass
class Misread:
    case: str
    file: str
    page: int
    form: str
    field_id: str
    truth: str
    style: str
    read: str
    score: float
    flags: tuple[str, ...]
    note: str


@dataclass
class Tally:
    case: Case
    pages: int = 0
    as_expected: int = 0
    identified: int = 0  # the right page uid
    misidentified: int = 0  # a page uid, but the wrong one (or a page that must not be one)
    via_serial: int = 0
    blank: int = 0
    rotation_ok: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    boxes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (truth, read)
    areas: Counter[tuple[str, str]] = field(default_factory=Counter)
    corrected: Counter[str] = field(default_factory=Counter)
    misreads: list[Misread] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    misregistered: list[str] = field(default_factory=list)  # ≥ 1/4 of fields without outline
    seconds: float = 0.0
    zbar_found: int | None = None
    zbar_wrong: int | None = None
    zbar_seconds: float | None = None

    @property
    def id_rate(self) -> float:
        return self.identified / self.pages if self.pages else 0.0


def expected_status(case: Case) -> str:
    if case.name.startswith("codes-destroyed") and ocr.tesseract() is None:
        return "no-page-code"
    return case.expect


def judge(case: Case, made: list[Made], records: list[PageRecord], seconds: float) -> Tally:
    tally = Tally(case, pages=len(made), seconds=seconds)
    by_place = {(m.file, m.file_page): m for m in made}
    expect = expected_status(case)
    for r in records:
        m = by_place.get((Path(r.source).name, r.source_page))
        if m is None:  # a whole-file problem
            tally.quarantined[r.reason or r.status] += 1
            continue
        truth_uid = m.job.page.entry["page_uid"]
        where = f"{Path(r.source).name} p{r.source_page} ({m.job.page.entry['form']}: {m.note})"
        if r.status == "quarantined":
            tally.quarantined[r.reason or "?"] += 1
            tally.as_expected += r.reason == expect
        elif r.status == "blank":
            tally.blank += 1
            tally.as_expected += expect == "blank"
        if r.page_uid is not None and (r.page_uid != truth_uid or expect != "identified"):
            tally.misidentified += 1
            tally.wrong.append(f"{where}: {r.status} {r.reason or ''} as page {r.page_uid}")
            continue
        if r.status not in ("identified", "duplicate", "conflict"):
            continue
        tally.identified += 1
        tally.as_expected += expect == "identified"
        tally.via_serial += r.via == "serial"
        tally.rotation_ok += r.rotation == m.rotation
        count_fields(tally, m, r)
        lost = sum("no-outline" in f.get("flags", ()) for f in r.fields.values())
        if r.fields and lost >= len(r.fields) / 4:
            tally.misregistered.append(f"{where}: {lost} of {len(r.fields)} fields no-outline")
    return tally


def count_fields(tally: Tally, made: Made, record: PageRecord) -> None:
    entry = made.job.page.entry
    for f in entry["fields"]:
        fid = f["id"]
        truth = made.truth.fields[fid]
        reading = record.fields.get(fid, {"state": "missing", "score": 0.0})
        read = str(reading["state"])
        flags = tuple(reading.get("flags", ()))
        style = made.truth.styles.get(fid, truth)
        if f["kind"] == "checkbox":
            tally.boxes[truth, read] += 1
            if style == sim.CORRECTED:
                tally.corrected["boxes"] += 1
                tally.corrected["read marked"] += read == marks.MARKED
                tally.corrected["flagged"] += marks.CORRECTED in flags
        else:
            tally.areas[truth, read] += 1
        if read != truth:
            tally.misreads.append(
                Misread(
                    tally.case.name,
                    Path(record.source).name,
                    record.source_page,
                    entry["form"],
                    fid,
                    truth,
                    style,
                    read,
                    float(reading["score"]),
                    flags,
                    made.note,
                )
            )


@dataclass(frozen=True)
class Rates:
    total: int
    accuracy: float
    sensitivity: float | None
    specificity: float | None
    uncertain: float
    false_confident: float


def rates(counts: Counter[tuple[str, str]], yes: str, no: str) -> Rates:
    total = sum(counts.values())
    pos = sum(v for (t, _), v in counts.items() if t == yes)
    neg = sum(v for (t, _), v in counts.items() if t == no)
    right = counts[yes, yes] + counts[no, no]
    wrong = counts[yes, no] + counts[no, yes]
    unsure = total - right - wrong
    return Rates(
        total,
        right / total if total else 0.0,
        counts[yes, yes] / pos if pos else None,
        counts[no, no] / neg if neg else None,
        unsure / total if total else 0.0,
        wrong / total if total else 0.0,
    )


# --------------------------------------------------------------------------------------------
# The naive baseline: zbarimg on every whole page


def zbarimg(files: Sequence[Path], jobs: int) -> tuple[dict[str, list[str]], float] | None:
    """DK1 texts zbarimg finds in each file, and the wall time, with ``jobs`` processes."""
    exe = shutil.which("zbarimg")
    if exe is None or not files:
        return None
    shares = [list(files[k::jobs]) for k in range(jobs) if files[k::jobs]]
    start = time.perf_counter()
    running = [
        subprocess.Popen(
            [exe, "--xml", "-q", "-Sdisable", "-Sqrcode.enable", *map(str, share)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        for share in shares
    ]
    outputs = [p.communicate()[0] for p in running]
    seconds = time.perf_counter() - start
    found: dict[str, list[str]] = {}
    ns = {"z": "http://zbar.sourceforge.net/2008/barcode"}
    for xml in outputs:
        if not xml.strip():
            continue
        for source in ET.fromstring(xml).findall("z:source", ns):
            texts = [d.text or "" for d in source.iterfind(".//z:data", ns)]
            found[Path(source.get("href", "")).name] = [t for t in texts if t.startswith("DK1:")]
    return found, seconds


def naive_uid(text: str) -> str | None:
    """The page uid a scanner that does not verify signatures would take from a code."""
    try:
        raw = base45.decode(text[len(codes.PREFIX) :])
    except ValueError:
        return None
    start = 1 + codes.KEY_ID_SIZE
    return raw[start : start + 16].hex() if len(raw) >= start + 16 else None


def naive_baseline(tally: Tally, made: list[Made], naive: Path, jobs: int) -> None:
    files = sorted(naive.iterdir())
    result = zbarimg(files, jobs)
    if result is None:
        return
    found, seconds = result
    tally.zbar_found = tally.zbar_wrong = 0
    tally.zbar_seconds = seconds
    for m, path in zip(sorted(made, key=lambda m: m.job.number), files, strict=True):
        texts = found.get(path.name, [])
        if not texts:
            continue
        tally.zbar_found += 1
        uids = {naive_uid(t) for t in texts}
        should = m.job.page.entry["page_uid"] if tally.case.expect == "identified" else None
        tally.zbar_wrong += any(u != should for u in uids)


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
    jobs = [Job(case, n, p, seed) for n, p in enumerate(pages, start=1)]
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
    "read fields",
    "encode registered image",
    "store it",
)


def encode_registered(registered: np.ndarray) -> tuple[bytes, str]:
    """The registered page image as pagework stores it: JPEG at its REGISTERED_QUALITY (PNG,
    compression 1, before that setting existed)."""
    quality = getattr(pagework, "REGISTERED_QUALITY", None)
    if quality is not None:
        _ok, jpeg = cv2.imencode(".jpg", registered, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        return jpeg.tobytes(), ".jpg"
    _ok, png = cv2.imencode(".png", registered, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return png.tobytes(), ".png"


def stage_costs(pdfs: list[Path], home: Path, sample: int) -> dict[str, float]:
    """Milliseconds per page for each step of pagework.scan_image, in-process, over the first
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
                image, dpi = pagework.square_pixels(page.image, page.dpi)
                pagework.is_blank(image)
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
                marks.read_fields(registered, ledger.page_fields(code.page_uid))
                lap("read fields")
                data, suffix = encode_registered(registered)
                lap("encode registered image")
                store.put_bytes(data, suffix)
                lap("store it")
                done += 1
    finally:
        ledger.close()
    return {k: v / max(done - 1, 1) * 1000 for k, v in totals.items()}


# --------------------------------------------------------------------------------------------
# Tables


def pct(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f}"


def ratio(n: int, d: int) -> str:
    return f"{n}/{d}" if d else "—"


def meets(t: Tally) -> list[str]:
    """The targets this class misses."""
    misses = []
    if t.misidentified:
        misses.append(f"{t.misidentified} misidentified (must be 0)")
    if t.case.target is None:
        for counts, what, yes, no in (
            (t.boxes, "tick-box", "marked", "empty"),
            (t.areas, "writing-area", "written", "blank"),
        ):
            r = rates(counts, yes, no)
            if r.total and r.false_confident > MOST_FALSE_CONFIDENT:
                misses.append(
                    f"{what} false-confident {pct(r.false_confident, 3)} % (no target for "
                    "this class; shown because a confident wrong reading is never safe)"
                )
        return misses
    if t.id_rate < ID_TARGET[t.case.target]:
        goal = ID_TARGET[t.case.target]
        misses.append(f"identification {pct(t.id_rate, 3)} % < {pct(goal, 1)} %")
    accuracy, most_wrong = BOX_TARGET[t.case.target]
    box = rates(t.boxes, "marked", "empty")
    if box.total and box.accuracy < accuracy:
        misses.append(f"tick-box accuracy {pct(box.accuracy, 3)} % < {pct(accuracy, 1)} %")
    if box.total and most_wrong is not None and box.false_confident > most_wrong:
        misses.append(
            f"tick-box false-confident {pct(box.false_confident, 3)} % > {pct(most_wrong)} %"
        )
    return misses


def pages_table(tallies: Sequence[Tally]) -> list[str]:
    rows = [
        "| class | arrives as | target | pages | as expected | identified | **misidentified** "
        "| quarantined (reasons) | blank | via serial | rotation right | misregistered? "
        "| s/page (wall) |",
        "|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for t in tallies:
        c = t.case
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(t.quarantined.items()))
        quarantined = sum(t.quarantined.values())
        expect = expected_status(c)
        rows.append(
            f"| {c.name} | {ARRIVAL[c.arrival]} | {c.target or '—'} | {t.pages} | "
            f"{t.as_expected} ({expect}) | {t.identified} ({pct(t.id_rate, 1)} %) | "
            f"**{t.misidentified}** | {quarantined}{f' ({reasons})' if reasons else ''} | "
            f"{t.blank} | {t.via_serial} | {ratio(t.rotation_ok, t.identified)} | "
            f"{len(t.misregistered)} | "
            f"{t.seconds / max(t.pages, 1):.3f} |"
        )
    return rows


ARRIVAL = {
    "pdf": "PDF, JPEG q85",
    "png": "PNG + dpi",
    "fax": "TIFF G4 204×98",
    "jpeg": "JPEG, 72 dpi",
}


def fields_table(tallies: Sequence[Tally], which: str) -> list[str]:
    yes, no = ("marked", "empty") if which == "boxes" else ("written", "blank")
    rows = [
        f"| class | {which} | accuracy % | sensitivity % | specificity % | uncertain % "
        "| **false-confident %** | false-confident |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in tallies:
        counts = t.boxes if which == "boxes" else t.areas
        r = rates(counts, yes, no)
        if not r.total:
            continue
        wrong = f"{counts[yes, no]} {yes}→{no}, {counts[no, yes]} {no}→{yes}"
        rows.append(
            f"| {t.case.name} | {r.total} | {pct(r.accuracy)} | {pct(r.sensitivity)} | "
            f"{pct(r.specificity)} | {pct(r.uncertain)} | **{pct(r.false_confident, 3)}** | "
            f"{wrong} |"
        )
    return rows


def totals_row(tallies: Iterable[Tally], name: str) -> Tally | None:
    chosen = list(tallies)
    if not chosen:
        return None
    total = Tally(Case(name, (), "pdf", target=chosen[0].case.target))
    for t in chosen:
        total.pages += t.pages
        total.identified += t.identified
        total.misidentified += t.misidentified
        total.boxes.update(t.boxes)
        total.areas.update(t.areas)
    return total


def misread_lines(tallies: Sequence[Tally], limit: int) -> list[str]:
    """Every false-confident reading (up to ``limit`` per class), and what the uncertain ones
    were, by truth and style."""
    lines = []
    for t in tallies:
        confident = [m for m in t.misreads if m.read in ("marked", "empty", "written", "blank")]
        unsure = Counter(
            f"{m.truth}/{m.style}{' [' + ' '.join(m.flags) + ']' if m.flags else ''}"
            for m in t.misreads
            if m.read == "uncertain"
        )
        if not confident and not unsure:
            continue
        parts = ", ".join(f"{k} {v}" for k, v in unsure.most_common())
        lines.append(f"- **{t.case.name}**: uncertain by truth/style [flags]: {parts or 'none'}")
        for m in confident[:limit]:
            lines.append(
                f"  - false-confident: {m.file} p{m.page} {m.form} `{m.field_id}` "
                f"{m.truth} ({m.style}) read {m.read} (score {m.score:.3f}"
                f"{', ' + ' '.join(m.flags) if m.flags else ''}) — {m.note}"
            )
        if len(confident) > limit:
            lines.append(f"  - … and {len(confident) - limit} more")
    return lines


def naive_table(tallies: Sequence[Tally], jobs: int) -> list[str]:
    rows = [
        "| class | pages | zbarimg: pages with a DK1 code | naive wrong page | zbarimg s/page "
        "| ours: as expected | ours s/page | zbarimg time / ours |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in tallies:
        if t.zbar_found is None or t.zbar_seconds is None:
            continue
        ours = t.seconds / max(t.pages, 1)
        theirs = t.zbar_seconds / max(t.pages, 1)
        rows.append(
            f"| {t.case.name} | {t.pages} | {t.zbar_found} ({pct(t.zbar_found / t.pages, 1)} %)"
            f" | {t.zbar_wrong} | {theirs:.3f} | {t.as_expected} "
            f"({pct(t.as_expected / t.pages, 1)} %) | {ours:.3f} | {theirs / ours:.2f} |"
        )
    return rows


# --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages-per-class", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--speed-pages", type=int, default=300)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="speed runs")
    parser.add_argument(
        "--scan-jobs", type=int, default=2, help="processes for the accuracy runs and zbarimg"
    )
    parser.add_argument("--classes", nargs="+", choices=sorted(CASE_NAMES), metavar="CLASS")
    parser.add_argument("--stage-pages", type=int, default=20, help="pages timed per stage")
    parser.add_argument("--debug-dir", type=Path, help="annotated page overlays, per class")
    parser.add_argument("--keep", type=Path, help="work here and keep every file")
    parser.add_argument("--misreads", type=Path, help="every misread field, as JSON Lines")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    command = "python bench/scan.py " + " ".join(sys.argv[1:])
    started = time.perf_counter()
    cases = [c for c in CASES if args.classes is None or c.name in args.classes]
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="bench-scan-", dir=args.keep))
        sections = body(args, cases, work, started)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
            sections = body(args, cases, Path(tmp), started)
    minutes = (time.perf_counter() - started) / 60
    print(f"\nwhole run: {minutes:.1f} min", flush=True)
    section = "\n".join(
        [
            "## Scan",
            "",
            f"`{command}` — {platform.python_implementation()} {platform.python_version()}, "
            f"{os.cpu_count()} CPUs, {date.today().isoformat()}, whole run {minutes:.1f} min.",
            "",
            *sections,
        ]
    )
    if args.write:
        replace_section(ROOT / "BENCHMARKS.md", "## Scan", section)


def emit(lines: list[str], out: list[str]) -> None:
    print("\n".join(lines), flush=True)
    out.extend(lines)


def body(args: argparse.Namespace, cases: list[Case], work: Path, started: float) -> list[str]:
    per_class = args.pages_per_class
    out: list[str] = []
    base = work / "home"
    rounds = max(1, math.ceil(max(per_class, args.speed_pages) / 98))
    printed = print_packs(base, work / "packs", rounds)
    latest = printed[-1]
    pool_pages = latest if per_class <= len(latest) else [p for r in printed for p in r]
    if per_class > len(pool_pages):
        raise SystemExit(f"--pages-per-class is at most {len(pool_pages)} here")
    tesseract = "installed" if ocr.tesseract() else "not installed"
    zbar = shutil.which("zbarimg")
    emit(
        [
            f"{len(latest)} patient and admission pages per printing of the example census "
            f"({rounds} printing(s)); {per_class} distinct pages per class, fill seed "
            f"{args.seed}; each class scanned with {args.scan_jobs} job(s) into a fresh copy "
            f"of the data folder. Tesseract {tesseract}.",
            "",
            "### Accuracy per degradation class",
            "",
            "Pages rendered at 200 dpi (classes with scan-200 / scan-300: at 300 dpi, then "
            "resampled by the degradation), filled with `simulate.fill_page` (tick rate 35 %, "
            "writing rate 50 %; default styles, or as named), degraded, and written as they "
            f"arrive: scanner PDFs of {PDF_BATCH} pages, one JPEG (quality {PDF_QUALITY}) "
            "each; PNG with the dpi for the image-quality classes (the degradation is what is "
            f"measured); fax TIFFs of {FAX_BATCH} pages, G4, 204 × 98 dpi; phone photos as "
            f"JPEG (quality {PHONE_QUALITY}) claiming {PHONE_DPI} dpi, as phones do. "
            "*identified*: the right page uid; *misidentified*: a page uid that is not this "
            "sheet's (must be 0; for `forged` and `duplex-back` any page uid at all). Field "
            "measures are over the fields of identified pages; *scanner-class* totals are "
            "the classes with target `scanner`. `photocopy` and `fax` pages went through a "
            "threshold that erases light pencil; the printed grey tone patch vanishes with it, "
            "so on those pages no ink-free box or area is read as clearly empty: they are "
            "`uncertain` by design (identification still counts; false-confident must be 0).",
            "",
        ],
        out,
    )
    tallies: list[Tally] = []
    with ProcessPoolExecutor(max_workers=max(1, args.scan_jobs)) as pool:
        for case in cases:
            # the same pages for a class whether or not other classes run (--classes)
            offset = (CASES.index(case) * per_class) % len(pool_pages)
            pages = [pool_pages[(offset + i) % len(pool_pages)] for i in range(per_class)]
            t = run_case(case, pages, args.seed, base, work, pool, args.scan_jobs,
                         args.debug_dir, args.keep is not None)  # fmt: skip
            tallies.append(t)
            print(
                f"  {case.name}: {t.identified}/{t.pages} identified, {t.misidentified} "
                f"misidentified, {t.seconds:.1f} s  [{time.perf_counter() - started:.0f} s]",
                file=sys.stderr,
                flush=True,
            )
            for line in t.wrong:
                print(f"    MISIDENTIFIED {line}", file=sys.stderr, flush=True)
            if args.misreads:
                with args.misreads.open("a", encoding="utf-8") as log:
                    for m in t.misreads:
                        log.write(json.dumps(asdict(m), ensure_ascii=False) + "\n")
        scanner = totals_row((t for t in tallies if t.case.target == SCANNER), "all scanner-class")
        phone = totals_row((t for t in tallies if t.case.target == PHONE), "all phone")
        summed = [x for x in (scanner, phone) if x is not None]
        emit(pages_table(tallies), out)
        emit(
            [
                "",
                "Tick boxes (*accuracy*: certain and right / all; *sensitivity*: marked read "
                "marked / truly marked; *specificity*: empty read empty / truly empty; "
                "*false-confident*: marked read empty or empty read marked / all):",
                "",
                *fields_table([*tallies, *summed], "boxes"),
                "",
                "Writing areas (the same measures with written / blank):",
                "",
                *fields_table([*tallies, *summed], "areas"),
                "",
            ],
            out,
        )
        corrected = [t for t in tallies if t.corrected["boxes"]]
        for t in corrected:
            c = t.corrected
            emit(
                [
                    f"Corrected boxes ({t.case.name}): {c['boxes']}, read marked "
                    f"{c['read marked']}, flagged `corrected` {c['flagged']}.",
                    "",
                ],
                out,
            )
        wrong = [f"- {t.case.name}: {w}" for t in tallies for w in t.wrong]
        if wrong:
            emit(["**Misidentified pages:**", "", *wrong, ""], out)
        shifted = [f"- {t.case.name}: {w}" for t in tallies for w in t.misregistered]
        if shifted:
            emit(
                [
                    "*misregistered?*: identified pages where at least a quarter of the fields "
                    "read `no-outline` (the printed boxes are not where the registration puts "
                    "them):",
                    "",
                    *shifted,
                    "",
                ],
                out,
            )
        lines = misread_lines(tallies, 5)
        if lines:
            emit(["Misread fields, by class:", "", *lines, ""], out)
        emit(["### Naive baseline: zbarimg on every whole page", ""], out)
        if zbar is None:
            emit(["zbarimg is not installed (Debian `zbar-tools`): baseline skipped.", ""], out)
        else:
            emit(
                [
                    f"`zbarimg --xml -Sdisable -Sqrcode.enable` over one file per page "
                    f"(the same image bytes), {args.scan_jobs} processes; *naive wrong page*: "
                    "a page whose code names another page, or a forged or duplex-back sheet "
                    "with a code (what a scanner trusting the code text would file). *ours*: "
                    "the whole scan run (identification, registration, reading, storing, "
                    f"ledger) with {args.scan_jobs} jobs.",
                    "",
                    *naive_table(tallies, args.scan_jobs),
                    "",
                ],
                out,
            )
        # speed
        speed_pages = [p for r in reversed(printed) for p in r][: args.speed_pages]
        rows: list[SpeedRow] = []
        stage: dict[int, dict[str, float]] = {}
        if args.speed_pages:
            for dpi in (200, 300):
                paths, places = speed_files(speed_pages, dpi, args.seed, work / "speed", pool)
                for jobs in args.jobs:
                    rows.append(speed_run(paths, places, base, work / "speed-home", jobs, dpi))
                    r = rows[-1]
                    print(
                        f"  speed {dpi} dpi, {jobs} job(s): {r.pages / r.seconds:.1f} pages/s",
                        file=sys.stderr,
                        flush=True,
                    )
                stage_home = fresh_home(base, work / "stage-home")
                stage[dpi] = stage_costs(paths, stage_home, args.stage_pages)
                shutil.rmtree(stage_home)
    if rows:
        emit(speed_section(rows, stage, args), out)
    misses = [(t.case.name, m) for t in [*tallies, *summed] for m in meets(t)]
    for r in rows:
        if r.misidentified:
            what = f"speed {r.dpi} dpi, {r.jobs} job(s)"
            misses.append((what, f"{r.misidentified} misidentified (must be 0)"))
        goal = SPEED_TARGET.get((r.dpi, r.jobs))
        if goal is not None and r.pages / r.seconds < goal:
            what = f"speed {r.dpi} dpi, {r.jobs} job(s)"
            misses.append((what, f"{r.pages / r.seconds:.1f} < {goal} pages/s"))
    emit(["### Targets missed", ""], out)
    emit([f"- {name}: {m}" for name, m in misses] or ["None."], out)
    emit([""], out)
    return out


def speed_section(
    rows: list[SpeedRow], stage: dict[int, dict[str, float]], args: argparse.Namespace
) -> list[str]:
    table = [
        "### Speed",
        "",
        f"{args.speed_pages} filled pages (scan-200 / scan-300 from a 300 dpi rendering) in "
        f"scanner PDFs of {PDF_BATCH} pages, one JPEG (quality {PDF_QUALITY}) per page; the "
        "whole `scan_files` run (decoding, identification, registration, reading, storing "
        "originals and registered images, ledger). Target ≥ 30 pages/s at 200 dpi with 2 "
        "jobs, ≥ 15 with one.",
        "",
        "| dpi | jobs | pages | identified | misidentified | MB/page | seconds | pages/s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        table.append(
            f"| {r.dpi} | {r.jobs} | {r.pages} | {r.identified} | {r.misidentified} | "
            f"{r.mb_per_page:.2f} | "
            f"{r.seconds:.1f} | **{r.pages / r.seconds:.1f}** |"
        )
    dpis = sorted(stage)
    table += [
        "",
        f"Per stage, in-process, one job, mean of {args.stage_pages} pages (ms/page; the "
        "rest of the whole run per page is the ledger, storing originals and the worker "
        "pool):",
        "",
        "| stage | " + " | ".join(f"{d} dpi" for d in dpis) + " |",
        "|---|" + "---:|" * len(dpis),
    ]
    for name in STAGES:
        table.append(f"| {name} | " + " | ".join(f"{stage[d][name]:.1f}" for d in dpis) + " |")
    table.append("| **sum** | " + " | ".join(f"{sum(stage[d].values()):.1f}" for d in dpis) + " |")
    whole = {r.dpi: r.seconds / r.pages * 1000 for r in rows if r.jobs == 1}
    if whole:
        table.append(
            "| whole run, 1 job | "
            + " | ".join(f"{whole[d]:.1f}" if d in whole else "—" for d in dpis)
            + " |"
        )
    table.append("")
    return table


if __name__ == "__main__":
    main()

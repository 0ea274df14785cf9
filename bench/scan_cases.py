"""The benchmark's classes of pages (how each is degraded and how it arrives), the example
census printed, and the pages made from it: filled, degraded and encoded (in worker processes),
then written as the files a scanner, fax machine or phone would leave."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from downtime import simulate as sim
from downtime.app import PackRequest, run_pack
from downtime.bundled import example_census

SCANNER, PHONE, BITONAL = "scanner", "phone", "bitonal"
# Targets (from the issues): identification, and tick boxes (accuracy, most false-confident).
# On black-and-white scans "accuracy" is at least the share decided: ≥ 80 % of the boxes.
ID_TARGET = {SCANNER: 0.999, PHONE: 0.99, BITONAL: 0.999}
MOST_FALSE_CONFIDENT = 0.0005
BOX_TARGET: dict[str, tuple[float, float | None]] = {
    SCANNER: (0.999, MOST_FALSE_CONFIDENT),
    PHONE: (0.995, None),
    BITONAL: (0.80, MOST_FALSE_CONFIDENT),
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
    arrival: str  # pdf (JPEG pages) | png | fax (G4 TIFF, 204 × 98 dpi) | g4 (G4 TIFF from a
    # black-and-white scanner) | jpeg (phone)
    render_dpi: int = 200  # the printed page is rasterised at this resolution, then filled
    target: str | None = SCANNER  # which targets apply (None: reported only)
    expect: str = "identified"  # identified | bad-signature | blank | identity-mismatch
    styles: tuple[str, ...] = sim.MARK_STYLES
    write_styles: tuple[str, ...] = sim.WRITE_STYLES
    lines: int = 0  # straight lines drawn through rows or columns of boxes after filling
    pasted: bool = False  # the page's codes pasted onto another patient's page, then the chain


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
    # the sheet shows another identity than its codes name (issue 8, item 4)
    Case("code-pasted", ("scan-200",), "pdf", 300, None, "identity-mismatch", pasted=True),
    Case("name-crossed", ("name-crossed", "scan-200"), "pdf", 300, None, "identity-mismatch"),
    # placed from one code alone (a corner stained or torn, the other marks gone): returned with
    # every field for review once its printed identity reads as the code's; pasted codes caught
    Case("unalignable", ("stain-corner", "marks-gone", "scan-200"), "pdf", 300, None),
    Case(
        "code-pasted, unalignable",
        ("stain-corner", "marks-gone", "scan-200"),
        "pdf",
        300,
        None,
        "identity-mismatch",
        pasted=True,
    ),
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
    # lines through boxes: folds, rulers, scanner streaks (not marks)
    Case("lines", (), "png", lines=2),
    Case("lines+scan-200", ("scan-200",), "pdf", 300, lines=2),
    # black-and-white document scanners
    Case("bitonal-200", ("bitonal-200",), "g4", 300, target=BITONAL),
    Case("bitonal-300", ("bitonal-300",), "g4", 300, target=BITONAL),
    Case(
        "bitonal-200, pencil-heavy",
        ("bitonal-200",),
        "g4",
        300,
        target=BITONAL,
        styles=PENCIL_HEAVY,
        write_styles=PENCIL_WRITING,
    ),
    Case(
        "bitonal-dark, pencil-heavy",
        ("bitonal-dark",),
        "g4",
        300,
        target=None,
        styles=PENCIL_HEAVY,
        write_styles=PENCIL_WRITING,
    ),
    # added later, at the end: each class's pages depend on its place in this list
    Case("stain-corner", ("stain-corner",), "pdf"),
    Case("stain-corner+scan-200", ("stain-corner", "scan-200"), "pdf", 300),
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
    example = example_census()
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
    page: SourcePage  # the page printed (for a pasted case: the page whose codes are pasted)
    seed: int
    onto: SourcePage | None = None  # a pasted case: the other patient's page the sheet shows


def make_jobs(case: Case, pages: Sequence[SourcePage], seed: int) -> list[Job]:
    """One job per page; a pasted case pastes each page's codes onto the next page of the
    same form (else any form) of another patient."""
    jobs = []
    for n, page in enumerate(pages, start=1):
        onto = None
        if case.pasted:
            others = [p for p in [*pages[n:], *pages[: n - 1]] if _patient(p) != _patient(page)]
            same = [p for p in others if p.entry["form"] == page.entry["form"]]
            onto = (same or others)[0]
        jobs.append(Job(case, n, page, seed, onto))
    return jobs


def _patient(page: SourcePage) -> Any:
    return json.dumps(page.entry["patient"], sort_keys=True)


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
    codes_of = None
    if job.onto is not None:  # the sheet is the other page, filled; the codes are this one's
        codes_of, entry = image, job.onto.entry
        image = sim.render_page(job.onto.pdf, int(entry["pdf_page"]) - 1, case.render_dpi)
    tag = f"{job.seed}:{case.name}:{job.number}"
    filled, truth = sim.fill_page(
        image,
        entry,
        case.render_dpi,
        random.Random(tag),
        styles=case.styles,
        write_styles=case.write_styles,
    )
    if case.lines:
        filled, _ = sim.lines_through_boxes(
            filled, entry, case.render_dpi, random.Random(tag + ":lines"), case.lines
        )
    g = np.random.default_rng(random.Random(tag + ":degrade").getrandbits(64))
    if codes_of is not None:
        done = sim.paste_codes(codes_of, filled, case.render_dpi, g)
        for kind in case.chain:
            done = sim.then(done, kind, g)
    elif case.chain:
        done = sim.degrade(filled, case.render_dpi, case.chain[0], g)
        for kind in case.chain[1:]:
            done = sim.then(done, kind, g)
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
    elif case.arrival in ("fax", "g4"):
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
    if case.arrival in ("pdf", "fax", "g4"):
        batch = FAX_BATCH if case.arrival == "fax" else PDF_BATCH
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

"""`downtime drill`: a whole outage rehearsed on the embedded defaults, in a temporary folder.

Print a sample ward's pack (the day before: the outage lasted the day); fill its pages as ward
staff would and return them as the world does (scanner batches mostly clean, some skewed or
upside down, a phone photo, a stained code, a photocopy filled in twice, a few sheets lost);
scan; reconcile into a local outbox; two simulated reviewers settle every held item
(:mod:`~downtime.simulate.reviewers`); reconcile again; void the sheets lost on purpose;
report — which then says everything is accounted for. Every step is timed. Hospitals are told
to exercise their downtime routines: this makes it one command, and it is the best
demonstration of the kit.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from PIL import Image

from downtime import simulate
from downtime.bundled import example_census
from downtime.simulate.reviewers import review_everything

Log = Callable[[str], None]
DPI = 200
LOST_FORMS = ("referral", "mar")  # one sheet of each is "lost" on the ward
REVIEW_ROUNDS = 4  # review, reconcile, and again for what a decision uncovered
PRINTED_BEFORE = timedelta(hours=25)  # the pack was printed the day before it is scanned:
# every hour of its administration record is over by then


@dataclass(frozen=True)
class DrillOptions:
    ward: str = "MED42"
    seed: int = 7
    keep: Path | None = None  # keep the drill's folder here instead of a temporary one
    jobs: int = 1
    lang: str = "en"  # the report's language


@dataclass
class DrillResult:
    folder: Path
    timings: list[tuple[str, float]] = field(default_factory=list)
    sheets_returned: int = 0
    sheets_lost: list[str] = field(default_factory=list)  # form serials never scanned
    scan: dict[str, int] = field(default_factory=dict)
    reconcile: dict[str, int] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)  # after reconciliation, per kind held
    reviewed: dict[str, int] = field(default_factory=dict)  # decisions made, per queue
    reconcile_after: dict[str, int] = field(default_factory=dict)  # after the review
    held_after: dict[str, int] = field(default_factory=dict)  # still held after it
    report: str = ""
    complete: bool = False  # the report says everything is accounted for


def run_drill(options: DrillOptions, log: Log = lambda _: None) -> DrillResult:
    with _folder(options.keep) as folder:
        result = DrillResult(folder)
        home, scans = folder / "home", folder / "scans"
        issued_at = datetime.now(UTC) - PRINTED_BEFORE
        with _step(result, "pack", log):
            manifest, pdf = _pack(home, folder / "packs", options.ward, issued_at)
        with _step(result, "fill and return (simulated)", log):
            truths = _return_pages(pdf, manifest, scans, options.seed, result)
        with _step(result, "scan", log):
            result.scan = _scan(home, scans, options.jobs)
        with _step(result, "reconcile (outbox)", log):
            result.reconcile = _reconcile(home)
            result.held = _held(home)
        with _step(result, "review, reconcile again", log):
            local = issued_at.astimezone(_site_zone(home)).replace(tzinfo=None)
            reviewed: Counter[str] = Counter()
            for _ in range(REVIEW_ROUNDS):  # items on a page in conflict come after its capture
                made = review_everything(home, truths, local)
                result.reconcile_after = _reconcile(home)
                if not made:
                    break
                reviewed.update(made)
            result.reviewed = dict(reviewed)
            result.held_after = _held(home)
        with _step(result, "void the sheets lost on purpose", log):
            _void(home, result.sheets_lost)
        with _step(result, "report", log):
            result.report = _report(home, options.lang)
            result.complete = _complete(home)
        return result


@contextmanager
def _folder(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="downtime-drill-") as tmp:
        yield Path(tmp)


@contextmanager
def _step(result: DrillResult, name: str, log: Log) -> Iterator[None]:
    log(f"{name} …")
    start = time.perf_counter()
    yield
    seconds = time.perf_counter() - start
    result.timings.append((name, seconds))
    log(f"{name}: {seconds:.1f} s")


# --------------------------------------------------------------------------------------------
# The steps


def _pack(home: Path, out: Path, ward: str, issued_at: datetime) -> tuple[dict[str, Any], Path]:
    from downtime.app import PackRequest, run_pack

    example = example_census()
    request = PackRequest(
        census=example / "patients.csv",
        medications=example / "medications.csv",
        ward=ward,
        output=out / f"{ward}.pdf",
        skip_invalid=False,
        issued_at=issued_at,
        today=date.today(),
    )
    (result,) = run_pack(request, home=home)
    return json.loads(result.manifest.read_text("utf-8")), result.pdf


def _return_pages(
    pdf: Path, manifest: dict[str, Any], scans: Path, seed: int, result: DrillResult
) -> dict[str, dict[str, str]]:
    """Fill every patient and admission page, lose a few, degrade the rest, write them the way
    they arrive: scanner PDFs (with the blank duplex backs), and one phone photo. Returns what
    was drawn on each page (page uid → field id → state)."""
    truths: dict[str, dict[str, str]] = {}
    rng = random.Random(seed)
    pages = list(manifest["pages"])  # the cover sheet comes back too (its checklist)
    lost = _lost(pages)
    result.sheets_lost = [p["form_serial"] for p in lost]
    batch: list[np.ndarray] = []
    phone: list[np.ndarray] = []
    conflict_done = stain_done = False
    for n, page in enumerate(p for p in pages if p not in lost):
        image = simulate.render_page(pdf, page["pdf_page"] - 1, DPI)
        filled, truth = simulate.fill_page(image, page, DPI, random.Random(f"{seed}:{n}"))
        truths[page["page_uid"]] = dict(truth.fields)
        kind = rng.choice(("scan-200", "scan-200", "scan-200", "skew", "upside-down", "jpeg"))
        if not stain_done and page["form"] == "journal":
            kind, stain_done = "stain-code", True
        if n == 5:
            phone.append(simulate.degrade(filled, DPI, "phone", rng).image)
            continue
        batch.append(_scanned(filled, kind, rng))
        batch.append(simulate.degrade(filled, DPI, "duplex-back", rng).image)
        if not conflict_done and page["form"] == "medication-orders":
            # the same form photocopied on the ward and filled in a second time
            _, (other, _) = simulate.photocopy_filled_differently(image, page, DPI, seed)
            batch.append(_scanned(other, "scan-200", rng))
            conflict_done = True
    result.sheets_returned = len(pages) - len(lost)
    scans.mkdir(parents=True, exist_ok=True)
    for i in range(0, len(batch), 30):
        _save_pdf(scans / f"batch-{i // 30 + 1:02d}.pdf", batch[i : i + 30])
    for i, photo in enumerate(phone, start=1):
        Image.fromarray(photo).save(scans / f"phone-{i}.jpg", quality=85)
    return truths


def _lost(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    lost = []
    for form in LOST_FORMS:
        candidates = [p for p in pages if p["form"] == form]
        if candidates:
            lost.append(candidates[-1])
    return lost


def _scanned(image: np.ndarray, kind: str, rng: random.Random) -> np.ndarray:
    return simulate.degrade(image, DPI, kind, rng).image


def _save_pdf(path: Path, images: list[np.ndarray]) -> None:
    first, *rest = (Image.fromarray(i) for i in images)
    first.save(path, save_all=True, append_images=rest, resolution=DPI, quality=85)


def _scan(home: Path, scans: Path, jobs: int) -> dict[str, int]:
    from downtime.app import scan_files
    from downtime.scan import ScanOptions

    summary = scan_files(
        [scans],
        home=home,
        options=ScanOptions(jobs=jobs),
        emit=lambda _: None,
        progress=lambda done, total: None,
    )
    return dict(summary.by_status)


def _reconcile(home: Path) -> dict[str, int]:
    from downtime.app import reconcile_forms

    s = reconcile_forms(
        home, fhir_url=None, token_file=None, outbox=None, dry_run=False, max_entries=8,
        log=lambda _: None,
    )  # fmt: skip
    return {
        "forms": s.forms,
        "bundles": s.bundles,
        "resources": s.resources,
        "failed": s.failed,
    }


def _held(home: Path) -> dict[str, int]:
    """Items held for a person, per kind: what the report lists as pending, counted alike."""
    from downtime.app import held_kinds

    return held_kinds(home)


def _report(home: Path, lang: str) -> str:
    from downtime.app import outage_report

    return outage_report(home, fmt="table", lang=lang)  # as the rest of the drill's output


def _complete(home: Path) -> bool:
    from downtime.app import outage_report

    document: dict[str, Any] = json.loads(outage_report(home, fmt="json"))
    return bool(document["complete"])


def _void(home: Path, serials: list[str]) -> None:
    from downtime.app.outage import void_pages

    if serials:
        void_pages(home, serials, "drill: lost on purpose, never coming back")


def _site_zone(home: Path) -> ZoneInfo:
    from downtime.settings import resolve

    return resolve(home).tz

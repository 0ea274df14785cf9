"""`downtime drill`: a whole outage rehearsed on the embedded defaults, in a temporary folder.

Print a sample ward's pack; fill its pages as ward staff would and return them as the world
does (scanner batches mostly clean, some skewed or upside down, a phone photo, a stained code,
a photocopy filled in twice, a few sheets lost); scan; reconcile into a local outbox; report.
Every step is timed. Hospitals are told to exercise their downtime routines: this makes it one
command, and it is the best demonstration of the kit.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from downtime import simulate

Log = Callable[[str], None]
DPI = 200
LOST_FORMS = ("referral", "mar")  # one sheet of each is "lost" on the ward


@dataclass(frozen=True)
class DrillOptions:
    ward: str = "MED42"
    seed: int = 7
    keep: Path | None = None  # keep the drill's folder here instead of a temporary one
    jobs: int = 1


@dataclass
class DrillResult:
    folder: Path
    timings: list[tuple[str, float]] = field(default_factory=list)
    sheets_returned: int = 0
    sheets_lost: list[str] = field(default_factory=list)  # form serials never scanned
    scan: dict[str, int] = field(default_factory=dict)
    reconcile: dict[str, int] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)  # after reconciliation, per kind held
    report: str = ""


def run_drill(options: DrillOptions, log: Log = lambda _: None) -> DrillResult:
    with _folder(options.keep) as folder:
        result = DrillResult(folder)
        home, scans = folder / "home", folder / "scans"
        with _step(result, "pack", log):
            manifest, pdf = _pack(home, folder / "packs", options.ward)
        with _step(result, "fill and return (simulated)", log):
            _return_pages(pdf, manifest, scans, options.seed, result)
        with _step(result, "scan", log):
            result.scan = _scan(home, scans, options.jobs)
        with _step(result, "reconcile (outbox)", log):
            result.reconcile = _reconcile(home)
            result.held = _held(home)
        with _step(result, "report", log):
            result.report = _report(home)
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


def _pack(home: Path, out: Path, ward: str) -> tuple[dict[str, Any], Path]:
    from downtime.app import PackRequest, run_pack

    example = Path(str(resources.files("downtime") / "resources" / "example"))
    request = PackRequest(
        census=example / "patients.csv",
        medications=example / "medications.csv",
        ward=ward,
        output=out / f"{ward}.pdf",
        skip_invalid=False,
        issued_at=datetime.now(UTC),
        today=date.today(),
    )
    (result,) = run_pack(request, home=home)
    return json.loads(result.manifest.read_text("utf-8")), result.pdf


def _return_pages(
    pdf: Path, manifest: dict[str, Any], scans: Path, seed: int, result: DrillResult
) -> None:
    """Fill every patient and admission page, lose a few, degrade the rest, write them the way
    they arrive: scanner PDFs (with the blank duplex backs), and one phone photo."""
    rng = random.Random(seed)
    pages = list(manifest["pages"])  # the cover sheet comes back too (its checklist)
    lost = _lost(pages)
    result.sheets_lost = [p["form_serial"] for p in lost]
    batch: list[np.ndarray] = []
    phone: list[np.ndarray] = []
    conflict_done = stain_done = False
    for n, page in enumerate(p for p in pages if p not in lost):
        image = simulate.render_page(pdf, page["pdf_page"] - 1, DPI)
        filled, _ = simulate.fill_page(image, page, DPI, random.Random(f"{seed}:{n}"))
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


def _report(home: Path) -> str:
    from downtime.app import outage_report

    return outage_report(home, fmt="table")

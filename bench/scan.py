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
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pack import replace_section  # noqa: E402
from scan_cases import (  # noqa: E402
    BITONAL,
    CASE_NAMES,
    CASES,
    PHONE,
    SCANNER,
    Case,
    SourcePage,
    print_packs,
)
from scan_judge import Tally  # noqa: E402
from scan_report import (  # noqa: E402
    fields_lines,
    intro_lines,
    naive_lines,
    speed_section,
    targets_lines,
    totals_row,
)
from scan_runs import SpeedRow, fresh_home, run_case, speed_files, speed_run, stage_costs  # noqa: E402


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
    zbar = shutil.which("zbarimg")
    emit(intro_lines(args, len(latest), rounds), out)
    with ProcessPoolExecutor(max_workers=max(1, args.scan_jobs)) as pool:
        tallies = accuracy_runs(args, cases, pool_pages, base, work, pool, started)
        scanner = totals_row((t for t in tallies if t.case.target == SCANNER), "all scanner-class")
        phone = totals_row((t for t in tallies if t.case.target == PHONE), "all phone")
        bitonal = totals_row((t for t in tallies if t.case.target == BITONAL), "all bitonal")
        summed = [x for x in (scanner, phone, bitonal) if x is not None]
        emit(fields_lines(tallies, summed), out)
        emit(naive_lines(tallies, zbar is not None, args.scan_jobs), out)
        speed_pages = [p for r in reversed(printed) for p in r][: args.speed_pages]
        rows, stage = speed_runs(args, speed_pages, base, work, pool)
    if rows:
        emit(speed_section(rows, stage, args), out)
    emit(targets_lines(tallies, summed, rows), out)
    return out


def accuracy_runs(
    args: argparse.Namespace,
    cases: list[Case],
    pool_pages: list[SourcePage],
    base: Path,
    work: Path,
    pool: ProcessPoolExecutor,
    started: float,
) -> list[Tally]:
    """Every class made, scanned and judged in turn, with progress on stderr."""
    per_class = args.pages_per_class
    tallies: list[Tally] = []
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
    return tallies


def speed_runs(
    args: argparse.Namespace,
    speed_pages: list[SourcePage],
    base: Path,
    work: Path,
    pool: ProcessPoolExecutor,
) -> tuple[list[SpeedRow], dict[int, dict[str, float]]]:
    """Whole scan runs at 200 and 300 dpi with each ``--jobs``, and the cost of each stage."""
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
    return rows, stage


if __name__ == "__main__":
    main()

"""Reconciliation speed: returned pages into transaction bundles, in the outbox and on a server.

    python bench/reconcile.py --pages 10000 --server-pages 1000 --write

A census is generated (bench/pack.py's ``write_census``) and its packs printed for real; then
every issued patient page, up to ``--pages``, is recorded as returned *without scanning it*
(scanning 10,000 pages takes minutes): a capture is inserted straight into the ledger
(``downtime.ledger.scans.record_outcomes``) with readings drawn at random per page. The
registered page images are real: one page of each form is rendered, filled and degraded with
``downtime.simulate`` and JPEG-encoded as the scanner stores them; these few images are reused
for every page of that form. Then ``reconcile`` runs whole, timed: into the outbox folder, and
into the Medplum FHIR test server of tests/fhir_server (Node), for ``--server-pages`` pages of
a census of their own. A second run of each (nothing changed) is timed too.

With ``--write`` the results replace the "Reconcile" section of BENCHMARKS.md. ``--profile``
(or an outbox run over the 60 s target) profiles the outbox run again on a copy with cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import os
import platform
import pstats
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from conftest import ledger_rows  # noqa: E402
from fhirserver import fhir_request, start_fhir_server, stop_fhir_server  # noqa: E402
from pack import replace_section, write_census  # noqa: E402

from downtime import simulate  # noqa: E402
from downtime.app import PackRequest, run_pack, workspace  # noqa: E402
from downtime.census.ids import fhir_system  # noqa: E402
from downtime.geometry import PX_PER_MM, box_px  # noqa: E402
from downtime.ledger import Ledger  # noqa: E402
from downtime.ledger.packs import pack_summaries  # noqa: E402
from downtime.ledger.pages import pages_of_pack  # noqa: E402
from downtime.ledger.scans import (  # noqa: E402
    Capture,
    MarkFact,
    PageFact,
    ScannedFile,
    record_file,
    record_outcomes,
    start_run,
)
from downtime.ledger.store import Store  # noqa: E402
from downtime.model import Identifier  # noqa: E402
from downtime.record.client import FhirClient, Response  # noqa: E402
from downtime.record.reconciliation import Summary, Target, reconcile  # noqa: E402
from downtime.scan import marks  # noqa: E402
from downtime.scan.page import REGISTERED_QUALITY  # noqa: E402
from downtime.vocab import ScanStatus  # noqa: E402

TARGET_S = 60.0  # the outbox for 10,000 pages
PAGES_PER_PATIENT = 5.5  # journal 2, orders 1, MAR 1-2, prescription 1, referral 1
REGISTERED_DPI = round(PX_PER_MM * 25.4)
REGISTERED_SHAPE = (round(297 * PX_PER_MM), round(210 * PX_PER_MM))  # rows, columns
MAR_CELL = re.compile(r"(med\d+\.t\d+)\.(given|notgiven)")
BATCH = 500  # captures per ledger transaction while setting up


@dataclass
class Built:
    home: Path
    pages: int  # returned pages recorded
    patients: int
    packs: int
    images: dict[str, int]  # "form/page" -> bytes of its registered JPEG
    seconds: dict[str, float]  # setup stages


@dataclass
class Run:
    label: str
    pages: int
    summary: Summary
    seconds: float
    megabytes: float | None = None


# --------------------------------------------------------------------------------------------
# Setting up: packs printed, pages returned without scanning


def build(work: Path, pages: int, wards: int, jobs: int, seed: int) -> Built:
    seconds: dict[str, float] = {}
    patients = math.ceil(pages / PAGES_PER_PATIENT * 1.05) + wards
    start = time.perf_counter()
    census = work / "census"
    census.mkdir(parents=True, exist_ok=True)
    pat, med = write_census(census, patients, wards, seed)
    home, out = work / "home", work / "packs"
    # Printed a day before the pages come back, as in an outage: every MAR slot is over by
    # then (an administration later than its page's scan is held, not posted).
    issued = datetime.now(UTC) - timedelta(hours=25)
    request = PackRequest(pat, med, None, out, False, issued, date.today(), jobs)
    results = run_pack(request, home=home)
    seconds["print packs"] = time.perf_counter() - start

    start = time.perf_counter()
    images = registered_images(home, results[0].pdf, results[0].manifest, seed)
    seconds["page images"] = time.perf_counter() - start

    start = time.perf_counter()
    returned = return_pages(home, pages, {k: v[0] for k, v in images.items()}, seed)
    seconds["captures"] = time.perf_counter() - start
    if returned < pages:
        raise SystemExit(f"only {returned} patient pages were printed, {pages} wanted")
    sizes = {k: v[1] for k, v in images.items()}
    return Built(home, returned, patients, len(results), sizes, seconds)


def registered_images(
    home: Path, pdf: Path, manifest_path: Path, seed: int
) -> dict[str, tuple[str, int]]:
    """One real registered page image per form and page number: the first patient's page,
    rendered, filled, scanned (``scan-200``), brought to the registered frame and JPEG-encoded
    as the scanner stores it. "form/page" -> (stored path, bytes)."""
    import json

    manifest = json.loads(manifest_path.read_text("utf-8"))
    store = Store(home)
    out: dict[str, tuple[str, int]] = {}
    rng = np.random.default_rng(seed)
    for entry in manifest["pages"]:
        key = f"{entry['form']}/{entry['page']}"
        if entry["patient"] is None or entry["form"] == "admission" or key in out:
            continue
        page = simulate.render_page(pdf, int(entry["pdf_page"]) - 1, REGISTERED_DPI)
        filled, _ = simulate.fill_page(page, entry, REGISTERED_DPI, random.Random(f"{seed}:{key}"))
        scanned = simulate.degrade(filled, REGISTERED_DPI, "scan-200", rng).image
        rows, cols = REGISTERED_SHAPE
        registered = cv2.resize(scanned, (cols, rows), interpolation=cv2.INTER_LINEAR)
        ok, jpeg = cv2.imencode(".jpg", registered, [cv2.IMWRITE_JPEG_QUALITY, REGISTERED_QUALITY])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        data = jpeg.tobytes()
        out[key] = (store.put_bytes(data, ".jpg"), len(data))
    return out


def return_pages(home: Path, wanted: int, images: dict[str, str], seed: int) -> int:
    """Record the first ``wanted`` issued patient pages as returned: one capture each."""
    rng = random.Random(seed)
    with Ledger.open(home / "ledger.sqlite3") as ledger:
        packs = sorted(p.pack_id for p in pack_summaries(ledger))
        issued = [
            page
            for pack_id in packs
            for page in pages_of_pack(ledger, pack_id)
            if page.patient is not None and page.form != "admission"
        ][:wanted]
        run_id = f"bench-{seed}"
        start_run(ledger, run_id, "bench", "bench", datetime.now(UTC))
        source = ScannedFile("0" * 64, 0, "pdf", "bench-scans.pdf")
        record_file(ledger, run_id, source, images[next(iter(images))])
        for i in range(0, len(issued), BATCH):
            facts = []
            for n, page in enumerate(issued[i : i + BATCH], start=i + 1):
                key = f"{page.form}/{page.page_no}"
                marks_read = tuple(
                    MarkFact(r.field_id, r.kind, r.state, r.score, r.flags, box_px(f.box_mm))
                    for r, f in zip(readings(page.fields, rng), page.fields, strict=True)
                )
                capture = Capture(
                    "code", 0.1, images.get(key) or images[f"{page.form}/1"], marks_read
                )
                facts.append(
                    PageFact(
                        source=source.source,
                        source_page=n,
                        file_sha256=source.sha256,
                        status=ScanStatus.IDENTIFIED,
                        page_uid=page.page_uid,
                        patient=page.patient,
                        capture=capture,
                    )
                )
            record_outcomes(ledger, run_id, facts, actor="bench", station="bench")
        return len(issued)


def readings(fields: Sequence[object], rng: random.Random) -> list[marks.FieldReading]:
    """A plausible reading of a returned page: most scheduled doses signed as given, a few
    as not given; other boxes ticked now and then, writing areas written about half the
    time; one field in a hundred uncertain."""
    cells: dict[str, str | None] = {}
    out = []
    for f in fields:
        field_id, kind = f.id, f.kind  # type: ignore[attr-defined]
        cell = MAR_CELL.fullmatch(field_id)
        if cell is not None:
            if cell[1] not in cells:
                draw = rng.random()
                cells[cell[1]] = "given" if draw < 0.7 else "notgiven" if draw < 0.75 else None
            marked = cells[cell[1]] == cell[2]
            state = "marked" if marked else "empty"
        elif rng.random() < 0.01:
            state = "uncertain"
        elif kind == "checkbox":
            state = "marked" if rng.random() < 0.15 else "empty"
        else:
            state = "written" if rng.random() < 0.5 else "blank"
        score = {"marked": 0.45, "written": 0.3, "uncertain": 0.12}.get(state, 0.01)
        out.append(marks.FieldReading(field_id, kind, state, score, {}))
    return out


# --------------------------------------------------------------------------------------------
# Timed runs


def timed(label: str, home: Path, target: Target, pages: int) -> Run:
    with workspace(home, keys="read") as (settings, _keys, ledger):
        start = time.perf_counter()
        summary = reconcile(ledger, settings, target)
        seconds = time.perf_counter() - start
    megabytes = None
    if target.outbox is not None:
        megabytes = sum(p.stat().st_size for p in target.outbox.iterdir()) / 1e6
    print(
        f"  {label}: {summary.forms} forms, {summary.bundles} bundles, {summary.resources} "
        f"resources, {summary.failed} failed, {seconds:.1f} s",
        flush=True,
    )
    return Run(label, pages, summary, seconds, megabytes)


def profile_outbox(home: Path, work: Path) -> list[str]:
    """The outbox run again, on a copy of the data folder as it was before, under cProfile."""
    copy = work / "profile-home"
    shutil.copytree(home, copy)
    profiler = cProfile.Profile()
    with workspace(copy, keys="read") as (settings, _keys, ledger):
        profiler.enable()
        reconcile(ledger, settings, Target(outbox=work / "profile-outbox"))
        profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(14)
    own = text.getvalue()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(
        r"downtime|pypdfium2|json|base64|hashlib|files"
    )
    cumulative = relative_paths(text.getvalue())
    return [*_stats_lines(relative_paths(own), 14), "", *_stats_lines(cumulative, 18)]


def relative_paths(text: str) -> str:
    """Profile text without this machine's folders: ``downtime/…`` for the kit's modules, the
    path inside the library folder for the standard library and installed packages."""
    text = re.sub(r"\S*/(downtime/\S+)", r"\1", text)
    return re.sub(r"\S*/lib/python3\.\d+/(?:site-packages/)?(\S+)", r"\1", text)


def _stats_lines(text: str, keep: int) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("ncalls"))
    header = [line for line in lines[:start] if "function calls" in line]
    return [*(h.strip() for h in header), *lines[start : start + keep + 1]]


class TimedClient(FhirClient):
    """The real client, timing every request by kind (a measuring seam, nothing changed)."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.calls: dict[str, list[float]] = defaultdict(list)

    def transaction(self, bundle: Mapping[str, Any]) -> Response:
        start = time.perf_counter()
        try:
            return super().transaction(bundle)
        finally:
            self.calls["transaction"].append(time.perf_counter() - start)

    def search(
        self, resource_type: str, params: Mapping[str, str], *, max_pages: int = 100
    ) -> list[dict[str, Any]]:
        start = time.perf_counter()
        try:
            return super().search(resource_type, params, max_pages=max_pages)
        finally:
            self.calls[f"search {resource_type}"].append(time.perf_counter() - start)


def seed_record(home: Path, base_url: str) -> int:
    """The record holds every census patient already (as a hospital's does): then the record
    checks search for administrations and orders, as they would for real."""
    with Ledger.open(home / "ledger.sqlite3") as ledger:
        people = ledger_rows(
            ledger,
            "SELECT DISTINCT patient_system, patient_value, family_name, given_name"
            " FROM pack_patients WHERE family_name IS NOT NULL",
        )
    for p in people:
        ident = Identifier(p["patient_system"], p["patient_value"])
        patient = {
            "resourceType": "Patient",
            "identifier": [{"system": fhir_system(ident), "value": ident.value}],
            "name": [{"family": p["family_name"], "given": [p["given_name"]]}],
        }
        answer = fhir_request("POST", f"{base_url}/Patient", patient)
        if answer.status != 201:
            raise RuntimeError(f"the test server refused a patient: {answer.status}")
    return len(people)


def request_lines(client: TimedClient) -> list[str]:
    lines = []
    for kind, times in sorted(client.calls.items(), key=lambda kv: -sum(kv[1])):
        line = (
            f"{kind}: {len(times)} requests, {sum(times):.1f} s, "
            f"{1000 * sum(times) / len(times):.0f} ms each"
        )
        if kind == "transaction" and len(times) >= 200:
            first, last = times[:100], times[-100:]
            line += (
                f" (first 100: {1000 * sum(first) / 100:.0f} ms, "
                f"last 100: {1000 * sum(last) / 100:.0f} ms)"
            )
        lines.append(line)
    return lines


def server_run(
    work: Path, pages: int, wards: int, jobs: int, seed: int
) -> tuple[Built, list[Run], int, list[str]]:
    built = build(work / "server", pages, wards, jobs, seed)
    server = start_fhir_server(work)
    try:
        seeded = seed_record(built.home, server.base_url)
        client = TimedClient(server.base_url)
        runs = [timed("server", built.home, Target(client=client), built.pages)]
        requests = request_lines(client)
        for line in requests:
            print(f"    {line}", flush=True)
        again = FhirClient(server.base_url)
        runs.append(timed("server, again", built.home, Target(client=again), built.pages))
    finally:
        stop_fhir_server(server.process)
    return built, runs, seeded, requests


def failures(home: Path) -> Counter[str]:
    """Why bundles failed, by their latest attempt (the diagnostics, shortened)."""
    with Ledger.open(home / "ledger.sqlite3") as ledger:
        found = ledger_rows(
            ledger,
            "SELECT a.http_status, a.detail FROM posting_attempts a WHERE a.outcome = 'failed'"
            " AND a.attempt = (SELECT max(attempt) FROM posting_attempts b"
            " WHERE b.bundle_key = a.bundle_key)",
        )
    reasons: Counter[str] = Counter()
    for r in found:
        detail = re.sub(r'"urn:uuid:[^"]*"', "…", r["detail"])
        reasons[f"HTTP {r['http_status']}: {detail.split(': HTTP ')[-1][:90]}"] += 1
    return reasons


# --------------------------------------------------------------------------------------------
# Report


def row(run: Run) -> str:
    s = run.summary
    rate = run.pages / run.seconds if run.seconds else 0.0
    bundles_s = s.bundles / run.seconds if run.seconds else 0.0
    mb = f"{run.megabytes:.0f}" if run.megabytes is not None else "-"
    return (
        f"| {run.label} | {run.pages} | {s.forms} | {s.unchanged} | {s.bundles} | "
        f"{s.resources} | {s.held} | {s.failed} | {run.seconds:.1f} | **{rate:.0f}** | "
        f"{bundles_s:.0f} | {mb} |"
    )


def setup_line(name: str, built: Built) -> str:
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in built.seconds.items())
    sizes = sorted(built.images.values())
    return (
        f"{name}: {built.patients} patients in {built.packs} packs; {built.pages} patient pages "
        f"returned; {len(sizes)} registered page images ({sizes[0] // 1000}–"
        f"{sizes[-1] // 1000} KB, one per form and page) reused for every page; setup: {stages}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10000)
    parser.add_argument("--server-pages", type=int, default=1000, help="0: no server run")
    parser.add_argument("--wards", type=int, default=25)
    parser.add_argument("--jobs", type=int, default=2, help="processes printing the packs")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="profile the outbox run")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    command = "python bench/reconcile.py " + " ".join(sys.argv[1:])
    print(command, flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp:
        work = Path(tmp)
        built = build(work / "outbox", args.pages, args.wards, args.jobs, args.seed)
        print(setup_line("outbox", built), flush=True)
        before = work / "outbox-home-before"
        shutil.copytree(built.home, before)
        outbox = work / "outbox" / "bundles"
        runs = [timed("outbox", built.home, Target(outbox=outbox), built.pages)]
        runs.append(timed("outbox, again", built.home, Target(outbox=outbox), built.pages))
        profile: list[str] = []
        if args.profile or runs[0].seconds > TARGET_S:
            profile = profile_outbox(before, work)
            print("\n".join(profile), flush=True)
        shutil.rmtree(before)
        server_built: Built | None = None
        server_failures: Counter[str] = Counter()
        seeded, requests = 0, []
        if args.server_pages:
            server_built, server_runs, seeded, requests = server_run(
                work, args.server_pages, max(1, args.wards // 10), args.jobs, args.seed
            )
            print(setup_line("server", server_built), flush=True)
            server_failures = failures(server_built.home)
            for reason, n in server_failures.most_common():
                print(f"  failed {n}: {reason}", flush=True)
            runs += server_runs
    lines = [
        "## Reconcile",
        "",
        f"`{command}` — {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {date.today().isoformat()}. Whole `reconcile` runs (forms "
        "read from the ledger, PDFs of the registered pages, bundles, delivery, ledger "
        'bookkeeping); "again" is the second run, with nothing changed. Target: the outbox '
        f"for 10,000 pages in under {TARGET_S:.0f} s.",
        "",
        "| run | pages | forms | unchanged | bundles | resources | held | failed | seconds "
        "| pages/s | bundles/s | outbox MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(row(r) for r in runs),
        "",
        "Pages are not scanned: each issued patient page gets a capture inserted into the "
        "ledger with readings drawn at random (MAR cells 70 % given, 5 % not given; other "
        "boxes 15 % ticked; writing areas 50 % written; 1 % of fields uncertain).",
        "",
        f"- {setup_line('Outbox', built)}",
    ]
    if server_built is not None:
        lines.append(f"- {setup_line('Server (Medplum test server, in memory)', server_built)}")
        lines.append(
            f"- The server held the {seeded} census patients before the run (the record knows "
            "its patients), so the record checks search as they would for real. Requests of "
            "the first server run, timed in the client:"
        )
        lines += [f"  - {line}" for line in requests]
        if server_failures:
            lines.append("- Server failures (latest attempt of each failed bundle):")
            lines += [f"  - {n} × {reason}" for reason, n in server_failures.most_common()]
    outbox_run = runs[0]
    verdict = "met" if outbox_run.seconds <= TARGET_S else "**missed**"
    lines += [
        "",
        f"Target (outbox, {outbox_run.pages} pages, ≤ {TARGET_S:.0f} s): {verdict} "
        f"({outbox_run.seconds:.1f} s).",
    ]
    if profile:
        lines += ["", "cProfile of the outbox run (on a copy):", "", "```text", *profile, "```"]
    section = "\n".join([*lines, ""])
    if args.write:
        replace_section(ROOT / "BENCHMARKS.md", "## Reconcile", section)


if __name__ == "__main__":
    main()

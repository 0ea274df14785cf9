"""Proof 2 of issue 11, concurrency: four scanning stations at once on one ledger, 30 % of their
pages shared, record exactly the distinct pages: none lost, none counted twice, no run refused
because the ledger was busy.

Four `downtime scan` processes (on SQLite: processes on one computer; on PostgreSQL: as
stations on several computers would, each with its own connection) are started at the same
moment, each with ``PAGES`` pages in scanner PDFs of five JPEG pages. 70 % of each station's
pages are its own; 30 % it shares with its neighbours, half of those as the very same file (one
batch fed at two stations) and half as a file of its own (the same sheets scanned again: other
bytes). Each station is given its files in a random order, so a shared file is read by two
stations at the same moment, or one after the other. The pages are blank forms of the example
census printed as often as it takes (each print issues new pages): every page is in one batch
only, or in the two files of a batch scanned twice.

Two reviewers deciding the same item at once is proved in tests/test_review_index.py, on both
backends too.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLE
from crashkit import (
    LedgerTarget,
    assert_audit_matches_scans,
    assert_each_page_once,
    child_env,
    downtime_processes,
    ledger_check,
    ledger_target_fixture,  # noqa: F401 (ledger_target)
    sha256_of,
)
from PIL import Image

from downtime import simulate
from downtime.app import PackRequest, run_pack

pytestmark = pytest.mark.backends  # each proof on SQLite and on PostgreSQL

STATIONS = 4
# Pages per station, as issue 11 asks: 1,700 distinct pages to print and render and 2,000 page
# reads, some 90 s per backend on 2 idle cores (three minutes on a busy machine); 300 took
# under a minute on SQLite alone.
PAGES = 500
BATCH = 5  # pages per scanner PDF
SHARED = 0.3  # of each station's pages, shared with its neighbours
DPI = 150

Sheet = tuple[Path, dict[str, Any]]  # a printed page: the pack PDF, its manifest entry


def issued_pages(home: Path, out: Path, count: int) -> list[Sheet]:
    """``count`` distinct pages issued into ``home`` (cover sheets aside): the example census
    printed as often as it takes, each time an hour later."""
    first = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    found: list[Sheet] = []
    for n in range(1000):
        request = PackRequest(
            census=EXAMPLE / "patients.csv", medications=EXAMPLE / "medications.csv",
            ward=None, output=out / f"round-{n}", skip_invalid=False,
            issued_at=first + timedelta(hours=n), today=date.today(),
        )  # fmt: skip
        for made in run_pack(request, home=home):
            manifest = json.loads(made.manifest.read_text("utf-8"))
            found += [(made.pdf, e) for e in manifest["pages"] if e["form"] != "cover"]
        if len(found) >= count:
            return found[:count]
    raise AssertionError("the census printed no pages")


def station_inputs(
    pages: list[Sheet], folder: Path
) -> tuple[list[list[Path]], dict[tuple[str, int], str]]:
    """Each station's batch files, in the order it is given them; and (file, page in it) →
    the page uid it shows. Station s shares batches with station s+1 and with s-1."""
    per_station = PAGES // BATCH
    own = round(per_station * (1 - SHARED))
    pairs = (per_station - own) // 2  # batches each neighbouring pair shares
    sheets = iter(pages)
    shows: dict[tuple[str, int], str] = {}

    def batch(name: str, chosen: list[Sheet], quality: int) -> Path:
        path = folder / f"{name}.pdf"
        images = [simulate.render_page(pdf, int(e["pdf_page"]) - 1, DPI) for pdf, e in chosen]
        frames = [Image.fromarray(image) for image in images]
        frames[0].save(
            path, "PDF", save_all=True, append_images=frames[1:], resolution=DPI,
            quality=quality,
        )  # fmt: skip
        for n, (_, entry) in enumerate(chosen, start=1):
            shows[(str(path), n)] = entry["page_uid"]
        return path

    folder.mkdir(parents=True)
    given: list[list[Path]] = [[] for _ in range(STATIONS)]
    for s in range(STATIONS):
        given[s] += [batch(f"s{s}-{b:02d}", [next(sheets) for _ in range(BATCH)], 75)
                     for b in range(own)]  # fmt: skip
    for s in range(STATIONS):
        right = (s + 1) % STATIONS
        for b in range(pairs):
            chosen = [next(sheets) for _ in range(BATCH)]
            first = batch(f"s{s}-s{right}-{b:02d}", chosen, 75)
            given[s].append(first)
            if b % 2 == 0:  # the very same file at both stations
                given[right].append(first)
            else:  # the same sheets scanned again at the other station: other bytes
                given[right].append(batch(f"s{right}-s{s}-{b:02d}-again", chosen, 90))
    rng = random.Random(5)
    for files in given:
        rng.shuffle(files)
    return given, shows


def distinct_pages() -> int:
    """How many distinct pages the stations are given between them."""
    per_station = PAGES // BATCH
    own = round(per_station * (1 - SHARED))
    return (STATIONS * own + STATIONS * ((per_station - own) // 2)) * BATCH


@pytest.mark.slow
def test_four_stations_scanning_at_once_record_exactly_the_distinct_pages(
    ledger_target: LedgerTarget, tmp_path: Path
) -> None:
    target = ledger_target
    pages = issued_pages(target.home, tmp_path / "out", distinct_pages())
    given, shows = station_inputs(pages, tmp_path / "scans")
    assert all(sum(1 for k in shows if k[0] in map(str, files)) == PAGES for files in given)

    runs = {f"station-{s}": ["scan", "--json", "--jobs", "1", *files]
            for s, files in enumerate(given)}  # fmt: skip
    with downtime_processes(target, runs, tmp_path / "runs") as processes:
        codes = {name: p.wait(600) for name, p in processes.items()}
    errors = {n: (tmp_path / "runs" / f"{n}.stderr").read_text() for n in runs}
    assert codes == dict.fromkeys(runs, 0), errors
    assert not any(errors.values()), errors  # nothing refused, retried aloud or warned about

    # Every station reported each of its pages as the page it is
    for name, files in zip(runs, given, strict=True):
        lines = (tmp_path / "runs" / f"{name}.stdout").read_text().splitlines()
        records = [json.loads(line) for line in lines]
        wanted = [(str(f), n) for f in files for n in range(1, BATCH + 1)]
        assert [(r["source"], r["source_page"]) for r in records] == wanted
        assert all(r["page_uid"] == shows[(r["source"], r["source_page"])] for r in records)
        assert {r["status"] for r in records} <= {"identified", "duplicate"}

    # The ledger: exactly the distinct pages, each once; every file page scanned; all audited
    counted = assert_each_page_once(target)
    assert set(counted) == set(shows.values())
    assert len(counted) == distinct_pages()
    scanned = {
        (r["file_sha256"], r["source_page"]): r["page_uid"]
        for r in target.rows("SELECT file_sha256, source_page, page_uid FROM scan_pages")
    }
    sha = {f: sha256_of(Path(f)) for f in {k[0] for k in shows}}
    assert scanned == {(sha[f], n): uid for (f, n), uid in shows.items()}
    assert target.count("SELECT count(*) FROM quarantine") == 0
    assert_audit_matches_scans(target)
    check = ledger_check(target)
    assert check["ok"] and check["findings"] == [], check["findings"]


def test_processes_opening_a_new_ledger_at_the_same_moment_all_open_it(tmp_path: Path) -> None:
    """Stations started at once on a new data folder: each made the ledger file or migrated it
    after another had (file exists; table already exists)."""
    code = textwrap.dedent(
        """
        import os, sys, time
        from pathlib import Path
        from downtime.ledger import Ledger

        failed = 0
        for trial in range(8):
            go, pids = time.time() + 0.2, []
            for _ in range(4):
                pid = os.fork()
                if pid == 0:
                    while time.time() < go:
                        pass
                    try:
                        Ledger.open(Path(sys.argv[1]) / str(trial) / "ledger.sqlite3").close()
                    except Exception as e:
                        print(type(e).__name__, e, file=sys.stderr, flush=True)
                        os._exit(1)
                    os._exit(0)
                pids.append(pid)
            failed += sum(os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) != 0 for p in pids)
        sys.exit(min(failed, 100))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        env=child_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr

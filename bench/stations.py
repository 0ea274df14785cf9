"""Several scanning stations on one ledger: pages per second ingested with 1, 2 and 4 stations at
once on PostgreSQL, and with one on SQLite, the same pages on the same machine.

    python bench/stations.py --pages 400 --stations 1 2 4 --repeat 3 --write

The bundled example census is printed (as often as it takes to have ``--pages`` distinct patient
and admission pages) into a SQLite ledger, which `downtime ledger copy` copies into a database of
a throwaway PostgreSQL cluster started here (tests/pgcluster.py) with durability on, as
PostgreSQL's defaults have it (``fsync``, ``synchronous_commit``, ``full_page_writes``): every
commit reaches the disk before it returns, as every commit of the SQLite ledger does (WAL,
``synchronous=FULL``). The cluster's files and the data folders are on the same disk. The pages
are filled like a person, degraded as a 200 dpi scanner does and written as scanner PDFs of 25
JPEG pages (bench/scan_runs.py's speed files).

Each run starts from a copy of the printed data folder (keys, image store, site.toml) and of its
ledger: the SQLite file, or a database cloned from the copied one; so both ledgers hold the same
issued pages and the same files identify the same pages. The files are dealt round-robin to N
stations: N `downtime scan --json` processes started at the same moment, each on its own files,
sharing the one ledger and the one image store. A run's time is from starting the first process
to the last one's end (each process's start-up included, as a clerk sees it); its pages per
second are all pages over that time. The runs of one repetition go one after the other, every
configuration once per repetition, and the median of the repetitions is reported. Every run is
checked: every page reported as the page it is, and each counted once in the ledger.

With ``--write`` the table replaces the "Stations" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import pgcluster  # noqa: E402
from backends import ledger_rows  # noqa: E402
from pack import replace_section  # noqa: E402
from scan_cases import print_packs  # noqa: E402
from scan_runs import Places, speed_files  # noqa: E402

from downtime.app.ledger_copy import copy_to_postgresql  # noqa: E402

SQLITE, POSTGRESQL = "SQLite", "PostgreSQL"
CLI = "import sys; from downtime.cli import main; sys.exit(main())"
PAGES_PER_FILE = 25  # scan_cases.PDF_BATCH
ONE_STATION_WITHIN = 0.20  # PostgreSQL with one station: at most this much slower than SQLite


@dataclass(frozen=True)
class Config:
    ledger: str  # SQLite | PostgreSQL
    stations: int


@dataclass(frozen=True)
class Run:
    config: Config
    pages: int
    seconds: float
    identified: int  # reported as the right page
    counted: int  # distinct pages the ledger counts


@dataclass(frozen=True)
class Setup:
    """What every run starts from: the printed data folder, its ledger copied to PostgreSQL,
    and the files."""

    cluster: pgcluster.Cluster
    home: Path  # the printed data folder, its ledger the SQLite file
    pg_url: str  # the copy of its ledger
    files: list[Path]
    places: Places
    jobs: int
    version: str  # PostgreSQL's


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=400, help="a multiple of 100")
    parser.add_argument("--stations", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1, help="page readers per station")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="work here and keep every file")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    if args.pages % (PAGES_PER_FILE * max(args.stations)):
        parser.error(f"--pages: a multiple of {PAGES_PER_FILE * max(args.stations)}")
    command = "python bench/stations.py " + " ".join(sys.argv[1:])
    load = os.getloadavg()[0]
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        runs, version = body(args, Path(tempfile.mkdtemp(prefix="bench-stations-", dir=args.keep)))
    else:
        with tempfile.TemporaryDirectory(prefix="bench-stations-") as tmp:
            runs, version = body(args, Path(tmp))
    section = "\n".join(report(args, command, runs, load, version))
    print(section, flush=True)
    if args.write:
        replace_section(ROOT / "BENCHMARKS.md", "## Stations", section)


def body(args: argparse.Namespace, work: Path) -> tuple[list[Run], str]:
    cluster = pgcluster.start(durable=True)
    try:
        setup = prepare(args, cluster, work)
        configs = [Config(SQLITE, 1), *(Config(POSTGRESQL, n) for n in args.stations)]
        runs = []
        for r in range(args.repeat):
            for config in configs:
                runs.append(run(setup, config, work / f"run-{r}"))
                done = runs[-1]
                log(f"{config.ledger}, {config.stations} station(s): {done.seconds:.1f} s, "
                    f"{done.pages / done.seconds:.1f} pages/s")  # fmt: skip
        return runs, setup.version
    finally:
        cluster.stop()


def log(line: str) -> None:
    print(f"  {line}", file=sys.stderr, flush=True)


def prepare(args: argparse.Namespace, cluster: pgcluster.Cluster, work: Path) -> Setup:
    home = work / "printed"
    rounds = -(-args.pages // 98)  # the example census prints 98 such pages
    log(f"printing the example census {rounds} time(s)")
    printed = print_packs(home, work / "packs", rounds)
    pages = [p for r in reversed(printed) for p in r][: args.pages]
    log(f"filling and scanning {len(pages)} pages at 200 dpi")
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        files, places = speed_files(pages, 200, args.seed, work / "files", pool)
    url = cluster.create()
    copied = copy_to_postgresql(home, url)
    log(f"ledger copied to PostgreSQL: {copied.rows} rows")
    [version] = ledger_rows(url, "SHOW server_version")
    return Setup(cluster, home, url, files, places, args.jobs, str(version[0]))


def site_with_database(site: Path, url: str) -> str:
    """The text of the data folder's site.toml with ``database = url`` added."""
    text = site.read_text("utf-8") if site.exists() else ""
    return text + f'database = "{url}"\n'


def run(setup: Setup, config: Config, work: Path) -> Run:
    """One run: a fresh copy of the printed data folder and ledger, N stations at once."""
    home = work / f"{config.ledger.lower()}-{config.stations}"
    shutil.copytree(setup.home, home)
    if config.ledger == POSTGRESQL:
        for name in ("ledger.sqlite3", "ledger.sqlite3-wal", "ledger.sqlite3-shm"):
            (home / name).unlink(missing_ok=True)
        clone = setup.cluster.clone(setup.pg_url)
        (home / "site.toml").write_text(site_with_database(home / "site.toml", clone), "utf-8")
    given = [setup.files[s :: config.stations] for s in range(config.stations)]
    env = {**os.environ, "DOWNTIME_HOME": str(home), "PYTHONPATH": str(ROOT)}
    outs = [home.parent / f"{home.name}-station-{s}" for s in range(config.stations)]
    started = time.perf_counter()
    processes = []
    for files, out in zip(given, outs, strict=True):
        with out.with_suffix(".jsonl").open("wb") as o, out.with_suffix(".err").open("wb") as e:
            command = ["scan", "--json", "--jobs", str(setup.jobs), *map(str, files)]
            process = subprocess.Popen(
                [sys.executable, "-c", CLI, *command],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=o,
                stderr=e,
            )
        processes.append(process)
    codes = [p.wait() for p in processes]
    seconds = time.perf_counter() - started
    for code, out in zip(codes, outs, strict=True):
        if code != 0:
            raise SystemExit(f"a station failed ({code}):\n{out.with_suffix('.err').read_text()}")
    records = [json.loads(line) for out in outs
               for line in out.with_suffix(".jsonl").read_text("utf-8").splitlines()]  # fmt: skip
    identified = sum(
        r["status"] == "identified"
        and r["page_uid"] == setup.places.get((Path(r["source"]).name, r["source_page"]))
        for r in records
    )
    [counted] = ledger_rows(
        home, "SELECT count(DISTINCT page_uid) AS n FROM captures WHERE same_as IS NULL"
    )
    result = Run(config, len(records), seconds, identified, int(counted["n"]))
    if config.ledger == POSTGRESQL:
        setup.cluster.drop(clone)
    shutil.rmtree(work)
    if not result.pages == result.identified == result.counted == len(setup.places):
        raise SystemExit(f"a run lost or misread pages: {result}")
    return result


def report(
    args: argparse.Namespace, command: str, runs: list[Run], load: float, version: str
) -> list[str]:
    by_config: dict[Config, list[Run]] = {}
    for r in runs:
        by_config.setdefault(r.config, []).append(r)
    rate = {c: r[0].pages / statistics.median(x.seconds for x in r) for c, r in by_config.items()}
    lite = rate[Config(SQLITE, 1)]
    one = rate.get(Config(POSTGRESQL, 1), 0.0)
    lines = [
        "## Stations",
        "",
        f"`{command}` — {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {date.today().isoformat()}, load average {load:.1f} at the "
        f"start. {args.pages} filled pages of the example census in scanner PDFs of "
        f"{PAGES_PER_FILE} JPEG pages at 200 dpi, dealt round-robin to N `downtime scan --json "
        f"--jobs {args.jobs}` processes started at once on one data folder (one ledger, one "
        "image store); time from the first start to the last end, the median of "
        f"{args.repeat} run(s). PostgreSQL {version}: a local cluster on the same "
        "disk (Unix socket), fsync, synchronous_commit and full_page_writes on; SQLite: WAL, "
        "synchronous=FULL. Every page reported as the page it is and counted once, every run.",
        "",
        "| ledger | stations | pages | seconds (median) | pages/s | vs one station |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for config, found in by_config.items():
        seconds = statistics.median(r.seconds for r in found)
        base = lite if config.ledger == SQLITE else one
        lines.append(
            f"| {config.ledger} | {config.stations} | {found[0].pages} | {seconds:.1f} | "
            f"**{rate[config]:.1f}** | {rate[config] / base:.2f}× |"
        )
    four = rate.get(Config(POSTGRESQL, max(args.stations)), 0.0)
    lines += [
        "",
        f"Targets: {max(args.stations)} stations not slower in total than one: "
        f"{four:.1f} vs {one:.1f} pages/s, {'met' if four >= one else 'missed'}; PostgreSQL "
        f"with one station within {ONE_STATION_WITHIN:.0%} of SQLite: {one:.1f} vs "
        f"{lite:.1f} pages/s ({one / lite - 1:+.0%}), "
        f"{'met' if one >= lite * (1 - ONE_STATION_WITHIN) else 'missed'}.",
    ]
    return lines


if __name__ == "__main__":
    main()

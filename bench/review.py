"""Review station speed: opening the station on a large ledger, and settling marks items in
Chromium one after the other.

    python bench/review.py --pages 10000 --items 1000 --decisions 100 --write

A data folder with ``--pages`` returned pages is made as bench/reconcile.py makes it (packs
printed for real, a capture inserted per page with readings drawn at random, one field in a
hundred uncertain) and reconciled into an outbox folder, which holds what a person must
settle. A clerk is added. Then ``downtime review`` runs in a process of its own and Debian's
Chromium, driven by Playwright, is timed:

* opening the station: from starting ``downtime review`` to the queue index fully loaded
  after logging in; the index alone (logged in) and the marks list, loaded again;
* settling: the first marks item opened, then ``--decisions`` times every field set with
  its key (M/E, W/B) and Enter, timed from the Enter to the next item fully shown (its page
  loaded and the crop image decoded). The browser's navigation timing splits each into the
  decision (POST and its redirect), the next item's page and its crop image.

With ``--write`` the results replace the "Review station" section of BENCHMARKS.md.
``--profile`` (or a p95 over the 200 ms target) profiles, in this process, the library calls
one decision's requests make. ``--keep DIR`` keeps the data folder in DIR and reuses it when
it is there already (the setup takes minutes).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from pack import replace_section  # noqa: E402
from playwright.sync_api import Page, sync_playwright  # noqa: E402
from reconcile import _stats_lines, build, relative_paths, setup_line  # noqa: E402, PLC2701
from stationkit import PASSWORD, add_user, chromium, log_in, serve  # noqa: E402

from downtime.app import workspace  # noqa: E402
from downtime.app.decisions import next_open, open_ids, open_items, settle  # noqa: E402
from downtime.app.held import held_counts, held_item, item_image  # noqa: E402
from downtime.record.reconciliation import Target, reconcile  # noqa: E402

TARGET_MS = 200.0  # p95, submit to the next item fully shown
CLERK = "bench-clerk"
QUEUE = "marks"
NOTE = (
    "How the station keeps a request short on a large ledger: one item is found by its id in an "
    "indexed table and only its own form and its patient's rows are read, once a request (the "
    "item the station found is the one it decides and shows); which items are open, how many "
    "each queue holds and which comes next are kept by the station process "
    "(downtime/review/index.py) from the held rows and decisions added since it last looked "
    "(both tables only grow), so a decision re-reads its own form only, whoever else writes to "
    "the ledger; each of the station's threads keeps its ledger connection open (opening one, "
    "and SQLite's checkpoint when the last one closes, cost more than the request); a crop is "
    "cut from the registered page before anything else is done to it, and sent at the page's "
    "resolution (the browser fits it to its box). A queue's list shows its 200 oldest items."
)
SHOWN = (
    "() => { const i = document.querySelector('figure.crop img');"
    " return i !== null && i.complete && i.naturalWidth > 0; }"
)
TIMING = """() => {
  const n = performance.getEntriesByType("navigation")[0];
  const crop = performance.getEntriesByType("resource").find((e) => e.name.endsWith("/crop.jpg"));
  return {
    decision: n.redirectEnd,
    page: n.responseEnd - n.redirectEnd,
    crop: crop ? crop.responseEnd - crop.startTime : 0,
    load: n.loadEventEnd,
  };
}"""


@dataclass
class Setup:
    home: Path
    lines: list[str]  # how the data folder was made
    counts: dict[str, int]  # open items per queue, before the browser


@dataclass
class Opening:
    start_to_index: float  # seconds: process started, logged in, index loaded
    url_printed: float  # seconds: process started to its URL on stdout
    index: list[float] = field(default_factory=list)  # seconds, logged in
    listing: list[float] = field(default_factory=list)  # the marks list


@dataclass
class Decided:
    wall: list[float] = field(default_factory=list)  # ms, Enter to the next item shown
    parts: list[dict[str, float]] = field(default_factory=list)  # the browser's timing, ms
    fields: int = 0


# --------------------------------------------------------------------------------------------
# The data folder


def make_home(work: Path, pages: int, wards: int, jobs: int, seed: int) -> Setup:
    built = build(work, pages, wards, jobs, seed)
    lines = [setup_line("Data folder", built)]
    print(lines[0], flush=True)
    outbox = work / "outbox"
    with workspace(built.home, keys="read") as (settings, _keys, ledger):
        start = time.perf_counter()
        summary = reconcile(ledger, settings, Target(outbox=outbox))
        seconds = time.perf_counter() - start
    shutil.rmtree(outbox)  # gigabytes of bundles, not needed here
    lines.append(
        f"Reconciled into an outbox folder in {seconds:.0f} s: {summary.forms} forms, "
        f"{summary.bundles} bundles, {summary.held} items held."
    )
    print(lines[-1], flush=True)
    add_user(built.home, CLERK, "clerk", PASSWORD)
    (work / "setup.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Setup(built.home, lines, held_counts(built.home))


def reuse_home(work: Path) -> Setup:
    home = work / "home"
    lines = (work / "setup.txt").read_text(encoding="utf-8").splitlines()
    return Setup(home, lines, held_counts(home))


# --------------------------------------------------------------------------------------------
# In Chromium


def loaded(page: Page, url: str) -> float:
    start = time.perf_counter()
    page.goto(url, wait_until="load")
    return time.perf_counter() - start


def open_station(page: Page, home: Path, again: int) -> Opening:
    start = time.perf_counter()
    with serve(home) as served:
        url_printed = time.perf_counter() - start
        log_in(page, served, CLERK)
        page.wait_for_load_state("load")
        if page.url != served.url:
            raise SystemExit(f"logging in led to {page.url}, not the index")
        opening = Opening(time.perf_counter() - start, url_printed)
        for _ in range(again):
            opening.index.append(loaded(page, served.url))
        for _ in range(again):
            opening.listing.append(loaded(page, f"{served.url}q/{QUEUE}"))
    return opening


def settle_in_browser(page: Page, home: Path, decisions: int) -> Decided:
    first = open_items(home, queue=QUEUE)[0]
    decided = Decided()
    with serve(home) as served:
        log_in(page, served, CLERK)
        page.goto(f"{served.url}q/{QUEUE}/{first.item_id}", wait_until="load")
        page.wait_for_function(SHOWN)
        for n in range(decisions):
            before = page.url
            keys = page.eval_on_selector_all(
                "fieldset.states", "sets => sets.map(s => s.querySelector('input').dataset.key)"
            )
            if keys:
                page.focus("fieldset.states input")
            else:
                page.focus("form.decide button.primary")
            for key in keys:
                page.keyboard.press(key)
            decided.fields += len(keys)
            start = time.perf_counter()
            with page.expect_navigation(wait_until="load"):
                page.keyboard.press("Enter")
            page.wait_for_function(SHOWN)
            decided.wall.append(1000 * (time.perf_counter() - start))
            decided.parts.append(page.evaluate(TIMING))
            if page.url == before or f"/q/{QUEUE}/" not in page.url:
                raise SystemExit(f"decision {n + 1} led to {page.url} (from {before})")
            if (n + 1) % 10 == 0:
                print(f"  {n + 1} decisions, last {decided.wall[-1]:.0f} ms", flush=True)
    return decided


# --------------------------------------------------------------------------------------------
# Profile: the library calls of one decision's requests, in this process


def round_trip(home: Path) -> Callable[[], None]:
    def once() -> None:
        first = open_ids(home, queue=QUEUE)[0]
        # POST /q/marks/ITEM: the item, the decision, the next open item
        found = held_item(home, first)
        assert found is not None
        values = {f.id: ("marked" if f.kind == "checkbox" else "written") for f in found.fields}
        settle(home, found.item_id, action="boxes", values=values, user=CLERK)
        following = next_open(home, found)
        assert following is not None
        # GET the next item (and what is left), then its crop
        held_item(home, following)
        held_counts(home)
        item_image(home, following, "crop", actor=CLERK)

    return once


def profile_round_trip(home: Path) -> tuple[list[str], float]:
    once = round_trip(home)
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    once()
    profiler.disable()
    seconds = time.perf_counter() - start
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(r"downtime")
    return _stats_lines(relative_paths(text.getvalue()), 22), seconds


# --------------------------------------------------------------------------------------------
# Report


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    at = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[at]  # nearest rank


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} | {percentile(values, 95):.0f} | {max(values):.0f}"


def report(
    command: str, setup: Setup, opening: Opening, decided: Decided, profile: list[str], left: int
) -> str:
    wall = decided.wall
    p95 = percentile(wall, 95)
    verdict = "met" if p95 < TARGET_MS else "**missed**"
    counts = ", ".join(f"{q} {n}" for q, n in setup.counts.items())
    ms = [1000 * s for s in opening.index]
    listing = [1000 * s for s in opening.listing]
    part = {k: [p[k] for p in decided.parts] for k in ("decision", "page", "crop")}
    lines = [
        "## Review station",
        "",
        f"`{command}` — {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {date.today().isoformat()}. `downtime review` in a process "
        "of its own, Debian's Chromium (headless) driven by Playwright as the browser tests "
        f"drive it. Target: p95 under {TARGET_MS:.0f} ms from submitting one item to the next "
        "one fully shown.",
        "",
        f"- {setup.lines[0]}",
        *(f"- {line}" for line in setup.lines[1:]),
        f"- Open items before the browser came: {counts}.",
        "",
        "| measure | n | median ms | p95 ms | max ms |",
        "|---|---:|---:|---:|---:|",
        f"| open the station: start `downtime review`, log in, index loaded | 1 | "
        f"{1000 * opening.start_to_index:.0f} | - | - |",
        f"| … of which: the process started and printed its URL | 1 | "
        f"{1000 * opening.url_printed:.0f} | - | - |",
        f"| the index again, logged in (counters of every queue) | {len(ms)} | {spread(ms)} |",
        f"| the {QUEUE} list ({setup.counts[QUEUE]} rows) | {len(listing)} | {spread(listing)} |",
        f"| **{QUEUE}: Enter to the next item fully shown** | {len(wall)} | **{spread(wall)}** |",
        f"| … the decision (POST and its redirect) | {len(wall)} | {spread(part['decision'])} |",
        f"| … the next item's page | {len(wall)} | {spread(part['page'])} |",
        f"| … its crop image | {len(wall)} | {spread(part['crop'])} |",
        "",
        f"Each decision set every field of the item with its key ({decided.fields} fields in "
        f"{len(wall)} items) and pressed Enter; the time runs from the Enter to the next item's "
        'page loaded with its crop image decoded (the "…" rows are the browser\'s navigation '
        f"timing of the same). {left} {QUEUE} items were left open afterwards.",
        "",
        f"Target (p95 < {TARGET_MS:.0f} ms): {verdict} ({p95:.0f} ms).",
    ]
    lines += ["", NOTE]
    if profile:
        lines += ["", *profile]
    return "\n".join([*lines, ""])


def profile_lines(home: Path) -> list[str]:
    stats, seconds = profile_round_trip(home)
    print("\n".join(stats), flush=True)
    return [
        "Where the time goes: cProfile of the library calls one decision's requests make, in "
        f"one process ({seconds * 1000:.0f} ms under the profiler): the decision's POST finds "
        "the item, settles it and lists the queue for the next one; the next item's page finds "
        "it and counts what is left; its crop finds it again (settling finds it once more).",
        "",
        "```text",
        *stats,
        "```",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10000)
    parser.add_argument("--items", type=int, default=1000, help="open marks items at least")
    parser.add_argument("--decisions", type=int, default=100)
    parser.add_argument("--again", type=int, default=5, help="loads of the index and list")
    parser.add_argument("--wards", type=int, default=25)
    parser.add_argument("--jobs", type=int, default=2, help="processes printing the packs")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the data folder here")
    parser.add_argument("--profile", action="store_true", help="profile one decision")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    shown = ["DIR" if args.keep and a == str(args.keep) else a for a in sys.argv[1:]]
    command = "python bench/review.py " + " ".join(shown)
    print(command, flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-review-") as tmp:
        work = args.keep or Path(tmp)
        if (work / "setup.txt").exists():
            setup = reuse_home(work)
        else:
            setup = make_home(work, args.pages, args.wards, args.jobs, args.seed)
        print(f"open items: {setup.counts}", flush=True)
        if setup.counts[QUEUE] < args.items + 1:
            raise SystemExit(f"only {setup.counts[QUEUE]} {QUEUE} items, {args.items} wanted")
        with sync_playwright() as playwright, chromium(playwright) as context:
            page = context.new_page()
            opening = open_station(page, setup.home, args.again)
            print(f"station opened in {opening.start_to_index:.2f} s", flush=True)
            decided = settle_in_browser(page, setup.home, args.decisions)
        print(f"decisions: median | p95 | max ms: {spread(decided.wall)}", flush=True)
        profile: list[str] = []
        if args.profile or percentile(decided.wall, 95) >= TARGET_MS:
            profile = profile_lines(setup.home)
        left = len(open_ids(setup.home, queue=QUEUE))
    section = report(command, setup, opening, decided, profile, left)
    print(section, flush=True)
    if args.write:
        replace_section(ROOT / "BENCHMARKS.md", "## Review station", section)


if __name__ == "__main__":
    main()

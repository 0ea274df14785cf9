"""The open items a station counts and steps through are what the ledger says at the time of
asking, whoever wrote to it: a process keeps them up to date from the rows added since it last
looked (:mod:`downtime.review.index`), and its answers equal those worked out afresh.

Real scanned MAR pages with cells ticked both ways (a marks item each); decisions and
reconciliation run in processes of their own, as a second station or an IT run would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from backends import copy_home as copy_data_folder
from backends import open_ledger, replace_with_an_empty_ledger
from conftest import PrintedPack
from scankit import copy_home
from test_reconcile import form_entries, mar_cells, printed, scan_in, ticked  # noqa: F401
from test_review import administrations, reconcile

from downtime.ledger import AuditEvent
from downtime.ledger.db import rows as ledger_rows
from downtime.ledger.decisions import Decision, DecisionRefused, record_decision
from downtime.review import (
    Settled,
    decide,
    next_item_id,
    open_item_ids,
    review_counts,
    review_items,
)

pytestmark = pytest.mark.backends
DOWNTIME = Path(sys.executable).with_name("downtime")


def elsewhere(home: Path, *args: str) -> None:
    """``downtime ARGS`` in a process of its own, as the user ``ida``."""
    env = {**os.environ, "DOWNTIME_USER": "ida"}
    done = subprocess.run(
        [str(DOWNTIME), "--home", str(home), *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def afresh(home: Path, tmp_path: Path) -> tuple[list[str], dict[str, int]]:
    """The open ids and counts of a copy of the ledger, which no process has seen yet."""
    copy = copy_data_folder(home, tmp_path / f"fresh-{len(list(tmp_path.glob('fresh-*')))}")
    with open_ledger(copy) as ledger:
        return open_item_ids(ledger), dict(review_counts(ledger))


def seen(home: Path) -> tuple[list[str], dict[str, int]]:
    with open_ledger(home) as ledger:
        return open_item_ids(ledger), dict(review_counts(ledger))


@pytest.fixture
def three(printed: PrintedPack, tmp_path: Path) -> tuple[Path, list[str]]:  # noqa: F811
    """A MAR page with its first three cells ticked both ways, reconciled once. (data folder,
    the cells)"""
    [mar] = form_entries(printed, "mar")
    cells = sorted(mar_cells(mar)[:3])  # the queue's order: by item, all held at once
    home = copy_home(printed, tmp_path / "home")
    boxes = [f"{c}.{b}" for c in cells for b in ("given", "notgiven")]
    scan_in(home, tmp_path / "scans", [ticked(printed, mar, boxes)])
    assert administrations(reconcile(home)) == []
    return home, cells


def test_a_decision_made_elsewhere_is_seen_by_a_station_that_counted_before(
    three: tuple[Path, list[str]], tmp_path: Path
) -> None:
    home, cells = three
    with open_ledger(home) as ledger:
        found = review_items(ledger, queue="marks")
        assert [i.item for i in found] == cells
        assert review_counts(ledger)["marks"] == 3
        first, middle, last = found

        values = [f"{cells[1]}.given=marked", f"{cells[1]}.notgiven=empty"]
        values.append(f"{cells[1]}.initials=written")
        elsewhere(home, "review", "decide", middle.item_id, "boxes", *values)

        assert review_counts(ledger)["marks"] == 2
        assert open_item_ids(ledger, queue="marks") == [first.item_id, last.item_id]
        assert next_item_id(ledger, first) == last.item_id
        assert next_item_id(ledger, last) == first.item_id  # round to the first
        assert next_item_id(ledger, middle) == last.item_id  # after a settled one: the next
        assert [i.item for i in review_items(ledger, queue="marks", limit=1)] == [cells[0]]
    assert seen(home) == afresh(home, tmp_path)


def test_reconciliation_elsewhere_clears_what_it_posts_and_the_counts_follow(
    three: tuple[Path, list[str]], tmp_path: Path
) -> None:
    home, cells = three
    before = seen(home)
    assert before[1] == {"marks": 3}
    for item_id, cell in zip(before[0], cells, strict=True):
        values = [f"{cell}.given=empty", f"{cell}.notgiven=marked", f"{cell}.initials=written"]
        elsewhere(home, "review", "decide", item_id, "boxes", *values)
    assert seen(home) == ([], {})
    elsewhere(home, "reconcile")
    assert seen(home) == ([], {}) == afresh(home, tmp_path)


def test_a_ledger_replaced_in_the_same_place_is_counted_afresh(
    three: tuple[Path, list[str]], tmp_path: Path
) -> None:
    home, _ = three
    assert seen(home)[1] == {"marks": 3}
    replace_with_an_empty_ledger(home)
    assert seen(home) == ([], {})


def test_two_people_deciding_the_same_item_at_once_one_wins_and_the_other_is_told(
    three: tuple[Path, list[str]],
) -> None:
    """Two stations, each with its own connection, decide the same item as it was shown to
    both (no decision yet), released together: one decision is recorded, the other refused."""
    home, cells = three
    with open_ledger(home) as ledger:
        [shown] = [i for i in review_items(ledger, queue="marks") if i.item == cells[0]]
    states = {f"{cells[0]}.given": "marked", f"{cells[0]}.notgiven": "empty"}
    states[f"{cells[0]}.initials"] = "written"
    start = threading.Barrier(2)
    outcome: dict[str, object] = {}

    def station(user: str) -> None:
        with open_ledger(home) as own:
            start.wait()
            try:
                outcome[user] = decide(own, shown.item_id, action="boxes", value=states,
                                       user=user, station="pc", seen=shown.seen)  # fmt: skip
            except DecisionRefused as refused:
                outcome[user] = refused

    threads = [threading.Thread(target=station, args=(u,)) for u in ("anna", "bo")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [u for u, o in outcome.items() if isinstance(o, Settled)]
    told = [o for o in outcome.values() if isinstance(o, DecisionRefused)]
    assert len(won) == 1 and len(told) == 1, outcome
    assert "meanwhile" in told[0].message or "settled already" in told[0].message
    with open_ledger(home) as ledger:
        recorded = ledger_rows(ledger, "SELECT decided_by FROM decisions")
        audited = ledger_rows(
            ledger, "SELECT actor FROM audit_events WHERE action = 'review.decide'"
        )
    assert [r["decided_by"] for r in recorded] == won == [r["actor"] for r in audited]


def test_a_decision_on_an_item_decided_since_it_was_shown_is_refused(
    three: tuple[Path, list[str]],
) -> None:
    """What the person saw is checked in the transaction that records: an entry made since
    (by someone at another station) refuses a decision made on the older view."""
    home, cells = three
    with open_ledger(home) as ledger:
        [shown] = [i for i in review_items(ledger, queue="marks") if i.item == cells[1]]
        elsewhere(home, "review", "decide", shown.item_id, "skip", "--reason", "not given")
        late = Decision(0, shown.held.form_key, shown.item, "decide", "skip", {}, "seen before",
                        "anna", datetime.now(UTC))  # fmt: skip
        event = AuditEvent("review.decide", "skip", object_type="item", object_id=shown.item_id)
        with pytest.raises(DecisionRefused, match="decided meanwhile by ida"):
            record_decision(ledger, late, audit=event, station="pc", seen=shown.seen)
        deciders = [r["decided_by"] for r in ledger_rows(ledger, "SELECT * FROM decisions")]
        assert deciders == ["ida"]

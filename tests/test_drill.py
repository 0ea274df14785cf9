"""`downtime drill`: a whole outage, rehearsed end to end in a folder of its own."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ledger_rows, run_cli

from downtime.ledger import Ledger


@dataclass(frozen=True)
class Drilled:
    home: Path  # the user's own data folder, which the drill must not touch
    keep: Path  # the drill's folder
    out: str


@pytest.fixture(scope="module")
def drilled(tmp_path_factory: pytest.TempPathFactory) -> Drilled:
    base = tmp_path_factory.mktemp("drill")
    home, keep = base / "home", base / "drill"
    return Drilled(home, keep, run_cli("drill", "--keep", keep, "--jobs", "2", home=home).stdout)


def test_the_drill_rehearses_an_outage_and_finds_the_lost_sheets(drilled: Drilled) -> None:
    home, keep, out = drilled.home, drilled.keep, drilled.out

    lost = out.split("lost on purpose 2 (")[1].split(")")[0].split(", ")
    missing = out.split("MISSING PAGES")[1].split("WARD")[0]
    for serial in lost:
        assert serial in missing, "every lost sheet is reported missing"
    assert missing.index("referral") < missing.index("mar"), "referrals first"
    assert "conflict 1" in out  # the photocopy filled in twice
    for step in ("pack", "scan", "reconcile (outbox)", "report"):
        assert f"\n{step}" in out or out.startswith(step), step

    with Ledger.open(keep / "home" / "ledger.sqlite3") as ledger:
        returned = ledger_rows(ledger, "SELECT count(DISTINCT page_uid) AS n FROM captures")[0]["n"]
        posted = ledger_rows(ledger, "SELECT count(*) AS n FROM postings")[0]["n"]
        lost_rows = ledger_rows(
            ledger,
            f"SELECT count(*) AS n FROM captures c JOIN pages p USING (page_uid)"
            f" WHERE p.serial IN ({','.join('?' * len(lost))})",
            lost,
        )[0]["n"]
    assert returned > 30 and posted > 0 and lost_rows == 0
    bundles = list((keep / "home" / "outbox").glob("*.json"))
    assert bundles and all(json.loads(b.read_text())["type"] == "transaction" for b in bundles)
    assert not home.exists(), "the drill never touches the user's own data folder"


def test_the_drills_held_count_is_the_reports_pending_count(drilled: Drilled) -> None:
    """Both count the items held for a person after reconciliation, of every kind, each once."""
    said = re.search(r"pending after reconciliation: (\d+) item\(s\) held for a person (.*)",
                     drilled.out)  # fmt: skip
    doc = json.loads(run_cli("report", "--format", "json", home=drilled.keep / "home").stdout)

    assert said is not None
    held, kinds = int(said.group(1)), said.group(2)
    pending = doc["pending"]
    assert held == len(pending) > 0
    assert f"PENDING ITEMS: {held} item(s) held for a person {kinds}" in drilled.out
    by_kind = {k: sum(1 for h in pending if h["kind"] == k) for k in {h["kind"] for h in pending}}
    assert set(by_kind) == {"pending-review", "conflict"}, "an outbox has no record to differ"
    assert kinds == f"(pending-review {by_kind['pending-review']}, conflict {by_kind['conflict']})"
    assert len({(h["form_key"], h["item"]) for h in pending}) == held, "each item once"
    totals = doc["totals"]
    assert by_kind["pending-review"] == totals["pending_review"]
    assert by_kind["conflict"] == totals["conflicts"], "the photocopied page's items, once each"

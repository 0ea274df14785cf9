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
    return Drilled(
        home,
        keep,
        run_cli("drill", "--keep", keep, "--jobs", "2", "--lang", "en", home=home).stdout,
    )


def test_the_drill_rehearses_an_outage_and_voids_the_lost_sheets(drilled: Drilled) -> None:
    home, keep, out = drilled.home, drilled.keep, drilled.out

    lost = out.split("lost on purpose 2 (")[1].split(")")[0].split(", ")
    with Ledger.open(keep / "home" / "ledger.sqlite3") as ledger:
        voided = ledger_rows(ledger, "SELECT p.serial FROM voids v JOIN pages p USING (page_uid)")
    assert sorted(v["serial"] for v in voided) == sorted(lost), "the lost sheets, voided"
    assert "missing 0  void 2" in out
    assert "conflict 1" in out  # the photocopy filled in twice
    for step in ("pack", "scan", "reconcile (outbox)", "review, reconcile again", "report"):
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


def test_the_drill_ends_with_everything_accounted_for_after_two_people_reviewed_it(
    drilled: Drilled,
) -> None:
    """Reconciliation holds items of every kind for a person; two simulated reviewers settle
    them all (medication typed by one, confirmed by the other), and the report, run on the
    drill's folder, says everything is accounted for: its pending list is as empty as the
    drill says."""
    held = re.search(r"pending after reconciliation: (\d+) item\(s\) held for a person \((.*)\)",
                     drilled.out)  # fmt: skip
    after = re.search(r"pending after review: (\d+) item\(s\)", drilled.out)
    doc = json.loads(run_cli("report", "--format", "json", home=drilled.keep / "home").stdout)

    assert held is not None and int(held.group(1)) > 20
    assert "pending-review" in held.group(2) and "conflict" in held.group(2)
    assert after is not None and int(after.group(1)) == len(doc["pending"]) == 0
    assert doc["complete"] is True
    assert "the report says everything is accounted for" in drilled.out
    assert "State: everything accounted for" in drilled.out
    with Ledger.open(drilled.keep / "home" / "ledger.sqlite3") as ledger:
        steps = ledger_rows(ledger, "SELECT step, decided_by, count(*) AS n FROM decisions"
                                    " GROUP BY step, decided_by")  # fmt: skip
        audited = ledger_rows(ledger, "SELECT count(*) AS n FROM audit_events"
                                      " WHERE action LIKE 'review.%'")  # fmt: skip
    by = {(r["step"], r["decided_by"]): r["n"] for r in steps}
    assert by[("decide", "drill-anna")] > 20 and by[("confirm", "drill-berit")] > 0
    assert ("confirm", "drill-anna") not in by, "nobody confirms their own entry"
    assert audited[0]["n"] == sum(by.values()), "every decision is audited"

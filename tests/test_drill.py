"""`downtime drill`: a whole outage, rehearsed end to end in a folder of its own."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ledger_rows, run_cli

from downtime.ledger import Ledger


def test_the_drill_rehearses_an_outage_and_finds_the_lost_sheets(
    home: Path, tmp_path: Path
) -> None:
    keep = tmp_path / "drill"
    result = run_cli("drill", "--keep", keep, "--jobs", "2", home=home)
    out = result.stdout

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

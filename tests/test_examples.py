"""examples/: the walk through one outage runs, and its report says what the script says.

``examples/outage.sh`` is run as a new user would run it (bash, ``downtime`` on PATH) in a
temporary data folder; the numbers its comments promise — the pages the scan finds, the pages
returned and voided in the final report — are read out of the script and compared with what
the run printed and with the report's JSON. The kept examples (``examples/output/``) are
checked to be a report of the same kind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SCRIPT = EXAMPLES / "outage.sh"
BIN = Path(sys.executable).parent
ACCOUNTED = "everything accounted for"


def promised(pattern: str) -> re.Match[str]:
    """What a comment of outage.sh says the run will show."""
    found = re.search(pattern, SCRIPT.read_text(encoding="utf-8"))
    assert found, f"outage.sh no longer says {pattern!r}"
    return found


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.skipif(not (BIN / "downtime").exists(), reason="needs the downtime command")
def test_the_outage_walkthrough_runs_and_its_report_says_what_the_script_says(
    tmp_path: Path,
) -> None:
    out, home = tmp_path / "out", tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOWNTIME_")}
    env |= {
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "PYTHON": sys.executable,
        "OUT": str(out),
        "DOWNTIME_HOME": str(home),
    }
    done = subprocess.run(
        ["bash", str(SCRIPT)], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    scanned = promised(r"# (\d+) pages: (\d+) identified, (\d+) blank .*, (\d+) set aside")
    pages, identified, blank, set_aside = (int(n) for n in scanned.groups())
    summary = dict(re.findall(r"^(identified|blank|quarantined|pages) +(\d+)", done.stdout, re.M))
    assert summary == {
        "identified": str(identified), "blank": str(blank), "quarantined": str(set_aside),
        "pages": str(pages),
    }  # fmt: skip

    final = promised(r'# It now ends "State: ([^"]+)": (\d+) pages returned, (\d+) voided')
    state, returned, voided = final.group(1), int(final.group(2)), int(final.group(3))
    assert state == ACCOUNTED
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["complete"] is True
    totals = report["totals"]
    assert (totals["returned"], totals["voided"]) == (returned, voided)
    assert totals["missing"] == totals["pending_review"] == totals["conflicts"] == 0
    assert totals["quarantined"] == totals["failed"] == 0
    assert totals["issued"] == returned + voided
    assert ACCOUNTED in (out / "report.txt").read_text(encoding="utf-8")
    assert (out / "report.html").stat().st_size > 1000
    assert sorted((out / "outbox").rglob("*.json")), "reconcile wrote its bundles to the outbox"
    assert (home / "ledger.sqlite3").is_file()  # the data folder named, not the user's own


def test_the_kept_examples_are_a_whole_small_outage() -> None:
    """examples/ holds the census, the returned sheets and what they made — a few hundred KB."""
    census = EXAMPLES / "census"
    for name in ("patients.csv", "medications.csv", "census.fhir.json", "README.md"):
        assert (census / name).is_file(), name
    samples, output = EXAMPLES / "samples", EXAMPLES / "output"
    assert {p.name for p in samples.iterdir()} == {"scanner-batch.pdf", "phone-photo.jpg",
                                                  "README.md"}  # fmt: skip
    assert sorted(p.name for p in output.iterdir()) == [
        "MED42.manifest.json", "report.html", "report.txt",
    ]  # fmt: skip
    manifest = json.loads((output / "MED42.manifest.json").read_text(encoding="utf-8"))
    assert manifest["schema"] == "downtime.pack-manifest/1" and manifest["ward"] == "MED42"
    assert manifest["pack_id"] in (samples / "README.md").read_text(encoding="utf-8")
    assert ACCOUNTED in (output / "report.txt").read_text(encoding="utf-8")
    size = sum(p.stat().st_size for p in (*samples.iterdir(), *output.iterdir()))
    assert size < 800_000, f"examples/samples and output hold {size} bytes"
    for text in (output / "report.txt", output / "report.html", samples / "README.md"):
        assert "/tmp" not in text.read_text(encoding="utf-8"), f"{text.name} names a machine path"

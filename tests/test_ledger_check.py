"""`downtime ledger check` and a shared image store (issue 11): every image the ledger names is
in the store with the content its name is the hash of; a file no row names is listed; the store
may be a folder of its own (``image_store`` in site.toml) that several stations share.

Real MAR pages scanned into a data folder; the store is damaged the way disks and people do.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from backends import ledger_target, tamper
from click.testing import CliRunner, Result
from conftest import PrintedPack
from scankit import copy_home
from test_reconcile import form_entries, mar_cells, printed, scan_in, ticked  # noqa: F401
from test_review import reconcile

from downtime.cli import main
from downtime.ledger.postgres import connect

pytestmark = pytest.mark.backends


def run(home: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--home", str(home), *args])


def check(home: Path, *args: str, code: int) -> dict[str, Any]:
    result = run(home, "ledger", "check", "--json", *args)
    assert result.exit_code == code, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    assert document["schema"] == "downtime.ledger-check/1"
    assert document["ok"] is (code == 0)
    return document


def findings(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f["kind"], f["where"]) for f in document["findings"]]


def stored(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("??/*") if p.is_file())


@pytest.fixture
def scanned(printed: PrintedPack, tmp_path: Path) -> Path:  # noqa: F811
    """A data folder with one returned MAR page (its original and its registered image)."""
    [mar] = form_entries(printed, "mar")
    home = copy_home(printed, tmp_path / "home")
    scan_in(home, tmp_path / "scans", [ticked(printed, mar, [])])
    return home


def test_a_data_folder_after_a_scan_is_whole(scanned: Path) -> None:
    document = check(scanned, code=0)
    assert document["files_named"] == document["files_stored"] == 2  # original, registered
    assert document["findings"] == []
    text = run(scanned, "ledger", "check", "--lang", "en")
    assert "ledger ok: 2 files named, 2 stored" in text.stderr


def test_a_lost_or_damaged_image_is_named_and_fails_the_check(scanned: Path) -> None:
    original, registered = sorted(stored(scanned / "store"), key=lambda p: p.suffix == ".jpg")
    registered.unlink()
    damaged = bytearray(original.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    original.write_bytes(bytes(damaged))
    name = f"store/{original.parent.name}/{original.name}"
    gone = f"store/{registered.parent.name}/{registered.name}"
    assert sorted(findings(check(scanned, code=1))) == sorted(
        [("corrupt-file", name), ("missing-file", gone)]
    )
    assert findings(check(scanned, "--quick", code=1)) == [("missing-file", gone)]
    text = run(scanned, "ledger", "check", "--lang", "en")
    assert text.exit_code == 1 and "NOT OK: 2 problem(s)" in text.stderr
    assert "restore it from a backup" in text.stdout
    assert f"missing-file\t{gone}: named by the ledger but not in the image store" in text.stdout
    swedish = run(scanned, "ledger", "check").stdout
    assert f"missing-file\t{gone}: liggaren nämner den men den finns inte i bildlagret: " \
        "återställ den från en säkerhetskopia" in swedish  # fmt: skip
    assert f"corrupt-file\t{name}: innehållet är inte det som namnet säger" in swedish


def test_a_file_no_row_names_is_listed_but_loses_nothing(scanned: Path) -> None:
    import hashlib

    data = b"%PDF-1.4 an original a stopped scan stored before its row\n"
    sha = hashlib.sha256(data).hexdigest()
    (scanned / "store" / sha[:2]).mkdir(exist_ok=True, mode=0o700)
    (scanned / "store" / sha[:2] / f"{sha}.pdf").write_bytes(data)
    (scanned / "store" / sha[:2] / f".{sha}.pdf.123.tmp").write_bytes(data[:5])  # being written
    document = check(scanned, code=0)
    assert findings(document) == [("unlinked-file", f"store/{sha[:2]}/{sha}.pdf")]
    assert document["findings"][0]["problem"] is False
    assert "scan its original again" in document["findings"][0]["what"]
    assert "unlinked-file\tstore/" in run(scanned, "ledger", "check", "--lang", "en").stdout
    assert "(lämnad av en skanning som stoppades): skanna originalet igen" in (
        run(scanned, "ledger", "check").stdout
    )


def test_an_edited_audit_event_fails_the_check(scanned: Path) -> None:
    tamper(ledger_target(scanned), "UPDATE audit_events SET actor = 'someone else' WHERE seq = 1")
    assert findings(check(scanned, code=1)) == [("audit", "audit event 1")]
    assert "audit\tlogghändelse 1: dess innehåll ger inte dess hash" in (
        run(scanned, "ledger", "check").stdout
    )
    assert "audit\taudit event 1: its content does not give its hash" in (
        run(scanned, "ledger", "check", "--lang", "en").stdout
    )


def test_images_go_to_a_store_of_its_own_and_are_read_from_there(
    printed: PrintedPack,  # noqa: F811
    tmp_path: Path,
) -> None:
    [mar] = form_entries(printed, "mar")
    home = copy_home(printed, tmp_path / "home")
    shared = tmp_path / "shared-store"
    with (home / "site.toml").open("a", encoding="utf-8") as site:
        site.write(f'\nimage_store = "{shared}"\n')
    given = f"{mar_cells(mar)[0]}.given"
    scan_in(home, tmp_path / "scans", [ticked(printed, mar, [given])])
    assert len(stored(shared)) == 2 and stored(home / "store") == []
    assert check(home, code=0)["files_stored"] == 2

    # reconciliation attaches the registered page, read from the shared store
    resources = reconcile(home)
    documents = [r for r in resources if r["resourceType"] == "DocumentReference"]
    assert documents and all(a["attachment"].get("data") for d in documents for a in d["content"])

    # a second station's data folder naming the same store sees the same files
    other = tmp_path / "station-2"
    shutil.copytree(home, other)
    assert check(other, code=0)["files_named"] == 2


def test_an_audit_trail_no_longer_append_only_fails_the_integrity_check(scanned: Path) -> None:
    target = ledger_target(scanned)
    if isinstance(target, str):  # the owner switches one off
        conn = connect(target)
        try:
            conn.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_delete")
        finally:
            conn.close()
    else:
        import sqlite3

        with sqlite3.connect(target) as lite:
            lite.execute("DROP TRIGGER audit_events_no_delete")
        lite.close()
    document = check(scanned, code=1)
    assert findings(document) == [("integrity", "the ledger")]
    what = document["findings"][0]["what"]
    assert "no longer append-only" in what and "audit_events_no_delete" in what


def test_the_doctor_says_what_it_checked_of_the_database(scanned: Path) -> None:
    """On PostgreSQL too the ledger line is a check, not a word: it says what it looked at."""
    result = run(scanned, "doctor", "--json")
    [ledger] = [c for c in json.loads(result.stdout)["checks"] if c["check"] == "ledger"]
    assert ledger["state"] == "ok", ledger
    assert "the audit trail append-only" in ledger["what"]
    if isinstance(ledger_target(scanned), str):
        assert "every table read whole, indexes and constraints valid" in ledger["what"]
        assert "data checksums: off" in ledger["what"]  # the throwaway cluster has none
    else:
        assert "integrity ok (SQLite's integrity check" in ledger["what"]

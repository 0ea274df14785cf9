"""`downtime backup` and `downtime restore` (issue 13): a consistent copy taken while a scan
runs, restored elsewhere and checked (row counts, the audit trail, every image); a folder that
holds a ledger is refused unless told; a damaged backup is refused with what is wrong; and a
ledger written by a newer version of the kit is never opened.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from backupkit import backup_while_scanning, captures, run
from conftest import PrintedPack
from scankit import copy_home, render, save_png
from test_reconcile import printed  # noqa: F401


@pytest.fixture
def pages(printed: PrintedPack, tmp_path: Path) -> Path:  # noqa: F811
    """Every page of the pack, printed and scanned as they are (blank), one PNG each."""
    folder = tmp_path / "scans"
    for entry in printed.manifest["pages"][:24]:
        save_png(folder / f"page-{entry['pdf_page']:03d}.png", render(printed, entry))
    return folder


def test_a_backup_taken_while_a_scan_runs_restores_whole_elsewhere(
    printed: PrintedPack,  # noqa: F811
    pages: Path,
    tmp_path: Path,
) -> None:
    home = copy_home(printed, tmp_path / "home")
    backup_while_scanning(home, pages, tmp_path / "backup")

    document: dict[str, Any] = json.loads((tmp_path / "backup" / "backup.json").read_text())
    assert document["schema"] == "downtime.backup/1"
    backed_up = document["counts"]["captures"]
    assert 2 <= backed_up < captures(home)  # a moment of the scan, not its end
    originals = len(list(pages.glob("*.png")))  # every input is stored before it is read
    assert document["images"] == originals + backed_up  # and each page registered so far

    elsewhere = tmp_path / "restored"
    done = run(elsewhere, "restore", tmp_path / "backup")
    assert done.exit_code == 0, done.output
    assert "restored and checked" in done.stderr
    assert captures(elsewhere) == backed_up
    check = run(elsewhere, "ledger", "check", "--json")
    assert json.loads(check.stdout)["files_named"] == originals + backed_up
    assert check.exit_code == 0
    head = document["audit"]["head"]
    assert run(elsewhere, "audit", "verify", "--expect-head", head).exit_code == 0
    for path in [elsewhere, *elsewhere.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), (path.name, oct(mode))


@pytest.fixture
def backed_up(printed: PrintedPack, tmp_path: Path) -> Path:  # noqa: F811
    home = copy_home(printed, tmp_path / "home")
    assert run(home, "backup", tmp_path / "backup").exit_code == 0
    return tmp_path / "backup"


def test_a_data_folder_with_a_ledger_is_restored_over_only_when_told(
    printed: PrintedPack,  # noqa: F811
    backed_up: Path,
    tmp_path: Path,
) -> None:
    other = copy_home(printed, tmp_path / "other")
    refused = run(other, "restore", backed_up)
    assert refused.exit_code == 3 and "already holds a ledger: nothing restored" in refused.stderr
    forced = run(other, "restore", backed_up, "--force")
    assert forced.exit_code == 0, forced.output
    assert len(list(other.glob("ledger.sqlite3.before-*"))) == 1


def test_a_backup_into_a_folder_that_holds_files_is_refused(
    printed: PrintedPack,  # noqa: F811
    tmp_path: Path,
) -> None:
    home = copy_home(printed, tmp_path / "home")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("something")
    result = run(home, "backup", tmp_path / "full")
    assert result.exit_code == 3 and "is not empty" in result.stderr


def test_a_damaged_backup_is_refused_with_what_is_wrong(backed_up: Path, tmp_path: Path) -> None:
    document = json.loads((backed_up / "backup.json").read_text())
    document["counts"]["pages"] += 1  # a page lost on the way
    (backed_up / "backup.json").write_text(json.dumps(document))
    result = run(tmp_path / "restored", "restore", backed_up)
    assert result.exit_code == 6
    assert "does not check out" in result.stderr and "pages:" in result.stderr

    (backed_up / "backup.json").write_text("{not json")
    result = run(tmp_path / "again", "restore", backed_up)
    assert result.exit_code == 3 and "is not a downtime backup" in result.stderr


def test_a_ledger_written_by_a_newer_version_is_not_opened(backed_up: Path, tmp_path: Path) -> None:
    with sqlite3.connect(backed_up / "ledger.sqlite3") as conn:
        conn.execute("INSERT INTO migrations VALUES ('9999_from_the_future', '2030-01-01')")
    conn.close()
    home = tmp_path / "newer"
    home.mkdir(mode=0o700)
    (home / "ledger.sqlite3").write_bytes((backed_up / "ledger.sqlite3").read_bytes())
    result = run(home, "packs", "list")
    assert result.exit_code == 6
    assert "written by a newer version of downtime" in result.stderr
    assert "9999_from_the_future" in result.stderr

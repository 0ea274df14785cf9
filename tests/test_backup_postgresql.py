"""`downtime backup` and `downtime restore` of a PostgreSQL ledger (issue 13): the ledger is
dumped with the server's own `pg_dump` (custom format) into the backup folder, beside the keys
and the images, of the same moment the counts and the images are taken from — also while a
scan runs; it is restored with `pg_restore` into an empty database and checked (row counts,
the audit chain and its head, every image). A database that holds rows is refused unless told,
and a missing `pg_dump` is named with what to install.

On the throwaway cluster (:mod:`pgcluster`), with the real `pg_dump` and `pg_restore`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pgcluster
import pytest
from backends import POSTGRESQL, Backend, database_of, ledger_rows
from backupkit import backup_while_scanning, captures, run
from conftest import PrintedPack
from scankit import copy_home, render, save_png
from test_reconcile import form_entries, print_issued, scan_in, ticked

from downtime.ledger import pgdump


@pytest.fixture(scope="module")
def pg_printed(
    tmp_path_factory: pytest.TempPathFactory, pg_cluster: pgcluster.Cluster
) -> PrintedPack:
    return print_issued(tmp_path_factory.mktemp("pg-printed"), 25, Backend(POSTGRESQL))


@pytest.fixture
def scanned(pg_printed: PrintedPack, tmp_path: Path) -> Path:
    """A data folder on PostgreSQL with one MAR page scanned (two images in its store)."""
    [mar] = form_entries(pg_printed, "mar")
    home = copy_home(pg_printed, tmp_path / "home")
    scan_in(home, tmp_path / "scans", [ticked(pg_printed, mar, [mar["fields"][0]["id"]])])
    return home


def test_a_postgresql_ledger_is_backed_up_with_pg_dump_and_restored_into_an_empty_database(
    scanned: Path, pg_cluster: pgcluster.Cluster, tmp_path: Path
) -> None:
    backed = run(scanned, "backup", tmp_path / "backup")
    assert backed.exit_code == 0, backed.output
    folder = tmp_path / "backup"
    document: dict[str, Any] = json.loads((folder / "backup.json").read_text())
    assert document["ledger"] == "postgresql" and document["images"] == 2
    assert document["counts"]["captures"] == 1 and document["counts"]["pages"] > 1
    assert (folder / "ledger.pgdump").read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    assert not (folder / "ledger.sqlite3").exists()
    for path in [folder, *folder.rglob("*")]:
        assert path.stat().st_mode & 0o777 == (0o700 if path.is_dir() else 0o600), path.name

    empty = pg_cluster.create()  # migrated by the kit and never used: that is empty
    elsewhere = tmp_path / "restored"
    done = run(elsewhere, "restore", folder, env={"DOWNTIME_DB": empty})
    assert done.exit_code == 0, done.output
    assert "restored and checked" in done.stderr
    env = {"DOWNTIME_DB": empty}
    head = document["audit"]["head"]
    verified = run(elsewhere, "audit", "verify", "--expect-head", head, env=env)
    assert verified.exit_code == 0, verified.output
    check = run(elsewhere, "ledger", "check", "--json", env=env)
    assert check.exit_code == 0, check.output
    assert json.loads(check.stdout)["files_named"] == 2
    for table, n in document["counts"].items():
        assert ledger_rows(empty, f"SELECT count(*) FROM {table}")[0][0] == n, table
    # restored with the append-only audit trail
    [(triggers,)] = ledger_rows(
        empty,
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'audit_events'::regclass"
        " AND NOT tgisinternal AND tgenabled <> 'D'",
    )
    assert triggers == 3


def test_a_database_that_holds_a_ledger_is_restored_over_only_when_told(
    scanned: Path, tmp_path: Path
) -> None:
    assert run(scanned, "backup", tmp_path / "backup").exit_code == 0
    url = database_of(scanned)  # the backup's site.toml names it: it holds the ledger
    refused = run(tmp_path / "other", "restore", tmp_path / "backup")
    assert refused.exit_code == 3, refused.output
    assert "already holds a ledger" in refused.stderr and "nothing restored" in refused.stderr
    forced = run(tmp_path / "other", "restore", tmp_path / "backup", "--force")
    assert forced.exit_code == 0, forced.output
    kept = ledger_rows(url, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'public_before_%'")
    assert len(kept) == 1
    [(n,)] = ledger_rows(url, f'SELECT count(*) FROM "{kept[0][0]}".captures')
    assert n == 1  # what was there is kept beside, whole


def test_a_backup_taken_while_a_scan_runs_holds_one_moment_of_it(
    pg_printed: PrintedPack, pg_cluster: pgcluster.Cluster, tmp_path: Path
) -> None:
    home = copy_home(pg_printed, tmp_path / "home")
    pages = tmp_path / "scans"
    for entry in pg_printed.manifest["pages"][:16]:
        save_png(pages / f"page-{entry['pdf_page']:03d}.png", render(pg_printed, entry))
    backup_while_scanning(home, pages, tmp_path / "backup")
    document = json.loads((tmp_path / "backup" / "backup.json").read_text())
    backed_up = document["counts"]["captures"]
    assert 2 <= backed_up < captures(home)
    empty = pg_cluster.create()
    done = run(tmp_path / "restored", "restore", tmp_path / "backup", env={"DOWNTIME_DB": empty})
    assert done.exit_code == 0, done.output  # the dump, counts and images of one moment
    assert ledger_rows(empty, "SELECT count(*) FROM captures")[0][0] == backed_up


def test_without_pg_dump_the_backup_says_what_to_install(
    scanned: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    monkeypatch.setattr(pgdump, "DEBIAN_BINARIES", tmp_path / "no-postgresql")
    result = run(scanned, "backup", tmp_path / "backup")
    assert result.exit_code != 0
    assert "pg_dump is not installed" in result.stderr
    assert "postgresql-client" in result.stderr


def test_a_database_url_never_carries_the_password_to_pg_dump(scanned: Path) -> None:
    """The URL pg_dump is given is the one site.toml holds, and that never has a password."""
    site = (scanned / "site.toml").read_text()
    (scanned / "site.toml").write_text(
        site.replace("postgresql://downtime@", "postgresql://downtime:secret@")
    )
    result = run(scanned, "backup", scanned.parent / "backup")
    assert result.exit_code != 0 and "carries a password" in result.stderr
    assert "secret" not in result.stderr + result.stdout

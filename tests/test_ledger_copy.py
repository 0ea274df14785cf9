"""`downtime ledger copy --to postgresql://…` (issue 11): a site that started on SQLite moves
its ledger to an empty PostgreSQL database — every table of the schema, every row as stored,
the audit trail with the same chain — and carries on there; a database that holds rows is
refused, and so is a URL with a password in it.

A real site (a printed pack, a scanned and reconciled MAR page, a user) on SQLite, copied into
a database of the throwaway cluster (:mod:`pgcluster`).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pgcluster
import pytest
from backends import add_site_lines, ledger_rows
from click.testing import CliRunner, Result
from conftest import PrintedPack
from scankit import copy_home
from test_reconcile import (  # noqa: F401
    form_entries,
    mar_cells,
    printed,
    scan_in,
    ticked,
)
from test_review import reconcile

from downtime.cli import main
from downtime.ledger import AuditEvent, Ledger, write_audit


def run(home: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(main, ["--home", str(home), *args])


@pytest.fixture
def site(printed: PrintedPack, tmp_path: Path) -> Path:  # noqa: F811
    """A site on SQLite that has printed, scanned, reconciled and added a user."""
    [mar] = form_entries(printed, "mar")
    home = copy_home(printed, tmp_path / "home")
    first, second = mar_cells(mar)[:2]  # one given, one ticked both ways: held for a person
    ticks = [f"{first}.given", f"{second}.given", f"{second}.notgiven"]
    scan_in(home, tmp_path / "scans", [ticked(printed, mar, ticks)])
    reconcile(home)
    added = CliRunner().invoke(
        main,
        ["--home", str(home), "users", "add", "olle", "--role", "clerk", "--password-stdin"],
        input="a long enough passphrase\n",
    )
    assert added.exit_code == 0, added.output
    return home


def bare_database(cluster: pgcluster.Cluster) -> str:
    """A new database the kit has never opened: no tables at all."""
    return cluster.create(template="template0")


def sqlite_tables(home: Path) -> list[str]:
    found = ledger_rows(
        home / "ledger.sqlite3",
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )
    return sorted(str(r[0]) for r in found)


def content(target: Path | str, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    names = ", ".join(f'"{c}"' for c in columns)
    return sorted(
        (tuple(r) for r in ledger_rows(target, f'SELECT {names} FROM "{table}"')), key=repr
    )


def test_a_sqlite_site_moves_to_postgresql_whole_and_carries_on_there(
    site: Path, pg_cluster: pgcluster.Cluster
) -> None:
    url = bare_database(pg_cluster)
    done = run(site, "ledger", "copy", "--to", url, "--json")
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    assert document["schema"] == "downtime.ledger-copy/1"
    assert "downtime init --db" in done.stderr and "DOWNTIME_DB" in done.stderr

    # every table of the schema, every row, every column as stored (SQLite's rowid too)
    lite = site / "ledger.sqlite3"
    tables = [t for t in sqlite_tables(site) if t != "migrations"]
    assert sorted(document["counts"]) == tables
    pg_tables = {
        str(r[0])
        for r in ledger_rows(
            url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    }
    assert pg_tables == {*tables, "migrations"}
    for table in tables:
        columns = [
            str(r[0])
            for r in ledger_rows(
                url,
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
                " ORDER BY ordinal_position",
                (table,),
            )
        ]
        assert content(url, table, columns) == content(lite, table, columns), table
        assert document["counts"][table] == len(content(lite, table, columns))
    used = [t for t in tables if document["counts"][t]]
    for table in ("packs", "pages", "captures", "marks", "postings", "users", "audit_events"):
        assert table in used

    # the audit chain is the same, and the copy is a working ledger: verify, check, append
    head = document["audit"]["head"]
    [sqlite_head] = ledger_rows(lite, "SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1")
    assert head == sqlite_head[0]
    env = {"DOWNTIME_DB": url}
    verified = run(site, "audit", "verify", "--expect-head", head, "--json", env=env)
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)["events"] == document["audit"]["events"]
    assert run(site, "ledger", "check", env=env).exit_code == 0
    with Ledger.open(url) as ledger:  # identity sequences carry on after the copied rows
        write_audit(ledger, [AuditEvent("test", "after the copy")], actor="t", station="s")
    [(seq,)] = ledger_rows(url, "SELECT max(seq) FROM audit_events")
    assert seq == document["audit"]["events"] + 1
    assert run(site, "audit", "verify", env=env).exit_code == 0

    # the SQLite ledger is left as it was
    [(count,)] = ledger_rows(lite, "SELECT count(*) FROM audit_events")
    assert count == document["audit"]["events"]


def test_a_database_that_holds_rows_is_refused(site: Path, pg_cluster: pgcluster.Cluster) -> None:
    url = pg_cluster.create()  # migrated by the kit, empty: accepted
    assert run(site, "ledger", "copy", "--to", url).exit_code == 0
    [(before,)] = ledger_rows(url, "SELECT count(*) FROM audit_events")
    again = run(site, "ledger", "copy", "--to", url)
    assert again.exit_code == 3
    assert "is not empty" in again.stderr and "nothing copied" in again.stderr
    assert "new, empty database" in again.stderr
    assert ledger_rows(url, "SELECT count(*) FROM audit_events")[0][0] == before


def test_bad_targets_are_refused_with_what_to_do(
    site: Path, pg_cluster: pgcluster.Cluster, tmp_path: Path
) -> None:
    with_password = "postgresql://downtime:secret@localhost/downtime"
    result = run(site, "ledger", "copy", "--to", with_password)
    assert result.exit_code != 0 and "carries a password" in result.stderr
    assert "secret" not in result.output + result.stderr
    result = run(site, "ledger", "copy", "--to", str(tmp_path / "other.sqlite3"))
    assert result.exit_code != 0 and "must be a postgresql:// URL" in result.stderr

    url = pg_cluster.create()
    on_postgresql = tmp_path / "pg-home"
    on_postgresql.mkdir(mode=0o700)
    add_site_lines(on_postgresql, f'database = "{url}"')
    result = run(on_postgresql, "ledger", "copy", "--to", pg_cluster.create())
    assert result.exit_code == 3 and "already a PostgreSQL database" in result.stderr

    empty = tmp_path / "nothing-here"
    result = run(empty, "ledger", "copy", "--to", url)
    assert result.exit_code == 3 and "no ledger in" in result.stderr


def test_the_copy_keeps_sqlite_row_numbers_of_held_items(
    site: Path, pg_cluster: pgcluster.Cluster
) -> None:
    """held_items are ordered by SQLite's rowid; on PostgreSQL by a column of that name."""
    with sqlite3.connect(site / "ledger.sqlite3") as lite:
        expected = lite.execute("SELECT rowid, form_key, item FROM held_items ORDER BY rowid")
        expected_rows = [tuple(r) for r in expected]
    lite.close()
    assert expected_rows, "the site holds items"
    url = bare_database(pg_cluster)
    assert run(site, "ledger", "copy", "--to", url).exit_code == 0
    copied = ledger_rows(url, "SELECT rowid, form_key, item FROM held_items ORDER BY rowid")
    assert [tuple(r) for r in copied] == expected_rows

"""Processes and ledgers for the proofs of issue 11 (tests/test_proofs_*.py): the ledger the
proofs run against, `downtime` commands in processes of their own, what the ledger must hold
after scans, and what is left on disk. The storms of SIGKILLs are tests/stormkit.py.

**The ledger under test** is a :class:`LedgerTarget`, from the ``ledger_target`` fixture: a
data folder, the environment a `downtime` process runs with, and a way to read the ledger's
tables. Every proof gets its data folder and ledger from that one fixture, and the backend is a
parameter of it (in a module marked ``pytest.mark.backends``: SQLite, and PostgreSQL with a
database of the test's own that the data folder's site.toml names), not a change to the proofs;
their queries are plain SQL that both backends read alike.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from backends import Backend, ledger_rows

REPO = Path(__file__).resolve().parent.parent
CLI = "import sys; from downtime.cli import main; sys.exit(main())"


# --------------------------------------------------------------------------------------------
# The ledger under test


@dataclass(frozen=True)
class LedgerTarget:
    """Where a proof's ledger is: the data folder (keys, site.toml, image store, and the SQLite
    ledger), the environment of a `downtime` process that works on it, and its tables. A
    ledger outside the data folder is named in the folder's site.toml, so that calls in the
    test's own process find it as processes of their own do."""

    backend: str
    home: Path
    env: Mapping[str, str]

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """The rows of one query, read with a connection of the test's own (the data folder's
        site.toml says where the ledger is)."""
        return [dict(r) for r in ledger_rows(self.home, sql, params)]

    def count(self, sql: str, params: Sequence[Any] = ()) -> int:
        """``SELECT count(*) …``'s one number."""
        return int(next(iter(self.rows(sql, params)[0].values())))

    def ledger_files(self) -> set[Path]:
        """The ledger's own files in the data folder (none for a database server)."""
        if self.backend != "sqlite":
            return set()
        return {self.home / f"ledger.sqlite3{end}" for end in ("", "-wal", "-shm", "-journal")}


def new_target(backend: Backend, home: Path) -> LedgerTarget:
    """A data folder at ``home`` with its ledger on ``backend`` (on PostgreSQL: a new, migrated
    database of its own, named in the folder's site.toml)."""
    return LedgerTarget(backend.name, backend.new_home(home), child_env(DOWNTIME_HOME=str(home)))


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: this tree first on its path (never an installed
    copy of the kit), and ``extra``."""
    paths = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), **extra}


@pytest.fixture(name="ledger_target")
def ledger_target_fixture(tmp_path: Path, backend: Backend) -> LedgerTarget:
    """The ledger under test, in a data folder of the test's own: on the module's backend
    (both, in a module marked ``pytest.mark.backends``; else SQLite). (A module that uses it
    imports it: ``from crashkit import ledger_target_fixture  # noqa: F401``.)"""
    return new_target(backend, tmp_path / "home")


# --------------------------------------------------------------------------------------------
# `downtime` in a process of its own


def downtime(
    target: LedgerTarget,
    *args: str | Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 300.0,
    umask: int = -1,
) -> subprocess.CompletedProcess[str]:
    """``downtime ARGS…`` on the target's data folder, to the end; stdout and stderr kept."""
    return subprocess.run(
        [sys.executable, "-c", CLI, *map(str, args)],
        env={**target.env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        umask=umask,
    )


@contextlib.contextmanager
def downtime_processes(
    target: LedgerTarget, runs: Mapping[str, Sequence[str | Path]], out: Path
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """``downtime ARGS…`` for every name → ARGS of ``runs`` started at once, each writing its
    stdout and stderr to ``out/NAME.stdout`` and ``out/NAME.stderr``. Any still running when
    the block is left are killed."""
    out.mkdir(parents=True, exist_ok=True)
    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, args in runs.items():
            with (out / f"{name}.stdout").open("wb") as o, (out / f"{name}.stderr").open("wb") as e:
                started[name] = subprocess.Popen(
                    [sys.executable, "-c", CLI, *map(str, args)],
                    env=dict(target.env), stdin=subprocess.DEVNULL, stdout=o, stderr=e,
                )  # fmt: skip
        yield started
    finally:
        for process in started.values():
            if process.poll() is None:
                process.kill()
            process.wait(30)


def downtime_ok(target: LedgerTarget, *args: str | Path, **kwargs: Any) -> str:
    """Like :func:`downtime`, insisting on exit code 0; its stdout."""
    done = downtime(target, *args, **kwargs)
    assert done.returncode == 0, (
        f"downtime {' '.join(map(str, args))} exited {done.returncode}\n"
        f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    )
    return done.stdout


# --------------------------------------------------------------------------------------------
# What the ledger holds of scans


def captures(target: LedgerTarget) -> list[dict[str, Any]]:
    """Every capture with the scanned page it came from."""
    return target.rows(
        "SELECT c.capture_id, c.page_uid, c.same_as, c.conflicts_with, s.file_sha256,"
        " s.source_page, s.status FROM captures c JOIN scan_pages s USING (scan_page_id)"
        " ORDER BY c.capture_id"
    )


def assert_each_page_once(target: LedgerTarget) -> dict[str, list[dict[str, Any]]]:
    """Every returned page is in the ledger once: one capture of it counts, any other capture
    of it agrees with one before it and is linked to it (``same_as``), never a conflict (every
    input of the proofs reads alike however often it is scanned). Page uid → its captures."""
    found = captures(target)
    uncaptured = target.count(
        "SELECT count(*) FROM scan_pages s LEFT JOIN captures c USING (scan_page_id)"
        " WHERE s.status IN ('identified', 'duplicate', 'conflict') AND c.capture_id IS NULL"
    )
    assert uncaptured == 0, "scanned pages recorded as captured without their capture"
    by_page: dict[str, list[dict[str, Any]]] = {}
    for c in found:
        by_page.setdefault(c["page_uid"], []).append(c)
    ids = {c["capture_id"]: c for c in found}
    for page_uid, caps in by_page.items():
        counted = [c for c in caps if c["same_as"] is None]
        assert len(counted) == 1, f"page {page_uid} counted {len(counted)} times: {caps}"
        assert counted[0]["status"] == "identified", caps
        for c in caps:
            assert c["conflicts_with"] is None, f"a conflict for page {page_uid}: {caps}"
            if c["same_as"] is not None:
                assert c["status"] == "duplicate", c
                assert ids[c["same_as"]]["page_uid"] == page_uid, c
    return by_page


def assert_audit_matches_scans(target: LedgerTarget) -> Counter[str]:
    """Each scanned page row has its audit event (written in its transaction: page, status,
    ward, patient), and no event names a row that is not there; a file scanned again adds an
    event only (``duplicate (same-file)``). The same-file events by page uid are returned."""
    pages = target.rows(
        "SELECT s.page_uid, s.file_sha256, s.status, p.patient_value, k.ward FROM scan_pages s"
        " LEFT JOIN pages p ON p.page_uid = s.page_uid LEFT JOIN packs k USING (pack_id)"
    )
    events = target.rows(
        "SELECT object_id, detail, care_unit, patient_value FROM audit_events"
        " WHERE action = 'scan.page'"
    )
    same_file = Counter(
        e["object_id"] for e in events if e["detail"].endswith(": duplicate (same-file)")
    )
    audited = Counter(
        (e["object_id"], e["detail"].rsplit(": ", 1)[1].split(" ")[0], e["care_unit"],
         e["patient_value"])
        for e in events if not e["detail"].endswith(": duplicate (same-file)")
    )  # fmt: skip
    scanned = Counter(
        (p["page_uid"] or p["file_sha256"], p["status"], p["ward"], p["patient_value"])
        for p in pages
    )
    assert audited == scanned, (
        f"audit events without their page row: {audited - scanned}; "
        f"page rows without their audit event: {scanned - audited}"
    )
    return same_file


def ledger_check(target: LedgerTarget) -> dict[str, Any]:
    """``downtime ledger check --json`` in a process of its own."""
    done = downtime(target, "ledger", "check", "--json")
    document: dict[str, Any] = json.loads(done.stdout)
    assert done.returncode == (0 if document["ok"] else 1), done.stderr
    return document


# --------------------------------------------------------------------------------------------
# What is left on disk


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(folder: Path) -> Iterator[Path]:
    """Every file and folder below ``folder`` (symbolic links not followed)."""
    for root, folders, files in os.walk(folder):
        for name in [*folders, *files]:
            yield Path(root) / name


def loose_modes(folder: Path) -> list[str]:
    """What below ``folder`` (and itself) is not private: files not 0600, folders not 0700."""
    found = []
    for path in [folder, *tree(folder)]:
        mode = path.lstat().st_mode
        want = 0o700 if stat.S_ISDIR(mode) else 0o600
        if stat.S_IMODE(mode) != want:
            found.append(f"{path.relative_to(folder.parent)} {stat.S_IMODE(mode):04o}")
    return found

"""A backup taken while a scan runs, as the backup tests (SQLite and PostgreSQL) take it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from backends import ledger_rows
from click.testing import CliRunner, Result

from downtime.cli import main

DOWNTIME = Path(sys.executable).with_name("downtime")


def run(home: Path, *args: str | Path, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(main, ["--home", str(home), *map(str, args)])


def captures(home: Path) -> int:
    """How many captures the data folder's ledger holds (either backend)."""
    return int(ledger_rows(home, "SELECT count(*) FROM captures")[0][0])


def backup_while_scanning(home: Path, pages: Path, backup: Path) -> None:
    """``downtime scan`` of ``pages`` in a process of its own, and ``downtime backup BACKUP``
    taken once it has recorded two pages and while it still runs; both succeed."""
    scanning = subprocess.Popen(
        [str(DOWNTIME), "--home", str(home), "scan", "--jobs", "1", str(pages)],
        env={**os.environ, "DOWNTIME_USER": "ida"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while captures(home) < 2 and scanning.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        during = run(home, "backup", backup)
        assert during.exit_code == 0, during.output
        running = scanning.poll() is None
    finally:
        _, err = scanning.communicate(timeout=300)
    assert scanning.returncode == 0, err
    assert running, "the backup was to be taken while the scan ran"

"""Shared fixtures: a data folder per test, and packs printed from the bundled example."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from downtime.bundled import example_census
from downtime.cli import main
from downtime.ledger import Ledger

EXAMPLE = example_census()


def ledger_rows(ledger: Ledger | Path, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
    """What is on disk, read with a connection of the test's own (read-only): tests check the
    ledger's tables directly, the code under test only through its functions."""
    path = ledger.path if isinstance(ledger, Ledger) else ledger
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


def run_cli(*args: str | Path, home: Path, ok: bool = True) -> Result:
    """Run the CLI in-process with a data folder; by default, insist that it succeeded."""
    result = CliRunner().invoke(main, ["--home", str(home), *map(str, args)])
    if ok and result.exit_code != 0:
        raise AssertionError(
            f"downtime {' '.join(map(str, args))} exited {result.exit_code}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\n{result.exception!r}"
        )
    return result


@dataclass(frozen=True)
class PrintedPack:
    home: Path
    pdf: Path
    manifest: dict[str, Any]
    stdout: str


def print_example_pack(home: Path, out: Path, *extra: str, ward: str = "MED42") -> PrintedPack:
    pdf = out / f"{ward}.pdf"
    result = run_cli(
        "pack",
        EXAMPLE / "patients.csv",
        "--medications",
        EXAMPLE / "medications.csv",
        "--ward",
        ward,
        "-o",
        pdf,
        *extra,
        home=home,
    )
    manifest = json.loads(pdf.with_name(f"{ward}.manifest.json").read_text("utf-8"))
    return PrintedPack(home, pdf, manifest, result.stdout)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture(scope="session")
def example_packs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PrintedPack]:
    """Both example wards, printed once per test session into one data folder."""
    base = tmp_path_factory.mktemp("example")
    return {
        ward: print_example_pack(base / "home", base / "out", ward=ward)
        for ward in ("MED42", "KIR7")
    }

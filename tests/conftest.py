"""Shared fixtures: a data folder per test (on the ledger backend the test runs on), and packs
printed from the bundled example.

A module marked ``pytest.mark.backends`` runs its tests that use a data folder on SQLite and on
PostgreSQL (``--backends``; :mod:`backends`); elsewhere the ledger is the SQLite file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pgcluster
import pytest
from backends import BACKENDS, POSTGRESQL, SQLITE, Backend, ledger_rows
from click.testing import CliRunner, Result

from downtime.bundled import example_census
from downtime.cli import main

CHECKOUT = Path(__file__).resolve().parent.parent  # this repository

EXAMPLE = example_census()

__all__ = ["ledger_rows"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backends",
        default=",".join(BACKENDS),
        help="the ledger backends that modules marked 'backends' run on (comma-separated: "
        "sqlite, postgresql; default: both)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("backends"):
        chosen = [b.strip() for b in metafunc.config.getoption("backends").split(",") if b]
        unknown = set(chosen) - set(BACKENDS)
        if unknown:
            raise pytest.UsageError(f"--backends: unknown {', '.join(sorted(unknown))}")
        metafunc.parametrize("backend", chosen, indirect=True, scope="module")


@pytest.fixture(scope="session")
def pg_cluster(request: pytest.FixtureRequest) -> pgcluster.Cluster:
    """This test process's throwaway PostgreSQL cluster (skips the test when there is none, or
    when ``--backends`` leaves PostgreSQL out)."""
    if POSTGRESQL not in request.config.getoption("backends").split(","):
        pytest.skip("--backends leaves PostgreSQL out")
    try:
        return pgcluster.shared()
    except pgcluster.Unavailable as e:
        pytest.skip(f"no PostgreSQL: {e}")


@pytest.fixture(scope="module")
def backend(request: pytest.FixtureRequest) -> Backend:
    """The ledger backend of this test: a parameter in modules marked ``backends``, else
    SQLite."""
    name = getattr(request, "param", SQLITE)
    if name != SQLITE:
        request.getfixturevalue("pg_cluster")
    return Backend(name)


@pytest.fixture(autouse=True)
def _drop_test_databases(request: pytest.FixtureRequest) -> Iterator[None]:
    """The databases a test made for its own data folders go when it ends."""
    before = pgcluster.made()
    yield
    for url in pgcluster.made() - before:
        pgcluster.shared().drop(url)


def python_m_downtime(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m downtime ARGS`` in a process of its own, this checkout first on the path."""
    environment = {**os.environ, **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(CHECKOUT), os.environ.get("PYTHONPATH", "")) if p
    )
    return subprocess.run(
        [sys.executable, "-m", "downtime", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
        check=False,
    )


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
def home(tmp_path: Path, backend: Backend) -> Path:
    return backend.new_home(tmp_path / "home")


@pytest.fixture(scope="session")
def example_packs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PrintedPack]:
    """Both example wards, printed once per test session into one data folder."""
    base = tmp_path_factory.mktemp("example")
    return {
        ward: print_example_pack(base / "home", base / "out", ward=ward)
        for ward in ("MED42", "KIR7")
    }

"""The built wheel carries the top-level forms/ and the example census (pyproject's
``force-include``): installed into a fresh virtual environment — not editable, no source tree
in sight — ``downtime forms list`` lists every built-in form and ``downtime pack --example``
prints the example ward.

The fresh environment gets the wheel alone (``--no-deps``); its dependencies come from the
environment running the tests, whose site-packages a ``.pth`` line puts after its own (a plain
path line: the running environment's own ``.pth`` files, such as an editable install of this
checkout, are not processed there). The wheel is built without isolation when hatchling is
installed (the dev extras have it), else in an isolated environment (which needs the index).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from downtime.forms import builtin_forms_dir

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def build_wheel(out: Path) -> Path:
    flags = ["--no-isolation"] if importlib.util.find_spec("hatchling") else []
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", *flags, "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    [wheel] = out.glob("downtime-*.whl")
    return wheel


def fresh_environment(folder: Path) -> Path:
    """A new virtual environment whose dependencies are the running one's; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "running-environment.pth").write_text("\n".join(sorted(ours)) + "\n")
    return python


def clean_env() -> dict[str, str]:
    """No PYTHONPATH: the checkout's package must not be the one imported."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def test_an_installed_wheel_finds_the_forms_and_the_example_census(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist")
    python = fresh_environment(tmp_path / "venv")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--no-index", str(wheel)],
        check=True, capture_output=True, env=clean_env(),
    )  # fmt: skip
    downtime = python.parent / ("downtime.exe" if os.name == "nt" else "downtime")
    work = tmp_path / "work"
    work.mkdir()

    def run(*args: str) -> str:
        done = subprocess.run(
            args, cwd=work, env=clean_env(), capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    where = run(str(python), "-c", "import downtime.bundled as b; print(b.forms_dir())")
    installed = Path(where.strip())
    assert installed.is_relative_to(tmp_path / "venv"), installed  # the wheel's, not ours
    assert installed.parts[-3:] == ("downtime", "_bundled", "forms")

    listed = run(str(downtime), "--home", str(work / "home"), "forms", "list", "--lang", "en")
    ids = {line.split()[0] for line in listed.splitlines()}
    assert ids == {p.stem for p in builtin_forms_dir().glob("*.toml")}
    assert all("built-in" in line for line in listed.splitlines())

    run(str(downtime), "--home", str(work / "home"), "pack", "--example", "--ward", "MED42",
        "-o", str(work / "MED42.pdf"))  # fmt: skip
    assert (work / "MED42.pdf").stat().st_size > 10_000
    assert (work / "MED42.manifest.json").is_file()

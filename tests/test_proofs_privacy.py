"""Proof 4 of issue 11, privacy: a whole run with patients whose names and identifiers are
recognisable leaves them nowhere but where they belong.

Two fictional patients (family names no word or name contains, personnummer of Skatteverket's
test series) are printed, their pages filled and scanned (one with both codes destroyed, read by
its printed serial with Tesseract), reconciled into the outbox, reported and listed for review,
every command a `downtime` process of its own, with TMPDIR a folder of the test's and the
common umask 022. Then a scan is killed with SIGKILL halfway.

Where they may be: the ledger and the image store; the files a person asked for (the pack, the
outbox's bundles, the report file); and stdout of the commands whose output is for a person to
read about patients (`report`, `review list`; `scan --json` and `reconcile --dry-run` name the
page's patient by identifier, never by name). Nowhere else: not on any command's stderr, not
in any other file of the data folder, not in temporary files (TMPDIR is left empty), not in the
debug overlays' files. Every file of the data folder is 0600 and every folder 0700, after the
run and after the killed scan; so are the debug overlays and the report file.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Set
from pathlib import Path

import numpy as np
import pytest
from crashkit import (
    CLI,
    LedgerTarget,
    downtime,
    ledger_target_fixture,  # noqa: F401 (ledger_target)
    loose_modes,
    tree,
)
from PIL import Image

from downtime import simulate

DPI = 150
# (family, given, personnummer as the census writes it): birth numbers 980-999 are the
# series of Skatteverket's test personnummer; the check digits are right.
PATIENTS = (
    ("Zyxqvist", "Quorabella", "19730512-9814"),
    ("Vrembarth", "Ulfhildur", "19880229-9803"),
)
ENCOUNTERS = ("VT26-990001", "VT26-990002")


def identities() -> list[str]:
    """Every way the patients could be named: names, and each personnummer with 12 and 10
    digits, with and without its hyphen."""
    words = []
    for family, given, number in PATIENTS:
        digits = number.replace("-", "")
        words += [family, given, number, digits, number[2:], digits[2:]]
    return words


def write_census(folder: Path) -> tuple[Path, Path]:
    folder.mkdir()
    patients = folder / "patients.csv"
    lines = ["patient_id,family_name,given_name,birth_date,sex,ward,bed,encounter_id,"
             "admitted_at,allergies"]  # fmt: skip
    for bed, ((family, given, number), encounter) in enumerate(
        zip(PATIENTS, ENCOUNTERS, strict=True), start=1
    ):
        lines.append(f"{number},{family},{given},,female,PRIV9,{bed},{encounter},"
                     f"2026-11-20T08:00:00+01:00,Penicillin")  # fmt: skip
    patients.write_text("\n".join(lines) + "\n", "utf-8")
    medications = folder / "medications.csv"
    medications.write_text(
        "patient_id,order_id,medication,dose,route,frequency,times,prn,start_date\n"
        f"{PATIENTS[0][2]},ORD-90001,Furosemid,40 mg,IV,1×2,08;14,false,2026-11-19\n"
        f"{PATIENTS[1][2]},ORD-90002,Paracetamol,1 g,PO,1×4,08;14;20,false,2026-11-19\n",
        "utf-8",
    )
    return patients, medications


def luhn_ok(number: str) -> bool:
    digits = number.replace("-", "")[2:]
    total = sum(
        (d * 2 // 10 + d * 2 % 10) if i % 2 == 0 else d for i, d in enumerate(map(int, digits))
    )
    return total % 10 == 0


class Run:
    """`downtime` commands on the target, each in a process of its own with TMPDIR and umask
    022; what they print is checked as it comes."""

    def __init__(self, target: LedgerTarget, tmp: Path) -> None:
        self.target = target
        self.tmp = tmp
        self.env = {"TMPDIR": str(tmp)}

    def __call__(self, *args: str | Path, stdout_may_name: str = "") -> str:
        """Run a command (exit code 0). ``stdout_may_name``: ``patients`` (names and
        identifiers), ``identifiers`` (identifiers only) or nothing."""
        done = downtime(self.target, *args, env=self.env, umask=0o022)
        assert done.returncode == 0, f"downtime {args} exited {done.returncode}: {done.stderr}"
        words = identities()
        leaked = [w for w in words if w in done.stderr]
        assert not leaked, f"stderr of `downtime {args[0]}` names {leaked}"
        allowed = {"patients": set(words), "identifiers": set(words) - names()}
        may = allowed.get(stdout_may_name, set())
        leaked = [w for w in words if w in done.stdout and w not in may]
        assert not leaked, f"stdout of `downtime {' '.join(map(str, args))}` names {leaked}"
        return done.stdout


def names() -> set[str]:
    return {n for family, given, _ in PATIENTS for n in (family, given)}


def files_naming(
    folder: Path, words: list[str], *, skip: Set[Path] = frozenset()
) -> dict[str, list[str]]:
    """Files below ``folder`` (not those in ``skip`` or below a folder in it) whose bytes or
    name contain any of ``words``."""
    found = {}
    for path in tree(folder):
        if path in skip or any(s in path.parents for s in skip) or not path.is_file():
            hits = [w for w in words if w in path.name]
        else:
            text = path.read_bytes().decode("utf-8", "replace")
            hits = [w for w in words if w in text or w in path.name]
        if hits:
            found[str(path.relative_to(folder))] = hits
    return found


@pytest.mark.slow
def test_a_run_names_patients_only_where_it_must_and_keeps_its_files_private(
    ledger_target: LedgerTarget, tmp_path: Path
) -> None:
    assert all(luhn_ok(number) for _, _, number in PATIENTS)
    target = ledger_target
    temp = tmp_path / "tmp"
    temp.mkdir()
    run = Run(target, temp)
    out = tmp_path / "out"
    census, medications = write_census(tmp_path / "census")

    run("pack", census, "--medications", medications, "--ward", "PRIV9", "-o", out / "PRIV9.pdf")
    pages = scanned_pages(out, tmp_path / "scans")
    debug = tmp_path / "debug"
    run("scan", "--debug-dir", debug, pages)
    run("scan", "--json", pages, stdout_may_name="identifiers")
    run("quarantine", "list")
    run("reconcile", "--dry-run", stdout_may_name="identifiers")
    run("reconcile")
    assert list((target.home / "outbox").iterdir())
    run("report", stdout_may_name="patients")
    run("report", "--format", "html", "-o", out / "report.html")
    assert any(w in (out / "report.html").read_text("utf-8") for w in identities())
    listed = run("review", "list", stdout_may_name="patients")
    assert PATIENTS[0][2] in listed or PATIENTS[1][2] in listed  # held items, by patient
    run("ledger", "check")
    run("audit", "verify")

    assert_nothing_left(target, temp, debug, out)
    killed_scan(target, temp, pages, tmp_path)
    assert_nothing_left(target, temp, debug, out)


def scanned_pages(out: Path, folder: Path) -> Path:
    """The patients' pages, filled at random, as PNG files; the first with both codes
    destroyed (read by its printed serial)."""
    manifest = json.loads((out / "PRIV9.manifest.json").read_text("utf-8"))
    entries = [e for e in manifest["pages"] if e["patient"] and e["form"] != "admission"]
    folder.mkdir()
    for n, entry in enumerate(entries, start=1):
        image = simulate.render_page(out / "PRIV9.pdf", int(entry["pdf_page"]) - 1, DPI)
        image, _ = simulate.fill_page(image, entry, DPI, random.Random(n))
        if n == 1 and shutil.which("tesseract"):
            image = simulate.degrade(image, DPI, "codes-destroyed", np.random.default_rng(1)).image
        Image.fromarray(image).save(folder / f"page-{n:02d}.png", dpi=(DPI, DPI))
    return folder


def killed_scan(target: LedgerTarget, temp: Path, pages: Path, tmp_path: Path) -> None:
    """A scan of the same pages scanned again (other bytes: read anew), killed with SIGKILL
    once it has reported a page; it named nobody on stderr before it died."""
    again = tmp_path / "again"
    again.mkdir()
    for n, path in enumerate(sorted(pages.iterdir()) * 3, start=1):
        Image.open(path).save(again / f"again-{n:02d}.jpg", quality=95, dpi=(DPI, DPI))
    records, errors = tmp_path / "killed.jsonl", tmp_path / "killed.stderr"
    with records.open("wb") as stdout, errors.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", CLI, "scan", "--json", "--jobs", "2", str(again)],
            env={**target.env, "TMPDIR": str(temp)}, stdout=stdout, stderr=stderr,
            umask=0o022,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not records.read_bytes().count(b"\n") and time.monotonic() < deadline:
            assert process.poll() is None, "the scan ended before it could be killed"
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    assert process.returncode == -signal.SIGKILL
    assert [w for w in identities() if w in errors.read_text("utf-8", "replace")] == []
    time.sleep(1.0)  # its page readers die with it (PR_SET_PDEATHSIG), mid-page or not


def assert_nothing_left(target: LedgerTarget, temp: Path, debug: Path, out: Path) -> None:
    words = identities()
    store, outbox = target.home / "store", target.home / "outbox"
    skip = target.ledger_files() | {store, outbox}
    assert files_naming(target.home, words, skip=skip) == {}
    assert list(temp.iterdir()) == [], "temporary files were left"
    assert files_naming(debug, words) == {}
    assert loose_modes(target.home) == []
    assert loose_modes(debug) == []
    made = sorted(out.iterdir())  # the pack, its manifest, the report: each 0600
    assert [loose for path in made for loose in loose_modes(path)] == []
    assert {p.name for p in made} == {"PRIV9.pdf", "PRIV9.manifest.json", "report.html"}

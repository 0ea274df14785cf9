"""Pack speed and size: a generated census of N patients, every form, one pack per ward.

    python bench/pack.py --patients 1000 --wards 25 --jobs 1 2 --write

Reports pages per second for the whole run (census loading, planning, signing, drawing, the
ledger and the manifests) and bytes per page, and the cost of one QR symbol with each encoder.
With ``--write`` the rows replace the "Pack" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from downtime.app import PackRequest, run_pack  # noqa: E402
from downtime.census import MEDICATION_COLUMNS, PATIENT_COLUMNS  # noqa: E402
from downtime.codes import qr  # noqa: E402

FAMILY = ["Andersson", "Öberg", "Wójcik", "Nguyễn", "Παπαδόπουλος", "Иванова", "Lindqvist",
          "Håkansson", "Søndergaard", "Müller"]  # fmt: skip
GIVEN = ["Åsa", "Łucja", "Thị Minh", "Γεώργιος", "Анна", "Erik", "Maja", "Jonas", "Ingrid"]
DRUGS = [
    ("Paracetamol", "1 g", "PO", "1×4", "06;12;18;22", "false"),
    ("Furosemid", "40 mg", "IV", "1×2", "08;14", "false"),
    ("Enoxaparin", "40 mg", "SC", "1×1", "20", "false"),
    ("Metoprolol", "50 mg", "PO", "1×2", "08;20", "false"),
    ("Insulin aspart", "4 E", "SC", "1×3", "07;12;17", "false"),
    ("Morfin", "2,5 mg", "SC", "vid behov", "", "true"),
    ("Salbutamol", "2,5 mg", "inhalation", "vid behov", "", "true"),
]


def personnummer(n: int) -> str:
    """A checksum-valid number for a generated patient (bench data only, never stored)."""
    born = date(1930, 1, 1) + timedelta(days=(n * 37) % 25000)
    serial = 100 + (n // 25000) * 7 % 800
    digits = born.strftime("%y%m%d") + f"{serial:03d}"
    total = sum(sum(divmod(int(d) * (2 - i % 2), 10)) for i, d in enumerate(digits))
    return born.strftime("%Y%m%d") + f"{serial:03d}" + str((10 - total % 10) % 10)


def write_census(folder: Path, patients: int, wards: int, seed: int = 7) -> tuple[Path, Path]:
    rng = random.Random(seed)
    pat, med = folder / "patients.csv", folder / "medications.csv"
    with (
        pat.open("w", newline="", encoding="utf-8") as p,
        med.open("w", newline="", encoding="utf-8") as m,
    ):
        pw, mw = csv.writer(p), csv.writer(m)
        pw.writerow(PATIENT_COLUMNS)
        mw.writerow(MEDICATION_COLUMNS)
        for i in range(patients):
            pid = personnummer(i)
            ward = f"W{i % wards + 1:02d}"
            allergies = rng.choice(["", "Penicillin", "Latex;Jod"])
            pw.writerow([pid, rng.choice(FAMILY), rng.choice(GIVEN), "", "unknown", ward,
                         str(i // wards + 1), f"E-{i:06d}", "2026-11-20T10:00:00+01:00",
                         allergies])  # fmt: skip
            for k, drug in enumerate(rng.sample(DRUGS, rng.randint(2, 6))):
                mw.writerow([pid, f"O-{i}-{k}", *drug, "2026-11-20"])
    return pat, med


def qr_ms(encoder: str, symbols: int = 200) -> float:
    text = "DK1:" + "A1B2C3D4E5" * 20
    qr.encode(text, encoder)  # warm up
    start = time.perf_counter()
    for i in range(symbols):
        qr.encode(f"{text}{i:04d}", encoder)
    return (time.perf_counter() - start) / symbols * 1000


def run(patients: int, wards: int, jobs: int, work: Path) -> dict[str, float]:
    census_dir = work / "census"
    census_dir.mkdir(parents=True, exist_ok=True)
    pat, med = write_census(census_dir, patients, wards)
    home, out = work / f"home-{jobs}", work / f"out-{jobs}"
    request = PackRequest(pat, med, None, out, False, datetime.now(UTC), date.today(), jobs)
    start = time.perf_counter()
    results = run_pack(request, home=home)
    seconds = time.perf_counter() - start
    pages = sum(r.pages for r in results)
    size = sum(r.pdf.stat().st_size for r in results)
    shutil.rmtree(home)
    shutil.rmtree(out)
    return {
        "pages": pages,
        "seconds": seconds,
        "pages_s": pages / seconds,
        "kb": size / pages / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--wards", type=int, default=25)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    command = "python bench/pack.py " + " ".join(sys.argv[1:])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for jobs in args.jobs:
            r = run(args.patients, args.wards, jobs, Path(tmp))
            rows.append(
                f"| {args.patients} | {args.wards} | {jobs} | {r['pages']:.0f} | "
                f"{r['seconds']:.1f} | **{r['pages_s']:.0f}** | {r['kb']:.1f} |"
            )
            print(rows[-1], flush=True)
    encoders = [f"| {name} | {qr_ms(name):.2f} |" for name in qr.ENCODERS]
    for line in encoders:
        print(line)
    section = "\n".join(
        [
            "## Pack",
            "",
            f"`{command}` — {platform.python_implementation()} {platform.python_version()}, "
            f"{os.cpu_count()} CPUs, {date.today().isoformat()}. Whole run: census loading, "
            "planning, signing, drawing, ledger, manifests. Target ≥ 300 pages/s, ≤ 40 KB/page.",
            "",
            "| patients | wards | jobs | pages | seconds | pages/s | KB/page |",
            "|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            "QR encoding, one page code (alphanumeric, error correction Q), same command:",
            "",
            "| encoder | ms/symbol |",
            "|---|---:|",
            *encoders,
            "",
        ]
    )
    if args.write:
        replace_section(ROOT / "BENCHMARKS.md", "## Pack", section)


def replace_section(path: Path, heading: str, section: str) -> None:
    """Replace the markdown section starting at ``heading`` (up to the next '## ')."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    start = text.find(heading + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + section + (text[end + 1 :] if end >= 0 else "")
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

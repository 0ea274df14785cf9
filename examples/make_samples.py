"""The sheets that come back from a ward after an outage, made by the simulator.

    python examples/make_samples.py PACK.pdf DEST   # fill and scan a few sheets of a pack
    python examples/make_samples.py                 # remake examples/samples/ and output/

With a pack (``PACK.pdf`` and ``PACK.manifest.json`` beside it, as ``downtime pack`` writes
them; the example census's ward MED42): fills the sheets named in :data:`SHEETS` as the ward
would (:mod:`downtime.simulate`: ticks and handwriting-like strokes in the fields named) and
returns them as the world does — a black-and-white document scanner's PDF (a blank duplex back
among them, one sheet upside down, one askew, a copy whose page code was altered, a sheet whose
codes were torn off) and a phone photo — into ``DEST``: ``scanner-batch.pdf``,
``phone-photo.jpg`` and a ``README.md`` saying what each page is. ``outage.sh`` does this with
the pack it has just printed: the page codes are signed by the data folder's own key, so only
that data folder reads them.

Without arguments: runs ``outage.sh`` in a temporary folder and keeps what that run made in
``examples/``: its returned sheets in ``samples/``; in ``output/`` the pack's manifest and the
final outage report (text and HTML). The pack's PDF is not kept (about 200 KB, and any
``downtime pack --example`` prints the same forms).
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from downtime import simulate
from downtime.bundled import example_census
from downtime.census.ids import parse_patient_id

HERE = Path(__file__).resolve().parent
DPI = 200
SEED = 2026
BATCH = "scanner-batch.pdf"  # what the document scanner saved (200 dpi, black and white)
PHOTO = "phone-photo.jpg"  # a sheet photographed on the ward
KEPT = ("report.txt", "report.html")  # what output/ keeps of the outage's run


@dataclass(frozen=True)
class Sheet:
    """One returned sheet: which page of the pack, what is written on it, how it comes back."""

    bed: str  # the patient's bed in the example census ("" for a blank admission form)
    form: str
    fields: tuple[str, ...]  # the ids of the fields filled in
    how: tuple[str, ...] = ()  # degradations before the scan (simulate.DEGRADATIONS)
    note: str = ""  # what it shows, for README.md
    into: str = BATCH
    duplex_back: bool = False  # the scanner also saved the sheet's blank back


NEW_ORDER = ("new1.drug", "new1.dose", "new1.start", "new1.prescriber", "new1.route.po",
             "new1.freq.1x2", "new1.signature")  # fmt: skip
NOTE = ("entry1.datetime", "entry1.text", "entry1.author", "entry1.signature")
SHEETS = (
    Sheet("1", "medication-orders", ("active2.stop", "active2.initials", *NEW_ORDER),
          duplex_back=True,
          note="an order stopped, a new one written by hand; its blank back was scanned too"),
    Sheet("1", "journal", ("entry1.kind.nurse", *NOTE), ("upside-down",),
          note="a nurse's note; fed into the scanner upside down"),
    Sheet("1", "referral",
          ("referral.to", "referral.datetime", "referral.type.radiology", "referral.priority.asap",
           "referral.question", "referral.sender", "referral.signature"),
          note="a referral to radiology, to be sent as soon as possible"),
    Sheet("2", "journal", ("entry1.kind.physician", *NOTE), ("skew",),
          note="a physician's note; fed in at a slant"),
    Sheet("3", "journal", ("entry1.kind.nurse", *NOTE), ("forged",),
          note="a copy whose page code was altered: its signature fails, so it is set aside"),
    Sheet("4", "medication-orders", ("active3.stop", "active3.initials"), ("codes-destroyed",),
          note="an order stopped; both page codes torn off: set aside, then assigned by the "
               "serial printed on it"),
    Sheet("", "admission",
          ("patient.family_name", "patient.given_name", "patient.arrival", "patient.sex.male",
           "patient.reason", "patient.recorded_by", "patient.signature"),
          note="a patient admitted during the outage on the form's reserve number"),
    Sheet("5", "journal", ("entry1.kind.nurse", *NOTE), ("phone",), into=PHOTO,
          note="a nurse's note, photographed with a phone"),
)  # fmt: skip


def main(argv: list[str]) -> None:
    if len(argv) == 2:
        make_samples(Path(argv[0]), Path(argv[1]))
    elif not argv:
        remake_examples()
    else:
        raise SystemExit(__doc__)


# ---------------------------------------------------------------------------------------------
# Filling and scanning


def make_samples(pdf: Path, dest: Path) -> None:
    manifest = json.loads(pdf.with_suffix(".manifest.json").read_text("utf-8"))
    beds = census_beds(example_census() / "patients.csv", manifest["ward"])
    rng = random.Random(SEED)
    batch: list[np.ndarray] = []
    rows = []
    for n, sheet in enumerate(SHEETS):
        page = find_page(manifest, sheet, beds)
        image = simulate.render_page(pdf, page["pdf_page"] - 1, DPI)
        chosen = [f for f in page["fields"] if f["id"] in sheet.fields]
        missing = set(sheet.fields) - {f["id"] for f in chosen}
        if missing:
            raise SystemExit(f"{sheet.form} of bed {sheet.bed!r} has no fields {sorted(missing)}")
        filled, _ = simulate.fill_page(
            image, {**page, "fields": chosen}, DPI, random.Random(f"{SEED}:{n}"),
            mark_rate=1.0, write_rate=1.0, styles=("tick",), write_styles=("pen",),
        )  # fmt: skip
        returned = simulate.Degraded(filled, DPI, DPI, 0, "as filled")
        for kind in sheet.how:
            returned = simulate.then(returned, kind, rng)
        dest.mkdir(parents=True, exist_ok=True)
        if sheet.into == PHOTO:
            Image.fromarray(returned.image).save(dest / PHOTO, quality=60)
            rows.append((PHOTO, sheet, page))
            continue
        batch.append(bitonal(returned.image, rng))
        where = f"{BATCH}, page {len(batch)}"
        if sheet.duplex_back:
            batch.append(bitonal(simulate.degrade(filled, DPI, "duplex-back", rng).image, rng))
            where += f" (its back: page {len(batch)})"
        rows.append((where, sheet, page))
    first, *rest = (Image.fromarray(i).convert("1") for i in batch)
    first.save(dest / BATCH, save_all=True, append_images=rest, resolution=DPI)
    (dest / "README.md").write_text(readme(manifest, rows), encoding="utf-8")


def census_beds(patients: Path, ward: str) -> dict[str, str]:
    """Bed → the patient's identifier as the manifest has it, for one ward of the census."""
    with patients.open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["ward"] == ward and r["bed"]]
    return {r["bed"]: parse_patient_id(r["patient_id"], today=date.today()).value for r in rows}


def find_page(manifest: dict[str, Any], sheet: Sheet, beds: dict[str, str]) -> dict[str, Any]:
    for page in manifest["pages"]:
        if page["form"] != sheet.form or page["page"] != 1:
            continue
        patient = page.get("patient") or {}
        if sheet.form == "admission" or patient.get("value") == beds.get(sheet.bed):
            return dict(page)
    raise SystemExit(f"the pack has no {sheet.form} page for bed {sheet.bed!r}")


def bitonal(image: np.ndarray, rng: random.Random) -> np.ndarray:
    """A document scanner set to black and white, at 200 dpi."""
    return simulate.degrade(image, DPI, "bitonal-200", rng).image


def readme(manifest: dict[str, Any], rows: list[tuple[str, Sheet, dict[str, Any]]]) -> str:
    table = "\n".join(
        f"| {where} | {sheet.form} | {f'bed {sheet.bed}' if sheet.bed else 'new patient'} | "
        f"{page['form_serial']} | {sheet.note} |"
        for where, sheet, page in rows
    )
    return (
        "# Returned sheets\n\n"
        f"Sheets of ward {manifest['ward']}'s pack `{manifest['pack_id']}` (issued "
        f"{manifest['issued_at']}), filled and scanned by the simulator (`downtime.simulate`): "
        "`examples/make_samples.py`, run by `examples/outage.sh`. Their page codes are signed "
        "by the key of the data folder that printed the pack; no other data folder reads "
        "them.\n\n"
        "| file | form | patient | serial | what it shows |\n|---|---|---|---|---|\n"
        f"{table}\n"
    )


# ---------------------------------------------------------------------------------------------
# Remaking examples/samples and examples/output


def remake_examples() -> None:
    """Run outage.sh in a temporary folder; keep its sheets and what it made."""
    with tempfile.TemporaryDirectory(prefix="downtime-outage-") as tmp:
        out = Path(tmp)
        env = {**os.environ, "OUT": tmp, "DOWNTIME_HOME": str(out / "home")}
        env["PYTHON"] = sys.executable
        env.pop("DOWNTIME_USER", None)
        subprocess.run(["bash", str(HERE / "outage.sh")], check=True, env=env)
        for folder in ("samples", "output"):
            shutil.rmtree(HERE / folder, ignore_errors=True)
        shutil.copytree(out / "samples", HERE / "samples")
        (HERE / "output").mkdir()
        manifests = sorted((out / "packs").glob("*.manifest.json"))
        for path in (*manifests, *(out / name for name in KEPT)):
            shutil.copyfile(path, HERE / "output" / path.name)


if __name__ == "__main__":
    main(sys.argv[1:])

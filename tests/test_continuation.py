"""Continuation packs (issue 12): `downtime pack --continue --ward W` prints, from the census the
ward's newest pack was printed from, the next time window's administration records and more
journal pages, with new page codes; it supersedes nothing, says so on its cover sheet, and is
scanned back and reported like any other pack.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from conftest import PrintedPack, print_example_pack, run_cli
from scankit import rows, save_png, scan
from test_reconcile import form_entries, mar_cells, ticked


def continued(home: Path, out: Path, *extra: str, ward: str = "MED42") -> PrintedPack:
    pdf = out / f"{ward}-{len(list(out.glob('*.pdf'))) if out.exists() else 0}.pdf"
    result = run_cli("pack", "--continue", "--ward", ward, "-o", pdf, *extra, home=home)
    manifest = json.loads(pdf.with_name(f"{pdf.stem}.manifest.json").read_text("utf-8"))
    return PrintedPack(home, pdf, manifest, result.stdout)


def slots(pack: PrintedPack) -> list[datetime]:
    return sorted(
        datetime.fromisoformat(f["ref"]["slot"])
        for p in pack.manifest["pages"]
        if p["form"] == "mar"
        for f in p["fields"]
        if f.get("ref", {}).get("slot")
    )


def first_text(pack: PrintedPack) -> str:
    document = pdfium.PdfDocument(pack.pdf)
    try:
        return str(document[0].get_textpage().get_text_range())
    finally:
        document.close()


def superseded(home: Path) -> set[str]:
    return {r["pack_id"] for r in rows(home, "SELECT pack_id FROM pack_supersessions")}


@pytest.fixture
def first(tmp_path: Path) -> PrintedPack:
    return print_example_pack(tmp_path / "home", tmp_path / "out")


def test_a_continuation_prints_the_next_window_and_supersedes_nothing(
    first: PrintedPack, tmp_path: Path
) -> None:
    day2 = continued(first.home, tmp_path / "day2")
    assert {p["form"] for p in day2.manifest["pages"]} == {"cover", "mar", "journal"}
    patients = {p["patient"]["value"] for p in first.manifest["pages"] if p["form"] == "mar"}
    assert {p["patient"]["value"] for p in day2.manifest["pages"] if p["form"] == "mar"} == (
        patients
    )
    issued = datetime.fromisoformat(first.manifest["issued_at"])
    window_end = issued.replace(minute=0, second=0) + timedelta(hours=24)
    assert slots(first)[-1] < window_end <= slots(day2)[0]
    assert slots(day2)[-1] < window_end + timedelta(hours=24)
    ours = {p["page_uid"] for p in day2.manifest["pages"]}
    assert not ours & {p["page_uid"] for p in first.manifest["pages"]}
    assert superseded(first.home) == set()
    cover = first_text(day2)
    assert f"Fortsättning på paket {first.manifest['pack_id']}" in cover
    assert "behåll tidigare blad" in cover
    assert datetime.fromisoformat(day2.manifest["valid_until"]) >= window_end + timedelta(hours=24)

    day3 = continued(first.home, tmp_path / "day3", "--forms", "mar", "--admission-forms", "2")
    assert slots(day3)[0] >= window_end + timedelta(hours=24)
    forms = [p["form"] for p in day3.manifest["pages"]]
    assert set(forms) == {"cover", "mar", "admission"} and forms.count("admission") == 2
    assert superseded(first.home) == set()

    # a regular pack printed after supersedes them all
    print_example_pack(first.home, tmp_path / "next")
    assert superseded(first.home) == {
        first.manifest["pack_id"], day2.manifest["pack_id"], day3.manifest["pack_id"]
    }  # fmt: skip


def test_a_continuation_page_is_scanned_back_and_reported(
    first: PrintedPack, tmp_path: Path
) -> None:
    day2 = continued(first.home, tmp_path / "day2")
    [mar] = form_entries(day2, "mar")[:1]
    cell = mar_cells(mar)[0]
    (tmp_path / "scans").mkdir()
    save_png(tmp_path / "scans" / "day2.png", ticked(day2, mar, [f"{cell}.given"]))
    [record] = scan(first.home, tmp_path / "scans")
    assert record["status"] == "identified"
    report: dict[str, Any] = json.loads(
        run_cli("report", "--format", "json", home=first.home).stdout
    )
    in_scope = {p["pack_id"] for p in report["scope"]["packs"]}
    assert {first.manifest["pack_id"], day2.manifest["pack_id"]} <= in_scope
    assert report["totals"]["returned"] == 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--ward", "KIR7"), "ward 'KIR7' has no pack to continue"),
        (("--ward", "MED42", "--forms", "mar,nosuchform"), "not a patient form: nosuchform"),
        (("--ward", "MED42", "--forms", "cover"), "not a patient form: cover"),
        (("--ward", "MED42", "--example"), "give no census"),
        (("--all-wards",), "--continue needs --ward W"),
    ],
)
def test_a_continuation_that_cannot_be_made_is_refused(
    first: PrintedPack, tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    result = run_cli(
        "pack", "--continue", *args, "-o", tmp_path / "c.pdf", home=first.home, ok=False
    )
    assert result.exit_code in (2, 3) and says in result.output
    assert not (tmp_path / "c.pdf").exists()


def test_forms_goes_with_continue_only(first: PrintedPack, tmp_path: Path) -> None:
    result = run_cli("pack", "--example", "--ward", "MED42", "--forms", "mar", "-o",
                     tmp_path / "x.pdf", home=first.home, ok=False)  # fmt: skip
    assert result.exit_code == 2 and "--forms goes with --continue" in result.output

"""Printing on demand (issue 12), against a real CUPS of the test's own: `downtime print` sends a
ward's newest pack (or some forms or beds: the same pages, the same codes) as A4, one-sided, at
100 %, records who printed which pages of which pack on which printer with the CUPS job, audits
it per patient; the station's records go to the central ledger by export and import."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pypdfium2 as pdfium
import pytest
from click.testing import Result
from conftest import ledger_rows, run_cli
from wardkit import Cups, Host, copy_host, make_host, make_station, manifest, own_cups

A4_PT = (595.3, 841.9)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Host:
    return make_host(tmp_path_factory.mktemp("print-host"))


@pytest.fixture(scope="module")
def cups() -> Iterator[Cups]:
    with own_cups() as running:
        yield running


@pytest.fixture
def station(host: Host, cups: Cups, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CUPS_SERVER", cups.server)  # lp and lpstat talk to the test's CUPS
    home = make_station(tmp_path, host)
    run_cli("station", "sync", host.packs, "--ward", "MED42", home=home)
    cups.out.unlink(missing_ok=True)
    return home


def print_ward(home: Path, *args: str, ok: bool = True) -> Result:
    return run_cli("print", "--ward", "MED42", "--lang", "en", *args, home=home, ok=ok)


def printed(cups: Cups) -> list[tuple[tuple[float, float], str]]:
    """Each page of what the printer got: its size in points and its text."""
    cups.wait_done()
    document = pdfium.PdfDocument(cups.out.read_bytes())
    try:
        return [
            (page.get_size(), page.get_textpage().get_text_range())
            for page in (document[i] for i in range(len(document)))
        ]
    finally:
        document.close()


def test_a_ward_pack_is_printed_whole_on_a4_and_the_print_recorded(
    station: Path, cups: Cups, host: Host
) -> None:
    done = print_ward(station, "--printer", cups.printer)
    pages = manifest(host.packs, "MED42")["pages"]
    assert f"printed {len(pages)} of {len(pages)} pages" in done.stdout
    out = printed(cups)
    assert len(out) == len(pages)
    for (width, height), _text in out:
        assert width == pytest.approx(A4_PT[0], abs=1) and height == pytest.approx(A4_PT[1], abs=1)
    for (_, text), page in zip(out, pages, strict=True):
        assert page["form_serial"] in text  # the pages as made, in order

    ledger = station / "ledger.sqlite3"
    (row,) = ledger_rows(ledger, "SELECT * FROM prints JOIN print_outcomes USING (print_id)")
    assert row["pack_id"] == manifest(host.packs, "MED42")["pack_id"] and row["ward"] == "MED42"
    assert row["printer"] == cups.printer and row["outcome"] == "sent" and row["copies"] == 1
    assert re.fullmatch(rf"{cups.printer}-\d+", row["job_id"]) and row["selection"] == ""
    uids = {r["page_uid"] for r in ledger_rows(ledger, "SELECT page_uid FROM print_pages")}
    assert uids == {p["page_uid"] for p in pages}
    patients = {(p["patient"]["system"], p["patient"]["value"]) for p in pages if p["patient"]}
    audited = ledger_rows(ledger, "SELECT care_unit, patient_system, patient_value FROM"
                          " audit_events WHERE action = 'print.patient'")  # fmt: skip
    assert {(a["patient_system"], a["patient_value"]) for a in audited} == patients
    assert {a["care_unit"] for a in audited} == {"MED42"}

    listed = json.loads(run_cli("print", "--list", "--json", home=station).stdout)
    assert [p["job_id"] for p in listed["prints"]] == [row["job_id"]]
    local = datetime.fromisoformat(row["printed_at"]).astimezone(ZoneInfo("Europe/Stockholm"))
    sv = run_cli("print", "--list", home=station).stdout.splitlines()
    assert sv[0].split("\t")[:4] == ["utskrivet", "avdelning", "paket", "sidor"]
    assert sv[1].split("\t")[0] == local.isoformat(timespec="seconds")  # the site's time
    assert sv[1].split("\t")[-1] == "hela paketet" and sv[1].split("\t")[6] == row["job_id"]
    en = run_cli("print", "--list", "--lang", "en", home=station).stdout.splitlines()
    assert en[0].split("\t")[:4] == ["printed_at", "ward", "pack", "pages"]
    assert en[1].split("\t")[-1] == "whole pack"
    status = run_cli("station", "status", "--lang", "en", home=station).stdout
    assert f"printed today: 1 time(s), {len(pages)} page(s)" in status


def test_some_forms_of_some_beds_are_printed_as_the_same_pages(
    station: Path, cups: Cups, host: Host
) -> None:
    pages = manifest(host.packs, "MED42")["pages"]
    chosen = [p for p in pages if p["form"] in ("mar", "referral") and p["bed"] == "1"]
    done = print_ward(station, "--forms", "mar,referral", "--beds", "1", "--printer", cups.printer)
    assert f"printed {len(chosen)} of {len(pages)} pages (forms=mar,referral beds=1)" in done.stdout
    out = printed(cups)
    assert len(out) == len(chosen)
    assert all(p["form_serial"] in text for (_, text), p in zip(out, chosen, strict=True))
    assert all(size == pytest.approx(A4_PT, abs=1) for size, _ in out)
    uids = ledger_rows(station / "ledger.sqlite3", "SELECT page_uid FROM print_pages")
    assert {r["page_uid"] for r in uids} == {p["page_uid"] for p in chosen}

    cups.out.unlink()
    print_ward(station, "--forms", "cover", "--copies", "2", "--printer", cups.printer)
    assert len(printed(cups)) == 2  # the cover sheet, twice

    no_form = print_ward(station, "--forms", "xray", "--printer", cups.printer, ok=False)
    assert no_form.exit_code == 3 and "this pack has no form xray" in no_form.stderr
    no_bed = print_ward(station, "--beds", "99", "--printer", cups.printer, ok=False)
    assert no_bed.exit_code == 3 and "no patient in bed 99" in no_bed.stderr


def test_a_print_cups_refuses_is_recorded_as_failed_and_counts_for_nothing(
    station: Path, cups: Cups
) -> None:
    no_default = print_ward(station, ok=False)
    assert no_default.exit_code == 3 and "no default printer" in no_default.stderr
    refused = print_ward(station, "--printer", "no-such-printer", ok=False)
    assert refused.exit_code == 75 and "CUPS did not take the job" in refused.stderr
    (row,) = ledger_rows(station / "ledger.sqlite3", "SELECT outcome, job_id FROM print_outcomes")
    assert (row["outcome"], row["job_id"]) == ("failed", "")


def test_the_central_ledger_imports_a_stations_prints_once_and_counts_only_those_pages(
    station: Path, cups: Cups, host: Host, tmp_path: Path
) -> None:
    print_ward(station, "--forms", "referral", "--printer", cups.printer)
    export = tmp_path / "prints.json"
    assert (
        "\t1 print\n"
        in run_cli("prints", "export", "--lang", "en", "-o", export, home=station).stdout
    )
    assert json.loads(export.read_text())["schema"] == "downtime.prints/1"

    central = copy_host(host, tmp_path / "central")
    before = _report(central.home)
    first = run_cli("prints", "import", "--lang", "en", export, home=central.home).stdout
    assert "1 added\t0 known before\t0 skipped" in first
    again = run_cli("prints", "import", "--lang", "en", export, home=central.home).stdout
    assert "0 added\t1 known before\t0 skipped" in again
    assert len(ledger_rows(central.home / "ledger.sqlite3", "SELECT * FROM prints")) == 1

    after = _report(central.home)
    referrals = [p for p in manifest(host.packs, "MED42")["pages"] if p["form"] == "referral"]
    missing = {m["serial"] for m in after["missing"] if m["ward"] == "MED42"}
    assert missing == {p["form_serial"] for p in referrals}
    assert {m["ward"] for m in before["missing"]} == {"MED42", "KIR7"}
    kir7 = {m["serial"] for m in after["missing"] if m["ward"] == "KIR7"}
    assert kir7 == {m["serial"] for m in before["missing"] if m["ward"] == "KIR7"}  # no prints
    (scoped,) = [p for p in after["scope"]["packs"] if p["ward"] == "MED42"]
    assert scoped["printed_pages"] == len(referrals)


def _report(home: Path) -> dict[str, object]:
    return dict(json.loads(run_cli("report", "--format", "json", home=home).stdout))


def test_the_print_host_prints_from_its_pack_folder(
    host: Host, cups: Cups, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUPS_SERVER", cups.server)
    own = copy_host(host, tmp_path)
    cups.out.unlink(missing_ok=True)
    run_cli("print", "--ward", "KIR7", "--from", own.packs, "--forms", "cover", "--printer",
            cups.printer, home=own.home)  # fmt: skip
    assert len(printed(cups)) == 1
    (row,) = ledger_rows(own.home / "ledger.sqlite3", "SELECT pack_id FROM prints")
    assert row["pack_id"] == manifest(host.packs, "KIR7")["pack_id"]

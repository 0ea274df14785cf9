"""Every command speaks the site's language (Swedish when site.toml names none) and English with
``--lang en``: its results, confirmations and warnings, and the errors it meets most. JSON
stays as it is in both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import PrintedPack, print_example_pack, run_cli
from test_cli_words import stray_page

from downtime.cli import main
from downtime.codes.serials import serial_for_page
from downtime.simulate import drill as simulated

PASSWORD = "rätt häst batteri häftklammer"


@pytest.fixture
def printed(home: Path, tmp_path: Path) -> PrintedPack:
    """A data folder of a site without a language (Swedish), with a pack of MED42."""
    return print_example_pack(home, tmp_path / "packs")


def test_init_and_keys_in_swedish_and_in_english(home: Path) -> None:
    made = run_cli("init", home=home).stdout.splitlines()
    assert [line.split("\t")[0] for line in made] == [
        "datamapp", "liggare", "inställningar", "signeringsnyckel",
    ]  # fmt: skip
    key_id = made[3].split("\t")[1]
    listed = run_cli("keys", "list", home=home).stdout.splitlines()
    assert listed[0] == "nyckel\tstatus\tskapad\tavställd\tsignerade sidor"
    assert listed[1].split("\t")[:2] == [key_id, "aktiv"]
    english = run_cli("keys", "list", "--lang", "en", home=home).stdout.splitlines()
    assert english[0] == "key_id\tstatus\tcreated\tretired\tpages_signed"
    assert english[1].split("\t")[:2] == [key_id, "active"]
    as_json = json.loads(run_cli("keys", "list", "--json", home=home).stdout)
    assert as_json["keys"][0]["status"] == "active", "JSON keeps the code"
    rotated = run_cli("keys", "rotate", home=home).stdout
    assert rotated.startswith("aktiv\t")
    assert run_cli("keys", "rotate", "--lang", "en", home=home).stdout.startswith("active\t")


def test_doctor_audit_and_ledger_check_in_swedish_and_in_english(printed: PrintedPack) -> None:
    home = printed.home
    doctor = run_cli("doctor", home=home, ok=False)
    assert doctor.stderr.startswith("doctor: ") and " varningar, " in doctor.stderr
    states = {line.split()[0] for line in doctor.stdout.splitlines()}
    assert states <= {"ok", "varning", "FEL"} and "ok" in states
    assert "mappar 0700, filer 0600, alla dina" in doctor.stdout
    assert " händelser, obruten kedja, senaste hash " in doctor.stdout
    english = run_cli("doctor", "--lang", "en", home=home, ok=False)
    assert " warning(s), " in english.stderr
    assert "folders 0700, files 0600, all yours" in english.stdout
    assert {line.split()[0] for line in english.stdout.splitlines()} <= {"ok", "warning", "FAILED"}

    audit = run_cli("audit", "verify", home=home)
    assert audit.stderr.startswith("loggkedjan är intakt: ") and "händelser, senaste hash" in (
        audit.stderr
    )
    audit = run_cli("audit", "verify", "--lang", "en", home=home)
    assert audit.stderr.startswith("audit trail intact: ")
    checked = run_cli("ledger", "check", "--quick", home=home)
    assert checked.stderr.startswith("liggaren ok: ") and " i bildlagret" in checked.stderr
    checked = run_cli("ledger", "check", "--quick", "--lang", "en", home=home)
    assert checked.stderr.startswith("ledger ok: ")


def test_packs_and_prints_in_swedish_and_in_english(printed: PrintedPack, tmp_path: Path) -> None:
    home, pack_id = printed.home, printed.manifest["pack_id"]
    listed = run_cli("packs", "list", home=home).stdout.splitlines()
    assert listed[0] == "paket\tavdelning\tutskrivet\tsidor\tkälla\tstatus"
    assert listed[1].startswith(f"{pack_id}\tMED42\t") and listed[1].endswith("\taktuellt")
    english = run_cli("packs", "list", "--lang", "en", home=home).stdout.splitlines()
    assert english[0] == "pack_id\tward\tissued_at\tpages\tfrom\tstate"
    assert english[1].endswith("\tcurrent")
    again = run_cli("packs", "import", printed.pdf.with_suffix(".manifest.json"), home=home)
    assert again.stdout == "MED42.manifest.json\tMED42\tredan känt\n"

    exported = run_cli("prints", "export", "-o", tmp_path / "p.json", home=home).stdout
    assert exported == f"{tmp_path / 'p.json'}\t0 utskrifter\n"
    exported = run_cli("prints", "export", "--lang", "en", "-o", tmp_path / "q.json", home=home)
    assert exported.stdout == f"{tmp_path / 'q.json'}\t0 prints\n"


def test_outage_void_and_report_in_swedish_and_in_english(printed: PrintedPack) -> None:
    home = printed.home
    started = run_cli("outage", "start", "--at", "2026-11-25T06:40", home=home).stdout
    assert started == "avbrottet började\t2026-11-25T06:40:00+01:00\n"
    shown = run_cli("outage", "show", home=home).stdout.splitlines()
    assert shown[0].split("\t")[1] == "början" and "\tregistrerat " in shown[0]
    assert shown[-1] == "senaste avbrottet\t2026-11-25T06:40:00+01:00\tpågår"
    shown = run_cli("outage", "show", "--lang", "en", home=home).stdout.splitlines()
    assert shown[-1] == "latest outage\t2026-11-25T06:40:00+01:00\tnot ended"
    wrong = run_cli("outage", "end", "--at", "igår", home=home, ok=False)
    assert wrong.stderr == (
        "fel: 'igår' är inte en tid enligt ISO 8601\n"
        "  → t.ex. 2026-11-25T06:40 (enhetens tid) eller 2026-11-25T06:40+01:00\n"
    )

    spare = next(p for p in printed.manifest["pages"] if p["form"] == "admission")
    serial = spare["form_serial"]
    voided = run_cli("void", serial, "--reason", "oanvänd, strimlad", home=home).stdout
    assert voided == f"makulerad\t{serial}\tMED42\tadmission sida 1 av 1\n"
    again = run_cli("void", serial, "--reason", "x", "--lang", "en", home=home).stdout
    assert again == f"already voided\t{serial}\tMED42\tadmission page 1 of 1\n"
    nopack = run_cli("void", "--pack", "NOPACK", "--reason", "x", "--yes", home=home, ok=False)
    assert nopack.stderr.startswith("fel: det finns inget paket NOPACK\n")
    nobody = serial_for_page("ab" * 16)
    unknown = run_cli("void", nobody, "--reason", "x", home=home, ok=False)
    assert unknown.stderr == (
        "fel: inget makulerades: 1 blankettnummer kan inte makuleras\n"
        "  Mer om felet (på engelska):\n"
        f"  {nobody}: no issued page has this serial\n"
    )
    unknown = run_cli("void", nobody, "--reason", "x", "--lang", "en", home=home, ok=False)
    assert unknown.stderr == (
        "error: nothing voided: 1 serial cannot be voided\n"
        f"  {nobody}: no issued page has this serial\n"
    )
    typo = serial[:-1] + ("A" if serial[-1] != "A" else "B")
    misread = run_cli("void", serial, typo, "--reason", "x", home=home, ok=False)
    assert misread.stderr.startswith("fel: inget makulerades: 1 blankettnummer är felläst\n")
    assert "  serial 2 of 2: " in misread.stderr
    assert misread.stderr.endswith("  → läs blankettnumren igen längst ned på sidorna\n")

    report = run_cli("report", "--ward", "NOPE", home=home, ok=False)
    assert report.stderr == (
        "fel: inget paket har skrivits ut för avdelning NOPE\n  → avdelningar i liggaren: MED42\n"
    )
    report = run_cli("report", "--ward", "NOPE", "--lang", "en", home=home, ok=False)
    assert report.stderr.startswith("error: no pack was printed for ward 'NOPE'\n")


def test_reconcile_and_backup_in_swedish_and_in_english(
    printed: PrintedPack, tmp_path: Path
) -> None:
    home = printed.home
    summary = run_cli("reconcile", "--dry-run", home=home).stdout.splitlines()[-1]
    assert summary.startswith("blanketter 0  oförändrade 0  oanvända ")
    summary = run_cli("reconcile", "--dry-run", "--lang", "en", home=home).stdout
    assert summary.splitlines()[-1].startswith("forms 0  unchanged 0  unused ")

    backed = run_cli("backup", tmp_path / "backup", home=home).stdout
    assert backed.startswith(f"säkerhetskopierad\t{tmp_path / 'backup'}\t")
    assert " utskrivna sidor\t0 skannade sidor\t0 bilder\tloggkedjans senaste hash " in backed
    refused = run_cli("restore", tmp_path / "backup", home=home, ok=False)
    assert refused.stderr.startswith(f"fel: {home.name} har redan en liggare: inget återställdes")
    elsewhere = tmp_path / "elsewhere"
    restored = run_cli("restore", tmp_path / "backup", "--lang", "en", home=elsewhere)
    assert restored.stdout.startswith(f"restored\t{elsewhere}\t")
    assert restored.stderr.startswith("restored and checked: ")


def add_user(home: Path, *args: str, password: str = PASSWORD) -> str:
    result = CliRunner().invoke(
        main, ["--home", str(home), "users", "add", *args, "--password-stdin"], input=password
    )
    return result.stdout + result.stderr


def test_users_and_forms_in_swedish_and_in_english(home: Path) -> None:
    run_cli("init", home=home)
    assert add_user(home, "anna", "--role", "clerk") == "anna\tclerk\n"
    assert add_user(home, "Anna Ek", "--role", "clerk").startswith(
        "fel: 'Anna Ek' kan inte vara ett användarnamn\n  → 2–32 tecken: "
    )
    short = add_user(home, "bo", "--role", "clerk", password="kort")
    assert short == "fel: ett lösenord har minst 10 tecken\n"
    short = add_user(home, "bo", "--role", "clerk", "--lang", "en", password="kort")
    assert short == "error: a password has at least 10 characters\n"
    listed = run_cli("users", "list", home=home).stdout
    assert listed.startswith("anna") and "aktiv" in listed and "  tillagd " in listed
    assert run_cli("users", "disable", "anna", home=home).stdout == "anna\tavstängd\n"
    again = run_cli("users", "disable", "anna", "--lang", "en", home=home).stdout
    assert again == "anna\tdisabled already\n"
    assert " disabled " in run_cli("users", "list", "--lang", "en", home=home).stdout

    unknown = run_cli("forms", "show", "nope", home=home, ok=False).stderr
    assert unknown.startswith("fel: det finns ingen blankett nope\n  → kända blanketter: ")
    unknown = run_cli("forms", "show", "nope", "--lang", "en", home=home, ok=False).stderr
    assert unknown.startswith("error: no form 'nope'\n  → known forms: ")


def test_quarantine_in_swedish_and_in_english(home: Path, tmp_path: Path) -> None:
    run_cli("init", home=home)
    run_cli("scan", "--jobs", "1", "--no-ocr", stray_page(tmp_path / "scans"), home=home)
    (item,) = json.loads(run_cli("quarantine", "list", "--json", home=home).stdout)["items"]
    listed = run_cli("quarantine", "list", home=home).stdout
    assert "  sida 1  no-page-code" in listed and listed.splitlines()[0].endswith(" öppen")
    assert "\n       lagd i karantän " in listed
    rejected = run_cli("quarantine", "reject", str(item["item_id"]), "--reason", "lös lapp",
                       home=home).stdout  # fmt: skip
    assert rejected == f"post {item['item_id']}\tavvisad: lös lapp\n"
    listed = run_cli("quarantine", "list", "--all", "--lang", "en", home=home).stdout
    assert "  page 1  no-page-code" in listed and " rejected: lös lapp\n" in listed
    (item,) = json.loads(run_cli("quarantine", "list", "--all", "--json", home=home).stdout)[
        "items"
    ]
    assert item["resolved"] == "rejected: lös lapp", "JSON keeps its English"
    missing = run_cli("quarantine", "reject", "99", "--reason", "x", home=home, ok=False)
    assert missing.stderr == (
        "fel: det finns ingen post 99 i karantän\n  → se `downtime quarantine list`\n"
    )


def test_the_drill_speaks_swedish_and_english(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, asked = tmp_path / "home", list[str]()

    def drilled(options: simulated.DrillOptions, log: object = None) -> simulated.DrillResult:
        asked.append(options.lang)
        return simulated.DrillResult(
            tmp_path, timings=[("scan", 2.25)], sheets_returned=40, sheets_lost=["A", "B"],
            scan={"identified": 40}, reconcile={"bundles": 3}, held={"pending-review": 2},
            reviewed={"decide": 2, "confirm": 1}, reconcile_after={"bundles": 1},
            report=f"({options.lang})", complete=True,
        )  # fmt: skip

    monkeypatch.setattr(simulated, "run_drill", drilled)
    sv = run_cli("drill", home=home).stdout.splitlines()
    assert sv[:4] == ["(sv)", "blad tillbaka 40, borttappade med avsikt 2 (A, B)",
                      "skanning: identified 40", "införing i journalen: bundles 3"]  # fmt: skip
    assert sv[4] == "väntar efter införingen: 2 poster väntar på en person (pending-review 2)"
    assert (
        sv[5] == "granskning: 2 beslut av en simulerad granskare (decide 2), 1 läkemedelsrad"
        " bekräftade av en andra"
    )
    assert sv[8:] == ["rapporten säger att allt är redovisat", f"{'scan':<30}{'2,2':>7} s"]
    en = run_cli("drill", "--lang", "en", home=home).stdout.splitlines()
    assert en[1] == "sheets returned 40, lost on purpose 2 (A, B)"
    assert (
        en[5] == "review: 2 decision(s) by a simulated reviewer (decide 2), 1 medication"
        " entr(ies) confirmed by a second one"
    )
    assert en[8] == "the report says everything is accounted for"
    assert asked == ["sv", "en"], "the drill's report in the same language"
    assert not home.exists(), "the drill never touches the user's own data folder"

"""The CLI's own messages in Swedish and English (``downtime/cli/words.toml``): the catalogue is
whole, and commands speak the site's language (site.toml ``lang``, Swedish by default), or
``--lang``; an error is shown in it too, and in English when the site's settings are unusable.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, get_args

from conftest import EXAMPLE, run_cli
from PIL import Image, ImageDraw
from wordskit import assert_parallel

from downtime.app.doctor_check import STATES
from downtime.cli.words import LANGS, catalogue, words
from downtime.codes.keyfiles import KeyStatus
from downtime.errors import ExitCode
from downtime.vocab import Reason, ScanStatus

PACKAGE = Path(__file__).resolve().parent.parent / "downtime"
TABLES = ("statuses", "exit", "errors", "hints", "key_statuses", "doctor_states", "outage_kinds",
          "checks", "fixes", "findings", "refusals", "refusal_hints")  # fmt: skip


def test_every_message_is_in_both_languages_with_the_same_placeholders() -> None:
    assert_parallel(catalogue(), TABLES)


def test_every_status_and_exit_code_has_words_and_every_error_key_is_in_the_catalogue() -> None:
    for lang in LANGS:
        assert set(catalogue()[lang]["statuses"]) == {str(s) for s in ScanStatus}
        assert set(catalogue()[lang]["exit"]) == {c.name for c in ExitCode} - {"OK", "USAGE"}
        assert set(catalogue()[lang]["key_statuses"]) == set(get_args(KeyStatus))
        assert set(catalogue()[lang]["doctor_states"]) == set(STATES)
        assert set(catalogue()[lang]["outage_kinds"]) == {"start", "end"}
    said: dict[str, set[str]] = {"errors": set(), "checks": set(), "findings": set()}
    for path in PACKAGE.rglob("*.py"):
        table = ("checks" if path.name.startswith("doctor")
                 else "findings" if path.parent.name == "ledger" else "errors")  # fmt: skip
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "Said"
                and isinstance(node.args[0], ast.Constant)
            ):
                said[table].add(node.args[0].value)
    errors, checks = set(catalogue()["sv"]["errors"]), set(catalogue()["sv"]["checks"])
    assert all(said.values()), "the library names some errors, checks and findings by key"
    assert said["errors"] <= errors, said["errors"] - errors
    assert said["checks"] | {"zxing-cpp_ok", "zbar_ok"} <= checks, said["checks"] - checks
    assert said["findings"] <= set(catalogue()["sv"]["findings"])
    assert set(catalogue()["sv"]["fixes"]) <= checks


def test_every_reason_a_pack_is_refused_for_has_words() -> None:
    reasons = {"unknown-key", "bad-page-code"}  # chosen by an expression
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "PackRefused"
                and isinstance(node.args[0], ast.Constant)
            ):
                reasons.add(node.args[0].value)
    assert reasons == set(catalogue()["sv"]["refusals"])


def test_a_quarantine_reason_is_its_code_in_english_and_words_with_the_code_in_swedish() -> None:
    assert words("en").reason("no-page-code") == "no-page-code"
    assert words("sv").reason("no-page-code") == (
        "sidkoden saknas eller kan inte läsas [no-page-code]"
    )
    assert words("sv").reason(Reason.DECOMPRESSION_BOMB) == "decompression-bomb", "no words: code"
    assert (words("sv").decimal(1.25), words("en").decimal(1.25)) == ("1,2", "1.2")


# --------------------------------------------------------------------------------------------
# Commands in the site's language


def site(home: Path, lang: str | None) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "site.toml").write_text(f'lang = "{lang}"\n' if lang else "", encoding="utf-8")


def pack(home: Path, out: Path, *extra: str, ok: bool = True) -> Any:
    return run_cli("pack", EXAMPLE / "patients.csv", "--medications", EXAMPLE / "medications.csv",
                   "-o", out, *extra, home=home, ok=ok)  # fmt: skip


def test_pack_speaks_swedish_on_a_swedish_site_and_english_with_lang_en(
    home: Path, tmp_path: Path
) -> None:
    site(home, "sv")
    sv = pack(home, tmp_path / "sv.pdf", "--ward", "MED42").stdout
    ward, pdf, pages, patients, admissions, _manifest = sv.rstrip("\n").split("\t")
    assert (ward, pdf) == ("MED42", str(tmp_path / "sv.pdf"))
    assert pages.endswith(" sidor") and patients.endswith(" patienter")
    assert admissions == "4 inskrivningsblanketter"
    en = pack(home, tmp_path / "en.pdf", "--ward", "MED42", "--lang", "en").stdout
    assert en.split("\t")[2:5] == [
        pages.replace("sidor", "pages"), patients.replace("patienter", "patients"),
        "4 admission forms",
    ]  # fmt: skip

    wrong = pack(home, tmp_path / "x.pdf", "--ward", "NOPE", ok=False)
    assert wrong.exit_code == 3
    assert wrong.stderr == (
        "fel: avdelning NOPE finns inte i patientlistan\n"
        "  → avdelningarna i patients.csv: KIR7, MED42\n"
    )
    wrong = pack(home, tmp_path / "x.pdf", "--ward", "NOPE", "--lang", "en", ok=False)
    assert wrong.stderr == (
        "error: ward 'NOPE' is not in the census\n  → wards in patients.csv: KIR7, MED42\n"
    )


def test_the_site_default_is_swedish_and_an_english_site_speaks_english(
    home: Path, tmp_path: Path
) -> None:
    site(home, None)  # no lang: the default, Swedish
    assert "\tprinted " not in pack(home, tmp_path / "a.pdf", "--ward", "KIR7").stdout
    assert " sidor\t" in pack(home, tmp_path / "a.pdf", "--ward", "KIR7").stdout
    site(home, "en")
    assert " pages\t" in pack(home, tmp_path / "b.pdf", "--ward", "KIR7").stdout


def test_an_error_without_swedish_words_says_what_it_is_about_then_the_english_message(
    home: Path, tmp_path: Path
) -> None:
    site(home, "sv")
    bundle = tmp_path / "bundle.json"
    bundle.write_text('{"resourceType": "Bundle"}', encoding="utf-8")
    meds = EXAMPLE / "medications.csv"
    result = run_cli("pack", bundle, "--medications", meds, "--ward", "MED42",
                     "-o", tmp_path / "x.pdf", home=home, ok=False)  # fmt: skip
    assert result.exit_code == 3
    first, second, *_ = result.stderr.splitlines()
    assert first == (
        "fel: Något av det som angavs stämmer inte (en fil, en avdelning, en blankett). "
        "Mer om felet (på engelska):"
    )
    assert second.startswith("  census bundle.json: a FHIR bundle carries"), second
    english = run_cli("pack", bundle, "--medications", meds, "--ward", "MED42",
                      "-o", tmp_path / "x.pdf", "--lang", "en", home=home, ok=False)  # fmt: skip
    assert english.stderr.startswith("error: census bundle.json")


def test_a_census_with_bad_rows_says_so_in_swedish_with_each_problem_below_in_english(
    home: Path, tmp_path: Path
) -> None:
    site(home, "sv")
    bad = tmp_path / "bad.csv"
    bad.write_text("not,a,census\n1,2,3\n", encoding="utf-8")
    result = run_cli("pack", bad, "--ward", "MED42", "-o", tmp_path / "x.pdf", home=home, ok=False)
    assert result.exit_code == 3
    lines = result.stderr.splitlines()
    assert lines[:3] == [
        "fel: patientlistan bad.csv: rubrikraden är fel; inget paket skapades",
        "  Mer om felet (på engelska):",
        "  bad.csv line 1: no header row: line 1 names none of the columns",
    ]
    assert lines[3].startswith("  → kolumnerna är: "), lines[3]
    english = run_cli("pack", bad, "--ward", "MED42", "-o", tmp_path / "x.pdf", "--lang", "en",
                      home=home, ok=False)  # fmt: skip
    assert english.stderr.startswith(
        "error: census bad.csv: the header row is wrong; no pack was made\n"
        "  bad.csv line 1: no header row: line 1 names none of the columns\n"
        "  → the columns are: "
    )
    rows = (EXAMPLE / "patients.csv").read_text(encoding="utf-8").splitlines()
    header, first = rows[0].split(","), rows[1].split(",")
    first[header.index("patient_id")] = "191212121213"  # the check digit is wrong
    bad.write_text("\n".join([rows[0], ",".join(first), *rows[2:]]) + "\n", encoding="utf-8")
    result = run_cli("pack", bad, "--ward", "MED42", "-o", tmp_path / "x.pdf", home=home, ok=False)
    assert result.stderr.startswith(
        "fel: patientlistan bad.csv: 1 felaktig rad; inget paket skapades\n"
        "  Mer om felet (på engelska):\n  bad.csv line 2, column patient_id: "
    ), result.stderr
    assert "  → rätta raderna, eller använd --skip-invalid" in result.stderr


def test_an_unusable_site_toml_is_reported_in_english(home: Path, tmp_path: Path) -> None:
    home.mkdir(parents=True)
    (home / "site.toml").write_text('lang = "sv"\nsite = \n', encoding="utf-8")
    result = pack(home, tmp_path / "x.pdf", "--ward", "MED42", ok=False)
    assert result.exit_code == 4
    assert result.stderr.startswith("error: site config site.toml cannot be read")


def stray_page(folder: Path) -> Path:
    """A sheet that is no downtime form: ink, no page code."""
    folder.mkdir(parents=True, exist_ok=True)
    image = Image.new("L", (1654, 2339), 255)
    draw = ImageDraw.Draw(image)
    for i in range(30):
        draw.rectangle((100 + i * 40, 200 + i * 50, 300 + i * 40, 230 + i * 50), fill=0)
    image.save(folder / "stray.png", dpi=(200, 200))
    return folder


def test_scan_summary_in_swedish_and_in_english(home: Path, tmp_path: Path) -> None:
    site(home, "sv")
    run_cli("init", home=home)
    scans = stray_page(tmp_path / "scans")
    sv = run_cli("scan", "--jobs", "1", "--no-ocr", scans, home=home).stdout.splitlines()
    assert [line.split()[0] for line in sv[:5]] == [
        "identifierade", "dubbletter", "konflikter", "i", "tomma",
    ]  # fmt: skip
    assert sv[3].startswith("i karantän ") and sv[3].split()[2] == "1"
    assert sv[3].endswith("(sidkoden saknas eller kan inte läsas [no-page-code] 1)")
    assert sv[5].startswith("sidor") and sv[5].endswith(" s") and "på " in sv[5]
    assert sv[6] == "lagda i karantän: se `downtime quarantine list`"

    again = run_cli("scan", "--jobs", "1", "--no-ocr", "--lang", "en", scans, home=home)
    en = again.stdout.splitlines()
    assert [line.split()[0] for line in en[:6]] == [
        "identified", "duplicate", "conflict", "quarantined", "blank", "pages",
    ]  # fmt: skip
    assert en[0] == "identified       0" and en[5].startswith("pages            1   in ")

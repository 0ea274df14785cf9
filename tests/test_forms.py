"""Form definitions: the built-in forms, `downtime forms list | show | check | preview`, and a
site's own forms in <home>/forms."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ledger_rows, print_example_pack, run_cli
from pdfpages import page_codes, page_texts

from downtime import codes
from downtime.codes.keys import KeyStore
from downtime.errors import FormDefinitionError, PageCodeError
from downtime.forms import FIELD_KINDS, builtin_forms_dir, load_form, load_forms
from downtime.ledger import Ledger
from downtime.ledger.pages import page_fields

BUILTIN_IDS = {
    "admission", "cover", "journal", "mar", "medication-orders", "prescription", "referral",
}  # fmt: skip
BODY_X_MM = (15.0, 195.0)  # the body area on the page (BODY_ORIGIN_MM + BODY_SIZE_MM)
BODY_Y_MM = (64.0, 233.0)


def builtin(name: str) -> str:
    return (builtin_forms_dir() / f"{name}.toml").read_text(encoding="utf-8")


def edited(text: str, old: str, new: str) -> str:
    """``text`` with its first ``old`` replaced; the test fails if ``old`` is not there."""
    assert old in text, f"{old!r} is not in the definition"
    return text.replace(old, new, 1)


# --------------------------------------------------------------------------------------------
# Built-in forms


def test_builtin_forms_load_with_unique_codes_and_both_languages() -> None:
    forms = load_forms()
    assert set(forms) == BUILTIN_IDS
    assert len({f.code for f in forms.values()}) == len(forms)
    for form in forms.values():
        assert Path(form.path).parent == builtin_forms_dir()
        for lang in ("sv", "en"):
            assert form.title[lang].strip(), f"{form.id} has no {lang} title"
            assert form.short_title(lang).strip()
        kinds = {i.kind for g in form.groups for i in g.items if i.type == "field"}
        assert kinds <= set(FIELD_KINDS)


def test_forms_list_names_every_builtin_form_and_its_code(home: Path) -> None:
    result = run_cli("forms", "list", home=home)  # the site's language: Swedish
    rows = [line.split() for line in result.stdout.splitlines()]
    listed = {row[0]: row for row in rows}
    assert set(listed) == BUILTIN_IDS
    for form in load_forms().values():
        row = listed[form.id]
        assert row[1:3] == ["kod", str(form.code)]
        assert "inbyggd" in row
    assert "Administreringslista" in result.stdout


def test_forms_list_in_english(home: Path) -> None:
    result = run_cli("forms", "list", "--lang", "en", home=home)
    assert "Medication administration record" in result.stdout
    assert "Administreringslista" not in result.stdout
    assert "code 6" in result.stdout and "built-in" in result.stdout


def test_forms_show_json_gives_page_boxes_inside_the_body_area(home: Path) -> None:
    result = run_cli("forms", "show", "journal", "--json", home=home)
    description = json.loads(result.stdout)
    assert (description["id"], description["code"], description["version"]) == ("journal", 1, 1)
    assert Path(description["definition"]) == builtin_forms_dir() / "journal.toml"
    fields = {f["id"]: f for f in description["fields"]}
    assert fields["entry1.kind.physician"]["kind"] == "checkbox"
    assert {"entry1.text", "entry3.signature"} <= set(fields)
    for field in description["fields"]:
        x, y, w, h = field["box_mm"]
        assert BODY_X_MM[0] <= x and x + w <= BODY_X_MM[1], field["id"]
        assert BODY_Y_MM[0] <= y and y + h <= BODY_Y_MM[1], field["id"]


def test_forms_show_an_unknown_form_names_the_known_ones(home: Path) -> None:
    result = run_cli("forms", "show", "nope", "--lang", "en", home=home, ok=False)
    assert result.exit_code != 0
    assert "no form 'nope'" in result.stderr and "journal" in result.stderr


# --------------------------------------------------------------------------------------------
# forms check

SMALL_FORM = """\
schema = "downtime.form/1"
id = "consent"
code = 40
version = 1
subject = "patient"
title = { sv = "Samtycke", en = "Consent" }

[[group]]
id = "entry"
rows = 2
origin_mm = [0, 4]
step_mm = 20

  [[group.item]]
  type = "field"
  id = "given"
  kind = "checkbox"
  box_mm = [0, 0, 5, 5]
  label = { sv = "Givet", en = "Given" }

  [[group.item]]
  type = "field"
  id = "note"
  kind = "text"
  box_mm = [10, 0, 100, 8]
  label = { sv = "Anteckning", en = "Note" }

  [[group.item]]
  type = "text"
  box_mm = [0, 12, 60, 4]
  label = { sv = "Fast text", en = "Fixed text" }
"""


def write_form(folder: Path, text: str, name: str = "consent.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_forms_check_accepts_a_copy_of_a_builtin_form(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "journal.toml"
    shutil.copy(builtin_forms_dir() / "journal.toml", path)
    result = run_cli("forms", "check", path, home=home)
    assert result.stdout.startswith("ok\t")
    assert "journal v1 (code 1" in result.stdout
    assert load_form(path).id == "journal"


def test_forms_check_accepts_the_small_test_form(home: Path, tmp_path: Path) -> None:
    """The base of the broken definitions below is itself valid."""
    path = write_form(tmp_path, SMALL_FORM)
    result = run_cli("forms", "check", path, home=home)
    assert result.stdout.startswith("ok\t")
    assert sum(len(g.items) for g in load_form(path).groups) == 3


BROKEN = {
    "unknown-key": (
        ('subject = "patient"', 'subject = "patient"\ncolour = "blue"'),
        "unknown key 'colour'",
    ),
    "unknown-kind": (('kind = "text"', 'kind = "scribble"'), "kind must be one of"),
    "missing-en-label": (
        ('{ sv = "Anteckning", en = "Note" }', '{ sv = "Anteckning" }'),
        "label needs a 'en' text",
    ),
    "wide-checkbox": (("[0, 0, 5, 5]", "[0, 0, 12, 5]"), "a checkbox must be 3.0–8.0 mm"),
    "overlap": (("[10, 0, 100, 8]", "[3, 0, 100, 8]"), "fields 'entry1.given' and 'entry1.note'"),
    "outside-body": (("[10, 0, 100, 8]", "[90, 0, 100, 8]"), "reaches outside the body area"),
    "id-ends-in-digit": (('id = "entry"', 'id = "entry2"'), "'entry2' must not end in a digit"),
    "unknown-placeholder": (
        ('label = { sv = "Fast text", en = "Fixed text" }', 'template = "{medication} {colour}"'),
        "unknown placeholder '{colour}'",
    ),
    "invalid-toml": (('code = 40', 'code = = 40'), "is not valid TOML"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_forms_check_refuses_a_broken_definition(home: Path, tmp_path: Path, case: str) -> None:
    (old, new), expected = BROKEN[case]
    path = write_form(tmp_path, edited(SMALL_FORM, old, new))
    result = run_cli("forms", "check", path, home=home, ok=False)
    assert result.exit_code == 3
    assert "ok\t" not in result.stdout
    assert expected in result.stderr
    assert "consent.toml" in result.stderr
    with pytest.raises(FormDefinitionError) as raised:
        load_form(path)
    assert expected in str(raised.value)
    assert raised.value.problems


def test_forms_check_lists_every_problem_of_a_definition_at_once(
    home: Path, tmp_path: Path
) -> None:
    text = SMALL_FORM
    for case in ("unknown-key", "unknown-kind", "missing-en-label", "wide-checkbox",
                 "id-ends-in-digit", "unknown-placeholder"):  # fmt: skip
        (old, new), _ = BROKEN[case]
        text = edited(text, old, new)
    path = write_form(tmp_path, text)
    result = run_cli("forms", "check", path, home=home, ok=False)
    assert result.exit_code == 3
    with pytest.raises(FormDefinitionError) as raised:
        load_form(path)
    problems = raised.value.problems
    assert len(problems) == 6
    for case in ("unknown-key", "unknown-kind", "missing-en-label", "wide-checkbox",
                 "id-ends-in-digit", "unknown-placeholder"):  # fmt: skip
        assert any(BROKEN[case][1] in str(p) for p in problems), case
    for problem in problems:
        assert str(problem) in result.stderr
    assert "has 6 problem(s)" in result.stderr


def test_forms_check_lists_every_geometry_problem_at_once(home: Path, tmp_path: Path) -> None:
    text = edited(SMALL_FORM, "[10, 0, 100, 8]", "[3, 0, 100, 8]")  # overlaps the checkbox
    text += "\n" + _field("far", "[150, 9, 40, 6]")
    path = write_form(tmp_path, text)
    result = run_cli("forms", "check", path, home=home, ok=False)
    assert result.exit_code == 3
    with pytest.raises(FormDefinitionError) as raised:
        load_form(path)
    messages = [p.what for p in raised.value.problems]
    # both rows, both kinds of problem
    for row in ("entry1", "entry2"):
        assert f"fields '{row}.given' and '{row}.note' overlap" in messages
        assert any(m.startswith(f"field '{row}.far'") and "outside the body" in m
                   for m in messages)  # fmt: skip
    for message in messages:
        assert message in result.stderr


def _field(field_id: str, box: str) -> str:
    return (
        f'  [[group.item]]\n  type = "field"\n  id = "{field_id}"\n  kind = "text"\n'
        f"  box_mm = {box}\n"
    )


def test_forms_check_reports_each_file(home: Path, tmp_path: Path) -> None:
    good = write_form(tmp_path, SMALL_FORM, "good.toml")
    bad = write_form(tmp_path, edited(SMALL_FORM, 'kind = "text"', 'kind = "scribble"'), "bad.toml")
    result = run_cli("forms", "check", good, bad, home=home, ok=False)
    assert result.exit_code == 3
    assert f"ok\t{good}" in result.stdout
    assert "bad.toml" in result.stderr and "good.toml" not in result.stderr


# --------------------------------------------------------------------------------------------
# A site's own forms


def test_a_site_form_replaces_the_builtin_form_with_the_same_id(home: Path, tmp_path: Path) -> None:
    journal = edited(builtin("journal"), "rows = 3", "rows = 2")
    write_form(home / "forms", edited(journal, "version = 1", "version = 2"), "journal.toml")
    listed = run_cli("forms", "list", "--lang", "en", home=home).stdout
    row = next(line.split() for line in listed.splitlines() if line.startswith("journal "))
    assert row[3] == "v2" and "site" in row

    pack = print_example_pack(home, tmp_path)
    pages = [p for p in pack.manifest["pages"] if p["form"] == "journal"]
    assert pages
    for page in pages:
        assert page["form_version"] == 2
        rows = {f["id"].split(".")[0] for f in page["fields"]}
        assert rows == {"entry1", "entry2"}
    with Ledger.open(home / "ledger.sqlite3") as ledger:
        stored = ledger_rows(
            ledger,
            "SELECT DISTINCT form_version FROM pages WHERE pack_id = ? AND form = 'journal'",
            (pack.manifest["pack_id"],),
        )
        assert [r["form_version"] for r in stored] == [2]
        fields = page_fields(ledger, pages[0]["page_uid"])
    assert {f.id for f in fields} == {f["id"] for f in pages[0]["fields"]}
    # the other forms are still the built-in ones
    mar = next(p for p in pack.manifest["pages"] if p["form"] == "mar")
    assert mar["form_version"] == 1


def test_forms_list_tells_site_forms_from_builtin_ones_wherever_the_data_folder_is(
    tmp_path: Path,
) -> None:
    home = tmp_path / "resources" / "downtime"  # a folder name the built-in forms also use
    write_form(home / "forms", SMALL_FORM)
    listed = run_cli("forms", "list", "--lang", "en", home=home).stdout
    origins = {row[0]: row[5] for row in (line.split() for line in listed.splitlines())}
    assert origins == {**dict.fromkeys(BUILTIN_IDS, "built-in"), "consent": "site"}


def test_a_site_form_with_another_forms_code_is_refused(home: Path, tmp_path: Path) -> None:
    consent = edited(builtin("referral"), 'id = "referral"', 'id = "consent"')
    write_form(home / "forms", consent, "consent.toml")
    listed = run_cli("forms", "list", home=home, ok=False)
    assert listed.exit_code == 3
    assert "consent.toml" in listed.stderr
    assert "code 5 is already used by form 'referral'" in listed.stderr

    pdf = tmp_path / "MED42.pdf"
    result = run_cli("pack", "--example", "--ward", "MED42", "-o", pdf, home=home, ok=False)
    assert result.exit_code == 3
    assert "consent.toml" in result.stderr and "'referral'" in result.stderr
    assert not pdf.exists()
    with pytest.raises(FormDefinitionError, match="share a page-code number"):
        load_forms([home / "forms"])


def test_a_broken_site_form_stops_printing(home: Path, tmp_path: Path) -> None:
    write_form(home / "forms", edited(builtin("journal"), 'kind = "text"', 'kind = "scribble"'),
               "journal.toml")  # fmt: skip
    pdf = tmp_path / "MED42.pdf"
    result = run_cli("pack", "--example", "--ward", "MED42", "-o", pdf, home=home, ok=False)
    assert result.exit_code == 3
    assert "journal.toml" in result.stderr and "kind must be one of" in result.stderr
    assert not pdf.exists()
    with Ledger.open(home / "ledger.sqlite3") as ledger:
        assert ledger_rows(ledger, "SELECT count(*) AS n FROM pages")[0]["n"] == 0


# --------------------------------------------------------------------------------------------
# forms preview


@pytest.mark.parametrize(
    ("lang", "marker", "other"),
    [("sv", "PROVUTSKRIFT", "PREVIEW"), ("en", "PREVIEW", "PROVUTSKRIFT")],
)
def test_preview_pages_are_marked_and_signed_with_a_key_nobody_knows(
    home: Path, tmp_path: Path, lang: str, marker: str, other: str
) -> None:
    run_cli("init", home=home)
    out = tmp_path / "preview" / "mar.pdf"
    result = run_cli("forms", "preview", "mar", "-o", out, "--lang", lang, home=home)
    assert result.stdout.strip() == str(out)
    texts = page_texts(out)
    assert texts
    for text in texts:
        assert marker in text and other not in text
    keys = KeyStore.open(home / "keys").verification_keys()
    assert keys
    for code_text in page_codes(out):
        with pytest.raises(PageCodeError) as raised:
            codes.decode(code_text, keys)
        assert raised.value.reason == "unknown-key"
    with Ledger.open(home / "ledger.sqlite3") as ledger:
        for table in ("packs", "pages", "reserve_ids"):
            assert ledger_rows(ledger, f"SELECT count(*) AS n FROM {table}")[0]["n"] == 0, table


def test_preview_shows_a_site_form(home: Path, tmp_path: Path) -> None:
    consent = edited(SMALL_FORM, 'sv = "Samtycke"', 'sv = "Samtyckesblankett"')
    write_form(home / "forms", consent)
    out = tmp_path / "consent.pdf"
    run_cli("forms", "preview", "consent", "-o", out, home=home)
    [text] = page_texts(out)
    assert "Samtyckesblankett" in text and "PROVUTSKRIFT" in text
    assert "Tolvansson" in text  # the fictional sample patient


def test_forms_commands_speak_the_sites_language(home: Path) -> None:
    run_cli("init", "--lang", "en", home=home)
    assert "Journal entry" in run_cli("forms", "list", home=home).stdout
    assert "Journalanteckning" in run_cli("forms", "list", "--lang", "sv", home=home).stdout
    shown = json.loads(run_cli("forms", "show", "mar", "--json", home=home).stdout)
    assert shown["title"] == "Medication administration record"

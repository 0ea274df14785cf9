"""Settings: where the data folder is, site.toml, and command-line options over both."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ledger_rows, print_example_pack, run_cli
from pdfpages import page_texts

from downtime.cli import main
from downtime.codes.keys import KeyStore
from downtime.errors import ConfigError
from downtime.ledger import Ledger
from downtime.settings import NPL_ID, SiteConfig, load_site_config, resolve, site_config_text


def write_site(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# The data folder


def test_downtime_home_names_the_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_home = tmp_path / "from-env"
    monkeypatch.setenv("DOWNTIME_HOME", str(env_home))
    assert resolve().home == env_home.resolve()
    result = CliRunner().invoke(main, ["init", "--site", "Miljösjukhuset"])
    assert result.exit_code == 0, result.output
    assert f"datamapp\t{env_home.resolve()}" in result.stdout  # the site's language
    assert load_site_config(env_home / "site.toml").site == "Miljösjukhuset"
    assert KeyStore.open(env_home / "keys").public_keys()
    with Ledger.open(env_home / "ledger.sqlite3") as ledger:
        assert [e["action"] for e in ledger_rows(ledger, "SELECT action FROM audit_events")] == [
            "init"
        ]


def test_home_option_wins_over_downtime_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_home, flag_home = tmp_path / "from-env", tmp_path / "from-flag"
    monkeypatch.setenv("DOWNTIME_HOME", str(env_home))
    run_cli("init", home=flag_home)
    assert (flag_home / "ledger.sqlite3").exists()
    assert not env_home.exists()


def test_downtime_user_is_the_actor_in_the_audit_trail(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOWNTIME_USER", "ssk.anna")
    run_cli("init", home=home)
    with Ledger.open(home / "ledger.sqlite3") as ledger:
        [event] = ledger_rows(ledger, "SELECT actor FROM audit_events")
    assert event["actor"] == "ssk.anna"


# --------------------------------------------------------------------------------------------
# A bad site.toml


BAD_SITE = {
    "unknown-option": ('site = "X"\ncolour = "blue"\n', "unknown option(s) colour"),
    "language": ('lang = "de"\n', "lang must be 'sv' or 'en'"),
    "timezone": ('timezone = "Mars/Olympus"\n', "unknown timezone 'Mars/Olympus'"),
    "invalid-toml": ('site = "unterminated\n', "site.toml cannot be read"),
    "wrong-type": ("admission_forms = true\n", "admission_forms must be"),
    "out-of-range": ("validity_hours = 0\n", "validity_hours must be between 1 and 168"),
    "ahead-out-of-range": (
        "continuations_ahead = -1\n",
        "continuations_ahead must be between 0 and 3",
    ),
    "forms-not-a-list": ('patient_forms = "journal"\n', "patient_forms must be a list"),
    "drug-system": ('drug_list_system = "urn:oid:1.2 3"\n', "drug_list_system must be a system"),
    "no-drug-system": ('drug_list_system = ""\n', "drug_list_system is empty"),
}


@pytest.mark.parametrize("case", sorted(BAD_SITE))
def test_a_bad_site_toml_is_a_config_error_naming_the_problem(
    home: Path, tmp_path: Path, case: str
) -> None:
    text, expected = BAD_SITE[case]
    path = write_site(home, text)
    pdf = tmp_path / "MED42.pdf"
    result = run_cli("pack", "--example", "--ward", "MED42", "-o", pdf, home=home, ok=False)
    assert result.exit_code == 4
    assert result.stderr.startswith("error: ") and expected in result.stderr
    assert "site.toml" in result.stderr
    assert not pdf.exists()
    assert not (home / "ledger.sqlite3").exists(), "nothing was started"
    with pytest.raises(ConfigError, match=r"site\.toml"):
        load_site_config(path)
    for command in (["init"], ["keys", "list"], ["forms", "list"]):
        assert run_cli(*command, home=home, ok=False).exit_code == 4, command
    assert path.read_text(encoding="utf-8") == text, "init does not overwrite a bad site.toml"


def test_a_bad_command_line_value_is_a_config_error(home: Path, tmp_path: Path) -> None:
    result = run_cli("pack", "--example", "--ward", "MED42", "-o", tmp_path / "x.pdf",
                     "--admission-forms", "51", home=home, ok=False)  # fmt: skip
    assert result.exit_code == 2  # click refuses it before anything runs
    with pytest.raises(ConfigError, match="command line: admission_forms"):
        resolve(home, admission_forms=51)


# --------------------------------------------------------------------------------------------
# Order: defaults, then site.toml, then the command line


def test_site_toml_options_apply_when_no_flag_is_given(home: Path, tmp_path: Path) -> None:
    write_site(home, 'site = "Norrlands sjukhus"\nlang = "en"\nadmission_forms = 1\n')
    pack = print_example_pack(home, tmp_path)
    assert (pack.manifest["site"], pack.manifest["lang"]) == ("Norrlands sjukhus", "en")
    assert [p["form"] for p in pack.manifest["pages"]].count("admission") == 1
    assert "DOWNTIME FORM" in page_texts(pack.pdf)[1]


def test_command_line_options_override_site_toml(home: Path, tmp_path: Path) -> None:
    write_site(home, 'lang = "en"\nadmission_forms = 1\n')
    pack = print_example_pack(home, tmp_path, "--lang", "sv", "--admission-forms", "2")
    assert pack.manifest["lang"] == "sv"
    assert [p["form"] for p in pack.manifest["pages"]].count("admission") == 2
    texts = page_texts(pack.pdf)
    assert "NEDTIDSBLANKETT" in texts[1] and "DOWNTIME FORM" not in "".join(texts)
    with Ledger.open(home / "ledger.sqlite3") as ledger:
        assert [r["lang"] for r in ledger_rows(ledger, "SELECT lang FROM packs")] == ["sv"]
    assert load_site_config(home / "site.toml").lang == "en", "site.toml is left as it was"


def test_init_flags_update_site_toml_and_keep_its_other_options(home: Path) -> None:
    write_site(home, 'site = "Norrlands sjukhus"\nadmission_forms = 7\n')
    run_cli("init", "--lang", "en", home=home)
    config = load_site_config(home / "site.toml")
    assert (config.site, config.lang, config.admission_forms) == ("Norrlands sjukhus", "en", 7)


@pytest.mark.parametrize(
    "site", ['Sankt "Görans"', "A\\B", "tab\there", "line\nbreak", "del\x7f", "# not a comment"]
)
def test_site_config_text_writes_valid_toml_for_any_site_name(site: str) -> None:
    config = SiteConfig(site=site, patient_forms=("journal", 'odd"form'))
    data = tomllib.loads(site_config_text(config))
    assert data["site"] == site
    assert tuple(data["patient_forms"]) == config.patient_forms
    assert data["lang"] == "sv" and data["timezone"] == "Europe/Stockholm"


@pytest.mark.parametrize("system", ["urn:oid:1.2|3", " urn:oid:1.2", "urn:x?y", "a b"])
def test_encounter_system_must_be_a_system_uri(home: Path, system: str) -> None:
    write_site(home, f'encounter_system = "{system}"\n')
    with pytest.raises(ConfigError, match="encounter_system"):
        load_site_config(home / "site.toml")


def test_the_drug_list_and_its_code_system_are_written_by_init_and_read_back(home: Path) -> None:
    defaults = tomllib.loads(site_config_text(SiteConfig()))
    assert (defaults["drug_list"], defaults["drug_list_system"]) == ("", NPL_ID)
    config = SiteConfig(drug_list="apotek/läkemedel.csv", drug_list_system="urn:oid:1.2.3")
    write_site(home, site_config_text(config))
    assert load_site_config(home / "site.toml") == config


def test_encounter_system_is_written_by_init_and_read_back(home: Path) -> None:
    assert SiteConfig().encounter_system == ""  # by default: no encounter reference
    config = SiteConfig(encounter_system="urn:oid:1.2.752.29.4.14")
    write_site(home, site_config_text(config))
    assert load_site_config(home / "site.toml") == config


# --------------------------------------------------------------------------------------------
# `downtime init` again: an edited site.toml keeps its comments, order and values

EDITED = """\
# Norrlands sjukhus: downtime options (changed by IT, ticket 4711)
lang = "en"   # the wards here read English forms
site = "Norrlands sjukhus"
# fewer blank admission forms: ward 12 never used more than two
admission_forms = 2
patient_forms = [
    "mar",      # the administration record first
    "journal",
]
timezone = "Europe/Stockholm"

# the record system
[fhir]
url = "https://fhir.example.se/R4"  # test server until March
"""


def test_init_again_keeps_an_edited_site_toml_and_adds_only_the_missing_options(
    home: Path,
) -> None:
    path = write_site(home, EDITED)
    run_cli("init", home=home)
    after = path.read_text(encoding="utf-8")
    added = [
        line
        for line in after.splitlines()
        if line not in EDITED.splitlines() or line.startswith(("[", "# The record"))
    ]
    top, fhir = EDITED.split("\n# the record system\n")
    assert after.startswith(top), "everything above the added options is as it was"
    assert after.endswith("\n# the record system\n" + fhir), "the table stays last, as it was"
    new_keys = {line.split(" = ")[0] for line in added if not line.startswith(("#", "["))}
    assert new_keys == {
        "validity_hours", "mar_hours", "continuations_ahead", "qr_encoder", "encounter_system",
        "drug_list", "drug_list_system", "database",
    }  # fmt: skip
    assert "# its code. Empty: no list." in after, "an added option comes with its comment"
    config = load_site_config(path)
    assert (config.lang, config.site, config.admission_forms) == ("en", "Norrlands sjukhus", 2)
    assert config.patient_forms == ("mar", "journal")
    assert config.fhir.url == "https://fhir.example.se/R4"
    assert (config.validity_hours, config.drug_list_system) == (12, NPL_ID), "the defaults"

    run_cli("init", home=home)
    assert path.read_text(encoding="utf-8") == after, "nothing is missing now: nothing changes"


def test_init_with_an_option_changes_only_that_value_and_keeps_its_comment(home: Path) -> None:
    path = write_site(home, EDITED)
    run_cli("init", home=home)
    before = path.read_text(encoding="utf-8")
    run_cli("init", "--lang", "sv", "--site", 'Sankt "Görans"', home=home)
    after = path.read_text(encoding="utf-8")
    assert after == before.replace('lang = "en"', 'lang = "sv"').replace(
        'site = "Norrlands sjukhus"', 'site = "Sankt \\"Görans\\""'
    )
    assert "# the wards here read English forms" in after
    assert load_site_config(path).site == 'Sankt "Görans"'


def test_init_writes_the_whole_template_when_site_toml_is_missing(home: Path) -> None:
    run_cli("init", "--lang", "en", home=home)
    assert (home / "site.toml").read_text(encoding="utf-8") == site_config_text(
        SiteConfig(lang="en")
    )


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('site = "Norr"\nlang = "en\n', "line 2"),
        ('site = "Norr"\n\nadmission_forms 3\n', "line 3"),
        ('site = "Norr"\n[fhir]\nurl = "https://x"\n[fhir]\n', "line 4"),
    ],
)
def test_init_on_a_malformed_site_toml_names_the_line_and_changes_nothing(
    home: Path, text: str, line: str
) -> None:
    path = write_site(home, text)
    result = run_cli("init", "--lang", "sv", home=home, ok=False)
    assert result.exit_code == 4
    assert "site.toml" in result.stderr and line in result.stderr, result.stderr
    assert path.read_text(encoding="utf-8") == text
    assert sorted(p.name for p in home.iterdir()) == ["site.toml"], "no ledger, no keys"

"""The site's drug list (site.toml ``drug_list``, issue 10): read and checked once, every problem
named by line and column with what to do; its entries suggested at the review station beside
the census's drug names; a drug typed from handwriting that is exactly an entry coded in the
record with the entry's code, anything else text only.

Every list here is a real file written by the test; the codes are well-formed NPL ids of a
year to come (2099), so that none names a real product.
"""

from __future__ import annotations

import html
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import PrintedPack
from playwright.sync_api import Playwright
from scankit import copy_home
from stationkit import PASSWORD, add_user, chromium, log_in, playwright_fixture, serve  # noqa: F401
from test_reconcile import form_entries, printed, scan_in, ticked  # noqa: F401 (printed)
from test_review import as_user, items, of_type, reconcile, transcribed_by_two
from werkzeug.test import Client

from downtime.app.held import site_drugs
from downtime.census.druglist import DrugList, load_drug_list, matching, site_drug_list
from downtime.errors import DrugListError
from downtime.settings import NPL_ID, resolve
from downtime.station.web import Station

PARACETAMOL, ALVEDON, NACL = "20990101000011", "20990101000029", "20990101000037"
DRUGS = f"""name,strength,form,code
Paracetamol,500 mg,tablett,{PARACETAMOL}
Alvedon,500 mg,tablett,{ALVEDON}
Natriumklorid,9 mg/ml,infusionsvätska,{NACL}
"""


def write(folder: Path, text: str | bytes, name: str = "drugs.csv") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def problem(path: Path, system: str = NPL_ID) -> str:
    with pytest.raises(DrugListError) as raised:
        load_drug_list(path, system)
    assert raised.value.exit_code == 3
    return str(raised.value)


# --------------------------------------------------------------------------------------------
# Reading the list


def test_a_list_is_read_in_any_column_order_with_a_byte_order_mark_and_blank_lines(
    tmp_path: Path,
) -> None:
    text = (
        "\ufeffcode,name,form,strength\r\n"
        f"{PARACETAMOL},Paracetamol,tablett,500 mg\r\n"
        "\r\n"
        f"{NACL},Natriumklorid,infusionsva\u0308tska,9 mg/ml\r\n"
        f"{ALVEDON},  Alvedon   Novum ,,\r\n"
    )
    drugs = load_drug_list(write(tmp_path, text))

    assert drugs.system == NPL_ID == "urn:oid:1.2.752.129.2.1.5.1"
    assert drugs.displays == (
        "Paracetamol 500 mg tablett",
        "Natriumklorid 9 mg/ml infusionsvätska",  # NFC: ä is one character
        "Alvedon Novum",  # strength and form may be empty
    )
    assert [(e.code, e.line) for e in drugs.entries] == [(PARACETAMOL, 2), (NACL, 4), (ALVEDON, 5)]


def test_a_typed_drug_is_an_entry_only_when_it_reads_the_same_but_for_case_and_spacing(
    tmp_path: Path,
) -> None:
    drugs = load_drug_list(write(tmp_path, DRUGS))

    for same in ("Paracetamol 500 mg tablett", " paracetamol  500 MG\u00a0Tablett "):
        found = drugs.find(same)
        assert found is not None and found.code == PARACETAMOL, same
    decomposed = drugs.find("Natriumklorid 9 mg/ml infusionsva\u0308tska")
    assert decomposed is not None and decomposed.code == NACL
    for other in (
        "Paracetamol",  # a name alone
        "Paracetamol 500 mg",  # the start of an entry
        "Paracetamol 500mg tablett",  # spaced otherwise
        "Paracetamol 500 mg tabletter",  # spelt otherwise
        "Paracetamol 500 mg tablett 1 g",  # more than the entry
        "Alvedon (paracetamol)",  # the same substance, by another name
        "",
    ):
        assert drugs.find(other) is None, other
    assert DrugList().find("Paracetamol 500 mg tablett") is None  # no list: nothing is coded


def test_every_bad_line_is_named_at_once_with_what_to_do(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name,strength,form,code\n"
        f"Paracetamol,500 mg,tablett,{PARACETAMOL}\n"
        f" ,1 g,tablett,{ALVEDON}\n"
        "Furosemid,40 mg,tablett,4711\n"
        "paracetamol , 500  MG,Tablett,20990101000045\n"
        "Ipren,400 mg,tablett\n"
        "Morfin,10 mg/ml,injektionsvätska,\n"
        f"Alvedon,500 mg,tablett,{ALVEDON}\n"
        f"Al\u202evedon,500 mg,brustablett,{NACL}\n"
        f"Alvedon,500 mg,tablett,{ALVEDON}\n",
    )

    assert problem(path) == (
        "drug list drugs.csv: 7 bad lines\n"
        "  drugs.csv line 3, column name: is empty: write the drug's name, or delete the line\n"
        "  drugs.csv line 4, column code: is not an NPL id (14 digits): correct it, or set "
        "drug_list_system in site.toml if the list holds codes of another system\n"
        "  drugs.csv line 5: 'paracetamol 500 MG Tablett' is on line 2 already, with another "
        "code: keep one of the two lines\n"
        "  drugs.csv line 6: has 3 cells; the header has 4\n"
        "  drugs.csv line 7, column code: is empty: write its NPL id, or delete the line\n"
        "  drugs.csv line 9, column name: contains U+202E RIGHT-TO-LEFT OVERRIDE at character 3, "
        "an invisible format character that can hide or reorder text: delete it\n"
        "  drugs.csv line 10: 'Alvedon 500 mg tablett' is on line 8 already: keep one of the "
        "two lines\n"
        "  → fix the lines (UTF-8 CSV with the header name,strength,form,code), or set "
        'drug_list = "" in site.toml to work without the list'
    )


def test_codes_of_another_system_are_checked_as_fhir_codes(tmp_path: Path) -> None:
    system = "https://lakemedel.example.se/fhir/CodeSystem/sortiment"
    good = write(tmp_path, "name,strength,form,code\nParacetamol,500 mg,tablett,PCM 500 T\n")
    bad = write(
        tmp_path,
        "name,strength,form,code\nParacetamol,500 mg,tablett,PCM  500\nMorfin,10 mg,tablett,\n",
        "bad.csv",
    )

    assert load_drug_list(good, system).entries[0].code == "PCM 500 T"
    assert problem(bad, system).splitlines()[:3] == [
        "drug list bad.csv: 2 bad lines",
        "  bad.csv line 2, column code: is not a code: only single spaces may stand between its "
        "parts; correct it",
        f"  bad.csv line 3, column code: is empty: write its code ({system}), or delete the line",
    ]


UNREADABLE = {
    "header": (
        "name,strength,form,kod\nParacetamol,500 mg,tablett,20990101000011\n",
        "drug list drugs.csv: the header row is wrong\n"
        "  drugs.csv line 1: missing columns: code\n"
        "  drugs.csv line 1: unknown columns: kod\n"
        "  → the columns are: name,strength,form,code (in any order)",
    ),
    "no-header": (
        "Paracetamol,500 mg,tablett,20990101000011\n",
        "drug list drugs.csv: the header row is wrong\n"
        "  drugs.csv line 1: no header row: line 1 names none of the columns\n"
        "  → the columns are: name,strength,form,code (in any order)",
    ),
    "latin-1": (
        "name,strength,form,code\nParacetamol,500 mg,tablett,20990101000011\n"
        "Natriumklorid,9 mg/ml,infusionsvätska,20990101000037\n".encode("latin-1"),
        "drug list drugs.csv: cannot be read\n"
        "  drugs.csv: line 3 is not UTF-8 text: save the file as UTF-8\n"
        "  → site.toml drug_list names the file, relative to the data folder unless absolute; "
        'set drug_list = "" to work without a list',
    ),
    "empty": (
        "\ufeff\n",
        "drug list drugs.csv: cannot be read\n"
        "  drugs.csv: the file is empty\n"
        "  → site.toml drug_list names the file, relative to the data folder unless absolute; "
        'set drug_list = "" to work without a list',
    ),
    "header-only": (
        "name,strength,form,code\n\n",
        "drug list drugs.csv: no entries\n"
        "  drugs.csv: has a header row and nothing else\n"
        '  → add the drugs, one a line, or set drug_list = "" in site.toml to work without',
    ),
}


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_a_list_that_cannot_be_read_says_why_and_what_to_do(tmp_path: Path, case: str) -> None:
    text, expected = UNREADABLE[case]
    assert problem(write(tmp_path, text)) == expected


def test_a_missing_list_names_where_it_was_looked_for(tmp_path: Path) -> None:
    missing = tmp_path / "lists" / "drugs.csv"
    assert problem(missing).splitlines()[:2] == [
        "drug list drugs.csv: cannot be read",
        f"  drugs.csv: no such file: {missing}",
    ]


def test_site_toml_names_the_list_relative_to_the_data_folder_or_absolute(
    home: Path, tmp_path: Path
) -> None:
    write(home, DRUGS)
    elsewhere = write(tmp_path / "apotek", DRUGS.replace(PARACETAMOL, "20990101000052"))
    write(home, 'drug_list = "drugs.csv"\n', "site.toml")
    in_home = site_drug_list(resolve(home))
    write(home, f'drug_list = "{elsewhere}"\n', "site.toml")
    absolute = site_drug_list(resolve(home))
    write(home, "", "site.toml")

    assert in_home.entries[0].code == PARACETAMOL
    assert absolute.entries[0].code == "20990101000052"
    assert site_drug_list(resolve(home)) == DrugList()  # none named: none used


# --------------------------------------------------------------------------------------------
# The station suggests it; reconciliation codes what is exactly an entry


@dataclass(frozen=True)
class Listed:
    home: Path
    items: dict[tuple[int, str], str]  # (patient, item) → item id


@pytest.fixture(scope="module")
def listed(printed: PrintedPack, tmp_path_factory: pytest.TempPathFactory) -> Listed:  # noqa: F811
    """A data folder with the drug list in site.toml, and held for transcription: two new orders
    written by hand (the first patient's), two paper prescriptions (the first patient's) and
    one more (the second patient's)."""
    base = tmp_path_factory.mktemp("druglist")
    home = copy_home(printed, base / "home")
    write(home, DRUGS)
    with (home / "site.toml").open("a", encoding="utf-8") as site:
        site.write('drug_list = "drugs.csv"\n')
    [orders] = [p for p in form_entries(printed, "medication-orders") if p["page"] == 1][:1]
    rx = ("drug", "strength", "dosage", "prescriber", "datetime")
    new = ("drug", "dose", "route.iv", "freq.1x2")
    [first] = form_entries(printed, "prescription")[:1]
    [second] = form_entries(printed, "prescription", patient=1)[:1]
    pages = [
        ticked(printed, orders, [f"new{n}.{f}" for n in (1, 2) for f in new]),
        ticked(printed, first, [f"rx{n}.{f}" for n in (1, 2) for f in rx]),
        ticked(printed, second, [f"rx1.{f}" for f in rx]),
    ]
    scan_in(home, base / "scans", pages)
    reconcile(home)
    patient = {orders["form_serial"]: 0, first["form_serial"]: 0, second["form_serial"]: 1}
    held = items(home, "transcription")
    return Listed(home, {(patient[i["serial"]], i["item"]): i["item_id"] for i in held})


def medication_requests(home: Path) -> dict[str, dict[str, Any]]:
    """The MedicationRequests reconciliation writes now, by their medication's text."""
    found = of_type(reconcile(home), "MedicationRequest")
    return {r["medicationCodeableConcept"]["text"]: r["medicationCodeableConcept"] for r in found}


def test_a_typed_drug_that_is_exactly_an_entry_is_coded_and_anything_else_stays_text(
    listed: Listed, tmp_path: Path
) -> None:
    home = Path(shutil.copytree(listed.home, tmp_path / "home"))
    order = ("dose=1 g", "route=PO", "frequency=1x3")
    rx = ("dosage=1 tablett 3 gånger dagligen", "prescriber=Dr Lind", "date=2026-11-26")
    transcribed_by_two(home, listed.items[0, "new1"], "drug=paracetamol 500 MG Tablett", *order)
    transcribed_by_two(home, listed.items[0, "new2"], "drug=Paracetamol 500 mg", *order)
    transcribed_by_two(home, listed.items[0, "rx1"], "drug=Alvedon", "strength=500 mg",
                       "form=tablett", *rx)  # fmt: skip
    transcribed_by_two(home, listed.items[0, "rx2"], "drug=Alvedon 500 mg tablett",
                       "strength=500 mg", *rx)  # fmt: skip
    transcribed_by_two(home, listed.items[1, "rx1"], "drug=Alvedon 500 mg tablett",
                       "strength=1 g", *rx)  # fmt: skip

    def coded(code: str, display: str) -> list[dict[str, str]]:
        return [{"system": NPL_ID, "code": code, "display": display}]

    assert medication_requests(home) == {
        # a new order whose drug is the entry but for case: coded, the text as typed
        "paracetamol 500 MG Tablett 1 g": {
            "coding": coded(PARACETAMOL, "Paracetamol 500 mg tablett"),
            "text": "paracetamol 500 MG Tablett 1 g",
        },
        # the start of an entry is not the entry: text only
        "Paracetamol 500 mg 1 g": {"text": "Paracetamol 500 mg 1 g"},
        # a prescription's drug, strength and form, typed one by one, read as the entry
        "Alvedon tablett 500 mg": {
            "coding": coded(ALVEDON, "Alvedon 500 mg tablett"),
            "text": "Alvedon tablett 500 mg",
        },
        # the entry picked from the list, the strength beside it the entry's: coded
        "Alvedon 500 mg tablett 500 mg": {
            "coding": coded(ALVEDON, "Alvedon 500 mg tablett"),
            "text": "Alvedon 500 mg tablett 500 mg",
        },
        # … but another strength beside it contradicts the entry: text only
        "Alvedon 500 mg tablett 1 g": {"text": "Alvedon 500 mg tablett 1 g"},
    }


def test_a_bad_list_stops_reconciliation_and_the_station_before_anything(
    listed: Listed, tmp_path: Path
) -> None:
    home = Path(shutil.copytree(listed.home, tmp_path / "home"))
    write(home, DRUGS + f"Paracetamol,500 mg,tablett,{NACL}\n")
    outbox = sorted((home / "outbox").iterdir())
    expected = "drug list drugs.csv: 1 bad line\n  drugs.csv line 5: 'Paracetamol 500 mg tablett'"

    for command in (["reconcile", "--lang", "en"], ["review", "--lang", "en"]):
        result = as_user(home, "ida", *command)
        assert result.exit_code == 3, (command, result.output)
        assert expected in result.stderr, command
    swedish = as_user(home, "ida", "review")  # the site's language: what is wrong, then the detail
    assert swedish.exit_code == 3 and swedish.stderr.startswith("fel: ")
    assert "drugs.csv line 5: 'Paracetamol 500 mg tablett'" in swedish.stderr
    assert sorted((home / "outbox").iterdir()) == outbox


def test_the_station_suggests_the_list_s_entries_beside_the_census_drug_names(
    listed: Listed, tmp_path: Path
) -> None:
    home = Path(shutil.copytree(listed.home, tmp_path / "home"))
    add_user(home, "clara", "clerk", PASSWORD)
    browser = logged_in(home)

    page = browser.get(f"/q/transcription/{listed.items[0, 'new1']}")

    assert page.status_code == 200
    assert re.search(r'<input name="drug"[^>]* list="drugs"', page.text)
    offered = [html.unescape(o) for o in re.findall(r'<option value="([^"]*)">', page.text)]
    assert {"Paracetamol 500 mg tablett", "Natriumklorid 9 mg/ml infusionsvätska"} <= set(offered)
    assert {"Alvedon (paracetamol)", "Furosemid"} <= set(offered)  # the census's own names
    assert offered == sorted(set(offered), key=str.casefold)


def test_what_was_typed_matches_names_it_begins_then_a_word_it_begins_then_any_part() -> None:
    names = ["Furosemid 40 mg", "Alvedon (paracetamol)", "Paracetamol 500 mg tablett",
             "Apofri paracetamol", "Kodein-paracetamol", "Morfin"]  # fmt: skip
    assert matching(names, "  PARA ", 10) == [
        "Paracetamol 500 mg tablett",  # begins with it
        "Alvedon (paracetamol)",  # a word begins with it
        "Apofri paracetamol",
        "Kodein-paracetamol",  # holds it
    ]
    assert matching(names, "para", 2) == ["Paracetamol 500 mg tablett", "Alvedon (paracetamol)"]
    assert matching(names, "", 10) == [] and matching(names, "   ", 10) == []
    assert matching(names, "insulin", 10) == []


def big_list(home: Path, entries: int) -> None:
    """The site's drug list grown to ``entries`` lines (a national list holds tens of
    thousands), the three named ones among them."""
    lines = [f"Testpreparat {n:05d},{n % 50 + 1} mg,tablett,2099{n:010d}" for n in range(entries)]
    write(home, DRUGS + "\n".join(lines) + "\n")


def logged_in(home: Path) -> Client:
    station = Station(
        home, hosts=["localhost"], lang="sv", timezone="Europe/Stockholm", drugs=site_drugs(home)
    )
    browser = Client(station)
    login = browser.get("/login").text
    [csrf] = set(re.findall(r'name="csrf" value="([^"]+)"', login))
    answer = browser.post("/login", data={"csrf": csrf, "name": "clara", "password": PASSWORD})
    assert answer.status_code == 303 and answer.headers["Location"] == "/"
    return browser


def test_a_long_list_is_not_sent_with_each_page_but_asked_for_as_the_name_is_typed(
    listed: Listed, tmp_path: Path
) -> None:
    home = Path(shutil.copytree(listed.home, tmp_path / "home"))
    big_list(home, 5000)
    add_user(home, "clara", "clerk", PASSWORD)
    browser = logged_in(home)

    page = browser.get(f"/q/transcription/{listed.items[0, 'new1']}")
    assert page.status_code == 200
    assert re.search(r'<input name="drug"[^>]* list="drugs" data-suggest="/drugs"', page.text)
    assert len(re.findall(r"<option ", page.text)) < 50  # the patient's own orders' drugs
    assert len(page.data) < 30_000

    answer = browser.get("/drugs?q=paraceta")
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    assert answer.json == {  # the list's entry first, then the census's name holding it
        "q": "paraceta",
        "drugs": ["Paracetamol 500 mg tablett", "Alvedon (paracetamol)"],
    }
    many = browser.get("/drugs?q=testpreparat 0").json["drugs"]
    assert len(many) == 25 and many == sorted(many) and many[0] == "Testpreparat 00000 1 mg tablett"
    assert browser.get("/drugs?q=").json["drugs"] == []

    assert Client(browser.application).get("/drugs?q=para").status_code == 303  # not logged in


def test_typing_a_drug_name_in_the_station_offers_the_matching_names(
    playwright: Playwright, listed: Listed, tmp_path: Path
) -> None:
    home = Path(shutil.copytree(listed.home, tmp_path / "home"))
    big_list(home, 5000)
    add_user(home, "clara", "clerk", PASSWORD)
    with serve(home) as station, chromium(playwright) as context:
        tab = context.new_page()
        log_in(tab, station, "clara")
        tab.goto(f"{station.url}q/transcription/{listed.items[0, 'new1']}")
        tab.locator("input[name=drug]").press_sequentially("natriumk", delay=30)
        tab.wait_for_function(
            "() => [...document.querySelectorAll('#drugs option')]"
            ".some((o) => o.value === 'Natriumklorid 9 mg/ml infusionsvätska')"
        )
        offered = tab.eval_on_selector_all("#drugs option", "(os) => os.map((o) => o.value)")
        assert offered == ["Natriumklorid 9 mg/ml", "Natriumklorid 9 mg/ml infusionsvätska"]

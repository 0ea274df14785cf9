"""`downtime pack`: what a ward gets, what the ledger records, and how bad input is refused."""

from __future__ import annotations

import json
import os
import stat
import unicodedata
from pathlib import Path

import pytest
from backends import tamper
from conftest import EXAMPLE, PrintedPack, ledger_rows, print_example_pack, run_cli
from pdfpages import page_texts

from downtime.ledger import Ledger, verify_audit_chain
from downtime.ledger.packs import superseded_by
from downtime.ledger.pages import pages_of_pack

PATIENT_HEADER = (
    "patient_id,family_name,given_name,birth_date,sex,ward,bed,encounter_id,admitted_at,allergies\n"
)


def write_census(folder: Path, rows: list[str], name: str = "patients.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(PATIENT_HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def row(pnr: str, family: str, given: str, bed: str = "1", ward: str = "W1") -> str:
    return f"{pnr},{family},{given},,unknown,{ward},{bed},E-{pnr[-4:]},2026-11-20T10:00:00+01:00,"


# --------------------------------------------------------------------------------------------
# What the ward gets


def test_manifest_follows_the_contract(example_packs: dict[str, PrintedPack]) -> None:
    pack = example_packs["MED42"]
    m = pack.manifest
    assert m["schema"] == "downtime.pack-manifest/1"
    assert m["ward"] == "MED42"
    for key in ("pack_id", "site", "issued_at", "data_as_of", "valid_until"):
        assert m[key]
    assert m["issued_at"].endswith(("+01:00", "+02:00")), "local time with offset"
    forms = [p["form"] for p in m["pages"]]
    assert forms[0] == "cover"
    assert {"journal", "medication-orders", "mar", "prescription", "referral", "admission"} <= set(
        forms
    )
    assert [p["pdf_page"] for p in m["pages"]] == list(range(1, len(m["pages"]) + 1))
    assert len({p["page_uid"] for p in m["pages"]}) == len(m["pages"])
    assert len({p["form_serial"] for p in m["pages"]}) == len(m["pages"])
    for page in m["pages"]:
        assert page["page_size_mm"] == [210.0, 297.0]
        assert 1 <= page["page"] <= page["page_count"]
        for field in page["fields"]:
            x, y, w, h = field["box_mm"]
            assert field["kind"] in ("checkbox", "text", "signature", "datetime", "number")
            assert x >= 15 and x + w <= 195 and y >= 64 and y + h <= 233, field["id"]
    journal = next(p for p in m["pages"] if p["form"] == "journal")
    ids = [f["id"] for f in journal["fields"]]
    assert "entry1.kind.physician" in ids and "entry1.text" in ids
    assert journal["patient"]["system"] == "personnummer"
    assert len(journal["patient"]["value"]) == 12


def test_every_patient_page_names_the_patient_first_and_in_full(
    example_packs: dict[str, PrintedPack],
) -> None:
    pack = example_packs["MED42"]
    texts = page_texts(pack.pdf)
    with Ledger.open(pack.home / "ledger.sqlite3") as ledger:
        people = {
            r["patient_value"]: r
            for r in ledger_rows(
                ledger, "SELECT * FROM pack_patients WHERE pack_id = ?", (pack.manifest["pack_id"],)
            )
        }
    for page, text in zip(pack.manifest["pages"], texts, strict=True):
        assert page["form_serial"] in text
        assert "NEDTIDSBLANKETT" in text
        assert f"Sida {page['page']} av {page['page_count']}" in text
        if page["patient"] is None or page["form"] == "admission":
            continue
        person = people[page["patient"]["value"]]
        value = page["patient"]["value"]
        name = f"{person['family_name']}, {person['given_name']}"
        assert name in text
        assert f"{value[:8]}-{value[8:]}" in text  # 12 digits, with century
        # name and identifier come before the form's own content
        assert text.index(name) < text.index(page["form_serial"])


def test_names_in_every_script_print_as_nfc(home: Path, tmp_path: Path) -> None:
    decomposed = unicodedata.normalize("NFD", "Öberg")
    census = write_census(
        tmp_path,
        [
            row("191212121212", decomposed, unicodedata.normalize("NFD", "Åsa"), "1"),
            row("197905219809", "Nguyễn", "Thị Minh Khai", "2"),
            row("195301289814", "Παπαδόπουλος", "Γεώργιος", "3"),
            row("198511309802", "Иванова", "Анна", "4"),
            row("196709059809", "Wójcik-Żak", "Łucja", "5"),
        ],
    )
    pdf = tmp_path / "W1.pdf"
    run_cli("pack", census, "--ward", "W1", "-o", pdf, home=home)
    text = "\n".join(page_texts(pdf))
    for name in ("Öberg, Åsa", "Nguyễn, Thị Minh Khai", "Παπαδόπουλος, Γεώργιος",
                 "Иванова, Анна", "Wójcik-Żak, Łucja"):  # fmt: skip
        assert unicodedata.normalize("NFC", name) in text
    assert decomposed not in text


def test_english_forms(home: Path, tmp_path: Path) -> None:
    pack = print_example_pack(home, tmp_path, "--lang", "en")
    text = "\n".join(page_texts(pack.pdf))
    assert "DOWNTIME FORM" in text and "Medication administration record" in text
    assert "NEDTIDSBLANKETT" not in text


def test_mar_cells_carry_order_and_slot(example_packs: dict[str, PrintedPack]) -> None:
    pack = example_packs["MED42"]
    mar = [p for p in pack.manifest["pages"] if p["form"] == "mar"]
    cells = [f for p in mar for f in p["fields"] if f["id"].endswith(".given")]
    assert cells, "scheduled medications produce MAR cells"
    for f in cells:
        group, slot, _ = f["id"].split(".")
        assert group.startswith("med")
        assert slot.startswith("t") and slot[1:].isdigit()
        assert f["ref"]["order_id"]
        assert f["ref"]["slot"][11:13] == slot[1:3]  # the cell's hour is in its id


def test_more_orders_than_rows_continue_on_another_page(home: Path, tmp_path: Path) -> None:
    census = write_census(tmp_path, [row("191212121212", "Tolvansson", "Tolvan")])
    meds = tmp_path / "meds.csv"
    lines = ["patient_id,order_id,medication,dose,route,frequency,times,prn,start_date"]
    lines += [f"191212121212,O{i},Drug {i},1 mg,PO,1×1,08,false," for i in range(9)]
    meds.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pdf = tmp_path / "W1.pdf"
    run_cli("pack", census, "--medications", meds, "--ward", "W1", "-o", pdf, home=home)
    manifest = json.loads(pdf.with_name("W1.manifest.json").read_text())
    orders = [p for p in manifest["pages"] if p["form"] == "medication-orders"]
    assert [(p["page"], p["page_count"]) for p in orders] == [(1, 2), (2, 2)]
    refs = [f["ref"]["order_id"] for p in orders for f in p["fields"] if f["id"].endswith(".stop")]
    assert sorted(refs) == sorted(f"O{i}" for i in range(9))


def test_admission_forms_have_fresh_reserve_ids(home: Path, tmp_path: Path) -> None:
    first = print_example_pack(home, tmp_path / "a", "--admission-forms", "3")
    second = print_example_pack(home, tmp_path / "b", "--admission-forms", "3")
    ids = [
        p["patient"]["value"]
        for m in (first.manifest, second.manifest)
        for p in m["pages"]
        if p["form"] == "admission"
    ]
    assert len(ids) == 6 and len(set(ids)) == 6
    assert all(p["patient"]["system"] == "downtime-reserve" for m in (first.manifest,)
               for p in m["pages"] if p["form"] == "admission")  # fmt: skip
    with Ledger.open(home / "ledger.sqlite3") as ledger:
        stored = {
            r["reserve_id"] for r in ledger_rows(ledger, "SELECT reserve_id FROM reserve_ids")
        }
    assert stored == set(ids)


def test_all_wards_writes_one_pack_per_ward(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "packs"
    result = run_cli("pack", "--example", "--all-wards", "-o", out, home=home)
    assert sorted(p.name for p in out.iterdir()) == [
        "KIR7.manifest.json", "KIR7.pdf", "MED42.manifest.json", "MED42.pdf",
    ]  # fmt: skip
    assert len(result.stdout.strip().splitlines()) == 2


# --------------------------------------------------------------------------------------------
# What the ledger and the data folder hold


def test_a_new_pack_supersedes_the_last_one_for_its_ward(home: Path, tmp_path: Path) -> None:
    first = print_example_pack(home, tmp_path / "1")
    other_ward = print_example_pack(home, tmp_path / "2", ward="KIR7")
    second = print_example_pack(home, tmp_path / "3")
    with Ledger.open(home / "ledger.sqlite3") as ledger:
        assert superseded_by(ledger, first.manifest["pack_id"]) == second.manifest["pack_id"]
        assert superseded_by(ledger, second.manifest["pack_id"]) is None
        assert superseded_by(ledger, other_ward.manifest["pack_id"]) is None
        # nothing was overwritten: the first pack's pages are all still there
        assert len(pages_of_pack(ledger, first.manifest["pack_id"])) == len(first.manifest["pages"])


def test_printing_is_audited_per_patient(example_packs: dict[str, PrintedPack]) -> None:
    pack = example_packs["MED42"]
    patients = {p["patient"]["value"] for p in pack.manifest["pages"]
                if p["patient"] and p["patient"]["system"] != "downtime-reserve"}  # fmt: skip
    with Ledger.open(pack.home / "ledger.sqlite3") as ledger:
        events = ledger_rows(
            ledger,
            "SELECT * FROM audit_events WHERE action = 'pack.print' AND object_id = ?",
            (pack.manifest["pack_id"],),
        )
        assert verify_audit_chain(ledger) is None
    assert {e["patient_value"] for e in events} == patients
    for e in events:
        assert e["care_unit"] == "MED42"
        assert e["actor"] and e["station"]
        assert "journal:2" in e["detail"]


def test_audit_chain_detects_an_altered_row(home: Path, tmp_path: Path) -> None:
    print_example_pack(home, tmp_path)
    tamper(home / "ledger.sqlite3", "UPDATE audit_events SET actor = 'someone else' WHERE seq = 3")
    with Ledger.open(home / "ledger.sqlite3") as ledger:
        assert verify_audit_chain(ledger) == 3


def test_data_files_are_private(example_packs: dict[str, PrintedPack]) -> None:
    pack = example_packs["MED42"]
    private = [
        pack.pdf,
        pack.pdf.with_name("MED42.manifest.json"),
        pack.home / "ledger.sqlite3",
        *(pack.home / "keys").iterdir(),
    ]
    for path in private:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path.name
    for folder in (pack.home, pack.home / "keys"):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700, folder.name


# --------------------------------------------------------------------------------------------
# Bad input: a clear error, nothing printed


def test_bad_census_rows_are_reported_by_line_and_nothing_is_printed(
    home: Path, tmp_path: Path
) -> None:
    census = write_census(
        tmp_path,
        [
            row("191212121212", "Tolvansson", "Tolvan"),
            row("191212121213", "Felsson", "Fel", "2"),  # wrong check digit
            row("191212121212", "Dubbel", "Dubbel", "3"),  # duplicate
        ],
    )
    pdf = tmp_path / "W1.pdf"
    result = run_cli("pack", census, "--ward", "W1", "-o", pdf, home=home, ok=False)
    assert result.exit_code == 3
    assert "line 3" in result.stderr and "line 4" in result.stderr
    assert not pdf.exists() and not pdf.with_name("W1.manifest.json").exists()
    for secret in ("Felsson", "191212121213", "Tolvansson"):
        assert secret not in result.stderr


def test_unprintable_name_is_an_error_naming_the_line(home: Path, tmp_path: Path) -> None:
    census = write_census(
        tmp_path,
        [row("191212121212", "Tolvansson", "Tolvan"), row("194803169806", "山田", "太郎", "2")],
    )
    pdf = tmp_path / "W1.pdf"
    result = run_cli("pack", census, "--ward", "W1", "-o", pdf, home=home, ok=False)
    assert result.exit_code == 3
    assert "line 3" in result.stderr and "U+5C71" in result.stderr
    assert "山田" not in result.stderr
    assert not pdf.exists()


def test_every_bad_row_is_reported_in_one_run_including_an_unprintable_name(
    home: Path, tmp_path: Path
) -> None:
    """Issue 8: a name the font cannot print used to be found only at render time, so only in a
    second run, after the other bad rows were fixed."""
    census = write_census(
        tmp_path,
        [
            row("191212121212", "Tolvansson", "Tolvan"),
            row("191212121213", "Felsson", "Fel", "2"),  # line 3: wrong check digit
            row("20150916-0006", "Nollsson", "Noll", "3"),  # line 4: birth number 000
            row("194803169806", "山田", "太郎", "4"),  # line 5: unprintable
            row("195001010010", "Långsson" * 1250, "Lång", "5"),  # line 6: 10,000+ characters
            row("195001010028", "Bidi\u202esson", "Bidi", "6"),  # line 7: right-to-left override
            row("195001010036", "Noll", "Zero\u200bwidth", "7"),  # line 8: zero-width space
        ],
    )
    pdf = tmp_path / "W1.pdf"
    result = run_cli("pack", census, "--ward", "W1", "-o", pdf, home=home, ok=False)
    assert result.exit_code == 3
    assert "6 bad rows" in result.stderr
    for line, what in [
        (3, "check digit is wrong"),
        (4, "birth number"),
        (5, "U+5C71"),
        (6, "at most 64"),
        (7, "U+202E RIGHT-TO-LEFT OVERRIDE at character 5"),
        (8, "U+200B ZERO WIDTH SPACE at character 5"),
    ]:
        assert f"line {line}" in result.stderr and what in result.stderr, (line, what)
    for secret in ("Felsson", "Nollsson", "山", "田", "太", "Långsson", "Bidi", "Zero", "width"):
        assert secret not in result.stderr, secret
    assert "\u202e" not in result.stderr and "\u200b" not in result.stderr
    assert not pdf.exists()


def test_a_name_too_long_to_print_legibly_is_refused_with_its_line_and_the_limit(
    home: Path, tmp_path: Path
) -> None:
    census = write_census(
        tmp_path,
        [row("191212121212", "Tolvansson", "Tolvan"), row("194803169806", "A" * 10_000, "B", "2")],
    )
    result = run_cli("pack", census, "--ward", "W1", "-o", tmp_path / "W1.pdf", home=home, ok=False)
    assert result.exit_code == 3
    assert "line 3" in result.stderr and "10003 characters; at most 64" in result.stderr
    assert "AAAA" not in result.stderr


def test_text_too_wide_for_its_place_is_cut_with_an_ellipsis_never_drawn_beyond_it(
    tmp_path: Path,
) -> None:
    """Issue 8: a 10,000-character name ran, microscopic, under the QR code and over the
    personnummer. Drawn without the census check, it now stays inside its own width."""
    import pypdfium2 as pdfium

    from downtime.forms.layout import Op, PageLayout
    from downtime.pack.render import MM, PackRenderer, PageHead

    name = "Långsson" * 1250
    head = PageHead(
        "Journal", "patient", f"{name}, Tolvan", "Personnummer", "19121212-1212", "details",
        1, 1, "X7J3-DDEE-YPMT", "as of", "DK1:TEST",
    )  # fmt: skip
    column = Op("text", 15.0, 100.0, 56.0, 4.0, name, 9.0, True)  # the cover's name column
    neighbour = Op("mono", 72.0, 100.0, 30.0, 4.0, "19121212-1212", 9.0, True)
    pdf = tmp_path / "long.pdf"
    renderer = PackRenderer(pdf, lang="sv", title="t")
    renderer.page(head, PageLayout("cover", 1, 1, (), (column, neighbour), ()))
    renderer.close()

    page = pdfium.PdfDocument(pdf)[0]
    text = page.get_textpage()
    top = page.get_height()

    def drawn(left_mm: float, top_mm: float, right_mm: float, bottom_mm: float) -> str:
        """The text inside a rectangle given in page millimetres from the top-left."""
        return str(
            text.get_text_bounded(
                left_mm * MM, top - bottom_mm * MM, right_mm * MM, top - top_mm * MM
            )
        )

    chars = [text.get_text_range(i, 1) for i in range(text.count_chars())]
    boxes = [text.get_charbox(i) for i in range(len(chars))]  # points from the bottom-left
    for left_mm, top_mm, right_mm in ((15.0, 25.5, 155.0), (15.0, 100.0, 71.0)):
        on_line = [
            (char, box)
            for char, box in zip(chars, boxes, strict=True)
            if char.strip()
            and top_mm <= (top - box[3]) / MM <= top_mm + 8.0
            and left_mm * MM - 0.5 <= box[0] < right_mm * MM
        ]
        assert on_line[-1][0] == "…", "cut, and the cut shows"
        assert max(box[2] for _, box in on_line) <= right_mm * MM + 0.5, "inside its width"
    assert "Lång" not in drawn(155.0, 10.0, 210.0, 60.0), "nothing over the QR code"
    assert drawn(72.0, 99.0, 102.0, 105.0).strip() == "19121212-1212", "nothing over the id"


def test_skip_invalid_prints_the_rest_and_lists_the_skipped_rows(
    home: Path, tmp_path: Path
) -> None:
    census = write_census(
        tmp_path,
        [
            row("191212121212", "Tolvansson", "Tolvan"),
            row("191212121213", "Felsson", "Fel", "2"),
            row("194803169806", "山田", "太郎", "3"),
        ],
    )
    pdf = tmp_path / "W1.pdf"
    result = run_cli("pack", census, "--ward", "W1", "-o", pdf, "--skip-invalid", home=home)
    # in the site's language (Swedish by default), as on the cover sheet
    assert "hoppade över rad 3" in result.stderr and "hoppade över rad 4" in result.stderr
    english = run_cli("pack", census, "--ward", "W1", "-o", tmp_path / "W1-en.pdf",
                      "--skip-invalid", "--lang", "en", home=home)  # fmt: skip
    assert "skipped line 3" in english.stderr and "skipped line 4" in english.stderr
    manifest = json.loads(pdf.with_name("W1.manifest.json").read_text())
    values = {p["patient"]["value"] for p in manifest["pages"] if p["patient"]}
    assert "191212121212" in values and "194803169806" not in values
    cover = page_texts(pdf)[0]
    assert "rad 3" in cover and "rad 4" in cover


def test_unknown_ward_is_an_error(home: Path, tmp_path: Path) -> None:
    result = run_cli("pack", "--example", "--ward", "NOPE", "-o", tmp_path / "x.pdf",
                     home=home, ok=False)  # fmt: skip
    assert result.exit_code == 3
    assert "MED42" in result.stderr  # says which wards exist


def test_a_scan_station_cannot_print(home: Path, tmp_path: Path) -> None:
    run_cli("init", "--scan-station", home=home)
    result = run_cli("pack", "--example", "--ward", "MED42", "-o", tmp_path / "x.pdf",
                     home=home, ok=False)  # fmt: skip
    assert result.exit_code == 4
    assert "public keys only" in result.stderr


@pytest.mark.parametrize("args", [[], ["--ward", "MED42", "--all-wards"]])
def test_usage_errors(home: Path, tmp_path: Path, args: list[str]) -> None:
    census = [] if not args else ["--example"]
    result = run_cli("pack", *census, *args, "-o", tmp_path / "x", home=home, ok=False)
    assert result.exit_code == 2


def test_example_census_is_bundled() -> None:
    assert (EXAMPLE / "patients.csv").is_file() and (EXAMPLE / "medications.csv").is_file()


def test_packs_for_every_ward_into_an_existing_file_is_a_clear_error(
    home: Path, tmp_path: Path
) -> None:
    """Regression: `-o out` named a file from an earlier one-ward run, and --all-wards then
    ended in a FileExistsError traceback."""
    taken = tmp_path / "out"
    taken.write_bytes(b"%PDF-1.4 an earlier pack")
    result = run_cli("pack", "--example", "--all-wards", "-o", taken, home=home, ok=False)
    assert result.exit_code == 3
    assert "is a file" in result.stderr and "Traceback" not in result.stderr
    assert taken.read_bytes() == b"%PDF-1.4 an earlier pack"


def test_one_ward_into_a_folder_writes_the_wards_pdf_there(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "packs"
    folder.mkdir()
    run_cli("pack", "--example", "--ward", "MED42", "-o", folder, home=home)
    assert (folder / "MED42.pdf").is_file()


LONGEST = (
    "Andersson-Johansson, Anna-Karin Margareta Elisabet Kristina Sofi",
    "Wąsowski-Szczepańska, Małgorzata Władysława Krystyna Agnieszka Z",
    "Nguyễn Thị Phương Lê Hoàng, Thảo Anh Minh Châu Ngọc Diệp Hồng La",
)


@pytest.mark.parametrize("name", LONGEST)
def test_the_longest_name_the_census_takes_prints_legibly_beside_the_identifier(
    name: str,
) -> None:
    """The census's name limit comes from this measurement: the footer's "name · identifier"
    line is the narrowest place a name is printed in full. If it shrinks or the limit grows, a
    name at the limit would print below the legible size."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    from downtime.census.printable import NAME_MAX_CHARS, NAME_MIN_PT
    from downtime.pack import fonts
    from downtime.pack.render import MM

    fonts.register()
    assert len(name) == NAME_MAX_CHARS
    width = stringWidth(f"{name}  ·  19121212-1212", fonts.BOLD, 10.0)
    assert 10.0 * min(1.0, 128.0 * MM / width) >= NAME_MIN_PT


@pytest.mark.parametrize("name", LONGEST)
def test_a_name_too_long_for_the_cover_column_is_shown_there_with_initials(name: str) -> None:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    from downtime.census.printable import NAME_MIN_PT
    from downtime.pack import fonts
    from downtime.pack.cover import NAME_COLUMN_MM, NAME_PT, cover_name
    from downtime.pack.render import MM

    family, given = name.split(", ")
    shown = cover_name(family, given)
    assert shown.startswith(f"{family}, ") and shown != name
    assert shown.endswith(".") and given[0] in shown
    size = NAME_PT * min(1.0, NAME_COLUMN_MM * MM / stringWidth(shown, fonts.BOLD, NAME_PT))
    assert size >= NAME_MIN_PT
    assert cover_name("Tolvansson", "Tolvan") == "Tolvansson, Tolvan"

"""`downtime packs`: a scan station with a ledger of its own learns the print host's packs
from their manifests, and then reads their pages."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import Result
from conftest import PrintedPack, print_example_pack, run_cli
from scankit import count, patient_pages, render, rows, save_png


def cli(*args: str | Path, home: Path, ok: bool = True) -> Result:
    # scankit.cli checks stderr against the data folder's own census; a scan station has none
    return run_cli(*args, home=home, ok=ok)


def scan(home: Path, *paths: Path) -> list[dict[str, object]]:
    out = cli("scan", "--json", "--jobs", "1", *paths, home=home).stdout
    return [json.loads(line) for line in out.splitlines()]


@pytest.fixture
def station(tmp_path: Path, example_packs: dict[str, PrintedPack]) -> Path:
    """A scan station: its own ledger, the print host's public keys, nothing else."""
    home = tmp_path / "station"
    cli("init", "--scan-station", home=home)
    pem = tmp_path / "keys.pem"
    pem.write_text(cli("keys", "export-public", home=example_packs["MED42"].home).stdout)
    cli("keys", "import-public", pem, home=home)
    return home


def manifest_path(pack: PrintedPack) -> Path:
    return pack.pdf.with_name(pack.pdf.stem + ".manifest.json")


def test_a_station_reads_pages_of_an_imported_pack(
    station: Path, example_packs: dict[str, PrintedPack], tmp_path: Path
) -> None:
    pack = example_packs["MED42"]
    entry = patient_pages(pack, "mar")[0]
    page = save_png(tmp_path / "mar.png", render(pack, entry))

    before = scan(station, page)
    assert before[0]["status"] == "quarantined" and before[0]["reason"] == "unknown-page"

    out = cli("packs", "import", "--lang", "en", manifest_path(pack), home=station).stdout
    assert "imported" in out
    after = scan(station, page)  # unknown-page is curable: the same file is read again
    assert after[0]["status"] == "identified"
    assert after[0]["page_uid"] == entry["page_uid"]
    assert set(after[0]["fields"]) == {f["id"] for f in entry["fields"]}
    layout = rows(station, "SELECT count(*) AS n FROM page_field_refs WHERE page_uid = ?",
                  (entry["page_uid"],))  # fmt: skip
    assert layout[0]["n"] == sum(1 for f in entry["fields"] if "ref" in f) > 0


def test_importing_a_manifest_twice_adds_nothing(
    station: Path, example_packs: dict[str, PrintedPack]
) -> None:
    path = manifest_path(example_packs["KIR7"])
    cli("packs", "import", path, home=station)
    pages = count(station, "pages")
    again = cli("packs", "import", "--lang", "en", path, home=station).stdout
    assert "already known" in again
    assert count(station, "pages") == pages == len(example_packs["KIR7"].manifest["pages"])
    listed = cli("packs", "list", "--lang", "en", home=station).stdout
    assert example_packs["KIR7"].manifest["pack_id"] in listed and "KIR7" in listed


def test_a_late_import_supersedes_only_older_packs(home: Path, tmp_path: Path) -> None:
    older = print_example_pack(home, tmp_path / "a")
    time.sleep(1.1)  # issue times are whole seconds
    newer = print_example_pack(home, tmp_path / "b")
    station = tmp_path / "station"
    cli("init", "--scan-station", home=station)
    pem = tmp_path / "keys.pem"
    pem.write_text(cli("keys", "export-public", home=home).stdout)
    cli("keys", "import-public", pem, home=station)
    cli("packs", "import", manifest_path(newer), home=station)
    cli("packs", "import", manifest_path(older), home=station)
    state = {
        r["pack_id"]: r["superseded_by"]
        for r in rows(
            station,
            "SELECT k.pack_id, s.superseded_by FROM packs k "
            "LEFT JOIN pack_supersessions s USING (pack_id)",
        )
    }
    assert state[newer.manifest["pack_id"]] is None
    assert state[older.manifest["pack_id"]] is None  # imported late: nothing newer supersedes


@pytest.mark.parametrize(
    "content",
    ['{"schema": "something-else/1"}', "not json at all", '{"schema": "downtime.pack-manifest/1"}'],
)
def test_a_bad_manifest_is_refused_clearly(station: Path, tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.manifest.json"
    path.write_text(content, encoding="utf-8")
    result = cli("packs", "import", path, home=station, ok=False)
    assert result.exit_code == 3
    assert "bad.manifest.json" in result.stderr
    assert count(station, "packs") == 0


def test_manifest_carries_form_codes(example_packs: dict[str, PrintedPack]) -> None:
    from downtime.forms import load_forms

    codes = {f.id: f.code for f in load_forms().values()}
    for page in example_packs["MED42"].manifest["pages"]:
        assert page["form_code"] == codes[page["form"]]
    assert json.loads(json.dumps(example_packs["MED42"].manifest))["key_id"]


def test_a_manifest_whose_ward_holds_a_format_character_is_refused(
    station: Path, example_packs: dict[str, PrintedPack], tmp_path: Path
) -> None:
    doc = json.loads(manifest_path(example_packs["MED42"]).read_text(encoding="utf-8"))
    doc["ward"] = "MED\u202e42"
    path = tmp_path / "bidi.manifest.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    result = cli("packs", "import", path, home=station, ok=False)
    assert result.exit_code != 0
    assert "ward contains U+202E RIGHT-TO-LEFT OVERRIDE at character 4" in result.stderr
    assert count(station, "pages") == 0


def forged(pack: PrintedPack, folder: Path, change: str) -> Path:
    """The pack's manifest changed after it was signed: ``patient`` (its first patient page
    filed under another patient), ``unsigned`` (the signature removed)."""
    doc = json.loads(manifest_path(pack).read_text(encoding="utf-8"))
    if change == "patient":
        page = next(p for p in doc["pages"] if p.get("patient"))
        other = next(
            p["patient"]
            for p in doc["pages"]
            if p.get("patient", page["patient"]) != page["patient"]
        )
        page["patient"] = other
    else:
        del doc["signature"]
    path = folder / f"{change}.manifest.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "reason"), [("patient", "bad-signature"), ("unsigned", "unsigned")]
)
def test_a_manifest_changed_after_it_was_signed_is_refused_and_the_others_imported(
    station: Path, example_packs: dict[str, PrintedPack], tmp_path: Path, change: str, reason: str
) -> None:
    bad = forged(example_packs["MED42"], tmp_path, change)
    good = manifest_path(example_packs["KIR7"])

    result = cli("packs", "import", "--lang", "en", bad, good, home=station, ok=False)

    assert result.exit_code == 3
    assert f"[{reason}]" in result.stderr and bad.name in result.stderr
    assert "KIR7" in result.stdout and "pages imported" in result.stdout
    wards = {r["ward"] for r in rows(station, "SELECT ward FROM packs")}
    assert wards == {"KIR7"}  # nothing of the changed manifest is believed
    refused = rows(station, "SELECT detail FROM audit_events WHERE action = 'pack.import-refused'")
    assert [r["detail"] for r in refused] == [f"{bad.name}: {reason}"]
    english = {"bad-signature": "the manifest's signature does not verify",
               "unsigned": "carries no signature"}[reason]  # fmt: skip
    assert f"refused: {bad.name}" in result.stderr and english in result.stderr
    swedish = cli("packs", "import", bad, home=station, ok=False).stderr
    words = {"bad-signature": "manifestets signatur stämmer inte",
             "unsigned": "manifestet är inte signerat"}[reason]  # fmt: skip
    assert f"avvisat: {bad.name}: {words} [{reason}]\n  Mer om felet (på engelska):" in swedish
    assert english in swedish, "the problem itself, in English below"
    assert "→ skriv ut avdelningens paket igen" in swedish or "→ använd inte det här" in swedish


def test_a_station_without_the_print_host_s_keys_is_told_to_import_them(
    example_packs: dict[str, PrintedPack], tmp_path: Path
) -> None:
    station = tmp_path / "bare"
    cli("init", "--scan-station", home=station)
    result = cli("packs", "import", manifest_path(example_packs["MED42"]), home=station, ok=False)
    assert result.exit_code == 3
    assert "[unknown-key]" in result.stderr and "keys import-public" in result.stderr
    assert count(station, "packs") == 0

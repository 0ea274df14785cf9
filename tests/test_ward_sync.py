"""Ward stations (issue 12): `downtime station sync` keeps each ward's newest pack from a folder
or the print host over HTTPS, only when its manifest's signature, every page code and the PDF's
SHA-256 check out with the keys the station holds and it is newer than the pack held;
`downtime station status` says what is held, for a nurse, in Swedish or English."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import Result
from conftest import EXAMPLE, ledger_rows, run_cli
from wardkit import Host, copy_host, held_files, make_host, make_station, manifest, serving

from downtime import files
from downtime.codes import decode, document_verifies
from downtime.codes.keys import KeyStore
from downtime.pack.manifest import manifest_payload
from downtime.ward.words import pack_line

TZ = ZoneInfo("Europe/Stockholm")


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Host:
    return make_host(tmp_path_factory.mktemp("ward-host"))


def sync(station: Path, *args: str | Path, ok: bool = True) -> Result:
    return run_cli("station", "sync", *args, home=station, ok=ok)


def outcomes(result: Result) -> dict[str, str]:
    return {line.split("\t")[0]: line.split("\t")[1] for line in result.stdout.splitlines()}


def held_pack(station: Path, ward: str = "MED42") -> str:
    doc = json.loads(run_cli("station", "status", "--json", home=station).stdout)
    return next(w["pack_id"] for w in doc["wards"] if w["ward"] == ward)


def test_a_station_keeps_its_wards_newest_pack_and_says_so_for_a_nurse(
    host: Host, tmp_path: Path
) -> None:
    station = make_station(tmp_path, host)
    first = sync(station, host.packs, "--ward", "MED42")
    assert outcomes(first) == {"MED42": "updated"}
    pack_id = manifest(host.packs, "MED42")["pack_id"]
    assert held_files(station) == [f"MED42.{pack_id}.manifest.json", f"MED42.{pack_id}.pdf"]
    assert (station / "ward-packs" / f"MED42.{pack_id}.pdf").read_bytes() == (
        host.packs / "MED42.pdf"
    ).read_bytes()
    known = ledger_rows(station / "ledger.sqlite3", "SELECT ward FROM packs")
    assert [r["ward"] for r in known] == ["MED42"]  # its pages are known: prints name them
    events = ledger_rows(
        station / "ledger.sqlite3",
        "SELECT care_unit FROM audit_events WHERE action = 'station.sync'",
    )
    assert [e["care_unit"] for e in events] == ["MED42"]

    again = sync(station, host.packs)  # no --ward: the wards held
    assert outcomes(again) == {"MED42": "current"}

    sv = run_cli("station", "status", home=station).stdout  # the site's language: Swedish
    day = r"\d\d:\d\d (i dag|i går|i morgon)"
    assert re.match(
        rf"MED42: paket från {day}, uppgifter \d+ (min|tim) gamla, gäller till {day}\n", sv
    )
    assert "  senast kontrollerat " in sv and ": aktuellt" in sv
    en = run_cli("station", "status", "--lang", "en", home=station).stdout
    day = r"\d\d:\d\d (today|yesterday|tomorrow)"
    assert re.match(rf"MED42: pack from {day}, data \d+ (min|h) old, valid until {day}\n", en)
    doc = json.loads(run_cli("station", "status", "--json", home=station).stdout)
    (ward,) = doc["wards"]
    assert doc["schema"] == "downtime.station-status/1"
    assert ward["pack_id"] == pack_id and ward["valid"] is True
    assert ward["last_sync"]["outcome"] == "current" and ward["prints_today"] == []


def _tamper_pdf(packs: Path) -> None:
    data = bytearray((packs / "MED42.pdf").read_bytes())
    data[len(data) // 2] ^= 0x20
    (packs / "MED42.pdf").write_bytes(bytes(data))


def _edit_manifest(packs: Path, change: Callable[[dict[str, object]], None]) -> None:
    doc = manifest(packs, "MED42")
    change(doc)
    (packs / "MED42.manifest.json").write_text(json.dumps(doc), "utf-8")


def _later(doc: dict[str, object]) -> None:
    doc["valid_until"] = "2099-01-01T00:00:00+01:00"


def _unsigned(doc: dict[str, object]) -> None:
    del doc["signature"]


def _other_patient(doc: dict[str, object]) -> None:
    pages = doc["pages"]
    assert isinstance(pages, list)
    first = next(p for p in pages if p["patient"])
    other = next(p for p in pages if p["patient"] and p["patient"] != first["patient"])
    first["patient"], other["patient"] = other["patient"], first["patient"]


TAMPERINGS: dict[str, tuple[Callable[[Path], None], str]] = {
    "pdf changed": (_tamper_pdf, "SHA-256"),
    "validity moved": (lambda p: _edit_manifest(p, _later), "signature does not verify"),
    "signature removed": (lambda p: _edit_manifest(p, _unsigned), "carries no signature"),
    "patient swapped": (lambda p: _edit_manifest(p, _other_patient), "signature does not"),
}


def test_a_tampered_pack_is_refused_and_the_pack_held_is_kept(host: Host, tmp_path: Path) -> None:
    station = make_station(tmp_path, host)
    sync(station, host.packs, "--ward", "MED42")
    old = held_pack(station)
    newer = copy_host(host, tmp_path / "newer")
    time.sleep(1.1)  # issue times are whole seconds: the next pack is newer
    run_cli("pack", EXAMPLE / "patients.csv", "--medications", EXAMPLE / "medications.csv",
            "--ward", "MED42", "-o", newer.packs / "MED42.pdf", home=newer.home)  # fmt: skip
    good = {n: (newer.packs / n).read_bytes() for n in ("MED42.pdf", "MED42.manifest.json")}

    for what, (tamper, said) in TAMPERINGS.items():
        tamper(newer.packs)
        refused = sync(station, newer.packs, "--ward", "MED42", ok=False)
        assert refused.exit_code == 1, (what, refused.output)
        assert outcomes(refused) == {"MED42": "refused"}, what
        assert said in refused.stdout, (what, refused.stdout)
        assert held_pack(station) == old, what
        assert len(held_files(station)) == 2, what
        for name, data in good.items():
            (newer.packs / name).write_bytes(data)
    refusals = ledger_rows(station / "ledger.sqlite3", "SELECT detail FROM audit_events"
                           " WHERE action = 'station.sync-refused'")  # fmt: skip
    assert len(refusals) == len(TAMPERINGS)
    status = run_cli("station", "status", "--lang", "en", home=station).stdout
    assert "a newer pack was REFUSED" in status

    assert outcomes(sync(station, newer.packs)) == {"MED42": "updated"}
    new = held_pack(station)
    assert new == manifest(newer.packs, "MED42")["pack_id"] != old
    assert held_files(station) == [f"MED42.{new}.manifest.json", f"MED42.{new}.pdf"]
    superseded = ledger_rows(station / "ledger.sqlite3",
                             "SELECT pack_id, superseded_by FROM pack_supersessions")  # fmt: skip
    assert [(r["pack_id"], r["superseded_by"]) for r in superseded] == [(old, new)]

    older = sync(station, host.packs)  # the first folder still holds the older pack
    assert outcomes(older) == {"MED42": "kept"} and "not newer" in older.stdout
    assert held_pack(station) == new


def test_a_station_without_the_hosts_keys_keeps_nothing(host: Host, tmp_path: Path) -> None:
    station = make_station(tmp_path, None)
    empty = run_cli("station", "status", "--lang", "en", home=station).stdout
    assert empty.startswith("this station holds no pack yet")
    result = sync(station, host.packs, ok=False)  # a first sync, no --ward: every ward
    assert result.exit_code == 1
    assert outcomes(result) == {"KIR7": "refused", "MED42": "refused"}
    assert "does not hold" in result.stdout and "keys import-public" in result.stdout
    assert held_files(station) == []


def test_a_source_out_of_reach_keeps_the_pack_held(host: Host, tmp_path: Path) -> None:
    station = make_station(tmp_path, host)
    sync(station, host.packs, "--ward", "KIR7")
    gone = sync(station, tmp_path / "not-mounted", ok=False)
    assert gone.exit_code == 75 and "is not there" in gone.stderr
    assert held_pack(station, "KIR7") == manifest(host.packs, "KIR7")["pack_id"]
    status = run_cli("station", "status", "--lang", "en", home=station).stdout
    assert "the print host could not be reached; the pack held is kept" in status
    with files.exclusive(station / "ward-packs" / ".sync.lock"):  # a sync running already
        busy = sync(station, host.packs, ok=False)
    assert busy.exit_code == 75 and "another sync of this station is running" in busy.stderr


def test_sync_over_https_with_the_hosts_token_and_certificate(host: Host, tmp_path: Path) -> None:
    own = copy_host(host, tmp_path / "own")
    station = make_station(tmp_path, host)
    with serving(own, tmp_path) as service:
        args = ("--token-file", service.token_file, "--ca-file", service.cert)
        done = sync(station, service.url, "--ward", "MED42", "--ward", "KIR7", *args)
        assert outcomes(done) == {"MED42": "updated", "KIR7": "updated"}
        assert held_pack(station) == manifest(host.packs, "MED42")["pack_id"]
        assert outcomes(sync(station, service.url, *args)) == {"KIR7": "current",
                                                                "MED42": "current"}  # fmt: skip

        wrong = tmp_path / "wrong-token"
        wrong.write_text("not-the-ward-station-token\n")
        refused = sync(station, service.url, "--token-file", wrong, "--ca-file", service.cert,
                       ok=False)  # fmt: skip
        assert refused.exit_code == 4
        assert "refused this station's token (HTTP 401)" in refused.stderr

        untrusted = sync(station, service.url, "--token-file", service.token_file, ok=False)
        assert untrusted.exit_code == 4 and "--ca-file" in untrusted.stderr

        plain = sync(station, service.url.replace("https:", "http:"), *args, ok=False)
        assert plain.exit_code == 3 and "not an https:// address" in plain.stderr

        _tamper_pdf(own.packs)  # a PDF the host's ledger did not record is never served
        absent = sync(station, service.url, "--ward", "MED42", *args)
        assert outcomes(absent) == {"MED42": "absent"}
        assert held_pack(station) == manifest(host.packs, "MED42")["pack_id"]  # kept
        index = _index(service.url, service.token_file, service.cert)
        assert [p["ward"] for p in index["packs"]] == ["KIR7"]
        assert index["keys"][0]["fingerprint_sha256"] and index["site"]
    log = service.log.read_text()
    assert "GET /v1/index 200" in log and "GET /v1/index 401" in log
    assert service.token_file.read_text().strip() not in log


def _index(url: str, token_file: Path, cert: Path) -> dict[str, object]:
    import ssl
    import urllib.request

    request = urllib.request.Request(
        url + "/v1/index",
        headers={"Authorization": "Bearer " + token_file.read_text().strip()},
    )
    context = ssl.create_default_context(cafile=str(cert))
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        return dict(json.loads(response.read()))


def test_the_nurses_line_says_when_a_pack_has_expired() -> None:
    now = datetime(2026, 11, 25, 9, 0, tzinfo=TZ)
    issued, until = now.replace(hour=6), now.replace(hour=18)
    held = (issued, issued - timedelta(minutes=30), until)
    assert pack_line("MED42", held, now=now, tz=TZ, lang="en") == (
        "MED42: pack from 06:00 today, data 3 h old, valid until 18:00 today"
    )
    assert pack_line("MED42", held, now=now, tz=TZ, lang="sv") == (
        "MED42: paket från 06:00 i dag, uppgifter 3 tim gamla, gäller till 18:00 i dag"
    )
    late = now + timedelta(days=1)
    assert pack_line("MED42", held, now=late, tz=TZ, lang="en").startswith(
        "MED42: pack from 06:00 yesterday, data 27 h old, EXPIRED at 18:00 yesterday"
    )
    assert pack_line("KIR7", None, now=now, tz=TZ, lang="sv").startswith("KIR7: inget paket")


def test_the_host_never_serves_without_a_usable_token(host: Host, tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_text("abc\n")
    result = run_cli("station", "serve", "--packs", host.packs, "--cert", short, "--key", short,
                     "--token-file", short, home=host.home, ok=False)  # fmt: skip
    assert result.exit_code == 4 and "at least 16" in result.stderr


def test_a_manifest_carries_each_pages_code_and_bed_and_is_signed_whole(host: Host) -> None:
    doc = manifest(host.packs, "MED42")
    keys = KeyStore.open(host.home / "keys").verification_keys()
    for page in doc["pages"]:
        assert decode(page["code"], keys).page_uid == page["page_uid"]
    beds = {p["bed"] for p in doc["pages"] if p["form"] not in ("cover", "admission")}
    assert "" not in beds and len(beds) > 1
    assert {p["bed"] for p in doc["pages"] if p["form"] in ("cover", "admission")} == {""}
    ok, key_id = document_verifies(manifest_payload(doc), doc["signature"], keys)
    assert ok and key_id == doc["key_id"]
    pretty = json.loads(json.dumps(doc, indent=2))  # any reader rebuilds the bytes signed
    assert document_verifies(manifest_payload(pretty), doc["signature"], keys)[0]
    moved = manifest_payload(doc | {"ward": "KIR7"})
    assert not document_verifies(moved, doc["signature"], keys)[0]


def test_a_continuation_pack_in_the_host_s_folder_never_replaces_the_ward_s_pack(
    host: Host, tmp_path: Path
) -> None:
    """Day two: the host prints the ward's next administration records into the folder it
    shares. A ward station keeps the whole pack (its journals, its admission forms), with the
    continuation beside it; a scan station that imports the continuation's manifest learns it
    continues that pack."""
    mine = copy_host(host, tmp_path)
    station = make_station(tmp_path, mine)
    assert outcomes(sync(station, mine.packs, "--ward", "MED42")) == {"MED42": "updated"}
    full = manifest(mine.packs, "MED42")["pack_id"]
    time.sleep(1.1)  # issue times are whole seconds
    run_cli("pack", "--continue", "--ward", "MED42", "-o", mine.packs / "MED42-day2.pdf",
            home=mine.home)  # fmt: skip
    day2 = manifest(mine.packs, "MED42-day2")
    assert day2["continues"]["pack_id"] == full and day2["continues"]["mar_hours"] == 24
    assert datetime.fromisoformat(day2["continues"]["mar_from"]) > datetime.fromisoformat(
        day2["issued_at"]
    )

    again = sync(station, mine.packs).stdout.splitlines()
    assert [line.split("\t")[1] for line in again] == ["current", "continuation-added"]
    assert held_pack(station) == full

    scanning = make_station(tmp_path / "scan", mine)
    run_cli("packs", "import", mine.packs / "MED42.manifest.json", home=scanning)
    run_cli("packs", "import", mine.packs / "MED42-day2.manifest.json", home=scanning)
    db = scanning / "ledger.sqlite3"
    assert ledger_rows(db, "SELECT pack_id FROM pack_supersessions") == []
    [link] = ledger_rows(db, "SELECT pack_id, continues FROM pack_continuations")
    assert (link["pack_id"], link["continues"]) == (day2["pack_id"], full)

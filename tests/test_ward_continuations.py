"""Continuation packs on a ward station (issue 12, long outages): the station holds no census
and no private key, so it prints the continuations the print host signed and made with the
pack. `station sync` brings them with the ward's pack (from a folder or over HTTPS, each checked
like a pack), `print --continue` prints the next one not printed here, `pack --continue` on
the station writes it to a file, and each is recorded as printed, so that the central report
counts it once the station's prints are imported."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from conftest import EXAMPLE, ledger_rows, run_cli
from wardkit import (
    Cups,
    Host,
    copy_host,
    held_files,
    make_host,
    make_station,
    manifest,
    own_cups,
    serving,
)

from downtime.ward.pdf import page_count


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Host:
    """A print host whose folder holds MED42's pack and two continuations (day 2, day 3)."""
    made = make_host(tmp_path_factory.mktemp("continuing-host"))
    for day in ("day2", "day3"):
        time.sleep(1.1)  # issue times are whole seconds
        run_cli("pack", "--continue", "--ward", "MED42", "-o", made.packs / f"MED42-{day}.pdf",
                home=made.home)  # fmt: skip
    return made


@pytest.fixture(scope="module")
def cups() -> Iterator[Cups]:
    with own_cups() as running:
        yield running


def sync(station: Path, *args: str | Path, ok: bool = True) -> Result:
    return run_cli("station", "sync", *args, home=station, ok=ok)


def lines(result: Result) -> list[list[str]]:
    return [line.split("\t") for line in result.stdout.splitlines()]


def status(station: Path) -> dict[str, object]:
    doc = json.loads(run_cli("station", "status", "--json", home=station).stdout)
    return dict(next(w for w in doc["wards"] if w["ward"] == "MED42"))


def test_a_station_keeps_the_continuations_of_its_pack_and_prints_them_in_turn(
    host: Host, cups: Cups, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUPS_SERVER", cups.server)
    day2, day3 = manifest(host.packs, "MED42-day2"), manifest(host.packs, "MED42-day3")
    full = manifest(host.packs, "MED42")["pack_id"]
    assert day2["continues"]["pack_id"] == full and day3["continues"]["pack_id"] == day2["pack_id"]

    station = make_station(tmp_path, host)
    done = sync(station, host.packs, "--ward", "MED42")
    assert lines(done) == [
        ["MED42", "updated", lines(done)[0][2]],
        ["MED42", "continuation-added", lines(done)[1][2]],
        ["MED42", "continuation-added", lines(done)[2][2]],
    ]
    held = status(station)
    assert held["pack_id"] == full  # a continuation never replaces the ward's pack
    assert [(c["pack_id"], c["printed"]) for c in held["continuations"]] == [
        (day2["pack_id"], False),
        (day3["pack_id"], False),
    ]
    assert [c["mar_from"] for c in held["continuations"]] == [
        day2["continues"]["mar_from"],
        day3["continues"]["mar_from"],
    ]
    said = run_cli("station", "status", "--lang", "en", home=station).stdout
    assert "continuation 1: administration record" in said
    assert said.count("not printed yet (downtime print --ward MED42 --continue)") == 2
    assert (
        "fortsättning 2: administreringslista" in run_cli("station", "status", home=station).stdout
    )
    assert lines(sync(station, host.packs)) == [["MED42", "current", "the pack held is the newest"]]

    first = run_cli("print", "--ward", "MED42", "--continue", "--printer", cups.printer,
                    "--lang", "en", home=station).stdout  # fmt: skip
    assert (
        f"pack {day2['pack_id']}" in first and "continuation: administration record from" in first
    )
    cups.wait_done()
    assert page_count(cups.out.read_bytes()) == len(day2["pages"])
    second = run_cli("print", "--ward", "MED42", "--continue", "--printer", cups.printer,
                     "--lang", "en", home=station).stdout  # fmt: skip
    assert f"pack {day3['pack_id']}" in second

    spent = run_cli("print", "--ward", "MED42", "--continue", "--printer", cups.printer,
                    "--lang", "en", home=station, ok=False)  # fmt: skip
    assert spent.exit_code == 3
    assert "was printed here already" in spent.stderr and day2["pack_id"] in spent.stderr
    again = run_cli("print", "--ward", "MED42", "--pack", day2["pack_id"], "--printer",
                    cups.printer, "--lang", "en", home=station).stdout  # fmt: skip
    assert f"pack {day2['pack_id']}" in again
    wrong = run_cli("print", "--ward", "MED42", "--pack", "0123456789abcdef", "--lang", "en",
                    home=station, ok=False)  # fmt: skip
    assert wrong.exit_code == 3 and "holds no pack 0123456789abcdef for MED42" in wrong.stderr
    assert full in wrong.stderr

    printed = ledger_rows(station / "ledger.sqlite3",
                          "SELECT pack_id FROM prints ORDER BY printed_at, rowid")  # fmt: skip
    assert [r["pack_id"] for r in printed] == [day2["pack_id"], day3["pack_id"], day2["pack_id"]]
    assert [c["printed"] for c in status(station)["continuations"]] == [True, True]
    # the station's ledger knows them as continuations: they superseded the ward's pack nowhere
    db = station / "ledger.sqlite3"
    assert ledger_rows(db, "SELECT * FROM pack_supersessions") == []
    assert len(ledger_rows(db, "SELECT * FROM pack_continuations")) == 2


def test_pack_continue_on_a_ward_station_writes_the_next_one_and_the_report_counts_it(
    host: Host, tmp_path: Path
) -> None:
    day2 = manifest(host.packs, "MED42-day2")
    station = make_station(tmp_path, host)
    sync(station, host.packs, "--ward", "MED42")
    out = tmp_path / "out" / "MED42-day2.pdf"
    out.parent.mkdir()
    done = run_cli("pack", "--continue", "--ward", "MED42", "-o", out, "--lang", "en",
                   home=station).stdout  # fmt: skip
    assert f"pack {day2['pack_id']}" in done and "printer file" in done
    assert hashlib.sha256(out.read_bytes()).hexdigest() == day2["pdf_sha256"]
    assert (out.stat().st_mode & 0o777) == 0o600
    assert (
        json.loads(out.with_name("MED42-day2.manifest.json").read_text())["pack_id"]
        == (day2["pack_id"])
    )
    refused = run_cli("pack", "--continue", "--ward", "MED42", "-o", out.parent,
                      "--admission-forms", "2", home=station, ok=False)  # fmt: skip
    assert refused.exit_code == 2 and "--admission-forms" in refused.stderr
    day3 = out / "day3.pdf"  # in a "folder" that is a file
    nowhere = run_cli("pack", "--continue", "--ward", "MED42", "-o", day3, "--lang", "en",
                      home=station, ok=False)  # fmt: skip
    assert nowhere.exit_code == 3 and "cannot be written" in nowhere.stderr
    assert "Traceback" not in nowhere.stderr
    outcomes_here = ledger_rows(station / "ledger.sqlite3",
                                "SELECT outcome FROM print_outcomes ORDER BY at")  # fmt: skip
    assert [r["outcome"] for r in outcomes_here] == ["sent", "failed"]

    export = tmp_path / "prints.json"
    run_cli("prints", "export", "-o", export, home=station)
    central = copy_host(host, tmp_path / "central")
    run_cli("prints", "import", export, home=central.home)
    report = json.loads(run_cli("report", "--format", "json", "--all-packs",
                                home=central.home).stdout)  # fmt: skip
    scoped = {p["pack_id"]: p for p in report["scope"]["packs"]}
    assert scoped[day2["pack_id"]]["printed_pages"] == len(day2["pages"])
    missing = {m["serial"] for m in report["missing"]}
    assert {p["form_serial"] for p in day2["pages"]} <= missing


def test_a_station_without_continuations_says_where_they_come_from(
    host: Host, tmp_path: Path
) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("MED42.pdf", "MED42.manifest.json"):
        (bare / name).write_bytes((host.packs / name).read_bytes())
    station = make_station(tmp_path, host)
    assert lines(sync(station, bare, "--ward", "MED42"))[0][1] == "updated"
    assert status(station)["continuations"] == []
    assert "no continuation held" in run_cli("station", "status", "--lang", "en",
                                              home=station).stdout  # fmt: skip
    refused = run_cli("print", "--ward", "MED42", "--continue", "--lang", "en", home=station,
                      ok=False)  # fmt: skip
    assert refused.exit_code == 3
    assert "holds no continuation of MED42's pack" in refused.stderr
    assert "continuations_ahead" in refused.stderr and "pack --continue" in refused.stderr
    sv = run_cli("print", "--ward", "MED42", "--continue", home=station, ok=False)
    assert "inget fortsättningspaket" in sv.stderr
    from_folder = run_cli("print", "--ward", "MED42", "--continue", "--from", host.packs,
                          home=station, ok=False)  # fmt: skip
    assert from_folder.exit_code == 2


def test_a_changed_continuation_is_refused_and_what_is_held_stays(
    host: Host, tmp_path: Path
) -> None:
    mine = copy_host(host, tmp_path / "own")
    doc = manifest(mine.packs, "MED42-day2")
    doc["continues"]["mar_from"] = "2030-01-01T00:00:00+00:00"  # another window, same signature
    (mine.packs / "MED42-day2.manifest.json").write_text(json.dumps(doc))
    station = make_station(tmp_path, mine)
    done = sync(station, mine.packs, "--ward", "MED42", ok=False)
    assert done.exit_code == 1
    assert lines(done)[0][:2] == ["MED42", "updated"]
    assert [line[1] for line in lines(done)[1:]] == ["continuation-refused"]  # day 3: not its turn
    assert "signature does not verify" in lines(done)[1][2]
    assert status(station)["continuations"] == []
    events = ledger_rows(
        station / "ledger.sqlite3",
        "SELECT object_id FROM audit_events WHERE action = 'station.sync-refused'",
    )
    assert [e["object_id"] for e in events] == [doc["pack_id"]]

    (mine.packs / "MED42-day2.manifest.json").write_bytes(
        (host.packs / "MED42-day2.manifest.json").read_bytes()
    )
    mended = sync(station, mine.packs, "--ward", "MED42")
    assert [line[1] for line in lines(mended)] == ["current", "continuation-added",
                                                  "continuation-added"]  # fmt: skip


def test_continuations_come_over_https_and_go_with_their_pack(host: Host, tmp_path: Path) -> None:
    own = copy_host(host, tmp_path / "own")
    station = make_station(tmp_path, host)
    with serving(own, tmp_path) as service:
        args = ("--token-file", service.token_file, "--ca-file", service.cert)
        done = sync(station, service.url, "--ward", "MED42", *args)
        assert [line[1] for line in lines(done)] == ["updated", "continuation-added",
                                                    "continuation-added"]  # fmt: skip
        assert len(status(station)["continuations"]) == 2

        time.sleep(1.1)
        run_cli("pack", EXAMPLE / "patients.csv", "--medications", EXAMPLE / "medications.csv",
                "--ward", "MED42", "-o", own.packs / "MED42.pdf", home=own.home)  # fmt: skip
        newer = sync(station, service.url, *args)
        assert [line[1] for line in lines(newer)] == ["updated"]
    new_pack = manifest(own.packs, "MED42")["pack_id"]
    assert status(station)["pack_id"] == new_pack and status(station)["continuations"] == []
    assert held_files(station) == [f"MED42.{new_pack}.manifest.json", f"MED42.{new_pack}.pdf"]


def test_continuations_made_ahead_count_once_a_station_printed_them(
    tmp_path: Path, cups: Cups, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The print host makes two continuations with the pack (`--ahead 2`); the ward station
    prints the first on day two; the central report counts its pages from the station's print
    records, and never the second's, which nobody printed."""
    monkeypatch.setenv("CUPS_SERVER", cups.server)
    home, packs = tmp_path / "host", tmp_path / "packs"
    run_cli("pack", EXAMPLE / "patients.csv", "--medications", EXAMPLE / "medications.csv",
            "--ward", "MED42", "--ahead", "2", "-o", packs / "MED42.pdf", home=home)  # fmt: skip
    keys = tmp_path / "host-keys.pem"
    keys.write_text(run_cli("keys", "export-public", home=home).stdout)
    first, second = manifest(packs, "MED42.ahead-1"), manifest(packs, "MED42.ahead-2")
    assert first["continues"]["ahead"] is True and second["continues"]["ahead"] is True

    station = make_station(tmp_path, Host(home, packs, keys))
    done = sync(station, packs, "--ward", "MED42")
    assert [line[1] for line in lines(done)] == ["updated", "continuation-added",
                                                "continuation-added"]  # fmt: skip
    held = status(station)["continuations"]
    assert [c["pack_id"] for c in held] == [first["pack_id"], second["pack_id"]]  # by window

    def missing() -> set[str]:
        report = json.loads(run_cli("report", "--format", "json", home=home).stdout)
        return {m["serial"] for m in report["missing"]}

    serials = {p["form_serial"] for p in first["pages"]}
    later = {p["form_serial"] for p in second["pages"]}
    assert not (serials | later) & missing()  # made ahead, printed nowhere yet
    printed = run_cli("print", "--ward", "MED42", "--continue", "--printer", cups.printer,
                      "--lang", "en", home=station).stdout  # fmt: skip
    assert f"pack {first['pack_id']}" in printed
    export = tmp_path / "prints.json"
    run_cli("prints", "export", "-o", export, home=station)
    run_cli("prints", "import", export, home=home)
    now_missing = missing()
    assert serials <= now_missing and not later & now_missing

"""Voiding the unused pages of whole packs at once (issue 12): `downtime void --pack ID` or
`--ward W --before TIME`, listed first and confirmed, a ward's newest pack only when told, each
page audited; pages returned are never voided."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from backends import copy_home
from click.testing import CliRunner, Result
from conftest import print_example_pack
from scankit import count, rows
from test_report import Printed, Scanned, printed, report_json, scanned, station  # noqa: F401

from downtime.cli import main

pytestmark = pytest.mark.backends


def void(home: Path, *args: str, answer: str | None = None) -> Result:
    return CliRunner().invoke(
        main, ["--home", str(home), "void", "--lang", "en", *args], input=answer
    )


def unreturned(home: Path, pack_id: str) -> set[str]:
    return {
        r["serial"]
        for r in rows(
            home,
            "SELECT serial FROM pages p WHERE pack_id = ? AND NOT EXISTS (SELECT 1 FROM captures"
            " c WHERE c.page_uid = p.page_uid)",
            (pack_id,),
        )
    }


def test_a_wards_newest_pack_is_voided_only_when_told_and_confirmed(
    station: Path,  # noqa: F811
    printed: Printed,  # noqa: F811
) -> None:
    pack_id = printed.med.manifest["pack_id"]
    unused = unreturned(station, pack_id)
    audit = count(station, "audit_events")

    refused = void(station, "--pack", pack_id, "--reason", "outage over")
    assert refused.exit_code == 3 and "newest pack" in refused.stderr
    assert "--even-current" in refused.stderr

    declined = void(station, "--pack", pack_id, "--reason", "over", "--even-current", answer="n\n")
    assert declined.exit_code == 1 and "nothing voided" in declined.stderr
    assert {line.split("\t")[1] for line in declined.stdout.splitlines()} == unused
    assert count(station, "voids") == 0 and count(station, "audit_events") == audit

    done = void(station, "--pack", pack_id, "--reason", "over", "--even-current", answer="y\n")
    assert done.exit_code == 0, done.output
    voided = {line.split("\t")[1] for line in done.stdout.splitlines() if line.startswith("voided")}
    assert voided == unused
    assert count(station, "voids") == len(unused)
    events = rows(station, "SELECT care_unit FROM audit_events WHERE action = 'page.void'")
    assert [e["care_unit"] for e in events] == ["MED42"] * len(unused)
    med = [w for w in report_json(station)["wards"] if w["ward"] == "MED42"]
    assert med[0]["totals"]["missing"] == 0 and med[0]["totals"]["returned"] > 0

    again = void(station, "--pack", pack_id, "--reason", "over", "--even-current", "--yes")
    assert again.exit_code == 0 and "nothing to void" in again.stdout


def test_a_superseded_pack_is_chosen_by_ward_and_time(printed: Printed, tmp_path: Path) -> None:  # noqa: F811
    home = copy_home(printed.home, tmp_path / "home")
    first = printed.kir.manifest["pack_id"]
    second = print_example_pack(home, tmp_path / "second", ward="KIR7").manifest["pack_id"]
    time.sleep(1.1)  # issue times are kept to the second: the next pack is issued after
    newer = print_example_pack(home, tmp_path / "newer", ward="KIR7").manifest
    cut = newer["issued_at"]
    result = void(home, "--ward", "KIR7", "--before", cut, "--reason", "superseded", "--yes")
    assert result.exit_code == 0, result.output
    voided_packs = {
        r["pack_id"]
        for r in rows(home, "SELECT DISTINCT pack_id FROM pages JOIN voids USING (page_uid)")
    }
    assert voided_packs == {first, second}
    assert count(home, "voids") == len(unreturned(home, first) | unreturned(home, second))


def test_bad_choices_are_refused_and_nothing_is_voided(
    station: Path,  # noqa: F811
    printed: Printed,  # noqa: F811
) -> None:
    serial = next(iter(unreturned(station, printed.med.manifest["pack_id"])))
    for args, code, says in [
        (("--ward", "MED42", "--reason", "x"), 3, "--ward and --before go together"),
        (("--pack", "NOPACK", "--reason", "x", "--yes"), 3, "no pack NOPACK"),
        ((serial, "--pack", "NOPACK", "--reason", "x"), 2, "either SERIALS or the packs"),
        (("--reason", "x"), 2, "either SERIALS or the packs"),
        (("--ward", "XX", "--before", "2026-01-01T00:00", "--reason", "x"), 3, "no pack issued"),
        (("--ward", "MED42", "--before", "yesterday", "--reason", "x"), 3, "not an ISO 8601"),
    ]:
        result = void(station, *args)
        assert result.exit_code == code, (args, result.output)
        assert says in result.output, (args, result.output)
    assert count(station, "voids") == 0

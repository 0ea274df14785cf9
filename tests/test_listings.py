"""Listings: every one speaks JSON with a versioned schema, and shows times in the site's time
zone, in its table and its JSON alike."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import PrintedPack, print_example_pack, run_cli

from downtime.cli import main
from downtime.cli.listing import DOCTOR, FORMS, KEYS, OUTAGE, PACKS, QUARANTINE, USERS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?([+-]\d\d:\d\d|Z)")
TOKYO = "+09:00"  # Asia/Tokyo: no daylight saving time, and far from UTC and from Sweden


@pytest.fixture(scope="module")
def tokyo(tmp_path_factory: pytest.TempPathFactory) -> PrintedPack:
    """A site in Tokyo time with a pack, a user, an outage and a set-aside file."""
    base = tmp_path_factory.mktemp("tokyo")
    home = base / "home"
    home.mkdir(mode=0o700)
    (home / "site.toml").write_text('site = "Tokyo"\ntimezone = "Asia/Tokyo"\n', "utf-8")
    run_cli("init", home=home)
    printed = print_example_pack(home, base / "out")
    added = CliRunner().invoke(
        main,
        ["--home", str(home), "users", "add", "anna", "--role", "clerk", "--password-stdin"],
        input="a long password\n",
    )
    assert added.exit_code == 0, added.output
    run_cli("outage", "start", "--at", "2026-11-25T06:40:00+01:00", home=home)
    (base / "empty.png").write_bytes(b"")
    run_cli("scan", "--no-ocr", "--jobs", "1", base / "empty.png", home=home)
    return printed


def document(home: Path, *command: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(run_cli(*command, "--json", home=home).stdout)
    return found


def offsets(text: str) -> set[str]:
    return {m.group(1) for m in ISO.finditer(text)}


@pytest.mark.parametrize(
    "command",
    [
        ("keys", "list"),
        ("packs", "list"),
        ("users", "list"),
        ("outage", "show"),
        ("quarantine", "list"),
        ("review", "list"),
    ],
)
def test_tables_and_json_show_times_in_the_sites_time_zone(
    tokyo: PrintedPack, command: tuple[str, ...]
) -> None:
    table = run_cli(*command, home=tokyo.home).stdout
    as_json = document(tokyo.home, *command)

    assert offsets(json.dumps(as_json)) <= {TOKYO}
    assert as_json["timezone"] == "Asia/Tokyo"
    assert offsets(table) <= {TOKYO}
    if command != ("review", "list"):  # nothing is held for a person here
        assert offsets(table) == {TOKYO}, table


def test_the_outage_start_given_in_another_zone_is_shown_in_the_sites(
    tokyo: PrintedPack,
) -> None:
    shown = document(tokyo.home, "outage", "show")

    assert shown["schema"] == OUTAGE
    assert [e["kind"] for e in shown["events"]] == ["start"]
    assert shown["events"][0]["at"] == "2026-11-25T14:40:00+09:00", "06:40 in Stockholm"
    assert shown["latest"] == {"start": "2026-11-25T14:40:00+09:00", "end": None}
    table = run_cli("outage", "show", "--lang", "en", home=tokyo.home).stdout
    assert "latest outage\t2026-11-25T14:40:00+09:00\tnot ended" in table


def test_keys_list_json(tokyo: PrintedPack) -> None:
    shown = document(tokyo.home, "keys", "list")
    table = run_cli("keys", "list", "--lang", "en", home=tokyo.home).stdout.splitlines()

    assert shown["schema"] == KEYS
    (key,) = shown["keys"]
    assert key["status"] == "active" and key["signs"] is True and key["retired_at"] is None
    assert key["pages_signed"] == len(tokyo.manifest["pages"])
    assert table[1].split("\t")[:3] == [key["key_id"], "active", key["created_at"]]


def test_packs_list_json(tokyo: PrintedPack) -> None:
    shown = document(tokyo.home, "packs", "list")
    manifest = tokyo.manifest

    assert shown["schema"] == PACKS
    (pack,) = shown["packs"]
    assert pack["pack_id"] == manifest["pack_id"] and pack["ward"] == "MED42"
    assert pack["site"] == "Tokyo" and pack["census_source"] == "patients.csv"
    assert pack["pages"] == len(manifest["pages"])
    assert pack["current"] is True and pack["superseded_by"] is None
    issued = datetime.fromisoformat(pack["issued_at"])
    assert issued == datetime.fromisoformat(manifest["issued_at"]), "the same instant"


def test_users_quarantine_and_forms_list_json(tokyo: PrintedPack) -> None:
    users = document(tokyo.home, "users", "list")
    quarantine = document(tokyo.home, "quarantine", "list")
    forms = document(tokyo.home, "forms", "list")

    assert users["schema"] == USERS
    assert [(u["name"], u["role"], u["active"]) for u in users["users"]] == [
        ("anna", "clerk", True)
    ]
    assert quarantine["schema"] == QUARANTINE
    (item,) = quarantine["items"]
    assert item["reason"] == "empty-file" and item["source"].endswith("empty.png")
    assert item["resolved"] is None
    assert forms["schema"] == FORMS and forms["lang"] == "sv"
    mar = next(f for f in forms["forms"] if f["id"] == "mar")
    assert mar == {
        "id": "mar",
        "code": 3,
        "version": 1,
        "subject": "patient",
        "origin": "built-in",
        "title": "Administreringslista",
    }
    english = json.loads(run_cli("forms", "list", "--lang", "en", "--json", home=tokyo.home).stdout)
    assert "Medication administration record" in [f["title"] for f in english["forms"]]


def test_every_listing_schema_is_documented_in_the_readme() -> None:
    schemas = (DOCTOR, PACKS, KEYS, FORMS, OUTAGE, QUARANTINE, USERS, "downtime.review-items/1")
    for schema in schemas:
        assert re.fullmatch(r"downtime\.[a-z-]+/\d+", schema)
        assert f"| `{schema}` |" in README, f"{schema} is in README's table of schemas"

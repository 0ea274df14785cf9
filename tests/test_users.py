"""`downtime users` and what the review station builds on: Argon2id hashes in the ledger, the
login check, audit events, the failed-login throttle, and the station's words in both
languages. (The station itself, in a browser: test_station.py.)"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from backends import ledger_dump, open_ledger
from click.testing import CliRunner
from conftest import ledger_rows, run_cli

from downtime.app.users import check_login
from downtime.cli import main
from downtime.ledger import verify_audit_chain
from downtime.station.sessions import Sessions, Throttle
from downtime.station.words import catalogue

pytestmark = pytest.mark.backends
PASSWORD = "en-lang-fras-2026"


def add(home: Path, name: str, role: str, password: str = PASSWORD, *, ok: bool = True) -> str:
    result = CliRunner().invoke(
        main,
        [
            "--home",
            str(home),
            "users",
            "add",
            name,
            "--role",
            role,
            "--password-stdin",
            "--lang",
            "en",
        ],
        input=f"{password}\n",
    )
    assert (result.exit_code == 0) == ok, result.stderr
    return result.stdout + result.stderr


def users_table(home: Path) -> list[dict[str, object]]:
    return [dict(r) for r in ledger_rows(home, "SELECT * FROM users")]


def test_a_user_is_added_with_an_argon2id_hash_and_never_the_password(home: Path) -> None:
    add(home, "anna", "clerk")

    (user,) = users_table(home)
    assert (user["name"], user["role"]) == ("anna", "clerk")
    assert str(user["password_hash"]).startswith("$argon2id$")
    assert PASSWORD.encode() not in ledger_dump(home)
    assert check_login(home, "anna", PASSWORD).user is not None
    assert check_login(home, "anna", PASSWORD + "x").user is None
    assert check_login(home, "nobody", PASSWORD).why == "unknown-or-wrong"


def test_the_password_is_asked_twice_on_the_terminal(home: Path) -> None:
    differ = CliRunner().invoke(
        main,
        ["--home", str(home), "users", "add", "bo", "--role", "admin", "--lang", "en"],
        input=f"{PASSWORD}\n{PASSWORD}!\n{PASSWORD}\n{PASSWORD}\n",
    )

    assert differ.exit_code == 0, differ.stderr
    assert "password" in differ.stderr and PASSWORD not in differ.stdout + differ.stderr
    assert [u["role"] for u in users_table(home)] == ["admin"]


def test_list_and_disable_and_every_change_is_audited(home: Path) -> None:
    add(home, "anna", "clerk")
    add(home, "kim", "confirmer")

    run_cli("users", "disable", "anna", home=home)
    again = run_cli("users", "disable", "anna", "--lang", "en", home=home)
    listed = run_cli("users", "list", "--lang", "en", home=home).stdout
    as_json = run_cli("users", "list", "--json", home=home).stdout

    assert "disabled already" in again.stdout
    assert listed.splitlines()[0].startswith("anna") and "disabled" in listed.splitlines()[0]
    assert "active" in listed.splitlines()[1]
    assert '"active": false' in as_json and "password" not in as_json
    document = json.loads(as_json)
    assert document["schema"] == "downtime.users/1"
    assert [(u["name"], u["role"], u["active"]) for u in document["users"]] == [
        ("anna", "clerk", False),
        ("kim", "confirmer", True),
    ]
    anna = document["users"][0]
    assert anna["disabled_at"] >= anna["added_at"]
    assert datetime.fromisoformat(anna["added_at"]).tzinfo is not None
    assert check_login(home, "anna", PASSWORD).why == "disabled"
    events = ledger_rows(
        home,
        "SELECT action, object_id FROM audit_events WHERE action LIKE 'users.%' ORDER BY seq",
    )
    assert [(e["action"], e["object_id"]) for e in events] == [
        ("users.add", "anna"),
        ("users.add", "kim"),
        ("users.disable", "anna"),
    ]
    with open_ledger(home) as ledger:
        assert verify_audit_chain(ledger) is None


def test_bad_names_short_passwords_and_taken_names_are_refused(home: Path) -> None:
    add(home, "anna", "clerk")

    assert "cannot be a user name" in add(home, "Anna Ek", "clerk", ok=False)
    assert "at least 10 characters" in add(home, "bo", "clerk", "kort", ok=False)
    assert "already a user" in add(home, "anna", "admin", ok=False)
    assert [u["name"] for u in users_table(home)] == ["anna"]


def test_the_throttle_refuses_after_the_limit_until_the_window_passes() -> None:
    now = [1000.0]
    throttle = Throttle(3, 60.0, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.wait_s("dora") == 0
        throttle.failed("dora")

    assert throttle.wait_s("dora") == 60.0
    assert throttle.wait_s("bo") == 0, "per key"
    now[0] += 61
    assert throttle.wait_s("dora") == 0
    throttle.failed("dora")
    throttle.succeeded("dora")
    assert throttle.wait_s("dora") == 0


def test_a_session_ends_after_its_idle_time_and_a_login_makes_a_new_one() -> None:
    now = [0.0]
    sessions = Sessions(idle_s=30 * 60, clock=lambda: now[0])
    anonymous = sessions.new("sv")
    user = sessions.log_in(anonymous, "anna", "clerk")

    assert sessions.get(anonymous.token) is None, "the login page's token does not log in"
    assert user.token != anonymous.token and user.csrf != anonymous.csrf
    now[0] += 29 * 60
    assert sessions.get(user.token) is user, "in use: the idle time starts again"
    now[0] += 29 * 60
    assert sessions.get(user.token) is user
    now[0] += 31 * 60
    assert sessions.get(user.token) is None


def test_the_station_speaks_swedish_and_english_with_the_same_words() -> None:
    words = catalogue()

    assert set(words) == {"sv", "en"}
    assert set(words["sv"]) == set(words["en"])
    assert set(words["sv"]["reasons"]) == set(words["en"]["reasons"])

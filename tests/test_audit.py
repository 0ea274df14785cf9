"""`downtime audit verify` (issue 11): the hash-chained audit trail says exactly which event was
edited, which are missing, which are out of order; and the chain head a report printed catches
a trail rewritten wholesale. Tampering is done the way someone with the file or the database
would: statements on the ledger itself. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest
from backends import ledger_rows, ledger_target, open_ledger
from backends import tamper as tamper_with
from click.testing import CliRunner, Result

from downtime.cli import main
from downtime.ledger import AuditEvent, driver_errors, write_audit
from downtime.ledger.audit import GENESIS, chain_hash
from downtime.ledger.postgres import connect

pytestmark = pytest.mark.backends
EVENTS = 6
COLUMNS = "at, actor, station, action, care_unit, patient_system, patient_value, object_type,"
COLUMNS += " object_id, detail"


def run(home: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--home", str(home), *args])


def verify(home: Path, *args: str, code: int) -> dict[str, Any]:
    result = run(home, "audit", "verify", "--json", *args)
    assert result.exit_code == code, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    assert document["schema"] == "downtime.audit-verify/1"
    assert document["intact"] is (code == 0)
    return document


def findings(home: Path, *args: str) -> list[tuple[int | None, str]]:
    return [(f["seq"], f["kind"]) for f in verify(home, *args, code=1)["findings"]]


def tamper(home: Path, *statements: str) -> None:
    for sql in statements:
        tamper_with(ledger_target(home), sql)


@pytest.fixture
def audited(home: Path) -> Path:
    with open_ledger(home) as ledger:
        for n in range(EVENTS):
            event = AuditEvent("test", f"event {n + 1}")
            write_audit(ledger, [event], actor="tester", station="host")
    return home


def test_an_intact_trail_passes_and_names_its_length_and_head(audited: Path) -> None:
    home = audited
    document = verify(home, code=0)
    assert document["events"] == EVENTS and document["findings"] == []
    last = tamper_free_head(home)
    assert document["head"] == last
    text = run(home, "audit", "verify", "--lang", "en")
    assert text.exit_code == 0
    assert f"audit trail intact: {EVENTS} events, head {last[:16]}" in text.stderr
    assert verify(home, "--expect-head", last[:16], code=0)["intact"]


def tamper_free_head(home: Path) -> str:
    [head] = ledger_rows(home, "SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1")
    return str(head[0])


def test_the_database_itself_refuses_to_change_or_delete_an_audit_event(audited: Path) -> None:
    """Append-only is enforced by the database, not by the kit's good manners: an UPDATE, a
    DELETE (and on PostgreSQL a TRUNCATE) through an ordinary connection is refused, and the
    trail stays intact. Only someone who owns the database and switches the triggers off
    (as the other tests here do) can change it, and `audit verify` then says what changed."""
    home = audited
    target = ledger_target(home)
    refused = [
        "UPDATE audit_events SET actor = 'someone else' WHERE seq = 3",
        "DELETE FROM audit_events WHERE seq = 2",
    ]
    if isinstance(target, str):
        refused.append("TRUNCATE audit_events")
    for sql in refused:
        with pytest.raises(driver_errors()) as caught, open_ledger(home) as ledger:
            ledger.write(lambda conn, sql=sql: conn.execute(sql, ()))
        assert "the audit trail is append-only" in str(caught.value), sql
        if isinstance(target, Path):  # and a connection of one's own, outside the kit
            with sqlite3.connect(target) as conn, pytest.raises(sqlite3.IntegrityError) as own:
                conn.execute(sql)
            conn.close()
            assert "append-only" in str(own.value)
    if isinstance(target, str):
        conn = connect(target)
        try:
            with pytest.raises(psycopg.Error) as caught:
                conn.execute("DELETE FROM audit_events")
            assert "the audit trail is append-only: DELETE of audit events refused" in str(
                caught.value
            )
        finally:
            conn.close()
    document = verify(home, code=0)
    assert document["events"] == EVENTS


def test_an_edited_event_is_named(audited: Path) -> None:
    home = audited
    tamper(home, "UPDATE audit_events SET actor = 'someone else' WHERE seq = 3")
    assert findings(home) == [(3, "edited")]
    text = run(home, "audit", "verify", "--lang", "en")
    assert text.exit_code == 1
    assert "edited\taudit event 3: its content does not give its hash" in text.stdout
    assert "NOT INTACT: 1 finding(s)" in text.stderr
    swedish = run(home, "audit", "verify")
    assert "edited\tlogghändelse 3: dess innehåll ger inte dess hash" in swedish.stdout
    assert "INTE INTAKT: 1 avvikelse" in swedish.stderr


def test_an_event_edited_with_its_hash_recomputed_is_named(audited: Path) -> None:
    home = audited
    tamper(home, "UPDATE audit_events SET detail = 'nothing happened' WHERE seq = 4")
    [row] = ledger_rows(home, f"SELECT {COLUMNS}, prev_hash FROM audit_events WHERE seq = 4")
    values = tuple(row)
    forged = chain_hash(values[-1], values[:-1])
    tamper_with(ledger_target(home), "UPDATE audit_events SET hash = ? WHERE seq = 4", (forged,))
    assert findings(home) == [(4, "edited")]


def test_deleted_events_are_named(audited: Path) -> None:
    home = audited
    tamper(home, "DELETE FROM audit_events WHERE seq IN (2, 3)")
    document = verify(home, code=1)
    [(seq, kind, what)] = [(f["seq"], f["kind"], f["what"]) for f in document["findings"]]
    assert (seq, kind) == (4, "missing")
    assert "events 2–3" in what
    assert "missing\tlogghändelse 4: händelserna före den saknas (händelse 2–3)" in (
        run(home, "audit", "verify").stdout
    )
    assert "missing\taudit event 4: the events before it are missing (events 2–3)" in (
        run(home, "audit", "verify", "--lang", "en").stdout
    )


def test_events_swapped_are_out_of_order(audited: Path) -> None:
    home = audited
    tamper(
        home,
        "UPDATE audit_events SET seq = 100 WHERE seq = 2",
        "UPDATE audit_events SET seq = 2 WHERE seq = 5",
        "UPDATE audit_events SET seq = 5 WHERE seq = 100",
    )
    found = findings(home)
    assert found == [(2, "out-of-order"), (3, "out-of-order"), (5, "out-of-order"),
                     (6, "out-of-order")]  # fmt: skip
    swedish = run(home, "audit", "verify").stdout
    assert "out-of-order\tlogghändelse 2: den följer händelse 4 i kedjan men är lagrad efter " \
        "händelse 1" in swedish  # fmt: skip
    english = run(home, "audit", "verify", "--lang", "en").stdout
    assert "out-of-order\taudit event 2: it follows event 4 in the chain but is stored after " \
        "event 1" in english  # fmt: skip


def test_a_trail_rewritten_wholesale_is_caught_by_the_head_a_report_printed(
    audited: Path,
) -> None:
    home = audited
    report = json.loads(run(home, "report", "--format", "json").stdout)
    printed = report["audit"]["head"][:16]
    assert report["audit"]["events"] == EVENTS
    table = run(home, "report", "--lang", "en").stdout  # audited too: its own head is newer
    assert re.search(r"Audit trail: \d+ events, head ([0-9a-f]{16}) \(check later: downtime audit"
                     r" verify --expect-head \1\)", table)  # fmt: skip

    # every event from the third on rewritten, each hash recomputed: the chain itself holds
    tamper(home, "UPDATE audit_events SET actor = 'someone else' WHERE seq >= 3")
    prev = GENESIS
    for seq, *values in ledger_rows(home, f"SELECT seq, {COLUMNS} FROM audit_events ORDER BY seq"):
        digest = chain_hash(prev, values)
        tamper_with(
            ledger_target(home),
            "UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?",
            (prev, digest, seq),
        )
        prev = digest
    assert verify(home, code=0)["intact"]
    assert findings(home, "--expect-head", printed) == [(None, "rewritten")]
    swedish = run(home, "audit", "verify", "--expect-head", printed).stdout
    assert f"rewritten\tloggkedjan: ingen händelse har den tidigare utskrivna senaste hashen " \
        f"{printed}: kedjan har skrivits om" in swedish  # fmt: skip
    english = run(home, "audit", "verify", "--expect-head", printed, "--lang", "en").stdout
    assert f"rewritten\tthe audit trail: no event has the head {printed} printed before" in english


def test_a_head_that_is_not_one_is_refused(audited: Path) -> None:
    home = audited
    [finding] = verify(home, "--expect-head", "abc", code=1)["findings"]
    assert finding["kind"] == "rewritten" and "16 or more hex digits" in finding["what"]
    assert "16 eller fler hexadecimala siffror" in (
        run(home, "audit", "verify", "--expect-head", "abc").stdout
    )

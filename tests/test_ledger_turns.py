"""Writers on PostgreSQL that append to a table read in id order take turns at it: the audit
trail (every writer reads its chain's head) above all. Found by the concurrency proof on
PostgreSQL (tests/test_proofs_concurrency.py): four stations scanning at once conflicted on the
chain's head in almost every transaction, and a station gave up after its twelfth try."""

from __future__ import annotations

import threading

import pgcluster
import psycopg
from backends import ledger_rows

from downtime.ledger import AuditEvent, Ledger, verify_audit_chain
from downtime.ledger.audit import append_audit
from downtime.ledger.db import AUDIT_TABLE, Connection
from downtime.ledger.postgres import turn_lock

STATIONS = 4
WRITES = 25  # per station


def test_stations_appending_audit_events_at_once_take_turns_and_never_run_again(
    pg_cluster: pgcluster.Cluster,
) -> None:
    url = pg_cluster.create()
    start = threading.Barrier(STATIONS)
    retries: dict[str, int] = {}
    failures: list[BaseException] = []

    def station(name: str) -> None:
        try:
            with Ledger.open(url) as ledger:
                start.wait()
                for n in range(WRITES):

                    def body(conn: Connection, n: int = n) -> None:
                        conn.execute("SELECT count(*) FROM scan_pages").fetchone()
                        event = AuditEvent("test.write", f"{name} {n}")
                        append_audit(conn, [event], actor=name, station=name)

                    ledger.write(body)
                retries[name] = ledger.retries
        except BaseException as e:  # reported by the test's own thread
            failures.append(e)

    threads = [threading.Thread(target=station, args=(f"pc{s}",)) for s in range(STATIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures, failures
    assert retries == {f"pc{s}": 0 for s in range(STATIONS)}
    written = ledger_rows(url, "SELECT actor, detail FROM audit_events ORDER BY seq")
    for s in range(STATIONS):  # each station's events, all of them, in its own order
        mine = [r["detail"] for r in written if r["actor"] == f"pc{s}"]
        assert mine == [f"pc{s} {n}" for n in range(WRITES)]
    with Ledger.open(url) as ledger:
        assert verify_audit_chain(ledger) is None


def test_a_writer_that_died_holding_its_turn_keeps_no_one_waiting(
    pg_cluster: pgcluster.Cluster,
) -> None:
    """A station killed in the middle of a write ends its session: its turn goes with it."""
    url = pg_cluster.create()
    dying = psycopg.connect(url, autocommit=True)
    with Ledger.open(url) as ledger:
        dying.execute("SELECT pg_advisory_lock(%s)", (turn_lock(AUDIT_TABLE),))
        waiting = threading.Thread(
            target=lambda: ledger.write(
                lambda conn: append_audit(
                    conn, [AuditEvent("test.write", "after")], actor="a", station="a"
                )
            )
        )
        waiting.start()
        waiting.join(0.5)
        assert waiting.is_alive(), "the writer waits for its turn"
        dying.close()
        waiting.join(30)
        assert not waiting.is_alive()
    assert [r["detail"] for r in ledger_rows(url, "SELECT detail FROM audit_events")] == ["after"]


def test_a_station_role_that_may_only_read_and_append_writes_in_order(
    pg_cluster: pgcluster.Cluster,
) -> None:
    """Taking turns needs no privilege beyond the station role's SELECT and INSERT (README:
    "Several stations on one ledger"): ``LOCK TABLE`` in a mode that keeps writers out would
    need UPDATE or DELETE."""
    url = pg_cluster.create()
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("DO $$ BEGIN CREATE ROLE station LOGIN; EXCEPTION WHEN duplicate_object"
                      " THEN NULL; END $$")  # fmt: skip
        for grant in (
            "GRANT USAGE ON SCHEMA public TO station",
            "GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO station",
        ):
            admin.execute(grant)
    station = url.replace(f"//{pgcluster.SUPERUSER}@", "//station@")

    def body(conn: Connection) -> None:
        conn.execute(
            "INSERT INTO held_items (form_key, item, kind, detail, found_at)"
            " VALUES ('f', 'x', 'pending-review', '', '2026')"
        )
        append_audit(conn, [AuditEvent("test.write", "held")], actor="a", station="a")

    with Ledger.open(station) as ledger:
        ledger.write(body, in_order=("held_items", "decisions"))
    assert len(ledger_rows(url, "SELECT * FROM held_items")) == 1

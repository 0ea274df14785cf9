"""A batch of rows for one INSERT (``executemany``) on PostgreSQL goes as a few statements of many
rows each: sent row by row, a scanned page's marks took three times as long to record as to
read on SQLite (bench/stations.py). The rows stored are the same as SQLite stores."""

from __future__ import annotations

import sqlite3

import pgcluster
import pytest
from backends import ledger_rows

from downtime.ledger import Ledger
from downtime.ledger.db import Connection
from downtime.ledger.dialect import MAX_PARAMETERS, MAX_ROWS, multirow_insert, statement_sizes

TABLE = "CREATE TABLE batch (k TEXT PRIMARY KEY, n INTEGER, x REAL, s TEXT)"


def test_an_insert_becomes_rows_of_numbered_placeholders() -> None:
    sql = "INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT DO NOTHING"
    assert multirow_insert(sql, 3) == (
        "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4), ($5, $6) ON CONFLICT DO NOTHING"
    )
    assert (
        multirow_insert("insert into t values (?,?)", 2)
        == "insert into t values ($1, $2), ($3, $4)"
    )


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO t (a) VALUES (?) ON CONFLICT (a) DO UPDATE SET a = excluded.a",
        "INSERT INTO t (a) VALUES (?) RETURNING a",
        "INSERT INTO t (a) SELECT ? WHERE 1",
        "INSERT INTO t (a, b) VALUES (?, 'x')",
        "UPDATE t SET a = ?",
        "INSERT INTO t (a) VALUES (?) ON CONFLICT DO NOTHING -- why?",
    ],
)
def test_what_must_go_row_by_row_is_left_alone(sql: str) -> None:
    assert multirow_insert(sql, 2) is None


@pytest.mark.parametrize(("rows", "width"), [(1, 4), (7, 10), (397, 10), (5000, 3), (9, 40000)])
def test_a_batch_is_cut_into_few_shapes_of_statement(rows: int, width: int) -> None:
    sizes = statement_sizes(rows, width)
    assert sum(sizes) == rows
    assert sizes == sorted(sizes, reverse=True)
    assert all(s & (s - 1) == 0 and s <= MAX_ROWS and s * width <= MAX_PARAMETERS for s in sizes)
    assert len(sizes) <= rows // sizes[0] + sizes[0].bit_length()  # the largest, then the rest


def test_a_batch_on_postgresql_stores_what_sqlite_stores(pg_cluster: pgcluster.Cluster) -> None:
    """1,300 rows (more than one statement's worth), some keys twice: the first of each kept
    (``DO NOTHING``), then an upsert row by row (``DO UPDATE``: the last one wins)."""
    rows = [(f"k{n % 1100:04d}", n, n / 7, None if n % 5 else "ä%?$1") for n in range(1300)]
    again = [("k0001", -1, 0.5, "first"), ("k0001", -2, 0.25, "last")]
    insert = "INSERT INTO batch (k, n, x, s) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
    upsert = (
        "INSERT INTO batch (k, n, x, s) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (k) DO UPDATE SET n = excluded.n, s = excluded.s"
    )
    url = pg_cluster.create()

    def body(conn: Connection) -> None:
        conn.execute(TABLE.replace("INTEGER", "BIGINT").replace("REAL", "DOUBLE PRECISION"))
        conn.executemany(insert, rows)
        conn.executemany(upsert, again)

    with Ledger.open(url) as ledger:
        ledger.write(body, audited=False)
    lite = sqlite3.connect(":memory:")
    lite.execute(TABLE)
    lite.executemany(insert, rows)
    lite.executemany(upsert, again)
    want = list(lite.execute("SELECT k, n, x, s FROM batch ORDER BY k"))
    got = [tuple(r) for r in ledger_rows(url, "SELECT k, n, x, s FROM batch ORDER BY k")]
    assert len(got) == 1100
    assert got == want

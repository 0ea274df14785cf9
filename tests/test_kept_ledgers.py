"""A long-running process keeps each thread's ledger connection open between workspaces
(``downtime.app.workspace.keep_ledgers_open``, what the review station does once it serves).

Each case runs in a process of its own: keeping is a setting of the whole process, and the
test process must not keep connections open behind other tests' backs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from crashkit import child_env

PRELUDE = """
import shutil, sys, threading
from pathlib import Path
from downtime.app.workspace import keep_ledgers_open, workspace

home = Path(sys.argv[1])

def conn():
    with workspace(home, keys="read") as (_s, _k, ledger):
        return ledger
"""


def run(tmp_path: Path, body: str) -> str:
    code = PRELUDE + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "home")],
        env=child_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_without_keeping_every_workspace_opens_and_closes_its_own_connection(
    tmp_path: Path,
) -> None:
    out = run(tmp_path, "a = conn(); b = conn(); print(a is b, a.idle, b.idle)")
    assert out.split() == ["False", "False", "False"]  # closed when the workspace ended


def test_kept_the_connection_is_used_again_in_the_same_thread_only(tmp_path: Path) -> None:
    out = run(
        tmp_path,
        """
        keep_ledgers_open()
        a = conn(); b = conn()
        other = []
        t = threading.Thread(target=lambda: other.append(conn())); t.start(); t.join()
        print(a is b, a.idle, other[0] is a)
        """,
    )
    assert out.split() == ["True", "True", "False"]


def test_a_workspace_inside_another_gets_a_connection_of_its_own(tmp_path: Path) -> None:
    out = run(
        tmp_path,
        """
        keep_ledgers_open()
        with workspace(home, keys="read") as (_s, _k, outer):
            inner = conn()
        print(inner is outer, inner.idle, outer is conn())
        """,
    )
    assert out.split() == ["False", "False", "True"]  # the inner one closed; the outer kept


def test_a_connection_left_inside_a_transaction_is_not_used_again(tmp_path: Path) -> None:
    out = run(
        tmp_path,
        """
        keep_ledgers_open()
        try:
            with workspace(home, keys="read") as (_s, _k, ledger):
                first = ledger
                ledger._conn.execute("BEGIN")
                raise RuntimeError
        except RuntimeError:
            pass
        print(first is conn(), first.idle)
        """,
    )
    assert out.split() == ["False", "False"]


def test_a_ledger_file_replaced_by_a_restore_is_opened_anew(tmp_path: Path) -> None:
    out = run(
        tmp_path,
        """
        keep_ledgers_open()
        first = conn()
        path = first.path
        shutil.copy(path, path.with_name("copy")); path.with_name("copy").replace(path)
        second = conn()
        print(first is second, first.idle, second is conn())
        """,
    )
    assert out.split() == ["False", "False", "True"]

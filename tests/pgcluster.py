"""A throwaway PostgreSQL cluster for the tests, started by the tests themselves.

``initdb`` into a temporary folder, then ``pg_ctl start`` with the server listening only on a
Unix socket in that folder (no TCP port), durability off (``fsync``, ``synchronous_commit``,
``full_page_writes``: nothing here must survive a crash of the machine). A benchmark that
compares the ledger's speed with SQLite's (which syncs every commit) starts one with durability
on instead (``start(durable=True)``, bench/stations.py). ``initdb`` refuses to
run as root, and CI runs as root: then the cluster belongs to an unprivileged system user
(:data:`SERVER_USER`, made with ``useradd --system`` if missing) and every server command runs
as that user through ``runuser``. Each pytest process (each xdist worker) starts its own cluster
and stops it when the session ends.

Every data folder that a test puts on PostgreSQL gets a database of its own, cloned from a
template database the ledger's migrations were applied to once (``CREATE DATABASE … TEMPLATE``).

The binaries are looked for on PATH, then in Debian's ``/usr/lib/postgresql/<version>/bin``;
without them, :func:`start` raises :class:`Unavailable` with the reason, and the tests on
PostgreSQL are skipped with it.
"""

from __future__ import annotations

import atexit
import itertools
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from downtime.ledger import Ledger

SERVER_USER = "downtime-pg"  # owns the cluster when the tests run as root
SUPERUSER = "downtime"  # the cluster's database superuser (local connections are trusted)
TEMPLATE = "ledger_template"  # migrated once; every test database is a copy of it
SERVER_OPTIONS = (
    "-c listen_addresses='' -c max_connections=200 -c shared_buffers=32MB "
    "-c max_locks_per_transaction=256 -c max_pred_locks_per_transaction=256"
)
NOT_DURABLE = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
DURABLE = "-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
DEBIAN_BINARIES = Path("/usr/lib/postgresql")


class Unavailable(Exception):
    """PostgreSQL cannot be started here (the message says why)."""


def binaries() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres`` (version 15 or newer)."""
    found = shutil.which("initdb")
    folders = [Path(found).resolve().parent] if found else []
    if DEBIAN_BINARIES.is_dir():
        versions = sorted(
            (p for p in DEBIAN_BINARIES.iterdir() if p.name.isdigit()),
            key=lambda p: int(p.name),
            reverse=True,
        )
        folders += [p / "bin" for p in versions]
    for folder in folders:
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise Unavailable(
        "PostgreSQL's server programs (initdb, pg_ctl, postgres) are not installed: "
        "apt-get install postgresql (the Makefile's system-deps does)"
    )


class Cluster:
    """A running throwaway cluster: databases by name, URLs for the kit to open them by."""

    def __init__(self, bindir: Path, base: Path, as_user: list[str]) -> None:
        self.bindir, self.base, self._as_user = bindir, base, as_user
        self.data = base / "data"
        self._names = itertools.count(1)
        self.created: set[str] = set()  # the URLs of the test databases not dropped yet

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.base}"

    def owns(self, url: str) -> bool:
        return url.startswith(f"postgresql://{SUPERUSER}@/") and url.endswith(f"?host={self.base}")

    def database_of(self, url: str) -> str:
        found = re.match(r"postgresql://[^/]*/([^?]+)", url)
        assert found, url
        return found.group(1)

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url("postgres"), autocommit=True)

    def create(self, *, template: str = TEMPLATE) -> str:
        """A new database cloned from ``template`` (by default: migrated, empty); its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        self.created.add(self.url(name))
        return self.url(name)

    def clone(self, url: str) -> str:
        """A copy of the database ``url`` names (no one may be connected to it); its URL."""
        return self.create(template=self.database_of(url))

    def drop(self, url: str) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database_of(url)}" WITH (FORCE)')
        self.created.discard(url)

    def recreate(self, url: str) -> None:
        """Drop the database ``url`` names and make it again, migrated and empty."""
        name = self.database_of(url)
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}" STRATEGY FILE_COPY')

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(
                [*self._as_user, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m",
                 "immediate", "stop"],
                capture_output=True, check=False, timeout=60,
            )  # fmt: skip
        shutil.rmtree(self.base, ignore_errors=True)


def _server_user() -> tuple[list[str], int, int]:
    """(command prefix, uid, gid) to run the server as: this user, or an unprivileged one."""
    if os.geteuid() != 0:
        return [], os.getuid(), os.getgid()
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             SERVER_USER],
            capture_output=True, check=False, timeout=60,
        )  # fmt: skip
        try:  # made here, or by another test process at the same moment
            entry = pwd.getpwnam(SERVER_USER)
        except KeyError as e:
            raise Unavailable(f"cannot make the system user {SERVER_USER} to run PostgreSQL") from e
    if not shutil.which("runuser"):
        raise Unavailable("runuser (util-linux) is missing: it runs PostgreSQL as a plain user")
    return ["runuser", "-u", SERVER_USER, "--"], entry.pw_uid, entry.pw_gid


def start(*, durable: bool = False) -> Cluster:
    """Start a cluster in a new temporary folder (see the module's doc); with ``durable``, every
    commit reaches the disk before it returns, as PostgreSQL's defaults have it."""
    bindir = binaries()
    as_user, uid, gid = _server_user()
    base = Path(tempfile.mkdtemp(prefix="downtime-pg-"))
    os.chown(base, uid, gid)
    cluster = Cluster(bindir, base, as_user)
    atexit.register(cluster.stop)
    try:
        _run([*as_user, str(bindir / "initdb"), "-D", str(cluster.data), "-U", SUPERUSER,
              "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync",
              "--no-instructions"])  # fmt: skip
        options = f"-k {base} {SERVER_OPTIONS} {DURABLE if durable else NOT_DURABLE}"
        _run([*as_user, str(bindir / "pg_ctl"), "-D", str(cluster.data), "-l",
              str(base / "server.log"), "-w", "-t", "60", "-o", options, "start"])  # fmt: skip
        with cluster._admin() as conn:
            conn.execute(f'CREATE DATABASE "{TEMPLATE}" TEMPLATE template0')
        Ledger.open(cluster.url(TEMPLATE)).close()  # the migrations, once
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise Unavailable(f"{Path(command[-1]).name}: {' '.join(command)} failed: {done.stderr}")


_shared: Cluster | Unavailable | None = None


def shared() -> Cluster:
    """This test process's cluster, started on first use (raises :class:`Unavailable`)."""
    global _shared
    if _shared is None:
        try:
            _shared = start()
        except Unavailable as e:
            _shared = e
    if isinstance(_shared, Unavailable):
        raise _shared
    return _shared


def made() -> set[str]:
    """The test databases made in this process and not dropped yet."""
    return set(_shared.created) if isinstance(_shared, Cluster) else set()

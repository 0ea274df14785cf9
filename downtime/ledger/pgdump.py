"""PostgreSQL's own backup programs, ``pg_dump`` and ``pg_restore``: the one module that runs
them (a backup of a PostgreSQL ledger, :mod:`downtime.app.backup`).

The programs are looked for on PATH, then in Debian's ``/usr/lib/postgresql/<version>/bin``
(the newest first: ``pg_dump`` must be as new as the server). They are given the database's URL,
which never carries a password (:func:`downtime.settings.check_database_url`): the password
comes from the password file libpq reads (``PGPASSFILE``, ``~/.pgpass``, or ``passfile=`` in
the URL), and they are told never to ask for one (``--no-password``).

A dump is in pg_dump's custom format, of one snapshot of the database: the one a transaction of
the caller's exported (``--snapshot``), so that the counts and the files the backup records are
those of the very moment the dump holds.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from downtime import files
from downtime.errors import LedgerError
from downtime.ledger.dialect import redacted

DEBIAN_BINARIES = Path("/usr/lib/postgresql")
INSTALL_HINT = (
    "install PostgreSQL's client programs, as new as the server (Debian: apt-get install "
    "postgresql-client), or put the folder holding pg_dump and pg_restore on PATH"
)


def program(name: str) -> Path:
    """The program ``name`` (``pg_dump``, ``pg_restore``): on PATH, else Debian's newest."""
    found = shutil.which(name)
    if found:
        return Path(found)
    if DEBIAN_BINARIES.is_dir():
        versions = sorted(
            (p for p in DEBIAN_BINARIES.iterdir() if p.name.isdigit()),
            key=lambda p: int(p.name),
            reverse=True,
        )
        for folder in versions:
            if (folder / "bin" / name).is_file():
                return folder / "bin" / name
    raise LedgerError(
        f"{name} is not installed: a PostgreSQL ledger is backed up and restored with it",
        hint=INSTALL_HINT,
    )


def dump(url: str, target: Path, *, snapshot: str | None = None) -> None:
    """The database ``url`` names into the file ``target`` (0600, written then moved into
    place), as of the exported ``snapshot`` when given."""
    temp = files.new_temp(target)
    try:
        command = [str(program("pg_dump")), "--format=custom", "--no-password",
                   f"--file={temp}", f"--dbname={url}"]  # fmt: skip
        if snapshot:
            command.append(f"--snapshot={snapshot}")
        _run(command, url, "pg_dump")
        files.commit(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def restore(url: str, source: Path) -> None:
    """The dump ``source`` into the database ``url`` names, in one transaction. What the dump
    holds replaces what is there of the same name (the caller has made sure no data is): the
    tables of a ledger migrated and never used, say. Owners and grants are the restoring
    role's, whatever they were where the dump was made."""
    command = [str(program("pg_restore")), "--no-password", "--single-transaction",
               "--exit-on-error", "--clean", "--if-exists", "--no-owner", "--no-acl",
               f"--dbname={url}", str(source)]  # fmt: skip
    _run(command, url, "pg_restore")


def _run(command: list[str], url: str, name: str) -> None:
    try:
        done = subprocess.run(  # noqa: S603 - a fixed program, arguments as a list, no shell
            command, capture_output=True, text=True, check=False
        )
    except OSError as e:
        raise LedgerError(f"{name} could not be run: {e}", hint=INSTALL_HINT) from e
    if done.returncode != 0:
        said = [line for line in done.stderr.splitlines() if line.strip()][:3]
        raise LedgerError(
            f"{name} failed on {redacted(url)}: " + " / ".join(said or ["no message"]),
            hint="check that the server is running, the URL and the password file (PGPASSFILE"
            " or ~/.pgpass); and that " + name + " is as new as the server",
        )

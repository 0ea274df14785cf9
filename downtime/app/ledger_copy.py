"""``downtime ledger copy --to postgresql://…``: a site that started on SQLite moves its ledger
to an empty PostgreSQL database (:mod:`downtime.ledger.transfer`), checked by row counts and
the audit chain. The data folder is not changed: the SQLite ledger stays as it was, and the
site switches over by naming the database (``database`` in site.toml, or ``DOWNTIME_DB``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from downtime.errors import InputError
from downtime.ledger import Ledger
from downtime.ledger.chain import ChainHead
from downtime.ledger.dialect import redacted
from downtime.ledger.transfer import copy_ledger
from downtime.settings import DB_ENV, SITE_FILE, check_database_url, resolve


@dataclass(frozen=True)
class LedgerCopy:
    source: Path  # the SQLite ledger copied (left as it was)
    target: str  # the database's URL
    counts: dict[str, int]  # rows in each table, on both sides
    audit: ChainHead  # the same on both sides

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


def copy_to_postgresql(home: Path | None, url: str) -> LedgerCopy:
    """Copy the data folder's SQLite ledger into the empty database ``url`` names."""
    url = check_database_url(url, "--to")
    settings = resolve(home)
    if settings.database:
        raise InputError(
            f"the ledger of {settings.home.name} is already a PostgreSQL database "
            f"({redacted(settings.database)}): there is no SQLite ledger to copy",
            hint=f"unset {DB_ENV}, or remove database from {SITE_FILE}, to copy the SQLite file",
        )
    if not settings.ledger_path.is_file():
        raise InputError(f"no ledger in {settings.home} to copy", hint="check --home")
    with Ledger.open(settings.ledger_path) as source, Ledger.open(url) as target:
        done = copy_ledger(source, target)
    return LedgerCopy(settings.ledger_path, url, done.counts, done.audit)

"""``downtime doctor``'s checks of the time and of the data folder: the site's time zone, the
clock, permissions, the ledger and its audit chain, the keys, and free disk for the image store.

The ledger is opened read-only and nothing is created: a data folder that is not there yet is
reported as such. Files are named by their path in the data folder (the image store names its
files by their hash, the outbox by page uid): never by what is in them.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from downtime.app.doctor_check import FAILED, OK, WARNING, Check
from downtime.app.doctor_keys import keys_check
from downtime.errors import LedgerError, Said
from downtime.ledger import Ledger, driver_errors
from downtime.ledger.chain import chain_head
from downtime.ledger.check import (
    AUDIT,
    INTEGRITY,
    MISSING,
    UNLINKED,
    check_ledger,
    integrity_facts,
    integrity_scope,
)
from downtime.ledger.health import newest_recorded, schema_state
from downtime.ledger.pages import pages_per_key
from downtime.ledger.store import Store
from downtime.settings import Settings

GIB = 1024**3
DISK_FAILED_BYTES = 1 * GIB  # about one large outage's scans (originals and registered pages)
DISK_WARNING_BYTES = 5 * GIB
CLOCK_SLACK = timedelta(minutes=5)  # stations sharing a ledger may differ by this much
EARLIEST_YEAR = 2025  # a clock before this has lost its setting (a flat CMOS battery)
SHOWN = 5  # offenders named on the line; the rest counted
PRIVATE_BITS = 0o077  # group and other: a data folder's files are 0600, its folders 0700
INIT_FIX = "downtime init (or point --home / DOWNTIME_HOME at the data folder)"


def timezone_check(settings: Settings, now: datetime) -> Check:
    """site.toml's ``timezone`` was checked when it was read; say what time it is there."""
    local = now.astimezone(settings.tz)
    offset = local.strftime("%z")
    values = {"zone": settings.config.timezone, "time": f"{local:%Y-%m-%d %H:%M}",
              "abbr": local.tzname(), "offset": f"{offset[:3]}:{offset[3:]}"}  # fmt: skip
    return Check(
        "timezone",
        OK,
        "{zone}: {time} {abbr} (UTC{offset}); times on paper and on screen are in it".format(
            **values
        ),
        said=Said("timezone_ok", values),
    )


def clock_check(settings: Settings, now: datetime) -> Check:
    """The clock is not before the ledger's newest record (nor before the kit existed)."""
    shown = now.astimezone(settings.tz).isoformat(timespec="seconds")
    fix = "set this computer's clock (NTP: timedatectl set-ntp true)"
    if now.year < EARLIEST_YEAR:
        said = Said("clock_unset", {"now": shown})
        return Check("clock", FAILED, f"this computer's clock says {shown}", fix, said)
    try:
        with _ledger(settings) as ledger:
            newest = newest_recorded(ledger) if ledger is not None else None
    except _ledger_errors():
        newest = None  # the ledger check says why
    if newest is None:
        what = f"{shown} (no ledger records to compare it with)"
        return Check("clock", OK, what, said=Said("clock_ok_empty", {"now": shown}))
    newest_shown = newest.astimezone(settings.tz).isoformat(timespec="seconds")
    if now < newest - CLOCK_SLACK:
        return Check(
            "clock",
            FAILED,
            f"this computer's clock says {shown}, before the ledger's newest record "
            f"({newest_shown}): packs and records would carry wrong times",
            fix + "; on stations sharing a ledger, on every one",
            Said("clock_behind", {"now": shown, "newest": newest_shown}),
        )
    said = Said("clock_ok", {"now": shown, "newest": newest_shown})
    return Check(
        "clock", OK, f"{shown}, after the ledger's newest record ({newest_shown})", said=said
    )


def folder_checks(settings: Settings, now: datetime) -> list[Check]:
    """Permissions, ledger, audit chain, keys and disk, in that order."""
    if not settings.home.is_dir():
        said = Said("no_data_folder", {"home": settings.home})
        return [Check("data-folder", FAILED, f"{settings.home} does not exist", INIT_FIX, said)]
    checks = [permissions_check(settings)]
    try:
        with _ledger(settings) as ledger:
            if ledger is None:
                what, said = "the data folder has no ledger", Said("no_ledger")
                checks.append(Check("ledger", FAILED, what, INIT_FIX, said))
                checks.append(keys_check(settings, {}, now))
            else:
                checks += ledger_checks(settings, ledger)
                checks.append(keys_check(settings, pages_per_key(ledger), now))
    except _ledger_errors() as e:
        what, said = f"the ledger cannot be read ({e})", Said("ledger_unreadable", {"error": e})
        checks.append(Check("ledger", FAILED, what, "restore it from a backup", said))
    checks.append(disk_check(settings))
    return checks


def _ledger_errors() -> tuple[type[Exception], ...]:
    return (LedgerError, *driver_errors())


@contextmanager
def _ledger(settings: Settings) -> Iterator[Ledger | None]:
    if not settings.database and not settings.ledger_path.is_file():
        yield None
        return
    ledger = Ledger.open_readonly(settings.ledger_target)
    try:
        yield ledger
    finally:
        ledger.close()


# --- permissions --------------------------------------------------------------------------------


def permissions_check(settings: Settings) -> Check:
    """Folders 0700 and files 0600, owned by whoever runs the kit: patient data (scans, the
    ledger, outbox bundles) open to no one else, and nothing the kit cannot write."""
    roots = [(settings.home, "")]
    if not settings.store_dir.is_relative_to(settings.home) and settings.store_dir.is_dir():
        roots.append((settings.store_dir, "image store "))
    offenders: list[str] = []
    said: list[Said] = []  # the offenders again, in the CLI's words
    count = 0
    for root, label in roots:
        for path, problem in _offenders(root):
            count += 1
            if len(offenders) < SHOWN:
                name = path.relative_to(root).as_posix() if path != root else "."
                offenders.append(f"{label}{name} ({problem})")
                shown = Said(_PROBLEMS[problem]) if problem in _PROBLEMS else problem
                place = Said("in_store", {"name": name}) if label else name
                said.append(Said("offender", {"name": place, "problem": shown}))
    if not count:
        what = "folders 0700, files 0600, all yours"
        return Check("permissions", OK, what, said=Said("permissions_ok"))
    more = f", and {count - SHOWN} more" if count > SHOWN else ""
    store = " (and the image store)" if len(roots) > 1 else ""
    values = {"n": count, "offenders": said, "home": settings.home,
              "more": Said("and_more", {"n": count - SHOWN}) if more else "",
              "store": Said("and_store") if store else ""}  # fmt: skip
    return Check(
        "permissions",
        FAILED,
        f"{count} file(s) or folder(s) open to other users or not yours: "
        f"{', '.join(offenders)}{more}",
        f"chmod -R go-rwx {settings.home}{store}"
        "; files not yours: chown them to the user that runs the kit",
        Said("permissions_failed", values),
    )


# an offender's problem in words (else its mode), and their keys in the CLI's words
_PROBLEMS = {"cannot be read": "unreadable", "another user's": "not_yours"}


def _offenders(root: Path) -> Iterator[tuple[Path, str]]:
    """Every path under ``root`` (itself included, links not followed) that others may reach
    or that is not the current user's, with what is wrong (its mode, or its owner)."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    unreadable: list[OSError] = []
    for folder, folders, files in os.walk(root, onerror=unreadable.append):
        here = Path(folder)
        if here == root:
            yield from _wrong(here, uid)
        for name in [*folders, *files]:
            yield from _wrong(here / name, uid)
    for error in unreadable:
        if error.filename:
            yield Path(error.filename), "cannot be read"


def _wrong(path: Path, uid: int | None) -> Iterator[tuple[Path, str]]:
    try:
        st = path.lstat()
    except OSError:
        return
    if stat.S_ISLNK(st.st_mode):
        return
    mode = stat.S_IMODE(st.st_mode)
    if mode & PRIVATE_BITS:
        yield path, f"{mode:04o}"
    elif uid is not None and st.st_uid != uid:
        yield path, "another user's"


# --- ledger and audit chain ---------------------------------------------------------------------


def ledger_checks(settings: Settings, ledger: Ledger) -> list[Check]:
    """The database's integrity and every image it names being there (not re-hashed: `downtime
    ledger check` does that), its schema known to this version, and the audit chain."""
    schema = schema_state(ledger)
    if schema.newer:
        return [
            Check(
                "ledger",
                FAILED,
                f"written by a newer version of downtime (its schema has "
                f"{', '.join(schema.newer)}): this version does not open it",
                "use the newer version, or restore a backup this version made",
                Said("ledger_newer", {"migrations": ", ".join(schema.newer)}),
            )
        ]
    summary = check_ledger(ledger, Store(settings.home, settings.store_dir), hashes=False)
    kinds = [f.kind for f in summary.findings]
    parts, state, fix = [], OK, ""
    said: list[Said] = []  # the parts again, in the CLI's words
    integrity = [f for f in summary.findings if f.kind == INTEGRITY]
    if integrity:
        state, fix = FAILED, "restore the ledger from a backup"
        parts.append(f"its integrity check fails ({integrity[0].what})")
        said.append(Said("ledger_integrity", {"what": integrity[0].what}))
    if kinds.count(MISSING):
        state = FAILED
        fix = fix or "restore the images from a backup (`downtime ledger check` lists them)"
        parts.append(f"{kinds.count(MISSING)} image(s) it names are not in the image store")
        said.append(Said("ledger_missing", {"n": kinds.count(MISSING)}))
    if kinds.count(UNLINKED):
        state = state if state == FAILED else WARNING
        fix = fix or "scan their originals again (`downtime ledger check` lists them)"
        parts.append(f"{kinds.count(UNLINKED)} file(s) in the image store no row names")
        said.append(Said("ledger_unlinked", {"n": kinds.count(UNLINKED)}))
    fixed = said[0] if said else None
    if not parts:
        named, scope = summary.files_named, integrity_scope(ledger)
        checked = f"integrity ok ({scope})"
        parts.append(
            f"{checked}; the {named} image(s) it names are in the store"
            if named
            else f"{checked}; it names no images yet"
        )
        key = "ledger_ok" if named else "ledger_ok_empty"
        said.append(Said(key, {"scope": _scope(ledger), "n": named}))
    if schema.pending:
        parts.append(f"{len(schema.pending)} migration(s) to apply, at the next command")
        said.append(Said("ledger_pending", {"n": len(schema.pending)}))
    found = Said("ledger_found", {"parts": tuple(said)})
    checks = [Check("ledger", state, "; ".join(parts), fix, found, fixed)]
    head = chain_head(ledger)
    audit = [f for f in summary.findings if f.kind == AUDIT]
    if audit:
        checks.append(
            Check(
                "audit-chain",
                FAILED,
                f"{len(audit)} finding(s) in {head.events} events, the first: {audit[0]}",
                "`downtime audit verify` names each; compare with a chain head printed before",
                Said(
                    "audit_chain_broken",
                    {"n": len(audit), "events": head.events, "first": audit[0]},
                ),
            )
        )
    else:
        what = f"{head.events} events intact, head {head.short}"
        intact = Said("audit_chain_ok", {"events": head.events, "head": head.short})
        checks.append(Check("audit-chain", OK, what, said=intact))
    return checks


def _scope(ledger: Ledger) -> Said:
    """:func:`~downtime.ledger.check.integrity_scope` in the CLI's words."""
    append_only, checksums = integrity_facts(ledger)
    guarded = Said("scope_guarded") if append_only else ""
    if checksums is None:
        return Said("scope_sqlite", {"guarded": guarded})
    return Said("scope_postgresql", {"guarded": guarded, "checksums": checksums})


# --- disk ---------------------------------------------------------------------------------------


def disk_check(settings: Settings) -> Check:
    """The image store's folder is there (when site.toml names one outside the data folder: a
    shared folder that is not mounted fails here), writable, and its disk has room."""
    where = settings.store_dir
    outside = not where.is_relative_to(settings.home)
    if outside and not where.is_dir():
        return Check(
            "disk",
            FAILED,
            f"the image store {where} (image_store in site.toml) is not there",
            "mount the shared folder, or correct image_store in site.toml",
            Said("disk_missing", {"where": where}),
        )
    if where.is_dir() and not os.access(where, os.W_OK | os.X_OK):
        return Check(
            "disk",
            FAILED,
            f"the image store {where} is not writable",
            "give the user that runs the kit write access to it",
            Said("disk_unwritable", {"where": where}),
        )
    probe = where
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    what = f"{free / GIB:.1f} GiB free for the image store ({where})"
    fix = "free disk space, or move the image store (image_store in site.toml) to a larger disk"
    values = {"free": f"{free / GIB:.1f}", "where": where}
    if free < DISK_FAILED_BYTES:
        said = Said("disk_full", values)
        return Check("disk", FAILED, f"{what}: a large outage's scans will not fit", fix, said)
    if free < DISK_WARNING_BYTES:
        said = Said("disk_low", values)
        return Check("disk", WARNING, f"{what}: a few large outages' scans at most", fix, said)
    said = Said("disk_ok", values)
    return Check("disk", OK, what, said=said)

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
from downtime.codes.keyfiles import KEYRING
from downtime.codes.keys import KeyStore
from downtime.errors import KeyStoreError, LedgerError
from downtime.ledger import Ledger, driver_errors
from downtime.ledger.chain import chain_head
from downtime.ledger.check import (
    AUDIT,
    INTEGRITY,
    MISSING,
    UNLINKED,
    check_ledger,
    integrity_scope,
)
from downtime.ledger.health import newest_recorded, schema_state
from downtime.ledger.pages import pages_per_key
from downtime.ledger.store import Store
from downtime.settings import Settings

GIB = 1024**3
DISK_FAILED_BYTES = 1 * GIB  # about one large outage's scans (originals and registered pages)
DISK_WARNING_BYTES = 5 * GIB
KEY_AGE_WARNING_DAYS = 365  # a signing key this old: rotate it (old ones keep verifying)
CLOCK_SLACK = timedelta(minutes=5)  # stations sharing a ledger may differ by this much
EARLIEST_YEAR = 2025  # a clock before this has lost its setting (a flat CMOS battery)
SHOWN = 5  # offenders named on the line; the rest counted
PRIVATE_BITS = 0o077  # group and other: a data folder's files are 0600, its folders 0700
INIT_FIX = "downtime init (or point --home / DOWNTIME_HOME at the data folder)"


def timezone_check(settings: Settings, now: datetime) -> Check:
    """site.toml's ``timezone`` was checked when it was read; say what time it is there."""
    local = now.astimezone(settings.tz)
    offset = local.strftime("%z")
    return Check(
        "timezone",
        OK,
        f"{settings.config.timezone}: {local:%Y-%m-%d %H:%M} {local.tzname()} "
        f"(UTC{offset[:3]}:{offset[3:]}); times on paper and on screen are in it",
    )


def clock_check(settings: Settings, now: datetime) -> Check:
    """The clock is not before the ledger's newest record (nor before the kit existed)."""
    shown = now.astimezone(settings.tz).isoformat(timespec="seconds")
    fix = "set this computer's clock (NTP: timedatectl set-ntp true)"
    if now.year < EARLIEST_YEAR:
        return Check("clock", FAILED, f"this computer's clock says {shown}", fix)
    try:
        with _ledger(settings) as ledger:
            newest = newest_recorded(ledger) if ledger is not None else None
    except _ledger_errors():
        newest = None  # the ledger check says why
    if newest is None:
        return Check("clock", OK, f"{shown} (no ledger records to compare it with)")
    newest_shown = newest.astimezone(settings.tz).isoformat(timespec="seconds")
    if now < newest - CLOCK_SLACK:
        return Check(
            "clock",
            FAILED,
            f"this computer's clock says {shown}, before the ledger's newest record "
            f"({newest_shown}): packs and records would carry wrong times",
            fix + "; on stations sharing a ledger, on every one",
        )
    return Check("clock", OK, f"{shown}, after the ledger's newest record ({newest_shown})")


def folder_checks(settings: Settings, now: datetime) -> list[Check]:
    """Permissions, ledger, audit chain, keys and disk, in that order."""
    if not settings.home.is_dir():
        return [Check("data-folder", FAILED, f"{settings.home} does not exist", INIT_FIX)]
    checks = [permissions_check(settings)]
    try:
        with _ledger(settings) as ledger:
            if ledger is None:
                checks.append(Check("ledger", FAILED, "the data folder has no ledger", INIT_FIX))
                checks.append(keys_check(settings, {}, now))
            else:
                checks += ledger_checks(settings, ledger)
                checks.append(keys_check(settings, pages_per_key(ledger), now))
    except _ledger_errors() as e:
        what = f"the ledger cannot be read ({e})"
        checks.append(Check("ledger", FAILED, what, "restore it from a backup"))
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
    count = 0
    for root, label in roots:
        for path, problem in _offenders(root):
            count += 1
            if len(offenders) < SHOWN:
                name = path.relative_to(root).as_posix() if path != root else "."
                offenders.append(f"{label}{name} ({problem})")
    if not count:
        return Check("permissions", OK, "folders 0700, files 0600, all yours")
    more = f", and {count - SHOWN} more" if count > SHOWN else ""
    return Check(
        "permissions",
        FAILED,
        f"{count} file(s) or folder(s) open to other users or not yours: "
        f"{', '.join(offenders)}{more}",
        f"chmod -R go-rwx {settings.home}"
        + (" (and the image store)" if len(roots) > 1 else "")
        + "; files not yours: chown them to the user that runs the kit",
    )


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
            )
        ]
    summary = check_ledger(ledger, Store(settings.home, settings.store_dir), hashes=False)
    kinds = [f.kind for f in summary.findings]
    parts, state, fix = [], OK, ""
    integrity = [f for f in summary.findings if f.kind == INTEGRITY]
    if integrity:
        state, fix = FAILED, "restore the ledger from a backup"
        parts.append(f"its integrity check fails ({integrity[0].what})")
    if kinds.count(MISSING):
        state = FAILED
        fix = fix or "restore the images from a backup (`downtime ledger check` lists them)"
        parts.append(f"{kinds.count(MISSING)} image(s) it names are not in the image store")
    if kinds.count(UNLINKED):
        state = state if state == FAILED else WARNING
        fix = fix or "scan their originals again (`downtime ledger check` lists them)"
        parts.append(f"{kinds.count(UNLINKED)} file(s) in the image store no row names")
    if not parts:
        named = summary.files_named
        checked = f"integrity ok ({integrity_scope(ledger)})"
        parts.append(
            f"{checked}; the {named} image(s) it names are in the store"
            if named
            else f"{checked}; it names no images yet"
        )
    if schema.pending:
        parts.append(f"{len(schema.pending)} migration(s) to apply, at the next command")
    checks = [Check("ledger", state, "; ".join(parts), fix)]
    head = chain_head(ledger)
    audit = [f for f in summary.findings if f.kind == AUDIT]
    if audit:
        checks.append(
            Check(
                "audit-chain",
                FAILED,
                f"{len(audit)} finding(s) in {head.events} events, the first: {audit[0]}",
                "`downtime audit verify` names each; compare with a chain head printed before",
            )
        )
    else:
        checks.append(Check("audit-chain", OK, f"{head.events} events intact, head {head.short}"))
    return checks


# --- keys ---------------------------------------------------------------------------------------


def keys_check(settings: Settings, signed: dict[str, int], now: datetime) -> Check:
    """Which key signs (and that its private key is there and matches), which only verify,
    how old the signing key is, and that every key that signed a page the ledger knows is
    here to verify it."""
    if not (settings.keys_dir / KEYRING).is_file():
        return Check(
            "keys",
            FAILED,
            "no key store: packs cannot be signed, page codes cannot be verified",
            "downtime init on the print host; on a scan station downtime init --scan-station, "
            "then downtime keys import-public",
        )
    try:
        store = KeyStore.open(settings.keys_dir)
        keys = store.public_keys()
        if any(k.status == "active" for k in keys):
            store.signing_key()  # the private key is there, readable, and the active key's
    except KeyStoreError as e:
        return Check("keys", FAILED, e.message, e.hint or "restore keys/ from a backup")
    if not keys:
        return Check(
            "keys",
            FAILED,
            "the key store holds no keys",
            "on a scan station: downtime keys import-public (from the print host)",
        )
    active = next((k for k in keys if k.status == "active"), None)
    statuses = ", ".join(
        f"{sum(k.status == s for k in keys)} {s}"
        for s in ("active", "retired", "verify-only")
        if any(k.status == s for k in keys)
    )
    verifies = f"verifies with {len(keys)} key(s) ({statuses})"
    if active is None:
        signs = "signs with none (a scan station)"
        age = 0
    else:
        age = (now - active.created_at).days
        made = active.created_at.astimezone(settings.tz).date().isoformat()
        signs = (
            f"signs with {active.key_id} (made {made}, {age} day(s) old, "
            f"{signed.get(active.key_id, 0)} page(s) signed)"
        )
    what = f"{signs}; {verifies}"
    held = {k.key_id for k in keys}
    unknown = sorted(k for k in signed if k not in held)
    if unknown:
        return Check(
            "keys",
            FAILED,
            f"{what}; the ledger has pages signed by key(s) {', '.join(unknown)}, which this "
            "station does not hold: those pages would be set aside as unknown-key",
            "downtime keys export-public on the print host, downtime keys import-public here",
        )
    if active is not None and age > KEY_AGE_WARNING_DAYS:
        return Check(
            "keys",
            WARNING,
            f"{what}; the signing key is over {KEY_AGE_WARNING_DAYS} days old",
            "downtime keys rotate, then give the scan stations the new public key",
        )
    return Check("keys", OK, what)


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
        )
    if where.is_dir() and not os.access(where, os.W_OK | os.X_OK):
        return Check(
            "disk",
            FAILED,
            f"the image store {where} is not writable",
            "give the user that runs the kit write access to it",
        )
    probe = where
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    what = f"{free / GIB:.1f} GiB free for the image store ({where})"
    fix = "free disk space, or move the image store (image_store in site.toml) to a larger disk"
    if free < DISK_FAILED_BYTES:
        return Check("disk", FAILED, f"{what}: a large outage's scans will not fit", fix)
    if free < DISK_WARNING_BYTES:
        return Check("disk", WARNING, f"{what}: a few large outages' scans at most", fix)
    return Check("disk", OK, what)

"""Ward stations: syncing the newest packs from a folder or the print host, what a station
holds, and the print host's HTTPS service for stations."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path

from downtime import files
from downtime.app.held_continuations import HeldContinuation, continuations_held
from downtime.app.packs import record_learned
from downtime.app.workspace import Log, workspace
from downtime.codes import fingerprint_of
from downtime.codes.keys import KeyStore
from downtime.errors import InputError
from downtime.ledger import AuditEvent, Ledger, write_audit
from downtime.ledger.packs import pack_pdf_sha256
from downtime.ledger.prints import PrintRecord, print_records
from downtime.pack.manifest import continuation_in, load_manifest
from downtime.settings import Settings
from downtime.ward import (
    Catalogue,
    Held,
    HostKey,
    Offer,
    PackRefused,
    SourceUnreachable,
    VerifiedPack,
    WardSync,
    folder_catalogue,
    folder_of,
    held_packs,
    read_sync,
    write_sync,
)
from downtime.ward.serve import ServeConfig, ServedPack, make_server, read_token
from downtime.ward.sync import SyncResult, sync_wards

LOCK_FILE = ".sync.lock"  # one sync at a time (a timer and a person)


@dataclass(frozen=True)
class WardStatus:
    ward: str
    held: Held | None
    last_sync: WardSync | None
    prints_today: tuple[PrintRecord, ...]  # newest first
    continuations: tuple[HeldContinuation, ...] = ()  # of the pack held, by window


@dataclass(frozen=True)
class StationStatus:
    lang: str
    timezone: str
    now: datetime
    wards: tuple[WardStatus, ...]


def sync_station(
    home: Path | None,
    source: str,
    *,
    wards: Sequence[str] = (),
    token_file: Path | None = None,
    ca_file: Path | None = None,
    now: datetime | None = None,
) -> SyncResult:
    """Fetch, check and keep the newest pack of each of the station's wards (see
    :mod:`downtime.ward.sync`); record the packs kept in the station's ledger."""
    with workspace(home, keys="station") as (settings, keys, ledger):
        folder = files.private_folder(folder_of(settings.home))
        try:
            with files.exclusive(folder / LOCK_FILE):
                return _sync(settings, keys, ledger, folder, source, wards=wards,
                             token_file=token_file, ca_file=ca_file, now=now)  # fmt: skip
        except files.Busy as e:
            raise SourceUnreachable(
                f"another sync of this station is running ({e.holder})",
                hint="let it finish; the next sync goes on from there",
            ) from None


def _sync(
    settings: Settings,
    keys: KeyStore,
    ledger: Ledger,
    folder: Path,
    source: str,
    *,
    wards: Sequence[str],
    token_file: Path | None,
    ca_file: Path | None,
    now: datetime | None,
) -> SyncResult:
    files.remove_stale_temps(folder)  # left by a sync or print that was killed
    try:
        catalogue = _catalogue(source, token_file, ca_file)
    except SourceUnreachable as e:
        at = now or datetime.now(UTC)
        wanted = list(wards) or sorted(held_packs(folder))
        write_sync(folder, [WardSync(w, at, "unreachable", e.message) for w in wanted])
        raise
    result = sync_wards(
        catalogue,
        folder,
        keys.verification_keys(),
        wards=wards,
        now=now or datetime.now(UTC),
        tz=settings.tz,
    )
    for checked in (*result.installed, *result.continued):
        record_held(ledger, settings, checked, source=catalogue.description)
    refused = [(o.ward, o.pack_id, o.detail, reason) for o, reason in result.refused] + [
        (c.ward, c.pack_id, c.detail, c.reason) for c in result.continuations if c.reason
    ]
    refusals = [
        AuditEvent(
            "station.sync-refused",
            f"{reason}: {detail}"[:500],
            care_unit=ward,
            object_type="pack",
            object_id=pack_id,
        )
        for ward, pack_id, detail, reason in refused
    ]
    write_audit(ledger, refusals, actor=settings.operator, station=settings.station)
    write_sync(folder, list(result.outcomes))
    return result


def _catalogue(source: str, token_file: Path | None, ca_file: Path | None) -> Catalogue:
    if source.startswith(("https://", "http://")):
        from downtime.ward.client import https_catalogue

        if token_file is None:
            raise InputError(
                "syncing from the print host needs its token",
                hint="give the token's file with --token-file (never the token itself)",
            )
        return https_catalogue(source, read_token(token_file), ca_file)
    return folder_catalogue(Path(source))


def record_held(ledger: Ledger, settings: Settings, checked: VerifiedPack, *, source: str) -> None:
    """A checked pack in the station's ledger (its pages, so that prints name them); a pack
    the ledger knows already must be the same PDF."""
    known = pack_pdf_sha256(ledger, checked.pack_id)
    if known is not None:
        if known != checked.record.pdf_sha256:
            raise PackRefused(
                "pdf-hash",
                f"pack {checked.pack_id}: its PDF is not the one this ledger recorded",
                hint="do not use this copy; sync again, and tell IT if it happens again",
            )
        return
    record = replace(checked.record, issued_by=settings.operator, station=settings.station)
    what = f"{len(checked.issued)} pages from {source}"
    continues = continuation_in(load_manifest(checked.manifest, checked.pack_id))
    record_learned(ledger, settings, record, checked.issued, "station.sync", what, continues)


def station_status(home: Path | None, *, now: datetime | None = None) -> StationStatus:
    now = now or datetime.now(UTC)
    with workspace(home, keys="read") as (settings, _keys, ledger):
        folder = folder_of(settings.home)
        held, synced = held_packs(folder), read_sync(folder)
        today = now.astimezone(settings.tz).date()
        wards = []
        for ward in sorted(set(held) | set(synced)):
            prints = tuple(
                p
                for p in print_records(ledger, ward=ward, limit=200)
                if p.printed_at.astimezone(settings.tz).date() == today and p.outcome != "failed"
            )
            base = held.get(ward)
            continued = tuple(continuations_held(settings, ledger, base)) if base else ()
            wards.append(WardStatus(ward, base, synced.get(ward), prints, continued))
        return StationStatus(settings.config.lang, settings.config.timezone, now, tuple(wards))


# --------------------------------------------------------------------------------------------
# The print host's service


def open_pack_service(
    home: Path | None,
    *,
    packs: Path,
    host: str,
    port: int,
    cert: Path,
    key: Path,
    token_file: Path,
    log: Log,
) -> ThreadingHTTPServer:
    """The HTTPS service of ``packs`` (a folder ``pack --all-wards -o`` writes), bound and
    listening: each ward's newest pack there that this ledger recorded with that PDF."""
    token = read_token(token_file)
    with workspace(home, keys="read") as (settings, keys, _ledger):
        host_keys = tuple(
            HostKey(k.key_id, fingerprint_of(k.public_key), k.status) for k in keys.public_keys()
        )
    if not packs.is_dir():
        raise InputError(f"{packs} is not a folder", hint="give the folder packs are printed to")

    def catalogue() -> list[ServedPack]:
        with Ledger.open_readonly(settings.ledger_target) as ledger:
            return _served(packs, lambda pack_id: pack_pdf_sha256(ledger, pack_id))

    def read_pdf(pack: ServedPack) -> bytes | None:
        data = pack.pdf.read_bytes() if pack.pdf.is_file() else b""
        return data if hashlib.sha256(data).hexdigest() == pack.pdf_sha256 else None

    config = ServeConfig(host, port, cert, key, token, settings.config.site, host_keys,
                         catalogue, read_pdf, log)  # fmt: skip
    return make_server(config)


def _served(folder: Path, recorded: Callable[[str], str | None]) -> list[ServedPack]:
    """Each ward's newest pack in ``folder`` and the continuations of those packs, as far as
    this host printed them with those very PDFs."""
    catalogue = folder_catalogue(folder)
    newest = _recorded(folder, catalogue.offers, recorded)
    offers = [o for p in newest for o in catalogue.continuations_of(p.ward, p.pack_id)]
    return newest + _recorded(folder, offers, recorded)


def _recorded(
    folder: Path, offers: Sequence[Offer], recorded: Callable[[str], str | None]
) -> list[ServedPack]:
    served_packs = []
    for offer in offers:
        manifest = folder / offer.name
        try:
            doc = json.loads(manifest.read_text(encoding="utf-8"))
            served = ServedPack(
                ward=offer.ward,
                pack_id=offer.pack_id,
                issued_at=offer.issued_at,
                data_as_of=datetime.fromisoformat(doc["data_as_of"]),
                valid_until=datetime.fromisoformat(doc["valid_until"]),
                pdf_sha256=str(doc["pdf_sha256"]),
                manifest=manifest,
                pdf=manifest.with_name(manifest.name.removesuffix(".manifest.json") + ".pdf"),
                continues=offer.continues,
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue
        # a pack this host printed, its PDF as printed
        if recorded(served.pack_id) == served.pdf_sha256 == _digest(served.pdf):
            served_packs.append(served)
    return sorted(served_packs, key=lambda p: (p.ward, p.issued_at, p.pack_id))


_DIGESTS: dict[tuple[str, int, int], str] = {}  # (path, mtime, size) → SHA-256, while serving


def _digest(path: Path) -> str:
    """The file's SHA-256 ('' if it cannot be read), hashed again only when it changed."""
    try:
        info = path.stat()
        key = (str(path), info.st_mtime_ns, info.st_size)
        if key not in _DIGESTS:
            _DIGESTS[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        return _DIGESTS[key]
    except OSError:
        return ""

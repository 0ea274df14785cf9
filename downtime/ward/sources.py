"""Where a ward station gets packs: a folder (a mounted share the print host writes its packs
to with ``pack --all-wards -o DIR``) or the print host over HTTPS (``station serve``).

A source offers, per ward, its newest pack (ward, pack id and issue time, read from the
manifest or the host's index), and the continuation packs it has (each says which pack it
continues: the next days' administration records, made ahead on the print host), and fetches
one (manifest and PDF bytes) only when the station wants it. Nothing offered is trusted: the
station checks what it fetches (:mod:`downtime.ward.verify`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from downtime.errors import DowntimeError, ExitCode
from downtime.ward.holding import MANIFEST_SUFFIX

MAX_MANIFEST_BYTES = 64 * 1024 * 1024  # a 1,000-patient manifest is a few megabytes
MAX_PDF_BYTES = 512 * 1024 * 1024


class SourceUnreachable(DowntimeError):
    """The source cannot be reached now (a share not mounted, the host down): the station
    keeps what it holds, and the next sync tries again."""

    exit_code = ExitCode.TEMPFAIL


@dataclass(frozen=True)
class HostKey:
    key_id: str
    fingerprint: str  # SHA-256 of the raw public key, hex
    status: str


@dataclass(frozen=True)
class Offer:
    ward: str
    pack_id: str
    issued_at: datetime
    name: str  # the manifest's file name or address, for messages
    fetch: Callable[[], tuple[bytes, bytes]]  # (manifest, PDF)
    continues: str = ""  # a continuation pack: the pack it says it continues (checked later)


@dataclass(frozen=True)
class Catalogue:
    description: str  # the folder or host, for messages (never a token)
    offers: tuple[Offer, ...]  # the newest pack per ward
    host_keys: tuple[HostKey, ...] = ()  # what the host signs with (HTTPS only)
    continuations: tuple[Offer, ...] = ()  # continuation packs, of any pack

    def continuations_of(self, ward: str, pack_id: str) -> list[Offer]:
        """The continuations offered of ``pack_id``, and of those, and so on (as they say:
        checked when fetched), each after the one it continues."""
        chain, ids = [], {pack_id}
        todo = [o for o in self.continuations if o.ward == ward]
        while found := [o for o in todo if o.continues in ids and o.pack_id not in ids]:
            for offer in sorted(found, key=lambda o: (o.issued_at, o.pack_id)):
                chain.append(offer)
                ids.add(offer.pack_id)
        return chain


def newest_per_ward(offers: list[Offer]) -> tuple[Offer, ...]:
    newest: dict[str, Offer] = {}
    for offer in offers:
        if offer.ward not in newest or offer.issued_at > newest[offer.ward].issued_at:
            newest[offer.ward] = offer
    return tuple(newest[w] for w in sorted(newest))


def folder_catalogue(folder: Path) -> Catalogue:
    """The newest pack per ward among the manifests in ``folder`` (not below it), and every
    continuation pack there (it adds pages to the ward's pack, and never replaces it); a
    manifest that cannot be read is passed over (the ward's other packs may still be
    offered)."""
    if not folder.is_dir():
        raise SourceUnreachable(
            f"the pack folder {folder} is not there",
            hint="check that the print host's share is mounted; the packs held are kept",
        )
    offers: list[Offer] = []
    continuations: list[Offer] = []
    for path in sorted(folder.glob(f"*{MANIFEST_SUFFIX}")):
        if path.name.startswith(".") or not path.is_file():
            continue
        try:
            manifest = _read_limited(path, MAX_MANIFEST_BYTES)
            doc = json.loads(manifest.decode("utf-8"))
            ward, pack_id = str(doc["ward"]), str(doc["pack_id"])
            issued_at = datetime.fromisoformat(doc["issued_at"])
            continues = str(doc["continues"]["pack_id"]) if "continues" in doc else ""
        except (OSError, ValueError, KeyError, TypeError):
            continue
        pdf = path.with_name(path.name.removesuffix(MANIFEST_SUFFIX) + ".pdf")
        offer = Offer(ward, pack_id, issued_at, path.name, _folder_fetch(manifest, pdf), continues)
        (continuations if continues else offers).append(offer)
    return Catalogue(str(folder), newest_per_ward(offers), (), tuple(continuations))


def _folder_fetch(manifest: bytes, pdf: Path) -> Callable[[], tuple[bytes, bytes]]:
    def fetch() -> tuple[bytes, bytes]:
        try:
            return manifest, _read_limited(pdf, MAX_PDF_BYTES)
        except OSError as e:
            raise SourceUnreachable(f"{pdf.name} cannot be read ({e.strerror})") from e
        except ValueError as e:  # larger than any pack: not read
            raise SourceUnreachable(f"{pdf.name} cannot be a pack ({e})") from e

    return fetch


def _read_limited(path: Path, limit: int) -> bytes:
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path.name} is larger than {limit} bytes")
    return data

"""One sync of a ward station: for each of its wards, the source's newest pack is fetched,
checked and kept — only when it is newer than the pack held, and only when every check passes
(:mod:`downtime.ward.verify`). Otherwise the pack held stays, and the outcome says why.

Which wards: those asked for; else those the station holds already; else (a first sync with
no ward named) every ward the source offers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from downtime.codes import fingerprint_of
from downtime.errors import DowntimeError
from downtime.ward.holding import Held, WardSync, held_packs, install
from downtime.ward.sources import Catalogue, HostKey, SourceUnreachable
from downtime.ward.verify import PackRefused, VerifiedPack, verify_pack


@dataclass(frozen=True)
class SyncResult:
    source: str
    outcomes: tuple[WardSync, ...]
    installed: tuple[VerifiedPack, ...]  # packs kept in this sync (to record in the ledger)
    refused: tuple[tuple[WardSync, str], ...]  # (outcome, reason code) of each refused pack
    keys_not_held: tuple[HostKey, ...]  # keys the host lists that this station does not hold

    @property
    def any_refused(self) -> bool:
        return any(o.outcome == "refused" for o in self.outcomes)

    @property
    def any_unreachable(self) -> bool:
        return any(o.outcome == "unreachable" for o in self.outcomes)


def sync_wards(
    catalogue: Catalogue,
    folder: Path,
    keys: Sequence[Ed25519PublicKey],
    *,
    wards: Sequence[str],
    now: datetime,
    tz: ZoneInfo,
) -> SyncResult:
    held = held_packs(folder)
    wanted = list(dict.fromkeys(wards)) or sorted(held) or [o.ward for o in catalogue.offers]
    offers = {o.ward: o for o in catalogue.offers}
    outcomes: list[WardSync] = []
    installed: list[VerifiedPack] = []
    refused: list[tuple[WardSync, str]] = []
    for ward in wanted:
        mine, offer = held.get(ward), offers.get(ward)

        def outcome(what: str, detail: str, pack_id: str = "", ward: str = ward) -> WardSync:
            done = WardSync(ward, now, what, detail, pack_id)
            outcomes.append(done)
            return done

        if offer is None:
            outcome("absent", f"{catalogue.description} has no pack for {ward}")
            continue
        if mine is not None and offer.pack_id == mine.pack_id:
            outcome("current", "the pack held is the newest", offer.pack_id)
            continue
        if mine is not None and offer.issued_at <= mine.issued_at:
            outcome("kept", _not_newer(offer.issued_at, mine, tz), offer.pack_id)
            continue
        try:
            manifest, pdf = offer.fetch()
            checked = verify_pack(manifest, pdf, keys, name=offer.name, ward=ward)
        except SourceUnreachable as e:
            outcome("unreachable", e.message, offer.pack_id)
            continue
        except PackRefused as e:
            said = f"{e.message} → {e.hint}" if e.hint else e.message
            refused.append((outcome("refused", said, offer.pack_id), e.reason))
            continue
        if mine is not None and checked.issued_at <= mine.issued_at:
            outcome("kept", _not_newer(checked.issued_at, mine, tz), offer.pack_id)
            continue
        try:
            install(folder, ward, checked.pack_id, checked.manifest, checked.pdf)
        except (OSError, DowntimeError) as e:
            outcome("unreachable", f"the pack could not be written here ({e})", offer.pack_id)
            continue
        installed.append(checked)
        outcome("updated", f"pack from {_local(checked.issued_at, tz)} kept", checked.pack_id)
    held_keys = {fingerprint_of(k) for k in keys}
    missing = tuple(k for k in catalogue.host_keys if k.fingerprint not in held_keys)
    return SyncResult(catalogue.description, tuple(outcomes), tuple(installed),
                      tuple(refused), missing)  # fmt: skip


def _not_newer(offered: datetime, mine: Held, tz: ZoneInfo) -> str:
    return (
        f"the source's pack (from {_local(offered, tz)}) is not newer than the one held "
        f"(from {_local(mine.issued_at, tz)}): kept the one held"
    )


def _local(when: datetime, tz: ZoneInfo) -> str:
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M")

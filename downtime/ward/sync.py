"""One sync of a ward station: for each of its wards, the source's newest pack is fetched,
checked and kept — only when it is newer than the pack held, and only when every check passes
(:mod:`downtime.ward.verify`). Otherwise the pack held stays, and the outcome says why.

Which wards: those asked for; else those the station holds already; else (a first sync with
no ward named) every ward the source offers.

Then the continuation packs the source has for the pack the ward now holds (made ahead on the
print host, so that the ward can print the next days' administration records without the
network) are fetched, checked the same way, and kept beside it; one is kept only when its
signed manifest says it continues that very pack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from downtime.codes import fingerprint_of
from downtime.errors import DowntimeError, InputError
from downtime.pack.manifest import continuation_in, load_manifest
from downtime.ward.holding import Held, WardSync, held_continuations, held_packs, install
from downtime.ward.sources import Catalogue, HostKey, Offer, SourceUnreachable
from downtime.ward.verify import PackRefused, VerifiedPack, verify_pack


@dataclass(frozen=True)
class ContinuationSync:
    """A continuation pack this sync fetched: ``added``, ``refused`` or ``unreachable``."""

    ward: str
    pack_id: str
    outcome: str
    detail: str
    reason: str = ""  # why refused (PackRefused's reason)


@dataclass(frozen=True)
class SyncResult:
    source: str
    outcomes: tuple[WardSync, ...]
    installed: tuple[VerifiedPack, ...]  # packs kept in this sync (to record in the ledger)
    refused: tuple[tuple[WardSync, str], ...]  # (outcome, reason code) of each refused pack
    keys_not_held: tuple[HostKey, ...]  # keys the host lists that this station does not hold
    continuations: tuple[ContinuationSync, ...] = ()
    continued: tuple[VerifiedPack, ...] = ()  # continuation packs kept in this sync

    @property
    def any_refused(self) -> bool:
        done = [o.outcome for o in self.outcomes] + [c.outcome for c in self.continuations]
        return "refused" in done

    @property
    def any_unreachable(self) -> bool:
        done = [o.outcome for o in self.outcomes] + [c.outcome for c in self.continuations]
        return "unreachable" in done


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
    added: list[ContinuationSync] = []
    continued: list[VerifiedPack] = []
    for ward, base in held_packs(folder).items():
        if ward not in wanted:
            continue
        have = {base.pack_id} | {h.pack_id for h in held_continuations(folder, base)}
        for offer in catalogue.continuations_of(ward, base.pack_id):
            if offer.pack_id in have or offer.continues not in have:
                continue  # held already; or what it continues was not kept (tried next time)
            done, checked_continuation = _continuation(offer, base, folder, keys, tz)
            added.append(done)
            if checked_continuation is not None:
                continued.append(checked_continuation)
                have.add(checked_continuation.pack_id)
    held_keys = {fingerprint_of(k) for k in keys}
    missing = tuple(k for k in catalogue.host_keys if k.fingerprint not in held_keys)
    return SyncResult(catalogue.description, tuple(outcomes), tuple(installed),
                      tuple(refused), missing, tuple(added), tuple(continued))  # fmt: skip


def _continuation(
    offer: Offer, base: Held, folder: Path, keys: Sequence[Ed25519PublicKey], tz: ZoneInfo
) -> tuple[ContinuationSync, VerifiedPack | None]:
    """Fetch, check and keep one continuation of the pack held (``base``)."""

    def done(what: str, detail: str, reason: str = "") -> ContinuationSync:
        return ContinuationSync(base.ward, offer.pack_id, what, detail, reason)

    try:
        manifest, pdf = offer.fetch()
        checked = verify_pack(manifest, pdf, keys, name=offer.name, ward=base.ward)
        try:
            continued = continuation_in(load_manifest(checked.manifest, offer.name))
        except InputError as e:
            raise PackRefused("not-a-manifest", f"{offer.name}: {e.message}") from e
        if continued is None or continued.continues != offer.continues:
            raise PackRefused(
                "not-a-continuation",
                f"{offer.name} is offered as a continuation of pack {offer.continues}, but its "
                "signed manifest says otherwise",
                hint="tell IT: the print host's folder or index is not what it should be",
            )
    except SourceUnreachable as e:
        return done("unreachable", e.message), None
    except PackRefused as e:
        said = f"{e.message} → {e.hint}" if e.hint else e.message
        return done("refused", said, e.reason), None
    try:
        install(folder, base.ward, checked.pack_id, checked.manifest, checked.pdf,
                continues=offer.continues)  # fmt: skip
    except (OSError, DowntimeError) as e:
        return done("unreachable", f"the pack could not be written here ({e})"), None
    window = _local(continued.mar_from, tz)
    return done("added", f"continuation kept: administration record from {window}"), checked


def _not_newer(offered: datetime, mine: Held, tz: ZoneInfo) -> str:
    return (
        f"the source's pack (from {_local(offered, tz)}) is not newer than the one held "
        f"(from {_local(mine.issued_at, tz)}): kept the one held"
    )


def _local(when: datetime, tz: ZoneInfo) -> str:
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M")

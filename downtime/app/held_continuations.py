"""A ward station's continuation packs: the next days' administration records and journal
pages, made ahead on the print host with each pack and synced with it, so that a ward prints
them on day two and three of an outage without the network. The station signs nothing (it
holds no private key): it prints the pages the host signed.

The next continuation is the first, by its window, that was not printed here yet; a print
that failed does not count. ``--pack ID`` chooses one (the ward's pack or a continuation of it)
to print again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from downtime.codes.keys import KeyStore
from downtime.errors import InputError, Said
from downtime.ledger import Ledger
from downtime.ledger.prints import printed_pages
from downtime.settings import Settings, resolve
from downtime.ward import Held, VerifiedPack, folder_of, held_packs, verify_pack
from downtime.ward.holding import held_continuations


@dataclass(frozen=True)
class HeldContinuation:
    held: Held
    printed: bool  # printed (or written out) on this station, not failed

    @property
    def window(self) -> tuple[datetime, datetime] | None:
        start = self.held.mar_from
        return None if start is None else (start, start + timedelta(hours=self.held.mar_hours))


def holds_pack(home: Path | None, ward: str) -> bool:
    """Whether the data folder is a ward station's holding a pack for ``ward``."""
    return ward in held_packs(folder_of(resolve(home).home))


def ward_pack(settings: Settings, ward: str) -> Held:
    """The pack this station holds for ``ward``."""
    held = held_packs(folder_of(settings.home)).get(ward)
    if held is None:
        raise InputError(
            f"this station holds no pack for {ward}",
            hint="fetch it with downtime station sync SOURCE --ward " + ward,
            said=Said("no_pack_held", {"ward": ward}),
        )
    return held


def continuations_held(settings: Settings, ledger: Ledger, base: Held) -> list[HeldContinuation]:
    """The continuations held for the ward's pack, by window, each printed here or not."""
    held = held_continuations(folder_of(settings.home), base)
    printed = printed_pages(ledger, [h.pack_id for h in held])
    return [HeldContinuation(h, h.pack_id in printed) for h in held]


def choose_held(
    settings: Settings,
    keys: KeyStore,
    ledger: Ledger,
    ward: str,
    *,
    pack_id: str | None = None,
    continuation: bool = False,
) -> VerifiedPack:
    """The pack to print, checked again: the ward's pack; with ``continuation`` the next
    continuation not printed here; with ``pack_id`` that one (the ward's pack or one of its
    continuations)."""
    base = ward_pack(settings, ward)
    chosen = base
    if pack_id is not None and pack_id != base.pack_id:
        found = [c.held for c in continuations_held(settings, ledger, base)]
        match = next((h for h in found if h.pack_id == pack_id), None)
        if match is None:
            held_ids = ", ".join([base.pack_id, *(h.pack_id for h in found)])
            raise InputError(
                f"this station holds no pack {pack_id} for {ward}",
                hint=f"the packs held for {ward}: {held_ids} (downtime station status)",
                said=Said("no_such_pack_held", {"ward": ward, "pack": pack_id, "held": held_ids}),
            )
        chosen = match
    elif continuation:
        chosen = _next(settings, ledger, base)
    return verify_pack(
        chosen.manifest.read_bytes(),
        chosen.pdf.read_bytes(),
        keys.verification_keys(),
        name=chosen.manifest.name,
        ward=ward,
    )


def _next(settings: Settings, ledger: Ledger, base: Held) -> Held:
    found = continuations_held(settings, ledger, base)
    if not found:
        raise InputError(
            f"this station holds no continuation of {base.ward}'s pack",
            hint="the print host makes them ahead with each pack (site.toml continuations_ahead, "
            "or downtime pack --ahead N) and the next sync brings them; until then, the print "
            f"host makes one with: downtime pack --continue --ward {base.ward}",
            said=Said("no_continuation_held", {"ward": base.ward}),
        )
    waiting = next((c.held for c in found if not c.printed), None)
    if waiting is None:
        held_ids = ", ".join(c.held.pack_id for c in found)
        raise InputError(
            f"every continuation this station holds for {base.ward} was printed here already",
            hint=f"print one again with --pack ID ({held_ids}); the next ones come with the "
            "next sync once the print host makes them",
            said=Said("continuations_all_printed", {"ward": base.ward, "held": held_ids}),
        )
    return waiting

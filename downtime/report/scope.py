"""Which packs the report covers, and why each (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from downtime.ledger.outage import Outage
from downtime.report.model import PackInfo, Scope, ScopedPack


def choose_scope(
    packs: Sequence[PackInfo],
    returned: Iterable[str],
    outage: Outage | None,
    *,
    all_packs: bool,
    now: datetime,
    printed: Iterable[str] = (),
) -> Scope:
    """Which packs the report covers, and why each (see the module docstring)."""
    why: dict[str, list[str]] = {}
    printed_during = set(printed)  # packs printed on demand during the outage

    def add(pack: PackInfo, reason: str) -> None:
        why.setdefault(pack.pack_id, []).append(reason)

    rule = "all-packs" if all_packs else "outage" if outage else "current"
    by_ward: dict[tuple[str, str], list[PackInfo]] = {}
    for p in packs:
        by_ward.setdefault((p.site, p.ward), []).append(p)
    for ward_packs in by_ward.values():
        if rule == "all-packs":
            for p in ward_packs:
                add(p, "all-packs")
        elif outage is not None:
            before = [p for p in ward_packs if p.issued_at <= outage.start]
            newest = max((p.issued_at for p in before), default=None)
            for p in before:  # a pack and the continuations made ahead with it: issued at once
                if p.issued_at == newest:
                    add(p, "newest-at-outage-start")
            for p in ward_packs:
                if p.issued_at > outage.start and outage.covers(p.issued_at, now):
                    add(p, "issued-during-outage")
            for p in ward_packs:
                if p.pack_id in printed_during:
                    add(p, "printed-during-outage")
        else:
            for p in ward_packs:
                if p.superseded_by is None:
                    add(p, "current")
    back = set(returned)
    for p in packs:
        if p.pack_id in back:
            add(p, "pages-returned")
    chosen = sorted((p for p in packs if p.pack_id in why), key=lambda p: (p.ward, p.issued_at))
    return Scope(rule, outage, tuple(ScopedPack(p, tuple(why[p.pack_id])) for p in chosen))

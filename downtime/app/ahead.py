"""Continuations made ahead (``downtime pack --ahead N``, site option ``continuations_ahead``):
with each ward pack the print host makes the next N continuation packs too, so that a ward
station, which holds no census and no signing key, can print the next days' administration
records and journal pages during an outage without the network. Each continues the ward pack
itself; their windows follow one another from where the pack's ends. Beside ``MED42.pdf``:
``MED42.ahead-1.pdf``, ``MED42.ahead-2.pdf``, each with its manifest.

The windows' arithmetic is shared with ``downtime pack --continue``
(:mod:`downtime.app.continuation`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from downtime.codes.keys import KeyStore
from downtime.forms import FormDef
from downtime.ledger import Ledger
from downtime.ledger.packs import Continuation
from downtime.model import Census
from downtime.pack import PreparedPack, prepare_pack
from downtime.settings import Settings

CONTINUED_FORMS = ("mar", "journal")  # what runs out first: the next day's record, more notes


def pack_window(settings: Settings, issued_at: datetime) -> tuple[datetime, int]:
    """A ward pack's administration record: from the hour it was issued (site time), and how
    many hours."""
    start = issued_at.astimezone(settings.tz).replace(minute=0, second=0, microsecond=0)
    return start, settings.config.mar_hours


def window_end(settings: Settings, start: datetime, hours: int) -> datetime:
    """Where a window of ``hours`` from ``start`` ends (site time): the next one starts there."""
    return (start + timedelta(hours=hours)).astimezone(settings.tz)


def ahead_windows(
    settings: Settings, pack_id: str, issued_at: datetime, count: int
) -> list[Continuation]:
    """The windows of ``count`` continuations made ahead of a pack: back to back, the first
    from where the pack's ends."""
    start, hours = pack_window(settings, issued_at)
    windows = []
    for _ in range(count):
        start, hours = window_end(settings, start, hours), settings.config.mar_hours
        windows.append(Continuation(pack_id, start, hours, ahead=True))
    return windows


def ahead_pdf(pdf: Path, n: int) -> Path:
    """The ``n``-th continuation made ahead of the pack ``pdf``: MED42.pdf → MED42.ahead-1.pdf."""
    return pdf.with_name(f"{pdf.stem}.ahead-{n}{pdf.suffix}")


def continuation_settings(
    settings: Settings, forms: Sequence[str] = CONTINUED_FORMS, admission_forms: int = 0
) -> Settings:
    """``settings`` for a continuation pack: ``forms`` for every patient, and
    ``admission_forms`` blank admission forms (none unless asked for)."""
    config = replace(settings.config, patient_forms=tuple(forms), admission_forms=admission_forms)
    return replace(settings, config=config)


def prepare_ahead(
    census: Census,
    pack: PreparedPack,
    *,
    settings: Settings,
    forms: Mapping[str, FormDef],
    keys: KeyStore,
    ledger: Ledger,
    taken_serials: set[str],
) -> list[PreparedPack]:
    """The continuations made ahead of the ward pack ``pack`` (prepared, not drawn):
    ``continuations_ahead`` of them, for the patients and orders it was planned with, issued
    when it is. None for a pack without patients."""
    ctx, plan = pack.job.ctx, pack.job.plan
    count = settings.config.continuations_ahead
    if not count or not plan.patients:
        return []
    printed = Census(plan.patients, plan.orders, census.source, census.data_as_of)
    own = continuation_settings(settings)
    windows = ahead_windows(settings, ctx.pack_id, ctx.issued_at, count)
    return [
        prepare_pack(
            printed,
            ctx.ward,
            ahead_pdf(pack.out_pdf, n),
            settings=own,
            forms=forms,
            keys=keys,
            ledger=ledger,
            issued_at=ctx.issued_at,
            taken_serials=taken_serials,
            continues=window,
        )
        for n, window in enumerate(windows, start=1)
    ]

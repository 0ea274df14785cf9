"""Continuation packs (``downtime pack --continue``): on the second and third day of an outage a
ward needs the next administration records and more journal pages without the network. A
continuation is printed from the census the ward's newest pack was printed from (as the ledger
holds it), for the time window after the one that pack's administration record covers, with new
page codes. It supersedes nothing: the sheets printed before stay in use and are handed in too.

Continuations made ahead with the pack (``pack --ahead N``, :mod:`downtime.app.ahead`) that
this ledger holds no print of (and no page of back on paper) may never be printed: the window
after them is not the one needed, so they are left out of the chain the next window follows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from downtime.app.ahead import CONTINUED_FORMS, pack_window, window_end
from downtime.app.forms import site_forms_for
from downtime.app.packs import safe_name
from downtime.app.workspace import workspace
from downtime.errors import InputError
from downtime.ledger import Ledger, PackSummary
from downtime.ledger.packs import (
    Continuation,
    continuation_of,
    continued_by,
    pack_census,
    pack_origin,
    pack_summaries,
)
from downtime.model import Census
from downtime.pack import PackResult, make_packs, prepare_pack
from downtime.settings import Settings


def continue_pack(
    home: Path | None,
    *,
    ward: str,
    output: Path,
    issued_at: datetime,
    forms: Sequence[str] | None = None,
    admission_forms: int | None = None,
    lang: str | None = None,
) -> PackResult:
    """Print ``ward``'s continuation pack to ``output`` (a PDF, or a folder for WARD.pdf):
    ``forms`` for every patient (default :data:`CONTINUED_FORMS`), ``admission_forms`` blank
    admission forms (default none), the administration record from where the newest pack's
    ends (or from now, if that is past)."""
    chosen = tuple(dict.fromkeys(forms or CONTINUED_FORMS))
    with workspace(home, patient_forms=chosen, admission_forms=admission_forms or 0, lang=lang) as (
        settings,
        keys,
        ledger,
    ):
        newest = _chain_end(ledger, ward)
        if newest is None:
            raise InputError(
                f"ward '{ward}' has no pack to continue",
                hint="print its pack first: `downtime pack … --ward W`",
            )
        site_forms = site_forms_for(settings)
        unknown = [f for f in chosen if f not in site_forms or f in ("cover", "admission")]
        if unknown:
            patient = sorted(f for f in site_forms if f not in ("cover", "admission"))
            raise InputError(
                f"not a patient form: {', '.join(unknown)}",
                hint=f"choose from {', '.join(patient)}",
            )
        patients, orders = pack_census(ledger, newest.pack_id, ward)
        source, data_as_of = pack_origin(ledger, newest.pack_id)
        census = Census(tuple(patients), tuple(orders), source, data_as_of)
        window = Continuation(
            newest.pack_id, _next_window(ledger, settings, newest.pack_id, newest.issued_at,
                                         issued_at), settings.config.mar_hours,
        )  # fmt: skip
        pdf = output / f"{safe_name(ward)}-continued.pdf" if output.is_dir() else output
        prepared = prepare_pack(census, ward, pdf, settings=settings, forms=site_forms, keys=keys,
                                ledger=ledger, issued_at=issued_at, continues=window)  # fmt: skip
        [result] = make_packs([prepared], settings=settings, ledger=ledger)
        return result


def _chain_end(ledger: Ledger, ward: str) -> PackSummary | None:
    """The last pack of the chain of ``ward``'s newest pack and its continuations, each the
    one continuing the pack before with the latest window; continuations made ahead that may
    never have been printed are left out. None: the ward has no pack."""
    packs = {p.pack_id: p for p in pack_summaries(ledger)}
    newest = next((p for p in packs.values() if p.ward == ward), None)  # newest first
    while newest is not None and (earlier := continuation_of(ledger, newest.pack_id)):
        if earlier.continues not in packs:
            break
        newest = packs[earlier.continues]  # up to the pack the chain starts from
    while newest is not None and (
        later := continued_by(ledger, newest.pack_id, unprinted_ahead=False)
    ):
        newest = packs[later]
    return newest


def _next_window(
    ledger: Ledger, settings: Settings, pack_id: str, pack_issued: datetime, now: datetime
) -> datetime:
    """Where the administration record after ``pack_id``'s starts: at the end of that pack's
    window, or at the current hour if that end is past."""
    earlier = continuation_of(ledger, pack_id)
    if earlier is not None:
        start, hours = earlier.mar_from, earlier.mar_hours
    else:
        start, hours = pack_window(settings, pack_issued)
    this_hour = now.astimezone(settings.tz).replace(minute=0, second=0, microsecond=0)
    return max(window_end(settings, start, hours), this_hour)

"""Continuation packs (``downtime pack --continue``): on the second and third day of an outage a
ward needs the next administration records and more journal pages without the network. A
continuation is printed from the census the ward's newest pack was printed from (as the ledger
holds it), for the time window after the one that pack's administration record covers, with new
page codes. It supersedes nothing: the sheets printed before stay in use and are handed in too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from downtime.app.forms import site_forms_for
from downtime.app.packs import safe_name
from downtime.app.workspace import workspace
from downtime.errors import InputError
from downtime.ledger import Ledger
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

CONTINUED_FORMS = ("mar", "journal")  # what runs out first: the next day's record, more notes


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
        newest = next((p for p in pack_summaries(ledger) if p.ward == ward), None)
        while newest is not None and (later := continued_by(ledger, newest.pack_id)):
            newest = next(p for p in pack_summaries(ledger) if p.pack_id == later)
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


def _next_window(
    ledger: Ledger, settings: Settings, pack_id: str, pack_issued: datetime, now: datetime
) -> datetime:
    """Where the administration record after ``pack_id``'s starts: at the end of that pack's
    window, or at the current hour if that end is past."""
    earlier = continuation_of(ledger, pack_id)
    if earlier is not None:
        start, hours = earlier.mar_from, earlier.mar_hours
    else:
        start = pack_issued.astimezone(settings.tz).replace(minute=0, second=0, microsecond=0)
        hours = settings.config.mar_hours
    end = (start + timedelta(hours=hours)).astimezone(settings.tz)
    this_hour = now.astimezone(settings.tz).replace(minute=0, second=0, microsecond=0)
    return max(end, this_hour)

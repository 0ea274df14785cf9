"""What the listing commands share: times in the site's time zone, and ``--json`` documents.

Every listing's ``--json`` prints one JSON document whose ``schema`` names what it holds and
its version, ``downtime.<thing>/<n>``; the version goes up when a field is renamed, removed or
changes meaning (fields may be added within a version). Times are ISO 8601 with the UTC offset
of the site's time zone (site.toml ``timezone``, named in the document's ``timezone``), the
same instants the tables show. The README's *Listings as JSON* lists them:

==========================  ===================================================================
``downtime.doctor/1``       ``doctor``: ``ok``, ``checks`` [``check``, ``state``, ``what``, ``fix``]
``downtime.packs/1``        ``packs list``: ``packs`` [``pack_id``, ``site``, ``ward``,
                            ``issued_at``, ``pages``, ``census_source``, ``current``,
                            ``superseded_by``]
``downtime.keys/1``         ``keys list``: ``keys`` [``key_id``, ``status``, ``signs``,
                            ``created_at``, ``retired_at``, ``pages_signed``]
``downtime.forms/1``        ``forms list``: ``lang``, ``forms`` [``id``, ``code``, ``version``,
                            ``subject``, ``origin``, ``title``]
``downtime.outage/1``       ``outage show``: ``events`` [``seq``, ``kind``, ``at``,
                            ``recorded_at``, ``recorded_by``], ``latest`` {``start``, ``end``}
``downtime.quarantine/1``   ``quarantine list``: ``items`` [``item_id``, ``source``,
                            ``source_page``, ``reason``, ``message``, ``created_at``,
                            ``resolved``, …]
``downtime.users/1``        ``users list``: ``users`` [``name``, ``role``, ``active``,
                            ``added_by``, ``added_at``, ``disabled_at``]
``downtime.review-items/1`` ``review list`` (:mod:`downtime.app.decisions`)
==========================  ===================================================================
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click

from downtime.cli.common import data_home
from downtime.settings import resolve

F = TypeVar("F", bound=Callable[..., Any])

DOCTOR = "downtime.doctor/1"
PACKS = "downtime.packs/1"
KEYS = "downtime.keys/1"
FORMS = "downtime.forms/1"
OUTAGE = "downtime.outage/1"
QUARANTINE = "downtime.quarantine/1"
USERS = "downtime.users/1"


def json_option(schema: str) -> Callable[[F], F]:
    """``--json``: the listing as one JSON document of ``schema``."""
    return click.option(
        "--json", "as_json", is_flag=True, help=f"One JSON document (schema {schema})."
    )


def site_timezone(ctx: click.Context) -> ZoneInfo:
    """The site's time zone (site.toml ``timezone``): every time a person reads is in it."""
    return resolve(data_home(ctx)).tz


def local_time(when: datetime | str | None, tz: ZoneInfo) -> str | None:
    """An instant as ISO 8601 in the site's time zone, to the second (None stays None). A
    text is read as ISO 8601, a time without an offset as UTC (as the ledger writes them)."""
    if when is None:
        return None
    moment = datetime.fromisoformat(when) if isinstance(when, str) else when
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz).isoformat(timespec="seconds")


def echo_document(schema: str, **fields: Any) -> None:
    """Print ``{"schema": schema, **fields}`` as JSON on stdout."""
    click.echo(json.dumps({"schema": schema, **fields}, ensure_ascii=False, indent=1))

"""Why an item is held, as a code a front end can put in its own words.

Reconciliation records why it held an item as an English sentence (``held_items.detail``, the
texts in :mod:`downtime.record.fhir.model` and :mod:`downtime.record.checks`). :func:`why_code`
finds which of those texts a detail is — with what was filled into it, for the few that name
flags or boxes — so that the review station can show it in Swedish too. A detail that matches
none (a text from an older version of the kit, say) has no code: show it as it is.
"""

from __future__ import annotations

import re
from functools import cache

from downtime.record.checks import WHY_ADMINISTERED, WHY_MERGED, WHY_ORDERED_SINCE
from downtime.record.fhir.model import (
    WHY_ADMISSION,
    WHY_AFTER_SCAN,
    WHY_BEFORE_PACK,
    WHY_CHANGE,
    WHY_FLAGGED,
    WHY_FLAGGED_CORRECTED,
    WHY_FORM,
    WHY_INITIALS,
    WHY_NEW,
    WHY_NO_ORDER,
    WHY_NO_SLOT,
    WHY_PAGE,
    WHY_PARTLY_READ,
    WHY_PRN,
    WHY_REFERRAL,
    WHY_RX,
    WHY_SEVERAL,
    WHY_TO,
    WHY_UNCLEAR,
)

# code → the English text (``{name}``: a value filled in), for every reason a reviewer's queue
# can hold an item for
WHYS: dict[str, str] = {
    "prn": WHY_PRN,
    "change": WHY_CHANGE,
    "new-order": WHY_NEW,
    "prescription": WHY_RX,
    "referral-to": WHY_TO,
    "referral": WHY_REFERRAL,
    "admission": WHY_ADMISSION,
    "form": WHY_FORM,
    "page-conflict": WHY_PAGE,
    "no-order": WHY_NO_ORDER,
    "no-slot": WHY_NO_SLOT,
    "initials": WHY_INITIALS,
    "after-scan": WHY_AFTER_SCAN,
    "before-pack": WHY_BEFORE_PACK,
    "flagged-corrected": WHY_FLAGGED_CORRECTED,
    "flagged": WHY_FLAGGED,
    "partly-read": WHY_PARTLY_READ,
    "unclear": WHY_UNCLEAR,
    "several-ticked": WHY_SEVERAL,
    "administered": WHY_ADMINISTERED,
    "ordered-since": WHY_ORDERED_SINCE,
    "merged": WHY_MERGED,
}
_FILLED = re.compile(r"\{(\w+)\}")


@cache
def _patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    out = []
    for code, text in WHYS.items():
        parts = _FILLED.split(text)  # text, name, text, name, …, text
        regex = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts)
        )
        out.append((code, re.compile(regex)))
    return tuple(out)


def why_code(detail: str) -> tuple[str, dict[str, str]] | None:
    """(code, values filled in) of a held item's detail, or None when it is no known text."""
    for code, pattern in _patterns():
        match = pattern.fullmatch(detail)
        if match is not None:
            return code, match.groupdict()
    return None

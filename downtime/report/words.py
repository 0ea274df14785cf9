"""The report's words in Swedish and English (``words.toml``, shipped in the package), and the
sentences the report is made of: its state, scope, ages, pending count and audit line.

Pure: a language and data in, text out. Codes — form ids, the kinds items are held as,
quarantine reasons, item names — are shown as they are in either language (the other commands
take and show them so); the reasons a held item gives are the record's own words, as recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from downtime import words as shared
from downtime.report.model import (
    HELD_KINDS,
    PatientRef,
    PendingItem,
    Report,
    Scope,
    ScopedPack,
)

# Commands and options the report's sentences name (as code in HTML), the same in every language.
OUTAGE_START = "downtime outage start"
ALL_PACKS = "--all-packs"
VOID_BLANK = "downtime void SERIAL --reason …"
QUARANTINE_LIST = "downtime quarantine list"


def catalogue() -> dict[str, dict[str, Any]]:
    return shared.catalogue("downtime.report")


class Words(shared.Words):
    """The report's words in one language (tables ``columns``, ``counts``, ``why``,
    ``chart``)."""

    package = "downtime.report"
    what = "report"


def words(lang: str) -> Words:
    return Words(lang)


def local(when: datetime, tz: str) -> str:
    """A time as the report shows it: in the site's time zone, to the minute."""
    return when.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def outstanding(report: Report, lang: str) -> list[str]:
    """What keeps the report from being complete, in words (empty when complete)."""
    w = words(lang)
    return [w.n(f"{key}_n", n) for key, n in report.outstanding_counts if n]


def state_words(report: Report, lang: str) -> str:
    """The report's state, as the text table says it: "everything accounted for" or what is
    not."""
    w = words(lang)
    if report.complete:
        return f"{w('accounted')}: {w('nothing_left')}"
    return f"{w('not_accounted').upper()}: " + ", ".join(outstanding(report, lang))


def describe_scope(scope: Scope, tz: str, lang: str) -> str:
    w = words(lang)
    printed = any(s.printed_pages is not None for s in scope.packs)
    note = w("scope_printed") if printed else ""  # some packs count only their printed pages
    if scope.rule == "all-packs":
        return w("scope_all", command=ALL_PACKS) + note
    if scope.rule == "outage" and scope.outage is not None:
        end = local(scope.outage.end, tz) if scope.outage.end else w("not_ended")
        return w("scope_outage", start=local(scope.outage.start, tz), end=end) + note
    return w("scope_current", command=OUTAGE_START) + note


def why_words(pack: ScopedPack, w: Words) -> str:
    """Why a pack is in scope, in words, and how many of its pages were printed (if it has
    print records)."""
    why = ", ".join(w.of("why", r) for r in pack.why)
    if pack.printed_pages is None:
        return why
    return f"{why}; {w.n('printed_n', pack.printed_pages)}"


def pending_words(kinds: Mapping[str, int], lang: str = "en") -> str:
    """How many items are held for a person, and of which kinds (the report's heading of its
    pending list and the drill's count say it in these words)."""
    n = sum(kinds.values())
    ordered = sorted(kinds, key=lambda k: (HELD_KINDS.index(k) if k in HELD_KINDS else 99, k))
    what = ", ".join(f"{k} {kinds[k]}" for k in ordered if kinds[k])
    return words(lang).n("held_n", n) + (f" ({what})" if what else "")


def audit_command(report: Report) -> str:
    return f"downtime audit verify --expect-head {report.audit_head[:16]}"


def audit_words(report: Report, lang: str) -> str:
    """The audit trail's head, to be checked later (a rewritten trail no longer holds it)."""
    head = report.audit_head[:16]
    return words(lang)("audit", events=report.audit_events, head=head,
                       command=audit_command(report))  # fmt: skip


def age_words(seconds: int, lang: str) -> str:
    """An age as a clerk reads it: ``35 min``, ``5 h 02 min``, ``3 d 4 h`` (in English)."""
    w = words(lang)
    minutes, hours = seconds // 60, seconds // 3600
    if hours < 1:
        return w("age_minutes", minutes=minutes)
    if hours < 48:
        return w("age_hours", hours=hours, minutes=minutes % 60)
    return w("age_days", days=hours // 24, hours=hours % 24)


def patient_words(patient: PatientRef, lang: str) -> str:
    """Personnummer as ``YYYYMMDD-NNNN``; a reserve id as printed; the cover sheet named."""
    if patient.identifier is not None:
        return patient.identifier.display()
    return words(lang)("cover_sheet")


def note_words(note: str | None, lang: str) -> str | None:
    """A missing page's note (:attr:`~downtime.report.MissingPage.note`) in words."""
    return words(lang)(note) if note else None


def page_words(item: PendingItem, lang: str) -> str:
    """``1/2``; the word for a form for an item about the whole form."""
    if item.page_no is None:
        return words(lang)("whole_form")
    return f"{item.page_no}/{item.page_count}"

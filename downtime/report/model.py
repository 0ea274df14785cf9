"""What the outage report is made of: counts, packs in scope, patients, forms, missing pages,
pending items and quarantined items, per ward (pure records; see :mod:`downtime.report`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import astuple, dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from downtime.ledger.outage import Outage
from downtime.model import Identifier

SCHEMA = "downtime.report/1"
MEDICATION_FORMS = ("medication-orders", "mar", "prescription")
FORM_ORDER = ("referral", *MEDICATION_FORMS, "journal", "admission", "cover")
CATEGORIES = ("referral", "medication", "other")  # the order of the missing list
# Waiting for a person to read, type or decide what the paper says; every held kind not in
# conflict and not failed counts as pending review.
PENDING_KINDS = frozenset({"pending-review"})
# In conflict until a person acts: captures that disagree, the record holding something else,
# or not holding the patient or encounter the paper is about (``unknown-in-record``).
CONFLICT_KINDS = frozenset({"conflict", "record-conflict", "unknown-in-record"})
FAILED_KINDS = frozenset({"record-check-failed"})  # held because the record could not be checked
# Every other held kind is pending review. The order pending items' kinds are named in:
HELD_KINDS = ("pending-review", "conflict", "record-conflict", "unknown-in-record",
              "record-check-failed")  # fmt: skip
EVERYTHING_ACCOUNTED_FOR = "everything accounted for"  # the words of a complete report
NOTHING_LEFT = "nothing is missing, pending, in conflict, quarantined or failed"
BLANK_SPARE = "blank spare — void it if it was not used"
COVER_SHEET = "ward cover sheet"
WHY = {
    "newest-at-outage-start": "newest pack at the outage start",
    "issued-during-outage": "issued during the outage",
    "current": "current pack",
    "pages-returned": "pages returned from it",
    "all-packs": "all packs asked for",
}


@dataclass(frozen=True)
class Counts:
    issued: int = 0
    returned: int = 0
    missing: int = 0
    voided: int = 0
    pending_review: int = 0
    conflicts: int = 0
    posted: int = 0
    written: int = 0
    failed: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


COUNT_FIELDS = tuple(Counts.__dataclass_fields__)


def total(counts: Iterable[Counts]) -> Counts:
    out = Counts()
    for c in counts:
        out = out + c
    return out


@dataclass(frozen=True)
class PackInfo:
    pack_id: str
    site: str
    ward: str
    issued_at: datetime
    superseded_by: str | None


@dataclass(frozen=True)
class ScopedPack:
    pack: PackInfo
    why: tuple[str, ...]  # keys of WHY


@dataclass(frozen=True)
class Scope:
    rule: str  # outage | current | all-packs
    outage: Outage | None
    packs: tuple[ScopedPack, ...]


@dataclass(frozen=True)
class PatientRef:
    kind: str  # patient | admission (a blank form's reserve id) | ward (the cover sheet)
    identifier: Identifier | None
    family_name: str | None = None
    given_name: str | None = None
    bed: str | None = None

    @property
    def display(self) -> str:
        """Personnummer as ``YYYYMMDD-NNNN``; a reserve id as printed; the cover sheet named."""
        return self.identifier.display() if self.identifier else COVER_SHEET

    @property
    def name(self) -> str:
        return ", ".join(n for n in (self.family_name, self.given_name) if n)


@dataclass(frozen=True)
class FormLine:
    form: str
    form_key: str
    pack_id: str
    issued_at: datetime
    serials: tuple[str, ...]  # page 1 first
    missing_serials: tuple[str, ...]
    counts: Counts
    bundle_outcomes: Mapping[str, int]  # latest outcome → bundles

    @property
    def posted_pages(self) -> int:
        return self.counts.returned if self.counts.posted else 0

    @property
    def outbox_pages(self) -> int:
        return self.counts.returned if self.counts.written and not self.counts.posted else 0


@dataclass(frozen=True)
class PatientSection:
    patient: PatientRef
    forms: tuple[FormLine, ...]

    @property
    def counts(self) -> Counts:
        return total(f.counts for f in self.forms)


@dataclass(frozen=True)
class QuarantineLine:
    """An open quarantine item; ``ward`` … ``patient`` when its verified code names a page
    this ledger issued."""

    item_id: int
    source: str
    source_page: int
    reason: str
    message: str
    created_at: str
    ward: str | None = None
    serial: str | None = None
    form: str | None = None
    page_no: int | None = None
    page_count: int | None = None
    patient: PatientRef | None = None


@dataclass(frozen=True)
class MissingPage:
    serial: str
    page_uid: str
    ward: str
    patient: PatientRef
    form: str
    page_no: int
    page_count: int
    pack_id: str
    issued_at: datetime

    @property
    def category(self) -> str:
        if self.form == "referral":
            return "referral"
        return "medication" if self.form in MEDICATION_FORMS else "other"

    @property
    def note(self) -> str | None:
        if self.form == "admission":
            return BLANK_SPARE
        return COVER_SHEET if self.form == "cover" else None


@dataclass(frozen=True)
class PendingItem:
    """An item held for a person, on a form in scope: what the review station works through."""

    ward: str
    patient: PatientRef
    form: str
    form_key: str
    pack_id: str
    page_no: int | None  # None: the item is about the whole form (of several pages)
    page_count: int
    serials: tuple[str, ...]  # the item's page; each returned page for a whole-form item
    item: str
    kind: str  # see HELD_KINDS
    detail: str  # why it is held, in words
    since: datetime  # first held (the current hold)

    @property
    def page(self) -> str:
        """``1/2``; ``form`` for an item about the whole form."""
        return f"{self.page_no}/{self.page_count}" if self.page_no is not None else "form"

    def age(self, at: datetime) -> int:
        """Whole seconds held at ``at``."""
        return max(0, int((at - self.since).total_seconds()))


def pending_words(kinds: Mapping[str, int]) -> str:
    """How many items are held for a person, and of which kinds (the report's heading of its
    pending list and the drill's count say it in these words)."""
    n = sum(kinds.values())
    ordered = sorted(kinds, key=lambda k: (HELD_KINDS.index(k) if k in HELD_KINDS else 99, k))
    what = ", ".join(f"{k} {kinds[k]}" for k in ordered if kinds[k])
    return f"{n} item(s) held for a person" + (f" ({what})" if what else "")


def audit_words(report: Report) -> str:
    """The audit trail's head, to be checked later (a rewritten trail no longer holds it)."""
    head = report.audit_head[:16]
    return (
        f"Audit trail: {report.audit_events} events, head {head}"
        f" (check later: downtime audit verify --expect-head {head})"
    )


def age_words(seconds: int) -> str:
    """An age as a clerk reads it: ``35 min``, ``5 h 02 min``, ``3 d 4 h``."""
    minutes, hours = seconds // 60, seconds // 3600
    if hours < 1:
        return f"{minutes} min"
    if hours < 48:
        return f"{hours} h {minutes % 60:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def kinds_of(items: Iterable[PendingItem]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item.kind] = out.get(item.kind, 0) + 1
    return out


@dataclass(frozen=True)
class WardSection:
    ward: str
    packs: tuple[ScopedPack, ...]
    patients: tuple[PatientSection, ...]
    quarantined: tuple[QuarantineLine, ...]

    @property
    def counts(self) -> Counts:
        return total(p.counts for p in self.patients)

    @property
    def chart(self) -> dict[str, int]:
        """Pages issued, returned, posted, written to the outbox (not posted)."""
        forms = [f for p in self.patients for f in p.forms]
        return {
            "issued": sum(f.counts.issued for f in forms),
            "returned": sum(f.counts.returned for f in forms),
            "posted": sum(f.posted_pages for f in forms),
            "outbox": sum(f.outbox_pages for f in forms),
        }


@dataclass(frozen=True)
class Report:
    site: str
    generated_at: datetime
    timezone: str
    ward_filter: str | None
    scope: Scope
    missing: tuple[MissingPage, ...]
    wards: tuple[WardSection, ...]
    unattributed: tuple[QuarantineLine, ...]
    pending: tuple[PendingItem, ...] = ()  # every item held for a person, one by one
    audit_events: int = 0  # the audit trail's length when the report was made
    audit_head: str = ""  # and its last event's hash (`downtime audit verify --expect-head`)

    @property
    def counts(self) -> Counts:
        return total(w.counts for w in self.wards)

    @property
    def quarantined(self) -> int:
        return sum(len(w.quarantined) for w in self.wards) + len(self.unattributed)

    @property
    def pending_kinds(self) -> dict[str, int]:
        """Pending items per kind held."""
        return kinds_of(self.pending)

    @property
    def outstanding(self) -> list[str]:
        """What keeps the report from being complete, in words (empty when complete)."""
        c = self.counts
        parts = [
            (c.missing, "page(s) missing"),
            (c.pending_review, "item(s) pending review"),
            (c.conflicts, "conflict(s)"),
            (self.quarantined, "quarantined page(s) not resolved"),
            (c.failed, "failed to post (bundles, or forms held: the record could not be checked)"),
        ]
        return [f"{n} {what}" for n, what in parts if n]

    @property
    def complete(self) -> bool:
        """Everything accounted for: every held item counts in one of the outstanding counts,
        so nothing is pending either."""
        return not self.outstanding and not self.pending

    def local(self, when: datetime) -> str:
        return when.astimezone(ZoneInfo(self.timezone)).strftime("%Y-%m-%d %H:%M")

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
# Why a pack is in scope (``ScopedPack.why``; in words: the report's catalogue, ``why``).
SCOPE_REASONS = ("newest-at-outage-start", "issued-during-outage", "current", "pages-returned",
                 "printed-during-outage", "all-packs")  # fmt: skip


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
    why: tuple[str, ...]  # of SCOPE_REASONS
    # Pages printed from it by print records (`downtime print`): only those count as issued.
    # None: no print record, every page the pack was made with counts.
    printed_pages: int | None = None


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
        """``blank_spare``, ``cover_sheet`` or None: a key of the report's words."""
        if self.form == "admission":
            return "blank_spare"
        return "cover_sheet" if self.form == "cover" else None


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

    def age(self, at: datetime) -> int:
        """Whole seconds held at ``at``."""
        return max(0, int((at - self.since).total_seconds()))


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
    def outstanding_counts(self) -> tuple[tuple[str, int], ...]:
        """What keeps the report from being complete, counted (in words:
        :func:`downtime.report.words.outstanding`): ``missing``, ``pending``, ``conflicts``,
        ``quarantined``, ``failed``."""
        c = self.counts
        return (
            ("missing", c.missing),
            ("pending", c.pending_review),
            ("conflicts", c.conflicts),
            ("quarantined", self.quarantined),
            ("failed", c.failed),
        )

    @property
    def complete(self) -> bool:
        """Everything accounted for: every held item counts in one of the outstanding counts,
        so nothing is pending either."""
        return not any(n for _, n in self.outstanding_counts) and not self.pending

    def local(self, when: datetime) -> str:
        """``when`` as the report shows it: in the site's time zone, to the minute."""
        return when.astimezone(ZoneInfo(self.timezone)).strftime("%Y-%m-%d %H:%M")

    def iso(self, when: datetime) -> str:
        """``when`` for JSON and CSV: ISO 8601 with the site's offset (the same instant)."""
        return when.astimezone(ZoneInfo(self.timezone)).isoformat()

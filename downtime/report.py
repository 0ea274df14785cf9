"""The outage report: what was issued, what came back, what is missing, pending, posted, failed.

Facts are read from the ledger once (:func:`read_facts`); everything after is pure:
:func:`build_report` turns them into a :class:`Report`, and :func:`to_table`, :func:`to_csv`
and :func:`to_json` render it (HTML: :mod:`downtime.report_html`).

Scope: the packs in use during the latest outage — for each ward the newest pack issued at or
before the outage start, every pack issued during the outage (until its end, or now while it
lasts), and every pack any page was returned from. With no outage recorded: each ward's current
(not superseded) pack and every pack with returned pages. ``all_packs``: every pack.

Counts, per form as issued to one patient in one pack (a two-page journal is one form): pages
``issued``, ``returned`` (scanned back), ``missing`` (issued, neither returned nor voided),
``voided`` (not returned), ``pending_review`` and ``conflicts`` (held items by the latest kind
recorded for each item; a returned page whose captures disagree is a conflict too, counted once
with the ``page N`` item reconciliation holds for it), and bundles ``posted``, ``written`` (to
the outbox) and ``failed`` by the outcome of their latest attempt.

The report is *complete* — everything accounted for — when nothing is missing, pending review,
in conflict, set aside in quarantine or failed.

JSON (``schema: "downtime.report/1"``)::

    {"schema", "site", "generated_at", "timezone", "ward_filter", "complete", "outstanding",
     "scope": {"rule": "outage" | "current" | "all-packs", "description",
               "outage": null | {"start", "end"},
               "packs": [{"pack_id", "ward", "issued_at", "superseded_by", "why": [...]}]},
     "totals": {COUNTS…, "quarantined"},
     "missing": [{"serial", "page_uid", "ward", "bed", "patient", "form", "page",
                  "page_count", "pack_id", "category", "note"}],
     "wards": [{"ward", "packs": [pack ids], "totals": {COUNTS…, "quarantined"},
                "chart": {"issued", "returned", "posted", "outbox"},   # pages
                "patients": [{"patient", "bed", "forms": [{"form", "pack_id", "form_key",
                              "issued_at", "serials", "missing_serials", "counts": {COUNTS…},
                              "bundle_outcomes": {outcome: n}}]}],
                "quarantined": [QUARANTINE…]}],
     "unattributed_quarantine": [QUARANTINE…]}

    COUNTS     = issued, returned, missing, voided, pending_review, conflicts, posted, written,
                 failed
    patient    = {"kind": "patient" | "admission" | "ward", "system", "value", "display",
                  "family_name", "given_name"}   (kind "ward": the cover sheet, system null)
    QUARANTINE = {"item_id", "source", "source_page", "reason", "message", "created_at",
                  "ward", "serial", "form", "page", "page_count", "patient"}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from downtime.ledger import Ledger
from downtime.ledger.outage import Outage, latest_outage, outage_events
from downtime.ledger.scans import quarantine_items
from downtime.model import Identifier, IdSystem
from downtime.returns import IssuedForm, issued_forms

SCHEMA = "downtime.report/1"
MEDICATION_FORMS = ("medication-orders", "mar", "prescription")
FORM_ORDER = ("referral", *MEDICATION_FORMS, "journal", "admission", "cover")
CATEGORIES = ("referral", "medication", "other")  # the order of the missing list
PENDING_KINDS = frozenset({"pending-review"})
CONFLICT_KINDS = frozenset({"conflict", "record-conflict"})
BLANK_SPARE = "blank spare — void it if it was not used"
COVER_SHEET = "ward cover sheet"
WHY = {
    "newest-at-outage-start": "newest pack at the outage start",
    "issued-during-outage": "issued during the outage",
    "current": "current pack",
    "pages-returned": "pages returned from it",
    "all-packs": "all packs asked for",
}


# --------------------------------------------------------------------------------------------
# Records


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

    @property
    def counts(self) -> Counts:
        return total(w.counts for w in self.wards)

    @property
    def quarantined(self) -> int:
        return sum(len(w.quarantined) for w in self.wards) + len(self.unattributed)

    @property
    def outstanding(self) -> list[str]:
        """What keeps the report from being complete, in words (empty when complete)."""
        c = self.counts
        parts = [
            (c.missing, "page(s) missing"),
            (c.pending_review, "item(s) pending review"),
            (c.conflicts, "conflict(s)"),
            (self.quarantined, "quarantined page(s) not resolved"),
            (c.failed, "bundle(s) failed"),
        ]
        return [f"{n} {what}" for n, what in parts if n]

    @property
    def complete(self) -> bool:
        return not self.outstanding

    def local(self, when: datetime) -> str:
        return when.astimezone(ZoneInfo(self.timezone)).strftime("%Y-%m-%d %H:%M")


# --------------------------------------------------------------------------------------------
# Scope (pure)


def choose_scope(
    packs: Sequence[PackInfo],
    returned: Iterable[str],
    outage: Outage | None,
    *,
    all_packs: bool,
    now: datetime,
) -> Scope:
    """Which packs the report covers, and why each (see the module docstring)."""
    why: dict[str, list[str]] = {}

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
            if before:
                add(max(before, key=lambda p: p.issued_at), "newest-at-outage-start")
            for p in ward_packs:
                if p.issued_at > outage.start and outage.covers(p.issued_at, now):
                    add(p, "issued-during-outage")
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


def describe_scope(scope: Scope, tz: str) -> str:
    def local(when: datetime) -> str:
        return when.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")

    if scope.rule == "all-packs":
        return "every pack in the ledger (--all-packs)"
    if scope.rule == "outage" and scope.outage is not None:
        end = local(scope.outage.end) if scope.outage.end else "not ended"
        return (
            f"the packs in use during the latest outage ({local(scope.outage.start)} – {end}): "
            "each ward's newest pack issued at or before the start, packs issued during it, "
            "and every pack a page was returned from"
        )
    return (
        "no outage recorded (`downtime outage start`): each ward's current pack and every "
        "pack a page was returned from"
    )


# --------------------------------------------------------------------------------------------
# Reading the ledger (the only I/O in this module)


@dataclass(frozen=True)
class Facts:
    site: str
    generated_at: datetime
    timezone: str
    scope: Scope
    forms: tuple[IssuedForm, ...]
    pages: Mapping[str, tuple[str, int]]  # page uid → (form serial, page number), in scope
    bundles: Mapping[str, Mapping[str, int]]  # form key → latest attempt outcome → bundles
    held: Mapping[str, Mapping[str, str]]  # form key → held item → its latest kind
    quarantine: tuple[QuarantineLine, ...]  # open items
    known_wards: frozenset[str]


def read_facts(
    ledger: Ledger, *, site: str, timezone: str, now: datetime, all_packs: bool = False
) -> Facts:
    packs = [
        PackInfo(
            r["pack_id"],
            r["site"],
            r["ward"],
            datetime.fromisoformat(r["issued_at"]),
            r["superseded_by"],
        )
        for r in ledger.query(
            "SELECT k.pack_id, k.site, k.ward, k.issued_at, s.superseded_by FROM packs k"
            " LEFT JOIN pack_supersessions s USING (pack_id)"
        )
    ]
    returned = [
        r["pack_id"]
        for r in ledger.query(
            "SELECT DISTINCT p.pack_id FROM captures c JOIN pages p USING (page_uid)"
        )
    ]
    outage = latest_outage(outage_events(ledger))
    scope = choose_scope(packs, returned, outage, all_packs=all_packs, now=now)
    ids = [s.pack.pack_id for s in scope.packs]
    forms = [f for i in range(0, len(ids), 500) for f in issued_forms(ledger, ids[i : i + 500])]
    keys = {f.form_key for f in forms}
    return Facts(
        site=site,
        generated_at=now,
        timezone=timezone,
        scope=scope,
        forms=tuple(forms),
        pages=_pages(ledger, ids),
        bundles={k: v for k, v in _bundles(ledger).items() if k in keys},
        held={k: v for k, v in _held(ledger).items() if k in keys},
        quarantine=tuple(_open_quarantine(ledger)),
        known_wards=frozenset(p.ward for p in packs),
    )


def _pages(ledger: Ledger, pack_ids: Sequence[str]) -> dict[str, tuple[str, int]]:
    out: dict[str, tuple[str, int]] = {}
    for i in range(0, len(pack_ids), 500):
        chunk = pack_ids[i : i + 500]
        rows = ledger.query(
            "SELECT page_uid, serial, page_no FROM pages"
            f" WHERE pack_id IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        out.update({r["page_uid"]: (r["serial"], int(r["page_no"])) for r in rows})
    return out


def _bundles(ledger: Ledger) -> dict[str, dict[str, int]]:
    rows = ledger.query(
        "SELECT p.form_key, coalesce(a.outcome, 'not-attempted') AS outcome FROM postings p"
        " LEFT JOIN posting_attempts a ON a.bundle_key = p.bundle_key AND a.attempt ="
        " (SELECT max(attempt) FROM posting_attempts l WHERE l.bundle_key = p.bundle_key)"
    )
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        per = out.setdefault(r["form_key"], {})
        per[r["outcome"]] = per.get(r["outcome"], 0) + 1
    return out


def _held(ledger: Ledger) -> dict[str, dict[str, str]]:
    """Per form, each held item with the kind of the latest row recorded for it."""
    latest: dict[tuple[str, str], tuple[datetime, int, str]] = {}
    for r in ledger.query("SELECT rowid AS n, form_key, item, kind, found_at FROM held_items"):
        mark = (datetime.fromisoformat(r["found_at"]), int(r["n"]), r["kind"])
        key = (r["form_key"], r["item"])
        if key not in latest or mark[:2] > latest[key][:2]:
            latest[key] = mark
    out: dict[str, dict[str, str]] = {}
    for (form_key, item), (_, _, kind) in latest.items():
        out.setdefault(form_key, {})[item] = kind
    return out


def _open_quarantine(ledger: Ledger) -> list[QuarantineLine]:
    items = quarantine_items(ledger, open_only=True)
    named = {
        int(r["item_id"]): r
        for r in ledger.query(
            "SELECT q.item_id, p.serial, p.form, p.page_no, p.page_count, p.patient_system,"
            " p.patient_value, k.ward, pp.family_name, pp.given_name, pp.bed"
            " FROM quarantine q JOIN scan_pages s ON s.scan_page_id = q.scan_page_id"
            " JOIN pages p ON p.page_uid = s.page_uid JOIN packs k ON k.pack_id = p.pack_id"
            " LEFT JOIN pack_patients pp ON pp.pack_id = p.pack_id"
            " AND pp.patient_system = p.patient_system AND pp.patient_value = p.patient_value"
        )
    }
    out = []
    for item in items:
        r = named.get(item.item_id)
        if r is None:
            out.append(
                QuarantineLine(
                    item.item_id,
                    item.source,
                    item.source_page,
                    item.reason,
                    item.message,
                    item.created_at,
                )
            )
            continue
        identifier = (
            Identifier(r["patient_system"], r["patient_value"]) if r["patient_system"] else None
        )
        patient = PatientRef(
            _kind(r["form"], identifier), identifier, r["family_name"], r["given_name"],
            r["bed"] or None,
        )  # fmt: skip
        out.append(
            QuarantineLine(
                item.item_id,
                item.source,
                item.source_page,
                item.reason,
                item.message,
                item.created_at,
                r["ward"],
                r["serial"],
                r["form"],
                int(r["page_no"]),
                int(r["page_count"]),
                patient,
            )
        )
    return out


def _kind(form: str, identifier: Identifier | None) -> str:
    if identifier is None:
        return "ward"
    if form == "admission" or identifier.system == IdSystem.DOWNTIME_RESERVE:
        return "admission"
    return "patient"


# --------------------------------------------------------------------------------------------
# Building (pure)


def build_report(facts: Facts, *, ward: str | None = None) -> Report:
    """The report over ``facts``; ``ward``: that ward only (items set aside that cannot be
    attributed to any ward are kept: they may be its pages)."""
    lines: dict[str, dict[tuple[str, Identifier | None], list[tuple[IssuedForm, FormLine]]]] = {}
    for form in facts.forms:
        if ward is not None and form.ward != ward:
            continue
        who = form.patient.identifier if form.patient else None
        key = (_kind(form.form, who), who)
        lines.setdefault(form.ward, {}).setdefault(key, []).append((form, _line(form, facts)))
    quarantined: dict[str, list[QuarantineLine]] = {}
    unattributed = []
    for item in facts.quarantine:
        if item.ward is None:
            unattributed.append(item)
        elif ward is None or item.ward == ward:
            quarantined.setdefault(item.ward, []).append(item)
    wards = []
    for name in sorted(set(lines) | set(quarantined)):
        patients = [_section(kind, forms) for (kind, _), forms in lines.get(name, {}).items()]
        patients.sort(key=lambda s: _patient_order(s.patient))
        wards.append(
            WardSection(
                name,
                tuple(p for p in facts.scope.packs if p.pack.ward == name),
                tuple(patients),
                tuple(quarantined.get(name, ())),
            )
        )
    shown = tuple(p for p in facts.scope.packs if ward is None or p.pack.ward == ward)
    return Report(
        site=facts.site,
        generated_at=facts.generated_at,
        timezone=facts.timezone,
        ward_filter=ward,
        scope=replace(facts.scope, packs=shown),
        missing=tuple(sorted(_missing(wards, facts), key=_missing_order)),
        wards=tuple(wards),
        unattributed=tuple(unattributed),
    )


def _line(form: IssuedForm, facts: Facts) -> FormLine:
    back = {p.page_uid for p in form.returned}
    held = facts.held.get(form.form_key, {})
    bundles = facts.bundles.get(form.form_key, {})
    counts = Counts(
        issued=len(form.page_uids),
        returned=len(back),
        missing=len(form.missing),
        voided=sum(1 for u in form.voided if u not in back),
        pending_review=sum(1 for kind in held.values() if kind in PENDING_KINDS),
        conflicts=len(_conflicts(form, held)),
        posted=bundles.get("posted", 0),
        written=bundles.get("written", 0),
        failed=bundles.get("failed", 0),
    )
    return FormLine(
        form=form.form,
        form_key=form.form_key,
        pack_id=form.pack_id,
        issued_at=form.issued_at,
        serials=tuple(_serial(facts, u) for u in form.page_uids),
        missing_serials=tuple(_serial(facts, u) for u in form.missing),
        counts=counts,
        bundle_outcomes=dict(sorted(bundles.items())),
    )


def _conflicts(form: IssuedForm, held: Mapping[str, str]) -> set[str]:
    """Pages whose captures disagree (named "page N", as reconciliation names the item it
    holds for such a page: counted once) and held items in conflict."""
    pages = {f"page {p.page_no}" for p in form.returned if p.in_conflict}
    return pages | {item for item, kind in held.items() if kind in CONFLICT_KINDS}


def _serial(facts: Facts, page_uid: str) -> str:
    return facts.pages.get(page_uid, ("?", 0))[0]


def _section(kind: str, forms: Sequence[tuple[IssuedForm, FormLine]]) -> PatientSection:
    """One patient's forms (across packs); name and bed as in the newest pack."""
    newest = max(forms, key=lambda f: f[0].issued_at)[0].patient
    patient = PatientRef(
        kind,
        newest.identifier if newest else None,
        newest.family_name if newest else None,
        newest.given_name if newest else None,
        newest.bed if newest else None,
    )
    ordered = sorted(forms, key=lambda f: (_form_order(f[1].form), f[1].issued_at))
    return PatientSection(patient, tuple(line for _, line in ordered))


def _missing(wards: Sequence[WardSection], facts: Facts) -> Iterable[MissingPage]:
    by_key = {f.form_key: f for f in facts.forms}
    for ward in wards:
        for section in ward.patients:
            for line in section.forms:
                for uid in by_key[line.form_key].missing:
                    serial, page_no = facts.pages.get(uid, ("?", 0))
                    form = by_key[line.form_key]
                    yield MissingPage(
                        serial, uid, ward.ward, section.patient, line.form, page_no,
                        form.page_count, line.pack_id, line.issued_at,
                    )  # fmt: skip


def _form_order(form: str) -> tuple[int, str]:
    return (
        (FORM_ORDER.index(form), "") if form in FORM_ORDER else (FORM_ORDER.index("journal"), form)
    )


def _bed_order(bed: str | None) -> tuple[int, int, str]:
    if bed is None:
        return (2, 0, "")
    return (0, int(bed), "") if bed.isdigit() else (1, 0, bed)


_KIND_ORDER = {"patient": 0, "admission": 1, "ward": 2}


def _patient_order(p: PatientRef) -> tuple[Any, ...]:
    return (_KIND_ORDER[p.kind], _bed_order(p.bed), p.display)


def _missing_order(m: MissingPage) -> tuple[Any, ...]:
    return (
        CATEGORIES.index(m.category),
        m.ward,
        _patient_order(m.patient),
        _form_order(m.form),
        m.issued_at,
        m.page_no,
    )

"""What came back: every issued form with the pages returned for it, read from the ledger.

The unit is the *form* as issued to one patient in one pack (a two-page journal is one form):
the reconciliation posts it as one transaction, the report counts it. For each returned page
the first capture is the one used; a page whose captures disagree (a conflict) holds its form's
derived items back until a person decides.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time

from downtime.ledger.db import Ledger, Row, rows
from downtime.ledger.decisions import Decision, by_item, decisions_of
from downtime.ledger.pages import patient_of
from downtime.model import Identifier


@dataclass(frozen=True)
class Reading:
    state: str  # marked | empty | written | blank | uncertain
    score: float
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReturnedPage:
    page_uid: str
    serial: str
    page_no: int
    capture_id: int
    captured_at: datetime
    via: str  # code | serial | assigned
    registered_as: str  # the registered page image, relative to the data folder
    readings: Mapping[str, Reading]
    refs: Mapping[str, Mapping[str, str]]  # field id → {"order_id": …, "slot": …}
    in_conflict: bool = False  # another capture of this page reads differently


@dataclass(frozen=True)
class PatientInfo:
    identifier: Identifier
    family_name: str | None = None  # None for a patient admitted on a blank form
    given_name: str | None = None
    birth_date: date | None = None
    sex: str = "unknown"
    encounter_id: str | None = None
    bed: str | None = None
    encounter_system: str | None = None  # the record's system of encounter_id, if known


@dataclass(frozen=True)
class OrderInfo:
    order_id: str
    medication: str
    dose: str
    route: str
    frequency: str
    times: tuple[time, ...]
    prn: bool


@dataclass(frozen=True)
class IssuedForm:
    """One form as issued, and what of it came back."""

    form_key: str  # "pack/form/system|value": stable; hashed before it leaves the ledger
    pack_id: str
    site: str
    ward: str
    issued_at: datetime
    form: str
    form_version: int
    page_count: int
    patient: PatientInfo | None  # None: the ward cover sheet
    page_uids: tuple[str, ...]  # every issued page, page 1 first
    returned: tuple[ReturnedPage, ...]  # returned pages, by page number
    voided: tuple[str, ...] = ()  # page uids voided by a person
    orders: Mapping[str, OrderInfo] = field(default_factory=dict)
    decisions: Mapping[str, Decision] = field(default_factory=dict)  # item → in force

    @property
    def missing(self) -> tuple[str, ...]:
        back = {p.page_uid for p in self.returned} | set(self.voided)
        return tuple(uid for uid in self.page_uids if uid not in back)

    @property
    def in_conflict(self) -> bool:
        return any(p.in_conflict for p in self.returned)


def form_key(pack_id: str, form: str, patient: Identifier | None) -> str:
    who = f"{patient.system}|{patient.value}" if patient else "ward"
    return f"{pack_id}/{form}/{who}"


# --------------------------------------------------------------------------------------------
# From the ledger


def issued_form_keys(ledger: Ledger, keys: Iterable[str]) -> set[str]:
    """Those of ``keys`` that name a form issued in a pack."""
    wanted = set(keys)
    packs = sorted({k.split("/", 1)[0] for k in wanted})
    marks = ",".join("?" * len(packs))
    narrow, some = _whose(wanted)
    found = rows(
        ledger,
        "SELECT DISTINCT pack_id, form, patient_system, patient_value FROM pages"
        f" WHERE pack_id IN ({marks}){narrow}",
        [*packs, *some],
    )
    return {k for r in found if (k := form_key(r["pack_id"], r["form"], patient_of(r))) in wanted}


def issued_forms(
    ledger: Ledger, pack_ids: Iterable[str], *, only: Collection[str] | None = None
) -> list[IssuedForm]:
    """Every form issued in the given packs, with its returned pages (only the forms whose
    keys are in ``only``, if given)."""
    wanted = list(pack_ids)
    if not wanted:
        return []
    marks = ",".join("?" * len(wanted))
    narrow, some = _whose(only)
    pages = rows(
        ledger,
        "SELECT p.*, k.site, k.ward, k.issued_at AS pack_issued_at FROM pages p"
        f" JOIN packs k ON k.pack_id = p.pack_id WHERE p.pack_id IN ({marks}){narrow}"
        " ORDER BY p.pack_id, p.pdf_page",
        [*wanted, *some],
    )
    if only is not None:
        pages = [r for r in pages if form_key(r["pack_id"], r["form"], patient_of(r)) in only]
    captures = _first_captures(ledger, [r["page_uid"] for r in pages])
    patients = _patients(ledger, wanted, only)
    orders = _orders(ledger, wanted, only)
    voided = _voided(ledger, [r["page_uid"] for r in pages], everything=only is None)
    groups: dict[str, list[Row]] = {}
    for row in pages:
        key = form_key(row["pack_id"], row["form"], patient_of(row))
        groups.setdefault(key, []).append(row)
    decided = decisions_of(ledger, groups)
    forms = []
    for key, members in groups.items():
        in_force = {
            item: d
            for item, state in by_item(decided.get(key, [])).items()
            if (d := state.in_force) is not None
        }
        form = _form(key, members, captures, patients, orders, voided)
        forms.append(_chosen_captures(ledger, replace(form, decisions=in_force)))
    return forms


def _chosen_captures(ledger: Ledger, form: IssuedForm) -> IssuedForm:
    """A page whose captures disagreed, read from the capture a person chose (a ``capture``
    decision about the item ``page N``): no longer in conflict."""
    chosen = {
        item: int(d.value["capture_id"])
        for item, d in form.decisions.items()
        if d.action == "capture" and item.startswith("page ")
    }
    if not chosen:
        return form
    pages = []
    for page in form.returned:
        capture_id = chosen.get(f"page {page.page_no}")
        if capture_id is None:
            pages.append(page)
            continue
        (row,) = rows(
            ledger,
            "SELECT capture_id, captured_at, via, registered_as FROM captures"
            " WHERE capture_id = ? AND page_uid = ?",
            (capture_id, page.page_uid),
        )
        pages.append(
            replace(
                page,
                capture_id=capture_id,
                captured_at=datetime.fromisoformat(row["captured_at"]),
                via=row["via"],
                registered_as=row["registered_as"],
                readings=_readings(ledger, capture_id),
                in_conflict=False,
            )
        )
    return replace(form, returned=tuple(pages))


def _form(
    key: str,
    members: Sequence[Row],
    captures: Mapping[str, ReturnedPage],
    patients: Mapping[tuple[str, Identifier], PatientInfo],
    orders: Mapping[str, Mapping[str, OrderInfo]],
    voided: set[str],
) -> IssuedForm:
    first = members[0]
    identifier = patient_of(first)
    patient = None
    if identifier is not None:
        patient = patients.get((first["pack_id"], identifier), PatientInfo(identifier))
    uids = tuple(r["page_uid"] for r in sorted(members, key=lambda r: r["page_no"]))
    returned = tuple(captures[u] for u in uids if u in captures)
    own_orders = orders.get(first["pack_id"], {})
    wanted_orders = {
        ref["order_id"] for page in returned for ref in page.refs.values() if "order_id" in ref
    }
    return IssuedForm(
        form_key=key,
        pack_id=first["pack_id"],
        site=first["site"],
        ward=first["ward"],
        issued_at=datetime.fromisoformat(first["pack_issued_at"]),
        form=first["form"],
        form_version=int(first["form_version"]),
        page_count=int(first["page_count"]),
        patient=patient,
        page_uids=uids,
        returned=returned,
        voided=tuple(u for u in uids if u in voided),
        orders={o: own_orders[o] for o in wanted_orders if o in own_orders},
    )


def _first_captures(ledger: Ledger, page_uids: Sequence[str]) -> dict[str, ReturnedPage]:
    """For each returned page, its first capture; whether any capture of it conflicts."""
    out: dict[str, ReturnedPage] = {}
    for i in range(0, len(page_uids), 500):
        chunk = page_uids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        found = rows(
            ledger,
            "SELECT c.*, p.serial, p.page_no FROM captures c JOIN pages p USING (page_uid)"
            f" WHERE c.page_uid IN ({marks}) ORDER BY c.capture_id",
            chunk,
        )
        conflicted = {r["page_uid"] for r in found if r["conflicts_with"] is not None}
        for r in found:
            if r["page_uid"] in out:
                continue
            out[r["page_uid"]] = ReturnedPage(
                page_uid=r["page_uid"],
                serial=r["serial"],
                page_no=int(r["page_no"]),
                capture_id=int(r["capture_id"]),
                captured_at=datetime.fromisoformat(r["captured_at"]),
                via=r["via"],
                registered_as=r["registered_as"],
                readings=_readings(ledger, int(r["capture_id"])),
                refs=_refs(ledger, r["page_uid"]),
                in_conflict=r["page_uid"] in conflicted,
            )
    return out


def _readings(ledger: Ledger, capture_id: int) -> dict[str, Reading]:
    found = rows(
        ledger,
        "SELECT field_id, state, score, flags FROM marks WHERE capture_id = ?",
        (capture_id,),
    )
    return {
        r["field_id"]: Reading(r["state"], float(r["score"]), tuple(r["flags"].split()))
        for r in found
    }


def _refs(ledger: Ledger, page_uid: str) -> dict[str, dict[str, str]]:
    found = rows(
        ledger,
        "SELECT field_id, order_id, slot FROM page_field_refs WHERE page_uid = ?",
        (page_uid,),
    )
    return {
        r["field_id"]: {k: r[k] for k in ("order_id", "slot") if r[k] is not None} for r in found
    }


NARROWED = 100  # forms asked for by key (``only``) up to which only their patients' rows are read


def _whose(only: Collection[str] | None) -> tuple[str, list[str]]:
    """SQL (`` AND …``, and its parameters) keeping of a pack's rows those of the patients the
    form keys ``only`` name (and the ward's own forms), when they are few: a station asking
    for one item's form reads that patient's rows, not the pack's. Rows are still matched to
    the keys themselves afterwards; this only leaves the others unread."""
    if only is None or len(only) > NARROWED:
        return "", []
    values = sorted({k.rsplit("|", 1)[1] for k in only if "|" in k})  # form_key's "system|value"
    kept = [f"patient_value IN ({','.join('?' * len(values))})"] if values else []
    if any("|" not in k for k in only):  # a ward form: no patient
        kept.append("patient_value IS NULL")
    return f" AND ({' OR '.join(kept) or '0 = 1'})", values


def _voided(ledger: Ledger, page_uids: Sequence[str], *, everything: bool) -> set[str]:
    if everything:
        return {r["page_uid"] for r in rows(ledger, "SELECT page_uid FROM voids")}
    out: set[str] = set()
    for i in range(0, len(page_uids), 500):
        chunk = page_uids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        found = rows(ledger, f"SELECT page_uid FROM voids WHERE page_uid IN ({marks})", chunk)
        out.update(r["page_uid"] for r in found)
    return out


def _patients(
    ledger: Ledger, pack_ids: Sequence[str], only: Collection[str] | None
) -> dict[tuple[str, Identifier], PatientInfo]:
    marks = ",".join("?" * len(pack_ids))
    narrow, some = _whose(only)
    found = rows(
        ledger,
        f"SELECT * FROM pack_patients WHERE pack_id IN ({marks}){narrow}",
        [*pack_ids, *some],
    )
    return {
        (r["pack_id"], Identifier(r["patient_system"], r["patient_value"])): PatientInfo(
            identifier=Identifier(r["patient_system"], r["patient_value"]),
            family_name=r["family_name"],
            given_name=r["given_name"],
            birth_date=date.fromisoformat(r["birth_date"]) if r["birth_date"] else None,
            sex=r["sex"],
            encounter_id=r["encounter_id"],
            bed=r["bed"] or None,
            encounter_system=r["encounter_system"] or None,
        )
        for r in found
    }


def _orders(
    ledger: Ledger, pack_ids: Sequence[str], only: Collection[str] | None
) -> dict[str, dict[str, OrderInfo]]:
    marks = ",".join("?" * len(pack_ids))
    narrow, some = _whose(only)
    found = rows(
        ledger,
        f"SELECT * FROM pack_orders WHERE pack_id IN ({marks}){narrow}",
        [*pack_ids, *some],
    )
    out: dict[str, dict[str, OrderInfo]] = {}
    for r in found:
        times = tuple(time.fromisoformat(t) for t in r["times"].split(";") if t)
        out.setdefault(r["pack_id"], {})[r["order_id"]] = OrderInfo(
            r["order_id"], r["medication"], r["dose"], r["route"], r["frequency"], times,
            bool(r["prn"]),
        )  # fmt: skip
    return out

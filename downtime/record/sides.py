"""A FHIR resource in a few facts, for a reviewer who compares what the paper says with what
the record holds (:class:`~downtime.ledger.conflicts.ConflictSide`): its type and id, its
first identifier, status, clinical time, medication, dose, who (performer, requester or
recorder) and when the record last wrote it.

Only what the resource itself says is kept, as it says it, cut to :data:`MAX_CHARS` characters;
a character that would hide or reorder text on screen (a control or format character, such as
a right-to-left override) becomes U+FFFD. A server may hold anything.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

from downtime.ledger.conflicts import PAPER, RECORD, ConflictSide

MAX_RECORD = 5  # record resources kept per conflict: enough to see what is there
MAX_CHARS = 200  # per fact
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def paper_side(resource: dict[str, Any]) -> ConflictSide:
    """The resource the paper would make, as it was held back."""
    return _side(PAPER, resource, note="")


def record_sides(found: Iterable[dict[str, Any]]) -> tuple[ConflictSide, ...]:
    """The record's resources a conflict is about, the first :data:`MAX_RECORD` of them."""
    return tuple(_side(RECORD, r, note=_note(r)) for r in list(found)[:MAX_RECORD])


def _side(side: str, r: dict[str, Any], *, note: str) -> ConflictSide:
    ids = r.get("identifier") or [{}]
    first = ids[0] if isinstance(ids, list) and isinstance(ids[0], dict) else {}
    identifier = "|".join(str(first[k]) for k in ("system", "value") if first.get(k))
    status = r.get("status")
    if r.get("resourceType") == "Patient":
        status = "inactive" if r.get("active") is False else "active"
    occurred = r.get("effectiveDateTime") or _get(r, "effectivePeriod", "start")
    medication = _concept(r.get("medicationCodeableConcept"))
    return ConflictSide(
        side=side,
        resource_type=_text(r.get("resourceType")),
        resource_id=_text(r.get("id")) if side == RECORD else "",
        identifier=_text(identifier),
        status=_text(status),
        occurred_at=_text(occurred or r.get("authoredOn")),
        medication=_text(medication or _reference(r.get("medicationReference"))),
        dose=_text(_dose(r)),
        who=_text(_who(r)),
        recorded_at=_text(_get(r, "meta", "lastUpdated")),
        note=_text(note),
    )


def _get(r: dict[str, Any], *path: str) -> Any:
    value: Any = r
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _concept(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    codings = [c for c in concept.get("coding") or [] if isinstance(c, dict)]
    return "; ".join(str(c.get("display") or c.get("code") or "") for c in codings).strip("; ")


def _reference(ref: Any) -> str:
    if not isinstance(ref, dict):
        return ""
    return str(ref.get("display") or ref.get("reference") or "")


def _quantity(q: Any) -> str:
    if not isinstance(q, dict) or q.get("value") is None:
        return ""
    return f"{q['value']} {q.get('unit') or q.get('code') or ''}".strip()


def _dose(r: dict[str, Any]) -> str:
    dosage = r.get("dosage")
    if isinstance(dosage, dict):  # an administration
        return str(dosage.get("text") or _quantity(dosage.get("dose")))
    instructions = r.get("dosageInstruction") or []
    if instructions and isinstance(instructions[0], dict):  # an order
        first = instructions[0]
        rates = first.get("doseAndRate") or [{}]
        dose = _quantity(rates[0].get("doseQuantity")) if isinstance(rates[0], dict) else ""
        return str(first.get("text") or dose)
    return ""


def _who(r: dict[str, Any]) -> str:
    performers = [_reference(p.get("actor")) for p in r.get("performer") or []
                  if isinstance(p, dict)]  # fmt: skip
    named = [p for p in performers if p]
    if named:
        return "; ".join(named)
    return _reference(r.get("requester")) or _reference(r.get("recorder"))


def _note(r: dict[str, Any]) -> str:
    """What else the record says that bears on the conflict."""
    links = [
        f"{link.get('type', '')} {_reference(link.get('other'))}".strip()
        for link in r.get("link") or []
        if isinstance(link, dict)
    ]
    if links:
        return "; ".join(links)
    why = r.get("statusReason") or []  # a list on an administration, one on an order
    reasons = [_concept(c) for c in (why if isinstance(why, list) else [why])]
    notes = [str(n.get("text", "")) for n in r.get("note") or [] if isinstance(n, dict)]
    return "; ".join(t for t in (*reasons, *notes) if t)


def _text(value: Any) -> str:
    if value is None:
        return ""
    text = "".join(
        "\ufffd" if unicodedata.category(c) in _HIDDEN else c for c in str(value).strip()
    )
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"

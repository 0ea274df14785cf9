"""What people decided about a form's held items, applied to what was read before mapping.

A ``boxes`` decision (the states a person gave the boxes or areas of one held item, having seen
them) replaces those readings: the mapping then treats them as read cleanly. The item names
its page (``page 2/med1.t08``) on a form of more than one page; the states name field ids of
that page. ``skip`` and ``post`` are followed where an item would be held or checked
(:meth:`~downtime.record.fhir.common.Derived.hold`, :mod:`downtime.record.checks`); a
``capture`` decision chose the page's capture when the form was read from the ledger.
"""

from __future__ import annotations

from dataclasses import replace

from downtime.ledger.returns import IssuedForm, Reading

DECIDED = "decided"  # the flag of a reading a person gave


def with_decided_boxes(form: IssuedForm) -> IssuedForm:
    """``form`` with the readings of every ``boxes`` decision in force replaced."""
    per_page: dict[int, dict[str, str]] = {}
    for item, decision in form.decisions.items():
        if decision.action != "boxes":
            continue
        page_no = page_of(item) or 1
        per_page.setdefault(page_no, {}).update(decision.value.get("states", {}))
    if not per_page:
        return form
    pages = []
    for page in form.returned:
        states = per_page.get(page.page_no)
        if not states:
            pages.append(page)
            continue
        readings = dict(page.readings)
        for field_id, state in states.items():
            readings[field_id] = Reading(state, 1.0, (DECIDED,))
        pages.append(replace(page, readings=readings))
    return replace(form, returned=tuple(pages))


def page_of(item: str) -> int | None:
    """The page an item names (``page 2/med1.t08`` → 2), or None when it names none."""
    head, slash, _ = item.partition("/")
    if slash and head.startswith("page ") and head[5:].isdigit():
        return int(head[5:])
    return None

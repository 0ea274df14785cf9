"""Simulated reviewers for the drill: two people settle every held item through the same
library the review station and `downtime review decide` use.

They know what the simulator put on each page (its :class:`~downtime.simulate.fill.Truth`): a
box read uncertain is given the state the simulator drew; a page filled twice keeps its first
capture. What the simulator wrote by hand is scribble, so they type what such a form would
plausibly say (:data:`TYPED`) — as a person would type the handwriting. Medication is typed by
one and confirmed by the other, exactly as the two-person rule asks. An item that comes back
after its decision (the paper itself ambiguous: both boxes ticked, initials without a tick) is
skipped with a reason, as a person would after asking the ward.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from downtime.review import ReviewItem, transcription_kind

FIRST, SECOND = "drill-anna", "drill-berit"
TYPED: dict[str, dict[str, str]] = {  # by transcription kind (downtime.review.decide)
    "new": {"drug": "Paracetamol", "dose": "1 g", "route": "PO", "frequency": "1x4"},
    "change": {"dose": "20 mg"},
    "rx": {"drug": "Alvedon", "form": "tablett", "strength": "500 mg", "dosage": "1x3"},
    "referral": {"to": "Röntgen"},
}


def review_everything(
    home: Path,
    truths: Mapping[str, Mapping[str, str]],
    issued_at: datetime,
) -> Counter[str]:
    """Settle every open item; ``truths``: page uid → field id → what the simulator drew;
    ``issued_at``: when the pack was printed (as-needed doses are typed two hours after).
    Returns how many decisions were made, per queue (and ``confirm``)."""
    from downtime.app.decisions import open_items, settle

    made: Counter[str] = Counter()
    linked: dict[str, int] = {}  # item id → which test personnummer its patient gets
    for _ in range(3):  # entries; then the confirmations they wait for; then nothing
        waiting = open_items(home)
        if not waiting:
            break
        for item in waiting:
            person = linked.setdefault(item.item_id, len(linked))
            action, values = _decision(item, truths, issued_at, person)
            if item.state == "open" and item.entries:
                # back after it was decided: the paper itself is ambiguous (both boxes ticked,
                # initials and no tick): the ward documents it in the record by hand
                action, values = "skip", {}
            if item.state == "awaiting-confirmation":  # typed again from the paper, blind
                settle(home, item.item_id, action=action, values=values, confirm=True,
                       user=SECOND)  # fmt: skip
                made["confirm"] += 1
                continue
            reason = "drill: the paper is ambiguous; documented by hand" if action == "skip" else ""
            settle(home, item.item_id, action=action, values=values, reason=reason, user=FIRST)
            made[item.queue] += 1
    return made


def _decision(
    item: ReviewItem,
    truths: Mapping[str, Mapping[str, str]],
    issued_at: datetime,
    person: int,
) -> tuple[str, dict[str, str]]:
    page = item.page
    if item.queue == "page-conflict" and page is not None:
        return "capture", {"capture_id": str(page.capture_id)}
    if item.queue == "marks" and page is not None:
        truth = truths.get(page.page_uid, {})
        states = {f.id: truth.get(f.id, "empty" if f.kind == "checkbox" else "blank")
                  for f in item.fields}  # fmt: skip
        return "boxes", states
    kind = transcription_kind(item.item)
    if kind == "prn":
        local = issued_at + timedelta(hours=2)
        return "transcribe", {"given_at": local.strftime("%Y-%m-%d %H:%M")}
    if kind == "patient":
        return "transcribe", {"identifier": test_personnummer(person)}
    if kind in TYPED:
        values = dict(TYPED[kind])
        if kind == "rx":
            values["date"] = issued_at.date().isoformat()
        return "transcribe", values
    return "skip", {}


def test_personnummer(n: int) -> str:
    """The ``n``-th of a series of valid personnummer born 1910-10-10 (check digit by Luhn)."""
    digits = f"101010{100 + n % 800:03d}"
    total = 0
    for i, ch in enumerate(digits):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d // 10 + d % 10
    return f"19{digits[:6]}-{digits[6:]}{(10 - total % 10) % 10}"

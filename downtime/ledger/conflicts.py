"""What a record conflict is about: the paper's side and the record's, in a few facts each.

When reconciliation holds an item because the record already holds something in its place (an
administration documented for the same slot, an order for the same drug written since the
pack, the patient merged away), it keeps, beside the held row and in the same transaction
(:func:`downtime.ledger.postings.begin_postings`), what it found: the resource the paper would
have made (side ``paper``) and each resource of the record it conflicts with (side ``record``,
numbered from 1). A reviewer sees both before posting or skipping the item. These rows hold
patient data, like the rest of the ledger; they are never logged.

Rows belong to one held row (form key, item, ``found_at``): the sides shown for an item are
those of its latest held row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

from downtime.ledger.db import Ledger, chunks, rows

PAPER, RECORD = "paper", "record"


@dataclass(frozen=True)
class ConflictSide:
    """One resource as a reviewer compares it: what the paper would make, or what the record
    holds. Text as the resource has it; ``""`` where it has none."""

    side: str  # paper | record
    resource_type: str  # MedicationAdministration, MedicationRequest, Patient…
    resource_id: str = ""  # the record's id of it ("" on the paper's side)
    identifier: str = ""  # system|value of its first identifier
    status: str = ""
    occurred_at: str = ""  # effective time or authoredOn, ISO 8601 as the resource has it
    medication: str = ""
    dose: str = ""
    who: str = ""  # performer (administration), requester or recorder (order)
    recorded_at: str = ""  # when the record last wrote it (meta.lastUpdated)
    note: str = ""  # what else the conflict concerns (a link to the surviving patient…)


COLUMNS = tuple(f.name for f in fields(ConflictSide))


def write_sides(
    conn: sqlite3.Connection,
    form_key: str,
    item: str,
    found_at: str,
    sides: Sequence[ConflictSide],
) -> None:
    """The sides of one held row, inside the transaction that writes the row."""
    numbered = []
    counts: dict[str, int] = {}
    for s in sides:
        counts[s.side] = counts.get(s.side, 0) + 1
        values = (getattr(s, c) for c in COLUMNS)
        numbered.append((form_key, item, found_at, counts[s.side], *values))
    conn.executemany(
        f"INSERT INTO conflict_sides (form_key, item, found_at, n, {', '.join(COLUMNS)})"
        f" VALUES ({', '.join('?' * (4 + len(COLUMNS)))})",
        numbered,
    )


def latest_sides(conn: sqlite3.Connection, form_key: str) -> dict[str, tuple[ConflictSide, ...]]:
    """Item → the sides of its latest held row, for one form (inside a transaction)."""
    found = conn.execute(
        f"SELECT s.item, {', '.join('s.' + c for c in COLUMNS)} FROM conflict_sides s"
        " WHERE s.form_key = ? AND s.found_at = (SELECT max(h.found_at) FROM held_items h"
        "  WHERE h.form_key = s.form_key AND h.item = s.item)"
        " ORDER BY s.item, s.side, s.n",
        (form_key,),
    ).fetchall()
    out: dict[str, list[ConflictSide]] = {}
    for r in found:
        out.setdefault(r[0], []).append(ConflictSide(*r[1:]))
    return {item: tuple(sides) for item, sides in out.items()}


def conflict_sides(
    ledger: Ledger, form_keys: Iterable[str]
) -> dict[tuple[str, str], tuple[ConflictSide, ...]]:
    """(form key, item) → the sides of the item's latest held row, for these forms: the
    paper's first, then the record's in the order found."""
    out: dict[tuple[str, str], list[ConflictSide]] = {}
    for chunk, marks in chunks(sorted(set(form_keys))):
        for r in rows(
            ledger,
            f"SELECT s.form_key, s.item, {', '.join('s.' + c for c in COLUMNS)}"
            " FROM conflict_sides s WHERE s.form_key IN"
            f" ({marks}) AND s.found_at = (SELECT max(h.found_at) FROM held_items h"
            "  WHERE h.form_key = s.form_key AND h.item = s.item)"
            " ORDER BY s.form_key, s.item, s.side, s.n",
            chunk,
        ):
            side = ConflictSide(*(r[c] for c in COLUMNS))
            out.setdefault((r["form_key"], r["item"]), []).append(side)
    return {key: tuple(sides) for key, sides in out.items()}

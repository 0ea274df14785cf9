"""Postings: what reconciliation sent where, every attempt, what the record holds, what is held.

The row for a bundle is written before anything leaves (:func:`begin_postings`); attempts and
the resources found on the server are appended after (:func:`record_deliveries`). A form whose
content has not changed since it was delivered is not sent again (:func:`delivered`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from downtime.ledger.audit import append_audit
from downtime.ledger.conflicts import ConflictSide, latest_sides, write_sides
from downtime.ledger.db import Connection, Ledger, now, rows
from downtime.ledger.records import AuditEvent

DELIVERED = ("posted", "written")  # attempt outcomes that mean the bundle arrived
# An item a form's current state no longer holds (decided by a person, read cleanly on a
# rescan, checked in the record at last) gets a ``cleared`` row: its latest row says so.
CLEARED = "cleared"


@dataclass(frozen=True)
class HeldFact:
    """An item not posted, and why (``pending-review``, ``conflict``, ``record-conflict``);
    for a record conflict, what the paper and the record hold
    (:mod:`~downtime.ledger.conflicts`)."""

    item: str
    kind: str
    detail: str
    sides: tuple[ConflictSide, ...] = ()


@dataclass(frozen=True)
class PostingPlan:
    """One form's bundles about to leave, and what of it is held back."""

    form_key: str
    content_sha256: str  # of what was read from the form's returned pages
    held: tuple[HeldFact, ...]
    bundles: tuple[tuple[str, int], ...]  # (bundle key, number of resources)


@dataclass(frozen=True)
class Attempt:
    number: int
    outcome: str  # written | posted | retry | failed
    http_status: int | None
    detail: str


@dataclass(frozen=True)
class PostedResource:
    resource_type: str
    identifier: str  # system|value
    location: str | None  # Type/id/_history/version on the server


@dataclass(frozen=True)
class BundleDelivery:
    """What happened to one bundle: its attempts, and the resources it made or found."""

    bundle_key: str
    attempts: tuple[Attempt, ...]
    resources: tuple[PostedResource, ...] = ()


def delivered(ledger: Ledger, form_key: str, content_sha256: str, target: str) -> bool:
    """Whether every bundle of this form, in this state, reached ``target``."""
    found = rows(
        ledger,
        "SELECT p.bundle_key, (SELECT outcome FROM posting_attempts a WHERE a.bundle_key ="
        " p.bundle_key ORDER BY attempt DESC LIMIT 1) AS outcome FROM postings p"
        " WHERE p.form_key = ? AND p.content_sha256 = ? AND p.target = ?",
        (form_key, content_sha256, target),
    )
    return bool(found) and all(r["outcome"] in DELIVERED for r in found)


def begin_postings(ledger: Ledger, plans: Sequence[PostingPlan], target: str) -> dict[str, int]:
    """Before anything leaves: the held items and a posting row per bundle, in one transaction.
    Returns each bundle's next attempt number (1 for a new posting; more after a crash or a
    failure)."""
    at = now()

    def body(conn: Connection) -> dict[str, int]:
        numbers: dict[str, int] = {}
        for plan in plans:
            key = plan.form_key
            latest = _latest_held(conn, key)
            decided = _decided_at(conn, key)
            conn.executemany(
                "INSERT INTO held_item_ids (item_id, form_key, item) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                [(held_item_id(key, h.item), key, h.item) for h in plan.held],
            )
            sides = latest_sides(conn, key) if any(h.sides for h in plan.held) else {}
            for h in plan.held:
                kind, detail, found_at = latest.get(h.item, ("", "", ""))
                # new, held for another reason or against something else in the record, or
                # held again after a person decided it
                if (
                    (kind, detail) != (h.kind, h.detail)
                    or sides.get(h.item, ()) != h.sides
                    or decided.get(h.item, "") > found_at
                ):
                    conn.execute(
                        "INSERT INTO held_items (form_key, item, kind, detail, found_at)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (key, h.item, h.kind, h.detail, at),
                    )
                    write_sides(conn, key, h.item, at, h.sides)
            _clear(conn, key, latest, {h.item for h in plan.held}, at)
            for bundle_key, resources in plan.bundles:
                cur = conn.execute(
                    "INSERT INTO postings (bundle_key, form_key, content_sha256, target,"
                    " resources, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (bundle_key, key, plan.content_sha256, target, resources, at),
                )
                row = conn.execute(
                    "SELECT coalesce(max(attempt), 0) FROM posting_attempts WHERE bundle_key = ?",
                    (bundle_key,),
                ).fetchone()
                # A posting row already there, even without attempts, means it may have been
                # sent before a crash: its next attempt is at least 2, which searches first.
                numbers[bundle_key] = max(int(row[0]) + 1, 1 if cur.rowcount else 2)
        return numbers

    return ledger.write(body, in_order=("held_items",))


def _latest_held(conn: Connection, form_key: str) -> dict[str, tuple[str, str, str]]:
    """Item → (kind, detail, found_at) of its latest held row, for one form."""
    found = conn.execute(
        "SELECT item, kind, detail, found_at FROM held_items h WHERE form_key = ? AND rowid ="
        " (SELECT rowid FROM held_items l WHERE l.form_key = h.form_key AND l.item = h.item"
        " ORDER BY found_at DESC, rowid DESC LIMIT 1)",
        (form_key,),
    ).fetchall()
    return {item: (kind, detail, at) for item, kind, detail, at in found}


def _decided_at(conn: Connection, form_key: str) -> dict[str, str]:
    """Item → when a person last decided about it, for one form."""
    found = conn.execute(
        "SELECT item, max(decided_at) FROM decisions WHERE form_key = ? GROUP BY item",
        (form_key,),
    ).fetchall()
    return {str(item): str(at) for item, at in found}


def _clear(
    conn: Connection,
    form_key: str,
    latest: dict[str, tuple[str, str, str]],
    held_now: set[str],
    at: str,
) -> None:
    """A ``cleared`` row for each item held before that the form's current state no longer
    holds (a person decided it, a rescan read it cleanly, the record could be checked)."""
    for item, (kind, _, _) in latest.items():
        if kind != CLEARED and item not in held_now:
            conn.execute(
                "INSERT INTO held_items (form_key, item, kind, detail, found_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (form_key, item, CLEARED, "no longer held", at),
            )


def record_deliveries(
    ledger: Ledger,
    deliveries: Sequence[BundleDelivery],
    audit: Sequence[AuditEvent],
    *,
    actor: str,
    station: str,
) -> None:
    """After the bundles left: every attempt and resource, and the audit, in one transaction."""
    at = now()

    def body(conn: Connection) -> None:
        for d in deliveries:
            conn.executemany(
                "INSERT INTO posting_attempts (bundle_key, attempt, at, outcome, http_status,"
                " detail) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (d.bundle_key, a.number, at, a.outcome, a.http_status, a.detail)
                    for a in d.attempts
                ],
            )
            conn.executemany(
                "INSERT INTO posted_resources (bundle_key, resource_type, identifier, location)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (bundle_key, identifier) DO UPDATE SET"
                " resource_type = excluded.resource_type, location = excluded.location",
                [(d.bundle_key, r.resource_type, r.identifier, r.location) for r in d.resources],
            )
        append_audit(conn, audit, actor=actor, station=station)

    ledger.write(body)


def posted_locations(ledger: Ledger, form_key: str, target: str) -> dict[str, str | None]:
    """Identifier → server location of every resource delivered before for this form."""
    found = rows(
        ledger,
        "SELECT r.identifier, r.location FROM posted_resources r JOIN postings p"
        " USING (bundle_key) WHERE p.form_key = ? AND p.target = ?",
        (form_key, target),
    )
    return {r["identifier"]: r["location"] for r in found}


def bundle_outcomes(ledger: Ledger) -> dict[str, dict[str, int]]:
    """Per form, how many of its bundles ended in each latest outcome (``not-attempted``: a
    posting row without attempts)."""
    found = rows(
        ledger,
        "SELECT p.form_key, coalesce(a.outcome, 'not-attempted') AS outcome FROM postings p"
        " LEFT JOIN posting_attempts a ON a.bundle_key = p.bundle_key AND a.attempt ="
        " (SELECT max(attempt) FROM posting_attempts l WHERE l.bundle_key = p.bundle_key)",
    )
    out: dict[str, dict[str, int]] = {}
    for r in found:
        per = out.setdefault(r["form_key"], {})
        per[r["outcome"]] = per.get(r["outcome"], 0) + 1
    return out


@dataclass(frozen=True)
class OpenHeld:
    """An item held for a person now: the kind and detail of its latest row, and since when it
    has been held (the first row after the last ``cleared`` one)."""

    form_key: str
    item: str
    kind: str
    detail: str
    since: datetime
    latest: datetime  # when its latest row was recorded (held anew for another reason, say)


def held_item_id(form_key: str, item: str) -> str:
    """The opaque id of a held item: the first 12 hex digits of SHA-256 of ``form_key#item``."""
    return hashlib.sha256(f"{form_key}#{item}".encode()).hexdigest()[:12]


def held_item_key(ledger: Ledger, item_id: str) -> tuple[str, str] | None:
    """(form key, item) of a held item's id, if it was ever held under it."""
    found = rows(ledger, "SELECT form_key, item FROM held_item_ids WHERE item_id = ?", (item_id,))
    return (str(found[0]["form_key"]), str(found[0]["item"])) if found else None


def open_held_items(
    ledger: Ledger, *, form_key: str | None = None, form_keys: Collection[str] | None = None
) -> list[OpenHeld]:
    """Every item held now, by form key and item: the latest row recorded for the item (by
    ``found_at``, then by insertion) is not ``cleared``; held since the first row after its last
    ``cleared`` one (of ``form_key``, or of ``form_keys``, only, if given). What counts as open
    is decided here and nowhere else: the report lists and counts these, the drill and the
    review queues use them. Worked out by the database (one pass over the rows, the held_items
    index for each item's history)."""
    if form_keys is not None:
        return [h for key in sorted(set(form_keys)) for h in open_held_items(ledger, form_key=key)]
    # one form's rows only through the index (an OR with "no form given" would read them all)
    which, given = ("WHERE form_key = ?", (form_key,)) if form_key is not None else ("", ())
    found = rows(
        ledger,
        "SELECT h.form_key, h.item, h.kind, h.detail, h.found_at AS latest,"
        " (SELECT min(s.found_at) FROM held_items s WHERE s.form_key = h.form_key"
        "  AND s.item = h.item AND s.found_at > coalesce((SELECT max(c.found_at)"
        "  FROM held_items c WHERE c.form_key = h.form_key AND c.item = h.item"
        "  AND c.kind = ?), '')) AS since"
        " FROM (SELECT form_key, item, kind, detail, found_at, row_number() OVER"
        "  (PARTITION BY form_key, item ORDER BY found_at DESC, rowid DESC) AS n"
        f"  FROM held_items {which}) h"
        " WHERE h.n = 1 AND h.kind != ? ORDER BY h.form_key, h.item",
        (CLEARED, *given, CLEARED),
    )
    return [
        OpenHeld(
            r["form_key"],
            r["item"],
            r["kind"],
            r["detail"],
            datetime.fromisoformat(r["since"] or r["latest"]),
            datetime.fromisoformat(r["latest"]),
        )
        for r in found
    ]


@dataclass(frozen=True)
class HeldStamp:
    """How far a reader has seen the rows that decide what is held for a person: the last
    held row and the last decision (both tables only ever grow)."""

    held_row: int = 0
    decision: int = 0


def held_stamp(ledger: Ledger) -> HeldStamp:
    """The stamp of everything recorded so far."""
    last = rows(
        ledger,
        "SELECT (SELECT coalesce(max(rowid), 0) FROM held_items) AS h,"
        " (SELECT coalesce(max(decision_id), 0) FROM decisions) AS d",
    )[0]
    return HeldStamp(int(last["h"]), int(last["d"]))


def held_changes(ledger: Ledger, seen: HeldStamp) -> tuple[HeldStamp, set[str] | None]:
    """The forms with held rows or decisions recorded after ``seen``, and the stamp that
    covers them. A row written while this reads is either in the answer or after its stamp, so
    a reader that asks again with the stamp returned misses nothing (the writers of both tables
    keep ids in commit order: ``in_order`` of :meth:`Ledger.write`). None instead of the forms:
    the ledger holds fewer rows than ``seen`` (another ledger in the same place): start over."""
    last = held_stamp(ledger)
    if last.held_row < seen.held_row or last.decision < seen.decision:
        return last, None
    held = rows(
        ledger,
        "SELECT rowid AS n, form_key FROM held_items WHERE rowid > ? ORDER BY rowid",
        (seen.held_row,),
    )
    decided = rows(
        ledger,
        "SELECT decision_id AS n, form_key FROM decisions WHERE decision_id > ?"
        " ORDER BY decision_id",
        (seen.decision,),
    )
    stamp = HeldStamp(
        held[-1]["n"] if held else seen.held_row, decided[-1]["n"] if decided else seen.decision
    )
    return stamp, {r["form_key"] for r in held} | {r["form_key"] for r in decided}

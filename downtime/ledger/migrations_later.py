"""The ledger's migrations after 0008 (:mod:`~downtime.ledger.migrations` has the rules: each
runs once, in order, in its own transaction; never edit one that has shipped)."""

from __future__ import annotations

LATER: tuple[tuple[str, str], ...] = (
    (
        "0009_conflict_sides",
        """
        -- A record conflict's sides, written with its held_items row (same key and found_at):
        -- what the paper would make ('paper') and what the record holds in its place ('record').
        CREATE TABLE conflict_sides (
            form_key TEXT NOT NULL, item TEXT NOT NULL, found_at TEXT NOT NULL,
            side           TEXT NOT NULL,       -- paper | record
            n              INTEGER NOT NULL,    -- 1, 2, … within the side
            resource_type  TEXT NOT NULL,
            resource_id    TEXT NOT NULL,       -- the record's id ('' on the paper's side)
            identifier     TEXT NOT NULL,       -- system|value; '' below: not in the resource
            status         TEXT NOT NULL,
            occurred_at    TEXT NOT NULL,       -- effective time or authoredOn, as written
            medication     TEXT NOT NULL,
            dose           TEXT NOT NULL,
            who            TEXT NOT NULL,       -- performer, requester or recorder
            recorded_at    TEXT NOT NULL,       -- meta.lastUpdated in the record
            note           TEXT NOT NULL,
            PRIMARY KEY (form_key, item, found_at, side, n)
        );
        """,
    ),
    (
        "0010_pack_continuations",
        """
        -- A continuation pack (`downtime pack --continue`): the pack it continues, and the
        -- administration record's window it prints (from, hours). It supersedes no pack.
        CREATE TABLE pack_continuations (
            pack_id        TEXT PRIMARY KEY REFERENCES packs (pack_id),
            continues      TEXT NOT NULL REFERENCES packs (pack_id),
            mar_from       TEXT NOT NULL,       -- ISO 8601 with offset (site time)
            mar_hours      INTEGER NOT NULL
        );
        """,
    ),
)

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
    (
        "0011_prints",
        """
        -- A print of a pack's pages on demand (`downtime print`), on this station or imported
        -- from a ward station's export (`downtime prints import`). The row is written before
        -- the job is sent; its outcome after. A print without an outcome (the run stopped in
        -- between) counts as printed: its pages may be on the ward.
        CREATE TABLE prints (
            print_id       TEXT PRIMARY KEY,    -- random, made where it was printed
            pack_id        TEXT NOT NULL REFERENCES packs (pack_id),
            ward           TEXT NOT NULL,
            printed_at     TEXT NOT NULL,       -- ISO 8601, UTC
            printed_by     TEXT NOT NULL,
            station        TEXT NOT NULL,
            printer        TEXT NOT NULL,       -- the CUPS queue
            copies         INTEGER NOT NULL,
            selection      TEXT NOT NULL,       -- forms and beds asked for; '' the whole pack
            imported_at    TEXT                 -- NULL: printed here
        );
        CREATE INDEX prints_pack ON prints (pack_id, printed_at);
        CREATE TABLE print_pages (
            print_id       TEXT NOT NULL REFERENCES prints (print_id),
            page_uid       TEXT NOT NULL REFERENCES pages (page_uid),
            PRIMARY KEY (print_id, page_uid)
        );
        CREATE INDEX print_pages_page ON print_pages (page_uid);
        CREATE TABLE print_outcomes (
            print_id       TEXT PRIMARY KEY REFERENCES prints (print_id),
            outcome        TEXT NOT NULL,       -- sent | failed
            job_id         TEXT NOT NULL,       -- the CUPS job ('' when it failed)
            detail         TEXT NOT NULL,
            at             TEXT NOT NULL
        );
        """,
    ),
    (
        "0012_insertion_order",
        """
        -- Held items are ordered by insertion where their times are equal. SQLite numbers the
        -- rows of every table (rowid) already; PostgreSQL gets an identity column of the same
        -- name here (downtime.ledger.dialect.POSTGRESQL_MIGRATIONS).
        """,
    ),
    (
        "0013_audit_append_only",
        """
        -- The audit trail is appended to, never changed: the database itself refuses an UPDATE
        -- or a DELETE of an audit event (on PostgreSQL a TRUNCATE too, see
        -- downtime.ledger.dialect.POSTGRESQL_MIGRATIONS). Someone who owns the database can
        -- still drop these triggers; `downtime audit verify` then finds what was changed.
        CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
        BEGIN
            SELECT RAISE(ABORT, 'the audit trail is append-only: an audit event is never changed');
        END;
        CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
        BEGIN
            SELECT RAISE(ABORT, 'the audit trail is append-only: an audit event is never deleted');
        END;
        """,
    ),
    (
        "0014_ahead_continuations",
        """
        -- A continuation made ahead (`downtime pack --ahead N`): made with its pack, for a
        -- ward station to print during an outage if it is needed. It counts as issued only as
        -- far as it was printed (print records) or came back on paper. 1: made ahead.
        ALTER TABLE pack_continuations ADD COLUMN ahead INTEGER NOT NULL DEFAULT 0;
        """,
    ),
)

"""Named, ordered schema migrations. Each runs in its own transaction; never edit one that has
shipped: add the next. Facts are appended; nothing here is updated in place or deleted."""

from __future__ import annotations

from downtime.ledger.migrations_later import LATER

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "0001_issued_packs",
        """
        CREATE TABLE packs (
            pack_id        TEXT PRIMARY KEY,
            site           TEXT NOT NULL,
            ward           TEXT NOT NULL,
            issued_at      TEXT NOT NULL,   -- ISO 8601 with offset
            data_as_of     TEXT,
            valid_until    TEXT NOT NULL,
            lang           TEXT NOT NULL,
            census_source  TEXT NOT NULL,   -- file name or server, never a path
            issued_by      TEXT NOT NULL,
            station        TEXT NOT NULL,
            key_id         TEXT NOT NULL,
            pdf_name       TEXT NOT NULL,
            pdf_sha256     TEXT NOT NULL,
            page_count     INTEGER NOT NULL
        );
        CREATE INDEX packs_ward ON packs (site, ward, issued_at);

        CREATE TABLE pack_supersessions (
            pack_id        TEXT PRIMARY KEY REFERENCES packs (pack_id),
            superseded_by  TEXT NOT NULL REFERENCES packs (pack_id),
            at             TEXT NOT NULL
        );

        CREATE TABLE pack_patients (
            pack_id        TEXT NOT NULL REFERENCES packs (pack_id),
            patient_system TEXT NOT NULL,
            patient_value  TEXT NOT NULL,
            family_name    TEXT NOT NULL,
            given_name     TEXT NOT NULL,
            birth_date     TEXT,
            sex            TEXT NOT NULL,
            bed            TEXT NOT NULL,
            encounter_id   TEXT NOT NULL,
            admitted_at    TEXT,
            allergies      TEXT NOT NULL,   -- as printed, '; '-separated
            PRIMARY KEY (pack_id, patient_system, patient_value)
        );

        CREATE TABLE pack_orders (
            pack_id        TEXT NOT NULL REFERENCES packs (pack_id),
            order_id       TEXT NOT NULL,
            patient_system TEXT NOT NULL,
            patient_value  TEXT NOT NULL,
            medication     TEXT NOT NULL,
            dose           TEXT NOT NULL,
            route          TEXT NOT NULL,
            frequency      TEXT NOT NULL,
            times          TEXT NOT NULL,   -- 'HH:MM;HH:MM'
            prn            INTEGER NOT NULL,
            start_date     TEXT,
            PRIMARY KEY (pack_id, order_id)
        );

        -- A field layout is stored once and shared by every page printed with it.
        CREATE TABLE layouts (
            layout_id      TEXT PRIMARY KEY,  -- SHA-256 of the canonical field list
            form           TEXT NOT NULL,
            form_version   INTEGER NOT NULL
        );
        CREATE TABLE layout_fields (
            layout_id      TEXT NOT NULL REFERENCES layouts (layout_id),
            field_id       TEXT NOT NULL,
            kind           TEXT NOT NULL,
            left_mm        REAL NOT NULL,     -- from the page's top-left corner
            top_mm         REAL NOT NULL,
            width_mm       REAL NOT NULL,
            height_mm      REAL NOT NULL,
            PRIMARY KEY (layout_id, field_id)
        );

        CREATE TABLE pages (
            page_uid       TEXT PRIMARY KEY,  -- 32 hex, as in the page code and the manifest
            serial         TEXT NOT NULL UNIQUE,
            pack_id        TEXT NOT NULL REFERENCES packs (pack_id),
            pdf_page       INTEGER NOT NULL,
            form           TEXT NOT NULL,
            form_code      INTEGER NOT NULL,
            form_version   INTEGER NOT NULL,
            page_no        INTEGER NOT NULL,
            page_count     INTEGER NOT NULL,
            patient_system TEXT,
            patient_value  TEXT,
            encounter      TEXT NOT NULL,
            layout_id      TEXT NOT NULL REFERENCES layouts (layout_id),
            key_id         TEXT NOT NULL,
            issued_at      TEXT NOT NULL
        );
        CREATE INDEX pages_pack ON pages (pack_id, pdf_page);
        CREATE INDEX pages_patient ON pages (patient_system, patient_value);

        -- What a data-bound field is about: the order of its row, the time slot of its cell.
        CREATE TABLE page_field_refs (
            page_uid       TEXT NOT NULL REFERENCES pages (page_uid),
            field_id       TEXT NOT NULL,
            order_id       TEXT,
            slot           TEXT,              -- ISO 8601 with offset
            PRIMARY KEY (page_uid, field_id)
        );

        CREATE TABLE reserve_ids (
            reserve_id     TEXT PRIMARY KEY,
            pack_id        TEXT NOT NULL REFERENCES packs (pack_id),
            ward           TEXT NOT NULL,
            allocated_at   TEXT NOT NULL
        );

        -- Who did what, when, for which care unit, to which patient's pages. Each row's hash
        -- covers the previous row's hash, so a removed or altered row breaks the chain.
        CREATE TABLE audit_events (
            seq            INTEGER PRIMARY KEY AUTOINCREMENT,
            at             TEXT NOT NULL,
            actor          TEXT NOT NULL,
            station        TEXT NOT NULL,
            action         TEXT NOT NULL,
            care_unit      TEXT,
            patient_system TEXT,
            patient_value  TEXT,
            object_type    TEXT,
            object_id      TEXT,
            detail         TEXT NOT NULL,
            prev_hash      TEXT NOT NULL,
            hash           TEXT NOT NULL
        );
        CREATE INDEX audit_patient ON audit_events (patient_system, patient_value);
        """,
    ),
    (
        "0002_scans",
        """
        -- One row per `downtime scan` run.
        CREATE TABLE scan_runs (
            run_id         TEXT PRIMARY KEY,
            started_at     TEXT NOT NULL,
            operator       TEXT NOT NULL,
            station        TEXT NOT NULL
        );

        -- Every input file, kept content-addressed in the store before anything else is
        -- recorded about it. The same bytes again are the same file.
        CREATE TABLE scan_files (
            file_sha256    TEXT PRIMARY KEY,
            size           INTEGER NOT NULL,
            kind           TEXT NOT NULL,       -- pdf | tiff | png | jpeg | unknown
            first_source   TEXT NOT NULL,       -- the name it was first given under
            first_run      TEXT NOT NULL REFERENCES scan_runs (run_id),
            stored_as      TEXT NOT NULL        -- path inside the data folder's store
        );
        CREATE TABLE scan_sightings (
            run_id         TEXT NOT NULL REFERENCES scan_runs (run_id),
            file_sha256    TEXT NOT NULL REFERENCES scan_files (file_sha256),
            source         TEXT NOT NULL,
            PRIMARY KEY (run_id, file_sha256, source)
        );

        -- One row per attempt at an image page of an input file: what became of it. The same
        -- file again adds nothing, unless its page was set aside for a reason a rescan can
        -- cure (a key imported since, say): then the page is read again, as a new attempt.
        CREATE TABLE scan_pages (
            scan_page_id   INTEGER PRIMARY KEY AUTOINCREMENT,
            file_sha256    TEXT NOT NULL REFERENCES scan_files (file_sha256),
            source_page    INTEGER NOT NULL,    -- 1-based; 0 when the whole file failed
            run_id         TEXT NOT NULL REFERENCES scan_runs (run_id),
            status         TEXT NOT NULL,       -- identified|duplicate|conflict|quarantined|blank
            reason         TEXT,
            page_uid       TEXT,                -- from a verified code (may be unknown here)
            rotation       INTEGER NOT NULL,    -- clockwise degrees applied to make it upright
            scanned_at     TEXT NOT NULL
        );
        CREATE INDEX scan_pages_file ON scan_pages (file_sha256, source_page);
        CREATE INDEX scan_pages_uid ON scan_pages (page_uid);

        -- A capture: one reading of an issued page, with the registered page image it was read
        -- from. Another capture of the same page with the same reading is linked to the first;
        -- with a different one it is a conflict.
        CREATE TABLE captures (
            capture_id     INTEGER PRIMARY KEY AUTOINCREMENT,
            scan_page_id   INTEGER NOT NULL UNIQUE REFERENCES scan_pages (scan_page_id),
            page_uid       TEXT NOT NULL REFERENCES pages (page_uid),
            via            TEXT NOT NULL,       -- code | serial | assigned
            residual_mm    REAL NOT NULL,       -- registration error
            registered_as  TEXT NOT NULL,       -- the registered page image in the store
            same_as        INTEGER REFERENCES captures (capture_id),
            conflicts_with INTEGER REFERENCES captures (capture_id),
            captured_at    TEXT NOT NULL
        );
        CREATE INDEX captures_page ON captures (page_uid);

        CREATE TABLE marks (
            capture_id     INTEGER NOT NULL REFERENCES captures (capture_id),
            field_id       TEXT NOT NULL,
            kind           TEXT NOT NULL,
            state          TEXT NOT NULL,       -- marked | empty | written | blank | uncertain
            score          REAL NOT NULL,
            flags          TEXT NOT NULL,       -- space-separated, e.g. "corrected"
            crop_left_px   INTEGER NOT NULL,    -- the field's crop on the registered image
            crop_top_px    INTEGER NOT NULL,
            crop_right_px  INTEGER NOT NULL,
            crop_bottom_px INTEGER NOT NULL,
            PRIMARY KEY (capture_id, field_id)
        );
        CREATE TABLE mark_metrics (
            capture_id     INTEGER NOT NULL,
            field_id       TEXT NOT NULL,
            name           TEXT NOT NULL,
            value          REAL NOT NULL,
            PRIMARY KEY (capture_id, field_id, name),
            FOREIGN KEY (capture_id, field_id) REFERENCES marks (capture_id, field_id)
        );

        -- Pages set aside, with the reason; a clerk may assign one by its printed serial.
        CREATE TABLE quarantine (
            item_id        INTEGER PRIMARY KEY AUTOINCREMENT,
            scan_page_id   INTEGER NOT NULL UNIQUE REFERENCES scan_pages (scan_page_id),
            reason         TEXT NOT NULL,
            message        TEXT NOT NULL,
            created_at     TEXT NOT NULL
        );
        CREATE TABLE assignments (
            item_id        INTEGER PRIMARY KEY REFERENCES quarantine (item_id),
            serial         TEXT NOT NULL,
            page_uid       TEXT NOT NULL REFERENCES pages (page_uid),
            capture_id     INTEGER NOT NULL REFERENCES captures (capture_id),
            assigned_by    TEXT NOT NULL,
            assigned_at    TEXT NOT NULL
        );
        """,
    ),
    (
        "0003_reconcile",
        """
        -- When the record system was down: the report covers the packs in use then.
        CREATE TABLE outage_events (
            seq            INTEGER PRIMARY KEY AUTOINCREMENT,
            kind           TEXT NOT NULL,       -- start | end
            at             TEXT NOT NULL,       -- when it happened (ISO 8601 with offset)
            recorded_by    TEXT NOT NULL,
            recorded_at    TEXT NOT NULL
        );

        -- Pages that will never come back and must stop counting as missing (unused blank
        -- forms thrown away, say). A person decides; the reason is kept.
        CREATE TABLE voids (
            page_uid       TEXT PRIMARY KEY REFERENCES pages (page_uid),
            reason         TEXT NOT NULL,
            voided_by      TEXT NOT NULL,
            voided_at      TEXT NOT NULL
        );

        -- One transaction bundle per returned form (or a later version of it). The row is
        -- written before any request is made; attempts and their outcomes are appended.
        CREATE TABLE postings (
            bundle_key     TEXT PRIMARY KEY,    -- deterministic: form + version of its content
            form_key       TEXT NOT NULL,       -- pack / form / patient
            content_sha256 TEXT NOT NULL,       -- of the bundle as first built
            target         TEXT NOT NULL,       -- outbox | the FHIR base URL
            resources      INTEGER NOT NULL,
            created_at     TEXT NOT NULL
        );
        CREATE INDEX postings_form ON postings (form_key);
        CREATE TABLE posting_attempts (
            bundle_key     TEXT NOT NULL REFERENCES postings (bundle_key),
            attempt        INTEGER NOT NULL,
            at             TEXT NOT NULL,
            outcome        TEXT NOT NULL,       -- written | posted | retry | failed | held
            http_status    INTEGER,
            detail         TEXT NOT NULL,
            PRIMARY KEY (bundle_key, attempt)
        );
        -- What each posted bundle created or found on the server, by its deterministic id.
        CREATE TABLE posted_resources (
            bundle_key     TEXT NOT NULL REFERENCES postings (bundle_key),
            resource_type  TEXT NOT NULL,
            identifier     TEXT NOT NULL,       -- system|value
            location       TEXT,                -- Type/id/_history/v on the server
            PRIMARY KEY (bundle_key, identifier)
        );
        -- Items not posted, and why: waiting for a person (transcription, an uncertain box,
        -- a conflict between captures) or in conflict with what the record holds now.
        CREATE TABLE held_items (
            form_key       TEXT NOT NULL,
            item           TEXT NOT NULL,       -- e.g. "med1.t08" or "new2"
            kind           TEXT NOT NULL,       -- pending-review | record-conflict
            detail         TEXT NOT NULL,
            found_at       TEXT NOT NULL,
            PRIMARY KEY (form_key, item, kind, found_at)
        );
        """,
    ),
    (
        "0004_encounter_system",
        """
        -- The record's identifier system of a census patient's encounter_id, when the census
        -- names it (a FHIR census: the Encounter identifier's system); NULL when it does not.
        ALTER TABLE pack_patients ADD COLUMN encounter_system TEXT;
        """,
    ),
    (
        "0005_users",
        """
        -- The people who use the review station (`downtime users add`). A user is never
        -- changed or removed: disabling one is a fact of its own. Sessions and failed-login
        -- counts live in the station's memory only, never on disk.
        CREATE TABLE users (
            name           TEXT PRIMARY KEY,
            role           TEXT NOT NULL,       -- clerk | confirmer | admin
            password_hash  TEXT NOT NULL,       -- Argon2id, as its PHC string
            added_by       TEXT NOT NULL,
            added_at       TEXT NOT NULL
        );
        CREATE TABLE user_disablements (
            name           TEXT PRIMARY KEY REFERENCES users (name),
            disabled_by    TEXT NOT NULL,
            disabled_at    TEXT NOT NULL
        );

        -- A set-aside page a person decided is not one to file (a stray sheet, a page scanned
        -- twice), with the reason.
        CREATE TABLE quarantine_rejections (
            item_id        INTEGER PRIMARY KEY REFERENCES quarantine (item_id),
            reason         TEXT NOT NULL,
            rejected_by    TEXT NOT NULL,
            rejected_at    TEXT NOT NULL
        );
        """,
    ),
    (
        "0006_decisions",
        """
        -- What a person decided about a held item (downtime.review): appended, never changed;
        -- a later decision about the same item supersedes an earlier one. Medication typed
        -- from handwriting takes two rows by two people: an entry, then a blind confirmation.
        CREATE TABLE decisions (
            decision_id    INTEGER PRIMARY KEY AUTOINCREMENT,
            form_key       TEXT NOT NULL,
            item           TEXT NOT NULL,       -- as held: "med1.t08", "page 2/new1", "page 1"
            step           TEXT NOT NULL,       -- decide | confirm
            action         TEXT NOT NULL,       -- boxes | skip | post | capture | transcribe
            value          TEXT NOT NULL,       -- JSON: what was decided
            reason         TEXT NOT NULL,       -- why, in the person's words ('' if none)
            decided_by     TEXT NOT NULL,
            decided_at     TEXT NOT NULL,
            station        TEXT NOT NULL
        );
        CREATE INDEX decisions_item ON decisions (form_key, item, decision_id);
        """,
    ),
    (
        "0007_held_items_history",
        """
        -- Each held item's history in time order: what is open, and since when, is read from it
        -- on every request of the review station.
        CREATE INDEX held_items_history ON held_items (form_key, item, found_at);
        """,
    ),
    (
        "0008_held_item_ids",
        """
        -- The opaque id the review station and `downtime review` name a held item by (a hash
        -- of its form key and item: no patient data), so that one item is found by its id.
        CREATE TABLE held_item_ids (
            item_id        TEXT PRIMARY KEY,
            form_key       TEXT NOT NULL,
            item           TEXT NOT NULL
        );
        """,
    ),
)

MIGRATIONS = MIGRATIONS + LATER  # the migrations after 0008, in migrations_later.py

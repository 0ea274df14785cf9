"""Named, ordered schema migrations. Each runs in its own transaction; never edit one that has
shipped: add the next. Facts are appended; nothing here is updated in place or deleted."""

from __future__ import annotations

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
)

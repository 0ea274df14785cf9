"""What the ledger records about packs and pages, and audit events: its own dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from downtime.model import FieldBox, Identifier


@dataclass(frozen=True)
class PackRecord:
    pack_id: str
    site: str
    ward: str
    issued_at: datetime
    data_as_of: datetime | None
    valid_until: datetime
    lang: str
    census_source: str
    issued_by: str
    station: str
    key_id: str
    pdf_name: str
    pdf_sha256: str
    page_count: int


@dataclass(frozen=True)
class IssuedPage:
    """One printed page, as the pack made it and as the ledger gives it back (its fields
    ordered top to bottom, left to right when read back)."""

    page_uid: str
    pack_id: str
    serial: str
    pdf_page: int
    form: str
    form_code: int
    form_version: int
    page_no: int
    page_count: int
    patient: Identifier | None
    encounter: str
    key_id: str
    issued_at: datetime
    fields: tuple[FieldBox, ...]


@dataclass(frozen=True)
class PackSummary:
    """A pack as the ledger knows it, and whether a later pack of its ward superseded it."""

    pack_id: str
    site: str
    ward: str
    issued_at: datetime
    page_count: int
    census_source: str
    superseded_by: str | None
    continues: str | None = None  # a continuation pack: the pack it continues
    ahead: bool = False  # … made ahead with that pack (counts only as far as printed)


@dataclass(frozen=True)
class AuditEvent:
    action: str  # "pack.print", "keys.rotate", …
    detail: str
    care_unit: str | None = None
    patient: Identifier | None = None
    object_type: str | None = None
    object_id: str | None = None

"""What a pack is planned as and what making it returns: planned pages, the plan, the pack's
context (who, where, when) and the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from downtime.forms import FormDef
from downtime.forms.layout import PageLayout
from downtime.model import MedicationOrder, Patient, SkippedRow


@dataclass(frozen=True)
class PlannedPage:
    form: FormDef
    layout: PageLayout
    patient: Patient | None = None  # None on the cover sheet and admission forms
    reserve_id: str | None = None  # admission forms


@dataclass(frozen=True)
class PackPlan:
    ward: str
    patients: tuple[Patient, ...]
    orders: tuple[MedicationOrder, ...]
    pages: tuple[PlannedPage, ...]  # in print order: cover first
    reserve_ids: tuple[str, ...]
    skipped: tuple[SkippedRow, ...]


@dataclass(frozen=True)
class PackResult:
    pack_id: str
    ward: str
    pdf: Path
    manifest: Path
    pages: int
    patients: int
    admission_forms: int
    superseded: tuple[str, ...]
    skipped: tuple[SkippedRow, ...] = field(default=())
    ahead: bool = False  # a continuation made ahead with its pack (`pack --ahead N`)


@dataclass(frozen=True)
class PackContext:
    pack_id: str
    site: str
    ward: str
    lang: str
    tz: ZoneInfo
    issued_at: datetime
    data_as_of: datetime
    valid_until: datetime
    # a continuation pack (`downtime pack --continue`): the pack it continues, and where its
    # administration record's window starts (else: the hour it is issued)
    continues: str | None = None
    mar_from: datetime | None = None

    @property
    def mar_start(self) -> datetime:
        """The administration record's first hour (site time)."""
        if self.mar_from is not None:
            return self.mar_from.astimezone(self.tz)
        return self.issued_at.astimezone(self.tz).replace(minute=0, second=0, microsecond=0)

    def local(self, when: datetime) -> str:
        return when.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")

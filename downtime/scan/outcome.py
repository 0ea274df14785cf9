"""What reading one page needs and what it turns out to be: the worker's configuration, the
page's place in its file, and its outcome as the ledger records it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from downtime.ledger.scans import Capture, MarkFact, PageFact
from downtime.model import Identifier
from downtime.scan import images, marks
from downtime.vocab import Reason, ScanStatus


@dataclass(frozen=True)
class WorkerConfig:
    home: Path
    ledger: Path | str  # the SQLite file or the PostgreSQL URL (Settings.ledger_target)
    store_dir: Path
    public_keys: tuple[bytes, ...]  # raw Ed25519 public keys
    debug_dir: Path | None = None
    ocr: bool = True
    mark_settings: marks.MarkSettings = field(default_factory=marks.MarkSettings)


@dataclass(frozen=True)
class PageTask:
    file: images.InputFile
    index: int  # 1-based page within the file


@dataclass(frozen=True)
class PageOutcome:
    """What one page turned out to be, before the ledger decides duplicate or conflict."""

    source: str
    source_page: int
    file_sha256: str
    status: ScanStatus  # identified | quarantined | blank
    reason: Reason | None = None
    message: str = ""
    page_uid: str | None = None  # only from a verified code (or a serial that checked out)
    form_code: int | None = None
    page: int | None = None
    patient: Identifier | None = None
    via: str | None = None  # code | serial
    rotation: int = 0
    residual_mm: float | None = None
    readings: tuple[marks.FieldReading, ...] = ()
    crops: tuple[tuple[int, int, int, int], ...] = ()  # per reading, px on the registered image
    registered_as: str | None = None
    seconds: float = 0.0

    def fact(self) -> PageFact:
        """This outcome as the ledger records it."""
        capture = None
        if self.registered_as is not None and self.via is not None and self.residual_mm is not None:
            marks_read = tuple(
                MarkFact(r.field_id, r.kind, r.state, r.score, r.flags, crop, dict(r.metrics))
                for r, crop in zip(self.readings, self.crops, strict=True)
            )
            capture = Capture(self.via, self.residual_mm, self.registered_as, marks_read)
        return PageFact(
            source=self.source,
            source_page=self.source_page,
            file_sha256=self.file_sha256,
            status=self.status,
            reason=self.reason,
            message=self.message,
            page_uid=self.page_uid,
            patient=self.patient,
            rotation=self.rotation,
            capture=capture,
        )

"""Printing on demand: a ward's newest pack (or some of its forms or beds) through CUPS, each
print recorded and audited; the prints listed, exported by a ward station and imported by the
central ledger after the outage."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from downtime import files
from downtime.app.held_continuations import choose_held
from downtime.app.station import record_held
from downtime.app.workspace import workspace
from downtime.errors import InputError, Said
from downtime.ledger import AuditEvent, Ledger
from downtime.ledger.packs import has_pack
from downtime.ledger.prints import (
    PrintRecord,
    import_prints,
    known_prints,
    pack_pages,
    print_records,
    record_print,
    record_print_outcome,
)
from downtime.model import Identifier
from downtime.pack.manifest import continuation_in, load_manifest
from downtime.ward import VerifiedPack, folder_catalogue, folder_of, verify_pack
from downtime.ward.holding import MANIFEST_SUFFIX
from downtime.ward.select import choose_pages, selection_text

EXPORT_SCHEMA = "downtime.prints/1"
_PRINT_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class PrintRequest:
    ward: str
    forms: tuple[str, ...] = ()
    beds: tuple[str, ...] = ()
    printer: str | None = None  # None: the CUPS default printer
    copies: int = 1
    packs: Path | None = None  # a pack folder (the print host's) instead of the station's copy
    pack_id: str | None = None  # one pack held: the ward's or one of its continuations
    continuation: bool = False  # the next continuation held that was not printed here
    to_file: Path | None = None  # written to this PDF instead of sent to CUPS


@dataclass(frozen=True)
class Printed:
    record: PrintRecord
    issued_at: datetime  # the pack's
    valid_until: datetime  # the pack's
    pages_in_pack: int
    window: tuple[datetime, datetime] | None = None  # a continuation's administration record


@dataclass(frozen=True)
class PrintsImport:
    file: Path
    added: int
    known: int  # imported before: left as they were
    skipped: tuple[tuple[str, str], ...]  # (print id, why)


def print_pack(home: Path | None, request: PrintRequest) -> Printed:
    """Print the ward's pack (the chosen pages), record it, and send it to CUPS (or write it
    to ``request.to_file``: pages written out are recorded as printed, since they may be)."""
    from downtime.ward import cups
    from downtime.ward.pdf import subset

    with workspace(home, keys="read") as (settings, keys, ledger):
        if request.packs is not None:
            checked = _from_folder(request.packs, request.ward, keys.verification_keys())
        else:
            checked = choose_held(settings, keys, ledger, request.ward, pack_id=request.pack_id,
                                  continuation=request.continuation)  # fmt: skip
        record_held(ledger, settings, checked, source="the station's copy")
        chosen = choose_pages(checked.pages, forms=request.forms, beds=request.beds)
        if request.to_file is not None:
            printer = "file"
        else:
            printer = request.printer or cups.default_printer()
        whole = len(chosen) == len(checked.pages)
        data = checked.pdf if whole else subset(checked.pdf, [p.pdf_page - 1 for p in chosen])
        record = PrintRecord(
            print_id=secrets.token_hex(16),
            pack_id=checked.pack_id,
            ward=checked.ward,
            printed_at=datetime.now(UTC).replace(microsecond=0),
            printed_by=settings.operator,
            station=settings.station,
            printer=printer,
            copies=request.copies,
            selection=selection_text(request.forms, request.beds),
            page_uids=tuple(p.page_uid for p in chosen),
        )
        record_print(ledger, record, _audit(record, checked, chosen),
                     actor=settings.operator, station=settings.station)  # fmt: skip
        if request.to_file is not None:
            job_id = _write_out(request.to_file, data, checked if whole else None, ledger, record)
        else:
            job_id = _send(settings.home, record, data, checked, ledger)
        record_print_outcome(ledger, record.print_id, "sent", job_id=job_id)
        done = replace(record, outcome="sent", job_id=job_id)
        return Printed(done, checked.issued_at, checked.record.valid_until, len(checked.pages),
                       _window(checked))  # fmt: skip


def _send(home: Path, record: PrintRecord, data: bytes, checked: VerifiedPack,
          ledger: Ledger) -> str:  # fmt: skip
    """Send the pages to CUPS; the job's id (a refusal is recorded as a failed print)."""
    from downtime.ward import cups

    folder = files.private_folder(folder_of(home))
    temp = files.new_temp(folder / f"print-{record.print_id}.pdf")
    try:
        temp.write_bytes(data)
        job = cups.send(temp, printer=record.printer, copies=record.copies,
                        title=f"downtime {checked.ward} {checked.pack_id}")  # fmt: skip
    except cups.PrintFailed as e:
        record_print_outcome(ledger, record.print_id, "failed", detail=e.message[:500])
        raise
    finally:
        temp.unlink(missing_ok=True)
    return job.job_id


def _write_out(
    path: Path, data: bytes, whole: VerifiedPack | None, ledger: Ledger, record: PrintRecord
) -> str:
    """The pages as a PDF at ``path`` (0600; its folder made if missing), with the pack's
    manifest beside it when it is the whole pack; the file's name, as the print's job. A file
    that cannot be written is recorded as a failed print."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        files.write_atomic(path, data)
        if whole is not None:
            files.write_atomic(path.with_name(path.stem + MANIFEST_SUFFIX), whole.manifest)
    except OSError as e:
        record_print_outcome(ledger, record.print_id, "failed", detail=str(e.strerror)[:500])
        raise InputError(
            f"{path} cannot be written ({e.strerror}); nothing counts as printed",
            hint="give -o a file in a folder this user may write to",
        ) from None
    return path.name


def _window(checked: VerifiedPack) -> tuple[datetime, datetime] | None:
    """A continuation pack's administration record window (None: a ward's pack)."""
    continued = continuation_in(load_manifest(checked.manifest, checked.pack_id))
    if continued is None:
        return None
    return continued.mar_from, continued.mar_from + timedelta(hours=continued.mar_hours)


def _from_folder(folder: Path, ward: str, keys: Sequence[Any]) -> VerifiedPack:
    offer = next((o for o in folder_catalogue(folder).offers if o.ward == ward), None)
    if offer is None:
        values = {"folder": str(folder), "ward": ward}
        raise InputError(
            f"{folder} holds no pack for {ward}",
            hint="print packs with downtime pack --all-wards -o DIR, or name the right folder "
            "with --from",
            said=Said("no_pack_in_folder", values),
        )
    manifest, pdf = offer.fetch()
    return verify_pack(manifest, pdf, keys, name=offer.name, ward=ward)


def _audit(record: PrintRecord, checked: VerifiedPack, chosen: Sequence[Any]) -> list[AuditEvent]:
    """One event per patient whose pages were printed, and one for the print as a whole."""
    per_patient: dict[Identifier, list[str]] = {}
    for page in chosen:
        if page.patient is not None:
            per_patient.setdefault(page.patient, []).append(f"{page.form}:{page.page_no}")
    where = f"printer {record.printer}, {record.copies} copies"
    events = [
        AuditEvent("print.patient", f"{' '.join(pages)}; {where}", care_unit=record.ward,
                   patient=patient, object_type="print", object_id=record.print_id)
        for patient, pages in per_patient.items()
    ]  # fmt: skip
    events.append(
        AuditEvent(
            "print",
            f"pack {checked.pack_id}: {len(chosen)} of {len(checked.pages)} pages"
            f"{' (' + record.selection + ')' if record.selection else ''}; {where}",
            care_unit=record.ward,
            object_type="print",
            object_id=record.print_id,
        )
    )
    return events


def print_list(home: Path | None, *, ward: str | None = None, limit: int = 50) -> list[PrintRecord]:
    with workspace(home, keys="read") as (_settings, _keys, ledger):
        return print_records(ledger, ward=ward, limit=limit)


# --------------------------------------------------------------------------------------------
# Export from a ward station, import into the central ledger


def export_prints(home: Path | None, output: Path) -> int:
    """Write this station's own prints (not those it imported) to ``output``; how many."""
    with workspace(home, keys="read") as (settings, _keys, ledger):
        own = [p for p in print_records(ledger) if p.imported_at is None]
        doc = {
            "schema": EXPORT_SCHEMA,
            "site": settings.config.site,
            "station": settings.station,
            "exported_at": datetime.now(UTC).isoformat(),
            "prints": [_print_json(p) for p in reversed(own)],
        }
    files.write_atomic(output, json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8"))
    return len(own)


def _print_json(p: PrintRecord) -> dict[str, Any]:
    return {
        "print_id": p.print_id, "pack_id": p.pack_id, "ward": p.ward,
        "printed_at": p.printed_at.isoformat(), "printed_by": p.printed_by,
        "station": p.station, "printer": p.printer, "copies": p.copies,
        "selection": p.selection, "pages": list(p.page_uids), "outcome": p.outcome,
        "job_id": p.job_id, "detail": p.detail,
    }  # fmt: skip


def import_print_files(home: Path | None, paths: Sequence[Path]) -> list[PrintsImport]:
    """Record the prints of ward stations' exports. A print known already is left as it is;
    a print of a pack this ledger does not know is skipped (import its manifest first)."""
    done = []
    with workspace(home, keys="read") as (settings, _keys, ledger):
        for path in paths:
            records = _read_export(path)
            known = known_prints(ledger, [r.print_id for r in records])
            fresh: list[PrintRecord] = []
            skipped: list[tuple[str, str]] = []
            for r in records:
                if r.print_id in known:
                    continue
                pages = pack_pages(ledger, r.pack_id) if has_pack(ledger, r.pack_id) else None
                why = _unfit(r, pages)
                if why:
                    skipped.append((r.print_id, why))
                else:
                    fresh.append(r)
            events = [
                AuditEvent("print.import", f"{path.name}: {len(r.page_uids)} pages on "
                           f"{r.printer} at {r.station}", care_unit=r.ward,
                           object_type="print", object_id=r.print_id)
                for r in fresh
            ]  # fmt: skip
            import_prints(ledger, fresh, events, actor=settings.operator,
                          station=settings.station)  # fmt: skip
            done.append(PrintsImport(path, len(fresh), len(known), tuple(skipped)))
    return done


def _unfit(record: PrintRecord, pages: set[str] | None) -> str:
    if pages is None:
        return (
            f"pack {record.pack_id} is not in this ledger: import its manifest first "
            "(downtime packs import)"
        )
    stray = [u for u in record.page_uids if u not in pages]
    return f"{len(stray)} of its pages are not pages of pack {record.pack_id}" if stray else ""


def _read_export(path: Path) -> list[PrintRecord]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path.name} cannot be read as a prints export: {e}") from e
    if not isinstance(doc, dict) or doc.get("schema") != EXPORT_SCHEMA:
        raise InputError(
            f"{path.name} is not a prints export ({EXPORT_SCHEMA})",
            hint="make one on the ward station with downtime prints export -o FILE",
        )
    try:
        records = [_record(p) for p in doc["prints"]]
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"{path.name}: a print in it is incomplete or damaged ({e!r})") from e
    return records


def _record(p: dict[str, Any]) -> PrintRecord:
    if not _PRINT_ID.fullmatch(str(p["print_id"])):
        raise ValueError("a print id is 32 hexadecimal characters")
    outcome = p.get("outcome")
    if outcome not in (None, "sent", "failed"):
        raise ValueError(f"unknown outcome {outcome!r}")
    printed_at = datetime.fromisoformat(p["printed_at"])
    if printed_at.tzinfo is None:
        raise ValueError("printed_at has no UTC offset")
    return PrintRecord(
        print_id=str(p["print_id"]), pack_id=str(p["pack_id"]), ward=str(p["ward"]),
        printed_at=printed_at, printed_by=str(p["printed_by"]), station=str(p["station"]),
        printer=str(p["printer"]), copies=int(p["copies"]), selection=str(p["selection"]),
        page_uids=tuple(str(u) for u in p["pages"]), outcome=outcome,
        job_id=str(p.get("job_id") or ""), detail=str(p.get("detail") or ""),
    )  # fmt: skip

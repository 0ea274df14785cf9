"""What a ward station holds: for each of its wards the newest pack that passed its checks, as
the PDF and manifest it checked, in ``ward-packs/`` of its data folder, and the outcome of its
latest sync per ward (``sync.json``).

Files are named by ward and pack (``MED42.3f9a0c1d2e4b5a69.pdf`` and ``….manifest.json``), each
written atomically (a private temporary file, fsync, rename): a new pack is in place, whole,
before the ward's older files are removed, and a sync killed half-way leaves the old pack
usable. What a station holds for a ward is the newest manifest of that ward in the folder
that continues no pack; beside it, the continuation packs that continue that pack (the next
days' administration records, made ahead on the print host), kept with it and removed with it.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from downtime import files
from downtime.errors import InputError
from downtime.pack.manifest import continuation_in

FOLDER = "ward-packs"
SYNC_FILE = "sync.json"
SYNC_SCHEMA = "downtime.station-sync/1"
MANIFEST_SUFFIX = ".manifest.json"


@dataclass(frozen=True)
class Held:
    """A pack the station holds (read from its manifest, which was checked when it came)."""

    ward: str
    pack_id: str
    issued_at: datetime
    data_as_of: datetime
    valid_until: datetime
    manifest: Path
    pdf: Path
    continues: str = ""  # a continuation pack: the pack it continues ('' a ward's pack)
    mar_from: datetime | None = None  # … and the window of its administration record
    mar_hours: int = 0


@dataclass(frozen=True)
class WardSync:
    """The outcome of the latest sync for one ward."""

    ward: str
    at: datetime
    outcome: str  # updated | current | kept | refused | absent | unreachable
    detail: str  # why, for a person
    pack_id: str = ""  # the pack offered, if any


def folder_of(home: Path) -> Path:
    return home / FOLDER


def file_stem(ward: str, pack_id: str) -> str:
    """A file name for a ward's pack: letters, digits, '-', '_' and '.' kept, others '_'."""
    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', ward) or 'ward'}.{pack_id}"


def held_packs(folder: Path) -> dict[str, Held]:
    """The newest pack held for each ward (manifests that cannot be read are passed over)."""
    held: dict[str, Held] = {}
    for held_pack in _all_held(folder):
        if held_pack.continues:
            continue
        current = held.get(held_pack.ward)
        if current is None or held_pack.issued_at > current.issued_at:
            held[held_pack.ward] = held_pack
    return held


def held_continuations(folder: Path, pack: Held) -> list[Held]:
    """The continuation packs held for ``pack`` (and for those, and so on), by the start of
    their window."""
    todo = [h for h in _all_held(folder) if h.ward == pack.ward and h.continues]
    found: list[Held] = []
    ids = {pack.pack_id}
    while more := [h for h in todo if h.continues in ids and h.pack_id not in ids]:
        found += more
        ids.update(h.pack_id for h in more)
    return sorted(found, key=lambda h: (h.mar_from or h.issued_at, h.pack_id))


def install(
    folder: Path, ward: str, pack_id: str, manifest: bytes, pdf: bytes, *, continues: str = ""
) -> Held:
    """Keep a checked pack: its PDF, then its manifest (which makes it the ward's pack), then
    remove the ward's other packs and their continuations. A continuation pack (``continues``:
    the pack it continues, which the station holds) is added beside that pack."""
    files.private_folder(folder)
    stem = file_stem(ward, pack_id)
    pdf_path, manifest_path = folder / f"{stem}.pdf", folder / f"{stem}{MANIFEST_SUFFIX}"
    files.write_atomic(pdf_path, pdf)
    files.write_atomic(manifest_path, manifest)
    new = _read_held(manifest_path)
    keep = {h.pack_id for h in held_continuations(folder, new)} if new else set()
    for other in [] if continues else _all_held(folder):
        if other.ward == ward and other.pack_id != pack_id and other.pack_id not in keep:
            for path in (other.manifest, other.pdf):  # the manifest first: never a pack
                path.unlink(missing_ok=True)  # whose PDF is gone
    installed = _read_held(manifest_path)
    assert installed is not None
    return installed


def read_sync(folder: Path) -> dict[str, WardSync]:
    """The latest sync outcome per ward ({} before the first sync)."""
    try:
        doc = json.loads((folder / SYNC_FILE).read_text(encoding="utf-8"))
        return {
            w["ward"]: WardSync(w["ward"], datetime.fromisoformat(w["at"]), w["outcome"],
                                w["detail"], w.get("pack_id", ""))
            for w in doc["wards"]
        }  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def write_sync(folder: Path, outcomes: list[WardSync]) -> None:
    """Record this sync's outcomes (the wards it did not touch keep their latest)."""
    merged = read_sync(folder) | {o.ward: o for o in outcomes}
    doc: dict[str, Any] = {
        "schema": SYNC_SCHEMA,
        "wards": [
            {"ward": o.ward, "at": o.at.isoformat(), "outcome": o.outcome, "detail": o.detail,
             "pack_id": o.pack_id}
            for o in sorted(merged.values(), key=lambda o: o.ward)
        ],
    }  # fmt: skip
    files.private_folder(folder)
    files.write_atomic(folder / SYNC_FILE, json.dumps(doc, ensure_ascii=False, indent=1).encode())


def _all_held(folder: Path) -> list[Held]:
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob(f"*{MANIFEST_SUFFIX}")):
        if path.name.startswith("."):
            continue
        held_pack = _read_held(path)
        if held_pack is not None:
            found.append(held_pack)
    return found


def _read_held(manifest: Path) -> Held | None:
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError, InputError):
        doc = json.loads(manifest.read_text(encoding="utf-8"))
        pdf = manifest.with_name(manifest.name.removesuffix(MANIFEST_SUFFIX) + ".pdf")
        continued = continuation_in(doc)
        if pdf.is_file():
            return Held(
                ward=str(doc["ward"]),
                pack_id=str(doc["pack_id"]),
                issued_at=datetime.fromisoformat(doc["issued_at"]),
                data_as_of=datetime.fromisoformat(doc["data_as_of"]),
                valid_until=datetime.fromisoformat(doc["valid_until"]),
                manifest=manifest,
                pdf=pdf,
                continues=continued.continues if continued else "",
                mar_from=continued.mar_from if continued else None,
                mar_hours=continued.mar_hours if continued else 0,
            )
    return None

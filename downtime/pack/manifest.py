"""The pack manifest (contract ``downtime.pack-manifest/1``): written beside every pack, and
read back by a scan station that keeps its own ledger (``downtime packs import``).

Each page: its uid (as in its code), form serial, form and version, page n of N, patient,
encounter, key id, and its fields with ``box_mm`` = ``[left, top, width, height]`` in mm from
the page's top-left corner (and ``ref`` on data-bound fields). The manifest is not signed:
import manifests only from the print host, as you import its public keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from downtime.census.printable import invisible, invisible_message
from downtime.errors import InputError
from downtime.geometry import PAGE_MM
from downtime.ledger import IssuedPage, PackRecord
from downtime.model import FieldBox, Identifier, IdSystem

SCHEMA = "downtime.pack-manifest/1"


def build_manifest(record: PackRecord, pages: Sequence[IssuedPage]) -> dict[str, Any]:
    as_of = record.data_as_of or record.issued_at
    return {
        "schema": SCHEMA,
        "pack_id": record.pack_id,
        "site": record.site,
        "ward": record.ward,
        "issued_at": record.issued_at.isoformat(),
        "data_as_of": as_of.astimezone(record.issued_at.tzinfo).isoformat(),
        "valid_until": record.valid_until.isoformat(),
        "lang": record.lang,
        "key_id": record.key_id,
        "pdf": record.pdf_name,
        "pdf_sha256": record.pdf_sha256,
        "pages": [_page(p) for p in pages],
    }


def _page(page: IssuedPage) -> dict[str, Any]:
    patient = {"system": page.patient.system, "value": page.patient.value} if page.patient else None
    return {
        "pdf_page": page.pdf_page,
        "page_uid": page.page_uid,
        "form_serial": page.serial,
        "form": page.form,
        "form_code": page.form_code,
        "form_version": page.form_version,
        "page": page.page_no,
        "page_count": page.page_count,
        "patient": patient,
        "encounter": page.encounter,
        "key_id": page.key_id,
        "page_size_mm": list(PAGE_MM),
        "fields": [
            {
                "id": f.id,
                "kind": f.kind,
                "box_mm": list(f.box_mm),
                **({"ref": f.ref} if f.ref else {}),
            }
            for f in page.fields
        ],
    }


def manifest_bytes(document: Mapping[str, Any]) -> bytes:
    """Compact JSON (the C encoder: a 1,000-patient manifest in a fraction of a second)."""
    return (json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


# --------------------------------------------------------------------------------------------
# Reading one back


def read_manifest(
    path: Path, *, issued_by: str, station: str
) -> tuple[PackRecord, list[IssuedPage]]:
    """A pack and its pages from a manifest file; :class:`InputError` says what is wrong."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path.name} cannot be read as a pack manifest: {e}") from e
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise InputError(
            f"{path.name} is not a pack manifest ({SCHEMA})",
            hint="give the NAME.manifest.json written beside a pack's PDF",
        )
    try:
        issued_at = datetime.fromisoformat(doc["issued_at"])
        pages = [_issued(p, str(doc["pack_id"]), issued_at) for p in doc["pages"]]
        record = PackRecord(
            pack_id=str(doc["pack_id"]),
            site=str(doc["site"]),
            ward=str(doc["ward"]),
            issued_at=issued_at,
            data_as_of=datetime.fromisoformat(doc["data_as_of"]),
            valid_until=datetime.fromisoformat(doc["valid_until"]),
            lang=str(doc["lang"]),
            census_source="manifest",
            issued_by=issued_by,
            station=station,
            key_id=str(doc.get("key_id") or (pages[0].key_id if pages else "")),
            pdf_name=str(doc["pdf"]),
            pdf_sha256=str(doc["pdf_sha256"]),
            page_count=len(pages),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"{path.name}: the manifest is incomplete or damaged ({e!r})") from e
    for name, text in (("site", record.site), ("ward", record.ward)):
        hidden = invisible(text)
        if hidden:
            raise InputError(f"{path.name}: the {name} {invisible_message(hidden)}")
    return record, pages


def _issued(p: Mapping[str, Any], pack_id: str, issued_at: datetime) -> IssuedPage:
    patient = p.get("patient")
    return IssuedPage(
        page_uid=str(p["page_uid"]),
        pack_id=pack_id,
        serial=str(p["form_serial"]),
        pdf_page=int(p["pdf_page"]),
        form=str(p["form"]),
        form_code=int(p["form_code"]),
        form_version=int(p["form_version"]),
        page_no=int(p["page"]),
        page_count=int(p["page_count"]),
        patient=Identifier(str(patient["system"]), str(patient["value"])) if patient else None,
        encounter=str(p.get("encounter") or ""),
        key_id=str(p["key_id"]),
        issued_at=issued_at,
        fields=tuple(
            FieldBox(
                str(f["id"]),
                str(f["kind"]),
                tuple(float(v) for v in f["box_mm"]),  # type: ignore[arg-type]
                {str(k): str(v) for k, v in (f.get("ref") or {}).items()},
            )
            for f in p["fields"]
        ),
    )


def reserve_ids(pages: Sequence[IssuedPage]) -> list[str]:
    return [
        p.patient.value
        for p in pages
        if p.patient is not None and p.patient.system == IdSystem.DOWNTIME_RESERVE
    ]

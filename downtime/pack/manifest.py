"""The pack manifest (contract ``downtime.pack-manifest/1``): written beside every pack, and
read back by a scan station that keeps its own ledger (``downtime packs import``).

Each page: its uid (as in its code), form serial, form and version, page n of N, patient,
encounter, key id, its signed page code (``code``, as in its QR codes), the patient's bed
(``bed``, '' if none) and its fields with ``box_mm`` = ``[left, top, width, height]`` in mm from
the page's top-left corner (and ``ref`` on data-bound fields).

The print host signs the manifest as a whole (``signature``: Ed25519 with the key that signed
the page codes, over :func:`manifest_payload`, under a context of its own): a ward station
checks it, each page code and the PDF's SHA-256 with the public keys it holds before it keeps
a pack (:mod:`downtime.ward`), and so does ``packs import`` before its ledger believes which
page is whose. ``code``, ``bed`` and ``signature`` were added to schema 1; manifests made
before them have none. A continuation pack's manifest says what it continues
(``continues``: ``pack_id``, ``mar_from``, ``mar_hours``; added to schema 1 too): it adds to
that pack and replaces nothing. One made ahead with its pack (``pack --ahead N``), for a ward
station to print if it is needed, says so too (``"ahead": true`` in ``continues``, only then;
added to schema 1 too): it counts as issued only as far as it was printed or came back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from downtime.census.printable import invisible, invisible_message
from downtime.codes import sign_document
from downtime.errors import InputError
from downtime.geometry import PAGE_MM
from downtime.ledger import IssuedPage, PackRecord
from downtime.ledger.packs import Continuation
from downtime.model import FieldBox, Identifier, IdSystem

SCHEMA = "downtime.pack-manifest/1"


def build_manifest(
    record: PackRecord,
    pages: Sequence[IssuedPage],
    codes: Sequence[str] = (),
    beds: Sequence[str] = (),
    continues: Continuation | None = None,
) -> dict[str, Any]:
    """The manifest document (unsigned); ``codes`` and ``beds``: each page's, in page order;
    ``continues``: what a continuation pack continues (then ``continues`` in the document:
    the pack id and the administration record's window), which a ward station never takes
    for the ward's pack."""
    as_of = record.data_as_of or record.issued_at
    extras = [{"code": code, "bed": bed} for code, bed in zip(codes, beds, strict=True)] or [
        {} for _ in pages
    ]
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
        "pages": [_page(p) | extra for p, extra in zip(pages, extras, strict=True)],
    } | ({"continues": _continues(continues)} if continues is not None else {})


def _continues(continues: Continuation) -> dict[str, Any]:
    return {
        "pack_id": continues.continues,
        "mar_from": continues.mar_from.isoformat(),
        "mar_hours": continues.mar_hours,
    } | ({"ahead": True} if continues.ahead else {})


def continuation_in(doc: Mapping[str, Any]) -> Continuation | None:
    """What a manifest's pack continues (None: a pack of its own); :class:`InputError` when
    its ``continues`` cannot be read."""
    found = doc.get("continues")
    if found is None:
        return None
    try:
        ahead = found.get("ahead", False)
        if not isinstance(ahead, bool):
            raise ValueError(f"ahead is {ahead!r}, not true or false")
        return Continuation(
            str(found["pack_id"]),
            datetime.fromisoformat(found["mar_from"]),
            int(found["mar_hours"]),
            ahead,
        )
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise InputError(f"the manifest's continues is damaged ({e!r})") from e


def manifest_payload(document: Mapping[str, Any]) -> bytes:
    """The bytes a manifest's signature covers: the document without its ``signature``, as
    canonical JSON (keys sorted, no spaces, UTF-8), so that any reader can rebuild them."""
    unsigned = {k: v for k, v in document.items() if k != "signature"}
    text = json.dumps(unsigned, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.encode("utf-8")


def sign_manifest(document: Mapping[str, Any], private_key: Ed25519PrivateKey) -> dict[str, Any]:
    """The document with its ``signature``."""
    return {**document, "signature": sign_document(manifest_payload(document), private_key)}


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
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path.name} cannot be read as a pack manifest: {e}") from e
    return parse_manifest(
        load_manifest(data, path.name), path.name, issued_by=issued_by, station=station
    )


def load_manifest(data: bytes, name: str) -> dict[str, Any]:
    """The manifest document in ``data`` (the file ``name``), its schema checked."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{name} cannot be read as a pack manifest: {e}") from e
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise InputError(
            f"{name} is not a pack manifest ({SCHEMA})",
            hint="give the NAME.manifest.json written beside a pack's PDF",
        )
    return doc


def parse_manifest(
    doc: Mapping[str, Any], name: str, *, issued_by: str, station: str
) -> tuple[PackRecord, list[IssuedPage]]:
    """A pack and its pages from a loaded manifest document."""
    path = Path(name)
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

"""Checking a pack before a ward station keeps or prints it: its manifest's signature, every
page code in it, and the PDF it describes, with the public keys the station holds.

Order, and why:

1. The manifest is JSON of schema ``downtime.pack-manifest/1``, for the ward asked for.
2. Its signature verifies with a key the station holds (the print host signs the manifest as
   a whole: its times, ward, PDF hash and pages cannot be changed without it failing).
3. Every page's signed page code (the text the PDF's QR codes are drawn from) verifies, and
   says what the manifest says of that page: uid, form, page n of N, patient, encounter,
   pack and issue time. A manifest made before pages carried their codes is refused.
4. The PDF's SHA-256 is the manifest's, and the PDF has as many pages as the manifest.

Any failure raises :class:`PackRefused` with a short ``reason`` and a message naming the pack
and page, never a patient. Nothing here touches the disk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from downtime.codes import PageCode, decode, document_verifies, key_id_of
from downtime.codes.serials import serial_for_page
from downtime.errors import DowntimeError, ExitCode, InputError, PageCodeError, Said
from downtime.ledger import IssuedPage, PackRecord
from downtime.model import Identifier
from downtime.pack.manifest import load_manifest, manifest_payload, parse_manifest
from downtime.vocab import Reason
from downtime.ward.pdf import page_count

IMPORT_KEYS = (
    "import the print host's public keys on this station (downtime keys import-public), "
    "then sync again"
)


class PackRefused(DowntimeError):
    """A pack that failed a check: the station keeps what it holds."""

    exit_code = ExitCode.CHECK_FAILED

    def __init__(
        self, reason: str, message: str, *, hint: str | None = None, said: Said | None = None
    ) -> None:
        super().__init__(message, hint=hint, said=said)
        self.reason = reason  # not-a-manifest | unsigned | unknown-key | bad-signature | …


@dataclass(frozen=True)
class PackPage:
    """What a station needs of a page to choose it for printing."""

    pdf_page: int  # 1-based
    page_uid: str
    serial: str
    form: str
    page_no: int
    page_count: int
    patient: Identifier | None
    bed: str  # '' when none (cover sheet, blank admission forms)


@dataclass(frozen=True)
class VerifiedPack:
    record: PackRecord
    issued: tuple[IssuedPage, ...]
    pages: tuple[PackPage, ...]
    manifest: bytes  # exactly as checked
    pdf: bytes  # exactly as checked

    @property
    def pack_id(self) -> str:
        return self.record.pack_id

    @property
    def ward(self) -> str:
        return self.record.ward

    @property
    def issued_at(self) -> datetime:
        return self.record.issued_at


def verify_pack(
    manifest: bytes,
    pdf_bytes: bytes,
    public_keys: Sequence[Ed25519PublicKey],
    *,
    name: str,
    ward: str | None = None,
    issued_by: str = "",
    station: str = "",
) -> VerifiedPack:
    """The pack, checked (see the module docstring); ``name`` names it in messages."""
    record, issued, beds = verify_manifest(
        manifest, public_keys, name=name, ward=ward, issued_by=issued_by, station=station
    )
    digest = hashlib.sha256(pdf_bytes).hexdigest()
    if digest != record.pdf_sha256:
        raise PackRefused(
            "pdf-hash",
            f"{name}: the PDF is not the one the manifest names (its SHA-256 differs): it was "
            "changed, or cut short while it was copied",
            hint="sync again; if it happens again, tell IT: the pack may have been tampered with",
        )
    try:
        count = page_count(pdf_bytes)
    except InputError as e:
        raise PackRefused("pdf-unreadable", f"{name}: {e.message}") from e
    if count != len(issued):
        raise PackRefused(
            "pdf-pages", f"{name}: the PDF has {count} pages, the manifest {len(issued)}"
        )
    pages = tuple(
        PackPage(p.pdf_page, p.page_uid, p.serial, p.form, p.page_no, p.page_count, p.patient,
                 bed)
        for p, bed in zip(issued, beds, strict=True)
    )  # fmt: skip
    return VerifiedPack(record, tuple(issued), pages, manifest, pdf_bytes)


def verify_manifest(
    manifest: bytes,
    public_keys: Sequence[Ed25519PublicKey],
    *,
    name: str,
    ward: str | None = None,
    issued_by: str = "",
    station: str = "",
) -> tuple[PackRecord, list[IssuedPage], list[str]]:
    """A manifest alone checked (steps 1–3 of the module docstring): its pack, its pages and
    each page's bed. What a station that records packs printed elsewhere (``downtime packs
    import``) checks before its ledger believes which page is whose."""
    try:
        doc = load_manifest(manifest, name)
        record, issued = parse_manifest(doc, name, issued_by=issued_by, station=station)
    except InputError as e:
        raise PackRefused("not-a-manifest", e.message, hint=e.hint) from e
    if ward is not None and record.ward != ward:
        raise PackRefused("wrong-ward", f"{name} is a pack for another ward, not {ward}")
    _check_signature(doc, public_keys, name)
    return record, issued, _check_codes(doc.get("pages"), issued, public_keys, name)


def _check_signature(doc: dict[str, object], keys: Sequence[Ed25519PublicKey], name: str) -> None:
    signature = doc.get("signature")
    if signature is None:
        raise PackRefused(
            "unsigned",
            f"{name} carries no signature: it was made by an older version of the kit, or "
            "its signature was removed",
            hint="print the ward's pack again on the print host, then sync",
        )
    ok, key_id = document_verifies(manifest_payload(doc), signature, keys)
    if ok:
        return
    if key_id and key_id not in {key_id_of(k) for k in keys}:
        raise PackRefused(
            "unknown-key",
            f"{name} is signed with key {key_id}, which this station does not hold",
            hint=IMPORT_KEYS,
        )
    raise PackRefused(
        "bad-signature",
        f"{name}: the manifest's signature does not verify: it was changed after it was signed",
        hint="do not use this pack; sync again, and tell IT if it happens again",
    )


def _check_codes(
    entries: object, issued: Sequence[IssuedPage], keys: Sequence[Ed25519PublicKey], name: str
) -> list[str]:
    """Every page's code verified and agreeing with its manifest entry; each page's bed."""
    if not isinstance(entries, list) or len(entries) != len(issued):
        raise PackRefused("not-a-manifest", f"{name}: the manifest's pages cannot be read")
    beds = []
    for entry, page in zip(entries, issued, strict=True):
        text, bed = entry.get("code"), entry.get("bed", "")
        if not isinstance(text, str) or not isinstance(bed, str):
            raise PackRefused(
                "no-page-codes",
                f"{name}: PDF page {page.pdf_page} has no page code in the manifest: it was "
                "made by an older version of the kit",
                hint="print the ward's pack again on the print host, then sync",
            )
        try:
            code = decode(text, keys)
        except PageCodeError as e:
            unknown = e.reason == Reason.UNKNOWN_KEY
            values = {"pack": name, "page": page.pdf_page, "detail": e.message}
            raise PackRefused(
                "unknown-key" if unknown else "bad-page-code",
                f"{name}: the page code of PDF page {page.pdf_page}: {e.message}",
                hint=IMPORT_KEYS if unknown else "do not use this pack; tell IT",
                said=Said("pack_unknown_key" if unknown else "pack_bad_code", values),
            ) from e
        wrong = _disagreement(code, page)
        if wrong:
            raise PackRefused(
                "page-mismatch",
                f"{name}: PDF page {page.pdf_page}: the manifest's {wrong} is not what the "
                "page's signed code says",
                hint="do not use this pack; sync again, and tell IT if it happens again",
            )
        beds.append(bed)
    return beds


def _disagreement(code: PageCode, page: IssuedPage) -> str:
    """The first field where the manifest's page and its verified code disagree ('' none)."""
    checks = (
        ("page uid", code.page_uid, page.page_uid),
        ("pack id", code.pack_id, page.pack_id),
        ("form", (code.form_code, code.form_version), (page.form_code, page.form_version)),
        ("page number", (code.page, code.page_count), (page.page_no, page.page_count)),
        ("patient", code.patient, page.patient),
        ("encounter", code.encounter, page.encounter),
        ("issue time", code.issued_at.timestamp(), page.issued_at.timestamp()),
        ("key id", code.key_id, page.key_id),
        ("form serial", serial_for_page(code.page_uid), page.serial),
    )
    return next((what for what, signed, said in checks if signed != said), "")

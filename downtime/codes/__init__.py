"""Page identity: the signed DK1 page code, its keys, Base45, the QR symbol and form serials."""

from __future__ import annotations

from downtime.codes.pagecode import (
    FORMAT_VERSION,
    HEADER_SIZE,
    PREFIX,
    SIGNATURE_SIZE,
    SIGNING_CONTEXT,
    PageCode,
    body_of,
    decode,
    encode,
    sign_body,
)
from downtime.codes.signing import (
    DOCUMENT_CONTEXT,
    KEY_ID_SIZE,
    candidate_keys,
    document_verifies,
    fingerprint_of,
    key_id_bytes,
    key_id_of,
    new_pack_id,
    new_page_uid,
    sign_document,
    verifies_with_any,
)

__all__ = [
    "DOCUMENT_CONTEXT",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "KEY_ID_SIZE",
    "PREFIX",
    "SIGNATURE_SIZE",
    "SIGNING_CONTEXT",
    "PageCode",
    "body_of",
    "candidate_keys",
    "decode",
    "document_verifies",
    "encode",
    "fingerprint_of",
    "key_id_bytes",
    "key_id_of",
    "new_pack_id",
    "new_page_uid",
    "sign_body",
    "sign_document",
    "verifies_with_any",
]

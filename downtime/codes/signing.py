"""Key ids, signature checks and fresh random ids for the page code."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

KEY_ID_SIZE = 4  # bytes of SHA-256 over the raw public key


def key_id_bytes(public_key: Ed25519PublicKey) -> bytes:
    """The 4-byte key id: the first bytes of SHA-256 over the raw 32-byte public key."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).digest()[:KEY_ID_SIZE]


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """The key id as printed and stored: 8 lowercase hex characters."""
    return key_id_bytes(public_key).hex()


def fingerprint_of(public_key: Ed25519PublicKey) -> str:
    """The whole SHA-256 over the raw public key, hex: what people compare to tell keys apart
    (the key id is its first 8 characters, short enough to collide)."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def candidate_keys(
    key_id: bytes, public_keys: Iterable[Ed25519PublicKey]
) -> list[Ed25519PublicKey]:
    """Every key whose key id starts with ``key_id``, in the order given.

    Key ids are short (4 bytes in DK1), so different keys may share one: the caller must try
    each candidate, not just the first.
    """
    return [key for key in public_keys if key_id_bytes(key).startswith(key_id)]


def verifies_with_any(
    candidates: Iterable[Ed25519PublicKey], signature: bytes, message: bytes
) -> bool:
    """Whether ``signature`` over ``message`` verifies with at least one of ``candidates``."""
    for key in candidates:
        try:
            key.verify(signature, message)
        except InvalidSignature:
            continue
        return True
    return False


def new_page_uid() -> str:
    """A fresh random page uid: 128 bits as 32 lowercase hex characters."""
    return secrets.token_hex(16)


def new_pack_id() -> str:
    """A fresh random pack id: 64 bits as 16 lowercase hex characters."""
    return secrets.token_hex(8)


# A pack manifest is signed as a whole, under a context of its own, so that a manifest's
# signature can never pass for a page code's (``DK1``) or the other way round.
DOCUMENT_CONTEXT = b"DKM1"


def sign_document(payload: bytes, private_key: Ed25519PrivateKey) -> dict[str, str]:
    """The signature of ``payload`` (canonical bytes of a document): algorithm, the signing
    key's id and the signature in base64."""
    signature = private_key.sign(DOCUMENT_CONTEXT + payload)
    return {
        "alg": "Ed25519",
        "key_id": key_id_of(private_key.public_key()),
        "value": base64.b64encode(signature).decode("ascii"),
    }


def document_verifies(
    payload: bytes, signature: object, public_keys: Iterable[Ed25519PublicKey]
) -> tuple[bool, str]:
    """Whether ``signature`` (as :func:`sign_document` makes it) verifies ``payload`` with one
    of ``public_keys`` whose id it names, and that key id ('' when the signature is malformed)."""
    if not isinstance(signature, dict) or signature.get("alg") != "Ed25519":
        return False, ""
    key_id, value = signature.get("key_id"), signature.get("value")
    if not isinstance(key_id, str) or not isinstance(value, str) or len(key_id) != 8:
        return False, ""
    try:
        raw = base64.b64decode(value, validate=True)
        wanted = bytes.fromhex(key_id)
    except ValueError:
        return False, ""
    candidates = candidate_keys(wanted, public_keys)
    return verifies_with_any(candidates, raw, DOCUMENT_CONTEXT + payload), key_id

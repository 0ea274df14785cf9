"""Key ids, signature checks and fresh random ids for the page code."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

KEY_ID_SIZE = 4  # bytes of SHA-256 over the raw public key


def key_id_bytes(public_key: Ed25519PublicKey) -> bytes:
    """The 4-byte key id: the first bytes of SHA-256 over the raw 32-byte public key."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).digest()[:KEY_ID_SIZE]


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """The key id as printed and stored: 8 lowercase hex characters."""
    return key_id_bytes(public_key).hex()


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

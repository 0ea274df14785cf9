"""The DK1 signed page code: the QR printed on every page of a downtime pack.

Text: ``"DK1:" + base45(body ‖ signature)``; the signature is Ed25519 over ``b"DK1" + body``
(64 bytes). Every character is in the QR alphanumeric set, so the code is printed in
alphanumeric mode (error correction Q).

Body, format version 1, big-endian::

    off size field
    0   u8   format version = 1
    1   4    key id = SHA-256(raw 32-byte Ed25519 public key)[:4]
    5   16   page uid (random 128 bits)
    21  u8   form code (1..255)
    22  u8   form version (1..255)
    23  u8   page n (1..255)
    24  u8   page count N (n <= N <= 255)
    25  u32  issued at, Unix seconds UTC
    29  8    pack id
    37  u8   patient system code (see SYSTEM_CODES; 0 = no patient, 255 = other)
    38  u8   length of the system string (0 unless code 255; <= 64)
    39  u8   length of the patient value (0 iff code 0; <= 32)
    40  u8   length of the encounter reference (<= 64; may be 0)
    41  ...  system string, patient value, encounter reference (UTF-8, in that order)

No name and no clinical data ever goes in. A typical code (12-digit personnummer, 16-character
encounter) is 204 characters: it fits QR version 10 at error correction Q (221 characters).

This module does no I/O. Decoding verifies the signature before it reads any field other than
the version byte, the three length bytes (to know the exact expected length) and the key id
(to pick the key); a rejected code raises :class:`~downtime.errors.PageCodeError` whose
``reason`` is one of ``not-dk1``, ``bad-base45``, ``bad-length``, ``unknown-key``,
``bad-signature`` and ``bad-body``.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from downtime.codes import base45
from downtime.codes.signing import (
    KEY_ID_SIZE,
    candidate_keys,
    key_id_bytes,
    verifies_with_any,
)
from downtime.errors import PageCodeError
from downtime.model import Identifier, IdSystem
from downtime.vocab import Reason

if TYPE_CHECKING:
    from collections.abc import Iterable

    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

PREFIX = "DK1:"
SIGNING_CONTEXT = b"DK1"
FORMAT_VERSION = 1
SIGNATURE_SIZE = 64
HEADER_SIZE = 41
MAX_SYSTEM = 64
MAX_VALUE = 32
MAX_ENCOUNTER = 64

# The fixed part of the body, after the version byte: key id, page uid, form code, form
# version, page, page count, issued at, pack id, system code, and the three lengths.
_HEADER = struct.Struct(">B4s16sBBBBI8sBBBB")
assert _HEADER.size == HEADER_SIZE

NO_PATIENT = 0
OTHER_SYSTEM = 255
SYSTEM_CODES: dict[str, int] = {
    IdSystem.PERSONNUMMER.value: 1,
    IdSystem.SAMORDNINGSNUMMER.value: 2,
    IdSystem.RESERVNUMMER.value: 3,
    IdSystem.DOWNTIME_RESERVE.value: 4,
}
_SYSTEMS_BY_CODE = {code: system for system, code in SYSTEM_CODES.items()}
_TWELVE_DIGITS = (IdSystem.PERSONNUMMER.value, IdSystem.SAMORDNINGSNUMMER.value)

_HEX = {16: re.compile(r"[0-9a-f]{16}"), 32: re.compile(r"[0-9a-f]{32}")}
_DIGITS12 = re.compile(r"[0-9]{12}")

_SET_ASIDE = "set the page aside and check the paper original"


@dataclass(frozen=True)
class PageCode:
    """What a page code says about its page. ``key_id`` is filled in by :func:`decode`."""

    page_uid: str  # 32 lowercase hex
    form_code: int
    form_version: int
    page: int
    page_count: int
    issued_at: datetime  # aware, UTC, whole seconds
    pack_id: str  # 16 lowercase hex
    patient: Identifier | None
    encounter: str
    key_id: str = ""  # 8 lowercase hex; filled in by decode (and ignored by encode)


# --- encoding -----------------------------------------------------------------------------------


def encode(code: PageCode, private_key: Ed25519PrivateKey) -> str:
    """The signed ``DK1:…`` text for ``code`` (``code.key_id`` is ignored).

    Raises :class:`ValueError` for a field that is out of range or cannot be encoded (messages
    name the field, never its value).
    """
    return sign_body(body_of(code, key_id_bytes(private_key.public_key())), private_key)


def sign_body(body: bytes, private_key: Ed25519PrivateKey) -> str:
    """Sign an already built body and wrap it as ``DK1:…`` text. Does not check the body.

    Low-level: :func:`encode` is the way to make page codes; this exists so tests can sign
    bodies that :func:`encode` would refuse to build.
    """
    signature = private_key.sign(SIGNING_CONTEXT + body)
    return PREFIX + base45.encode(body + signature)


def body_of(code: PageCode, key_id: bytes) -> bytes:
    """The version-1 body for ``code`` signed with the key whose id is ``key_id``."""
    if len(key_id) != KEY_ID_SIZE:
        raise ValueError(f"a key id is {KEY_ID_SIZE} bytes")
    _check_hex("page_uid", code.page_uid, 32)
    _check_hex("pack_id", code.pack_id, 16)
    _check_range("form_code", code.form_code, 1, 255)
    _check_range("form_version", code.form_version, 1, 255)
    _check_range("page_count", code.page_count, 1, 255)
    _check_range("page", code.page, 1, code.page_count)
    system_code, system, value = _patient_fields(code.patient)
    encounter = _utf8("encounter", code.encounter, MAX_ENCOUNTER)
    header = _HEADER.pack(
        FORMAT_VERSION,
        key_id,
        bytes.fromhex(code.page_uid),
        code.form_code,
        code.form_version,
        code.page,
        code.page_count,
        _unix_seconds(code.issued_at),
        bytes.fromhex(code.pack_id),
        system_code,
        len(system),
        len(value),
        len(encounter),
    )
    return header + system + value + encounter


def _patient_fields(patient: Identifier | None) -> tuple[int, bytes, bytes]:
    """System code, system string and value bytes for ``patient``."""
    if patient is None:
        return NO_PATIENT, b"", b""
    value = _utf8("patient value", patient.value, MAX_VALUE)
    if not value:
        raise ValueError("the patient value is empty")
    if patient.system in _TWELVE_DIGITS and not _DIGITS12.fullmatch(patient.value):
        raise ValueError(f"a {patient.system} value must be 12 digits with no separator")
    code = SYSTEM_CODES.get(patient.system)
    if code is not None:
        return code, b"", value
    system = _utf8("patient system", patient.system, MAX_SYSTEM)
    if not system:
        raise ValueError("the patient system is empty")
    return OTHER_SYSTEM, system, value


def _utf8(field: str, text: str, limit: int) -> bytes:
    data = text.encode("utf-8")
    if len(data) > limit:
        raise ValueError(f"the {field} is {len(data)} bytes in UTF-8; at most {limit} fit")
    return data


def _check_hex(field: str, text: str, length: int) -> None:
    if not _HEX[length].fullmatch(text):
        raise ValueError(f"{field} must be {length} lowercase hexadecimal characters")


def _check_range(field: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError(f"{field} is {value}; it must be between {low} and {high}")


def _unix_seconds(when: datetime) -> int:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("issued_at must be timezone-aware (UTC), not naive")
    if when.microsecond:
        raise ValueError("issued_at must be whole seconds")
    seconds = int(when.timestamp())
    _check_range("issued_at (Unix seconds)", seconds, 0, 2**32 - 1)
    return seconds


# --- decoding -----------------------------------------------------------------------------------


def decode(text: str, public_keys: Iterable[Ed25519PublicKey]) -> PageCode:
    """Verify a scanned ``DK1:…`` text with ``public_keys``, then parse it.

    Raises :class:`~downtime.errors.PageCodeError` at the first failure, in this order:
    ``not-dk1``, ``bad-base45``, ``bad-length``, ``unknown-key``, ``bad-signature``,
    ``bad-body``.
    """
    if not text.startswith(PREFIX):
        raise PageCodeError(
            Reason.NOT_DK1,
            "this code is not a downtime page code (it does not start with DK1:); it may be "
            "another barcode on the page, such as a wristband or medication label",
            hint="set the page aside for manual filing",
        )
    try:
        raw = base45.decode(text[len(PREFIX) :])
    except ValueError:
        raise PageCodeError(
            Reason.BAD_BASE45,
            "the page code holds characters a page code never contains: it is damaged or was "
            "misread",
            hint=f"rescan the page; if it fails again, {_SET_ASIDE}",
        ) from None
    body, signature = _split_checked(raw)
    candidates = candidate_keys(body[1 : 1 + KEY_ID_SIZE], public_keys)
    if not candidates:
        raise PageCodeError(
            Reason.UNKNOWN_KEY,
            f"the page code was signed with key {body[1 : 1 + KEY_ID_SIZE].hex()}, which this "
            "station does not know",
            hint=f"import the print host's public keys on this station, or {_SET_ASIDE}",
        )
    if not verifies_with_any(candidates, signature, SIGNING_CONTEXT + body):
        raise PageCodeError(
            Reason.BAD_SIGNATURE,
            "the page code's signature does not verify: the page may be forged or altered",
            hint=_SET_ASIDE,
        )
    return _parse_verified(body)


def _split_checked(raw: bytes) -> tuple[bytes, bytes]:
    """Body and signature, after checking the version and the exact length (reads only the
    version byte and the three length bytes)."""

    def bad_length(what: str) -> PageCodeError:
        return PageCodeError(
            Reason.BAD_LENGTH,
            f"the page code {what}: it may be damaged or cut off, or come from a newer "
            "version of the kit",
            hint=f"rescan the page; if it fails again, {_SET_ASIDE}",
        )

    if not raw or raw[0] != FORMAT_VERSION:
        raise bad_length("has an unknown format version")
    if len(raw) < HEADER_SIZE + SIGNATURE_SIZE:
        raise bad_length("is too short")
    system_len, value_len, encounter_len = raw[38], raw[39], raw[40]
    if system_len > MAX_SYSTEM or value_len > MAX_VALUE or encounter_len > MAX_ENCOUNTER:
        raise bad_length("declares a text longer than the format allows")
    body_len = HEADER_SIZE + system_len + value_len + encounter_len
    if len(raw) != body_len + SIGNATURE_SIZE:
        raise bad_length("does not have the length its contents declare")
    return raw[:body_len], raw[body_len:]


def _parse_verified(body: bytes) -> PageCode:
    """Parse a body whose signature has verified; impossible values raise ``bad-body``."""
    (
        _version,
        key_id,
        page_uid,
        form_code,
        form_version,
        page,
        page_count,
        issued_at,
        pack_id,
        system_code,
        system_len,
        value_len,
        encounter_len,
    ) = _HEADER.unpack_from(body)
    if form_code == 0 or form_version == 0:
        raise _bad_body("names form code or form version 0")
    if not 1 <= page <= page_count:
        raise _bad_body(f"says page {page} of {page_count}")
    texts = body[HEADER_SIZE:]
    system_raw = texts[:system_len]
    value_raw = texts[system_len : system_len + value_len]
    encounter_raw = texts[system_len + value_len :]
    assert len(encounter_raw) == encounter_len
    patient = _parse_patient(system_code, system_raw, value_raw)
    return PageCode(
        page_uid=page_uid.hex(),
        form_code=form_code,
        form_version=form_version,
        page=page,
        page_count=page_count,
        issued_at=datetime.fromtimestamp(issued_at, tz=UTC),
        pack_id=pack_id.hex(),
        patient=patient,
        encounter=_text(encounter_raw, "encounter reference"),
        key_id=key_id.hex(),
    )


def _parse_patient(system_code: int, system_raw: bytes, value_raw: bytes) -> Identifier | None:
    if system_code == NO_PATIENT:
        if system_raw or value_raw:
            raise _bad_body("carries a patient identifier under 'no patient'")
        return None
    if not value_raw:
        raise _bad_body("names an identifier system but no patient value")
    if system_code == OTHER_SYSTEM:
        if not system_raw:
            raise _bad_body("names 'other' identifier system without a system string")
        system = _text(system_raw, "identifier system")
        if system in SYSTEM_CODES:
            raise _bad_body("spells out a known identifier system instead of its code")
    else:
        if system_raw:
            raise _bad_body("carries a system string for a known identifier system")
        known = _SYSTEMS_BY_CODE.get(system_code)
        if known is None:
            raise _bad_body(f"uses unknown identifier system code {system_code}")
        system = known
    value = _text(value_raw, "patient identifier")
    if system in _TWELVE_DIGITS and not _DIGITS12.fullmatch(value):
        raise _bad_body(f"carries a {system} that is not 12 digits")
    return Identifier(system=system, value=value)


def _text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad_body(f"has a {what} that is not valid UTF-8") from None


def _bad_body(what: str) -> PageCodeError:
    return PageCodeError(
        Reason.BAD_BODY,
        f"the page code's signature verifies but the code {what}: the printing software is "
        "at fault, not the page",
        hint=f"report this to the downtime kit's maintainers; {_SET_ASIDE}",
    )

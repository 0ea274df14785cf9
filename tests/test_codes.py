from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from downtime import codes
from downtime.codes import PageCode, base45
from downtime.errors import PageCodeError
from downtime.model import Identifier, IdSystem

if TYPE_CHECKING:
    from collections.abc import Callable

QR_ALPHANUMERIC = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
QR_V10_Q_ALPHANUMERIC_CAPACITY = 221

PNR = Identifier(IdSystem.PERSONNUMMER.value, "191212121212")
ISSUED = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def other_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def typical(**changes: object) -> PageCode:
    code = PageCode(
        page_uid="0123456789abcdef0123456789abcdef",
        form_code=7,
        form_version=2,
        page=3,
        page_count=4,
        issued_at=ISSUED,
        pack_id="fedcba9876543210",
        patient=PNR,
        encounter="ENC-2025-0000042",  # 16 characters
    )
    return replace(code, **changes)  # type: ignore[arg-type]


def raw_of(text: str) -> bytes:
    assert text.startswith("DK1:")
    return base45.decode(text[4:])


def rewrap(raw: bytes) -> str:
    return "DK1:" + base45.encode(raw)


def header(
    key: Ed25519PrivateKey,
    *,
    version: int = 1,
    page: int = 1,
    count: int = 1,
    form_code: int = 7,
    form_version: int = 2,
    system_code: int = 0,
    system: bytes = b"",
    value: bytes = b"",
    encounter: bytes = b"",
) -> bytes:
    """A body built by hand from the layout table, independently of codes.body_of."""
    key_id = hashlib.sha256(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    return (
        bytes([version])
        + key_id.digest()[:4]
        + bytes(range(16))
        + bytes([form_code, form_version, page, count])
        + int(ISSUED.timestamp()).to_bytes(4, "big")
        + bytes(range(100, 108))
        + bytes([system_code, len(system), len(value), len(encounter)])
        + system
        + value
        + encounter
    )


def reject(text: str, keys: list[Ed25519PrivateKey]) -> PageCodeError:
    with pytest.raises(PageCodeError) as caught:
        codes.decode(text, [k.public_key() for k in keys])
    error = caught.value
    assert error.message  # something a clerk can read
    return error


# --- layout and round trips --------------------------------------------------------------------


def test_body_layout_matches_the_contract(key: Ed25519PrivateKey) -> None:
    text = codes.encode(typical(), key)
    raw = raw_of(text)
    body, signature = raw[:-64], raw[-64:]
    public = key.public_key()
    key_id = hashlib.sha256(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).digest()[:4]
    expected = (
        b"\x01"
        + key_id
        + bytes.fromhex("0123456789abcdef0123456789abcdef")
        + bytes([7, 2, 3, 4])
        + struct.pack(">I", int(ISSUED.timestamp()))
        + bytes.fromhex("fedcba9876543210")
        + bytes([1, 0, 12, 16])
        + b"191212121212"
        + b"ENC-2025-0000042"
    )
    assert body == expected
    public.verify(signature, b"DK1" + body)  # raises if the signature is not over b"DK1" + body


def test_typical_code_fits_qr_version_10_q(key: Ed25519PrivateKey) -> None:
    text = codes.encode(typical(), key)
    # 41 + 12 + 16 + 64 = 133 bytes -> 66 triples and a pair of Base45, plus "DK1:".
    assert len(text) == 4 + 66 * 3 + 2 == 204
    assert len(text) <= QR_V10_Q_ALPHANUMERIC_CAPACITY


def test_key_id_is_sha256_prefix_of_raw_public_key(key: Ed25519PrivateKey) -> None:
    public = key.public_key()
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert codes.key_id_of(public) == hashlib.sha256(raw).hexdigest()[:8]
    assert re.fullmatch(r"[0-9a-f]{8}", codes.key_id_of(public))


@pytest.mark.parametrize(
    ("patient", "encounter"),
    [
        (PNR, "ENC-2025-0000042"),
        (Identifier(IdSystem.SAMORDNINGSNUMMER.value, "197010632391"), ""),
        (Identifier(IdSystem.RESERVNUMMER.value, "RES-99-12"), "E1"),
        (Identifier(IdSystem.DOWNTIME_RESERVE.value, "DT-ACDE-FHJK-MN34"), "E1"),
        (Identifier("urn:oid:1.2.752.97.3.1.3", "K7/åäö-1"), "Avd 12 – säng 4 ✓ 🛏"),
        (Identifier("u" * 64, "v" * 32), "é" * 32),  # every text at its byte limit
        (None, ""),  # e.g. the ward cover sheet
        (None, "WARD-COVER"),
    ],
)
def test_round_trip(key: Ed25519PrivateKey, patient: Identifier | None, encounter: str) -> None:
    code = typical(patient=patient, encounter=encounter)
    decoded = codes.decode(codes.encode(code, key), [key.public_key()])
    assert decoded == replace(code, key_id=codes.key_id_of(key.public_key()))
    assert decoded.issued_at.tzinfo is UTC


def test_known_systems_decode_to_plain_strings(key: Ed25519PrivateKey) -> None:
    decoded = codes.decode(codes.encode(typical(), key), [key.public_key()])
    assert decoded.patient is not None
    assert type(decoded.patient.system) is str
    assert decoded.patient.system == "personnummer"


def test_encode_ignores_the_given_key_id(key: Ed25519PrivateKey) -> None:
    text = codes.encode(typical(key_id="ffffffff"), key)
    assert codes.decode(text, [key.public_key()]).key_id == codes.key_id_of(key.public_key())


def test_aware_non_utc_time_is_stored_as_the_same_instant(key: Ed25519PrivateKey) -> None:
    cet = datetime(2025, 3, 14, 10, 26, 53, tzinfo=timezone(timedelta(hours=1)))
    decoded = codes.decode(codes.encode(typical(issued_at=cet), key), [key.public_key()])
    assert decoded.issued_at == ISSUED
    assert decoded.issued_at.utcoffset() == timedelta(0)


def test_decode_picks_the_right_key_among_several(
    key: Ed25519PrivateKey, other_key: Ed25519PrivateKey
) -> None:
    text = codes.encode(typical(), key)
    keys = [other_key.public_key(), Ed25519PrivateKey.generate().public_key(), key.public_key()]
    assert codes.decode(text, iter(keys)).page_uid == typical().page_uid


page_codes = st.builds(
    PageCode,
    page_uid=st.binary(min_size=16, max_size=16).map(bytes.hex),
    form_code=st.integers(1, 255),
    form_version=st.integers(1, 255),
    page=st.just(1),
    page_count=st.integers(1, 255),
    issued_at=st.integers(0, 2**32 - 1).map(lambda s: datetime.fromtimestamp(s, tz=UTC)),
    pack_id=st.binary(min_size=8, max_size=8).map(bytes.hex),
    patient=st.one_of(
        st.none(),
        st.builds(
            Identifier,
            system=st.sampled_from([IdSystem.PERSONNUMMER.value, IdSystem.SAMORDNINGSNUMMER.value]),
            value=st.from_regex(r"[0-9]{12}", fullmatch=True),
        ),
        st.builds(
            Identifier,
            system=st.sampled_from(
                [IdSystem.RESERVNUMMER.value, IdSystem.DOWNTIME_RESERVE.value, "urn:x"]
            ),
            value=st.text(min_size=1, max_size=8),
        ),
    ),
    encounter=st.text(max_size=16),
)


@settings(max_examples=150)
@given(code=page_codes, page=st.integers(1, 255))
def test_round_trip_property(key: Ed25519PrivateKey, code: PageCode, page: int) -> None:
    code = replace(code, page=min(page, code.page_count))
    text = codes.encode(code, key)
    assert set(text) <= QR_ALPHANUMERIC
    assert codes.decode(text, [key.public_key()]) == replace(
        code, key_id=codes.key_id_of(key.public_key())
    )


def test_longest_code_uses_only_qr_alphanumeric_characters(key: Ed25519PrivateKey) -> None:
    code = typical(patient=Identifier("s" * 64, "v" * 32), encounter="\U0001f6cf" * 16)
    text = codes.encode(code, key)
    assert set(text) <= QR_ALPHANUMERIC
    assert len(raw_of(text)) == 41 + 64 + 32 + 64 + 64


def test_new_ids_are_random_lowercase_hex() -> None:
    uids = {codes.new_page_uid() for _ in range(50)}
    packs = {codes.new_pack_id() for _ in range(50)}
    assert len(uids) == 50 and len(packs) == 50
    assert all(re.fullmatch(r"[0-9a-f]{32}", u) for u in uids)
    assert all(re.fullmatch(r"[0-9a-f]{16}", p) for p in packs)


# --- encode refuses what it cannot or must not encode -----------------------------------------


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"patient": Identifier("urn:x", "9" * 33)}, "patient value"),
        ({"patient": Identifier("urn:x", "å" * 17)}, "patient value is 34 bytes"),
        ({"patient": Identifier("s" * 65, "1")}, "patient system"),
        ({"patient": Identifier("", "1")}, "patient system is empty"),
        ({"patient": Identifier("urn:x", "")}, "patient value is empty"),
        ({"patient": Identifier("personnummer", "19121212-1212")}, "12 digits"),
        ({"patient": Identifier("samordningsnummer", "7010632391")}, "12 digits"),
        ({"patient": Identifier("personnummer", "١٩١٢١٢١٢١٢١٢")}, "12 digits"),
        ({"encounter": "é" * 33}, "encounter is 66 bytes"),
        ({"issued_at": datetime(2025, 3, 14, 9, 26, 53)}, "naive"),
        ({"issued_at": ISSUED.replace(microsecond=5)}, "whole seconds"),
        ({"issued_at": datetime(1969, 12, 31, tzinfo=UTC)}, "issued_at"),
        ({"issued_at": datetime(2106, 2, 8, tzinfo=UTC)}, "issued_at"),
        ({"page": 5}, "page is 5"),
        ({"page": 0}, "page is 0"),
        ({"page": 1, "page_count": 256}, "page_count"),
        ({"form_code": 0}, "form_code"),
        ({"form_code": 256}, "form_code"),
        ({"form_version": 0}, "form_version"),
        ({"page_uid": "0123456789ABCDEF0123456789ABCDEF"}, "page_uid"),
        ({"page_uid": "0123456789abcdef"}, "page_uid"),
        ({"pack_id": "fedcba987654321"}, "pack_id"),
        ({"pack_id": "fedcba987654321g"}, "pack_id"),
    ],
)
def test_encode_rejects_out_of_range_fields(
    key: Ed25519PrivateKey, changes: dict[str, object], fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment) as caught:
        codes.encode(typical(**changes), key)
    patient = changes.get("patient")
    if isinstance(patient, Identifier) and patient.value:
        assert patient.value not in str(caught.value)


# --- every rejection path of decode, in order --------------------------------------------------


@pytest.mark.parametrize("text", ["", "HC1:NCFOXN%TS3DH", "dk1:BB8", "DK1", "https://x.se/DK1:"])
def test_not_dk1(key: Ed25519PrivateKey, text: str) -> None:
    assert reject(text, [key]).reason == "not-dk1"


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(str.lower, id="lower-case"),
        pytest.param(lambda t: t[:40] + "#" + t[41:], id="garbage-character"),
        pytest.param(lambda t: t + "AB", id="dangling-character"),
        pytest.param(lambda t: t[:-2] + "::", id="final-pair-over-255"),
        pytest.param(lambda t: ":::" + t[3:], id="triple-over-65535"),
    ],
)
def test_bad_base45(key: Ed25519PrivateKey, mangle: Callable[[str], str]) -> None:
    text = codes.encode(typical(), key)
    assert reject("DK1:" + mangle(text[4:]), [key]).reason == "bad-base45"


def test_truncated_text_is_bad_length(key: Ed25519PrivateKey) -> None:
    text = codes.encode(typical(), key)
    assert len(text[4:]) % 3 == 2  # the body ends in a 2-character (one byte) group
    assert reject(text[:-2], [key]).reason == "bad-length"


@pytest.mark.parametrize("keep", [0, 1, 40, 41, 104, 105, 132])
def test_truncated_bytes_are_bad_length(key: Ed25519PrivateKey, keep: int) -> None:
    raw = raw_of(codes.encode(typical(), key))
    assert reject(rewrap(raw[:keep]), [key]).reason == "bad-length"


def test_appended_byte_is_bad_length(key: Ed25519PrivateKey) -> None:
    raw = raw_of(codes.encode(typical(), key))
    assert reject(rewrap(raw + b"\x00"), [key]).reason == "bad-length"


@pytest.mark.parametrize("version", [0, 2, 255])
def test_unknown_version_is_bad_length_even_when_signed(
    key: Ed25519PrivateKey, version: int
) -> None:
    text = codes.sign_body(header(key, version=version), key)
    assert reject(text, [key]).reason == "bad-length"


@pytest.mark.parametrize(
    ("offset", "value"), [(38, 65), (39, 33), (40, 65), (40, 255)], ids=["sys", "val", "enc", "ff"]
)
def test_length_byte_over_its_limit_is_bad_length(
    key: Ed25519PrivateKey, offset: int, value: int
) -> None:
    raw = bytearray(raw_of(codes.encode(typical(), key)))
    raw[offset] = value
    raw += bytes(300)  # even with enough bytes behind it
    assert reject(rewrap(bytes(raw)), [key]).reason == "bad-length"


def test_length_bytes_disagreeing_with_the_size_are_bad_length(key: Ed25519PrivateKey) -> None:
    raw = bytearray(raw_of(codes.encode(typical(), key)))
    raw[40] -= 1  # encounter one byte shorter than what follows
    assert reject(rewrap(bytes(raw)), [key]).reason == "bad-length"


def test_foreign_key_is_unknown_key(key: Ed25519PrivateKey, other_key: Ed25519PrivateKey) -> None:
    text = codes.encode(typical(), other_key)
    error = reject(text, [key])
    assert error.reason == "unknown-key"
    assert codes.key_id_of(other_key.public_key()) in error.message
    assert reject(text, []).reason == "unknown-key"


@pytest.mark.parametrize("offset", [0 + 5, 21, 25, 30, 37 + 4, 60, 133 - 64 - 1])
def test_flipped_body_byte_is_bad_signature(key: Ed25519PrivateKey, offset: int) -> None:
    raw = bytearray(raw_of(codes.encode(typical(), key)))
    raw[offset] ^= 0x01
    error = reject(rewrap(bytes(raw)), [key])
    assert error.reason == "bad-signature"
    assert "forged or altered" in error.message
    assert PNR.value not in str(error)


@pytest.mark.parametrize("offset", [-64, -1])
def test_flipped_signature_byte_is_bad_signature(key: Ed25519PrivateKey, offset: int) -> None:
    raw = bytearray(raw_of(codes.encode(typical(), key)))
    raw[offset] ^= 0x80
    assert reject(rewrap(bytes(raw)), [key]).reason == "bad-signature"


def test_signature_must_cover_the_dk1_context(key: Ed25519PrivateKey) -> None:
    body = header(key)
    text = rewrap(body + key.sign(body))  # signed without the b"DK1" prefix
    assert reject(text, [key]).reason == "bad-signature"


def test_signature_is_checked_before_the_body(key: Ed25519PrivateKey) -> None:
    """An impossible body that does not verify is bad-signature, not bad-body."""
    raw = bytearray(raw_of(codes.sign_body(header(key, page=9, count=2), key)))
    raw[-1] ^= 0x01
    assert reject(rewrap(bytes(raw)), [key]).reason == "bad-signature"


def test_key_is_checked_before_the_body(
    key: Ed25519PrivateKey, other_key: Ed25519PrivateKey
) -> None:
    text = codes.sign_body(header(other_key, page=0), other_key)
    assert reject(text, [key]).reason == "unknown-key"


@pytest.mark.parametrize(
    "fields",
    [
        {"page": 3, "count": 2},
        {"page": 0, "count": 2},
        {"page": 0, "count": 0},
        {"form_code": 0},
        {"form_version": 0},
        {"system_code": 5, "value": b"191212121212"},
        {"system_code": 254, "value": b"191212121212"},
        {"system_code": 1, "value": b"19121212121X"},
        {"system_code": 2, "value": b"1912121212"},
        {"system_code": 1, "value": b"191212121212", "system": b"x"},
        {"system_code": 1},
        {"system_code": 0, "value": b"191212121212"},
        {"system_code": 0, "system": b"urn:x"},
        {"system_code": 255, "value": b"191212121212"},
        {"system_code": 255, "system": b"personnummer", "value": b"19121212121X"},
        {"system_code": 255, "system": b"\xff\xfe", "value": b"1"},
        {"system_code": 3, "value": b"\xc3"},
        {"encounter": b"ab\xe2\x82"},
    ],
)
def test_verified_but_impossible_body_is_bad_body(
    key: Ed25519PrivateKey, fields: dict[str, int | bytes]
) -> None:
    text = codes.sign_body(header(key, **fields), key)  # type: ignore[arg-type]
    error = reject(text, [key])
    assert error.reason == "bad-body"
    value = fields.get("value", b"")
    assert isinstance(value, bytes)
    if len(value) > 4:
        assert value.decode("utf-8", "replace") not in str(error)


def test_hand_built_body_decodes(key: Ed25519PrivateKey) -> None:
    """The hand-built bodies of the tests above are well formed apart from their one defect."""
    text = codes.sign_body(
        header(key, page=2, count=2, system_code=1, value=b"191212121212", encounter=b"E"), key
    )
    decoded = codes.decode(text, [key.public_key()])
    assert (decoded.page, decoded.page_count, decoded.patient, decoded.encounter) == (
        2,
        2,
        PNR,
        "E",
    )
    assert decoded.page_uid == bytes(range(16)).hex()
    assert decoded.pack_id == bytes(range(100, 108)).hex()
    assert decoded.issued_at == ISSUED


# --- colliding key ids --------------------------------------------------------------------------


def colliding_pair(prefix_len: int) -> tuple[Ed25519PrivateKey, Ed25519PrivateKey]:
    """Two real keys whose ids share their first ``prefix_len`` bytes (found by trying)."""
    seen: dict[bytes, Ed25519PrivateKey] = {}
    for _ in range(100_000):
        candidate = Ed25519PrivateKey.generate()
        prefix = codes.key_id_bytes(candidate.public_key())[:prefix_len]
        if prefix in seen:
            return seen[prefix], candidate
        seen[prefix] = candidate
    raise AssertionError("no collision found")


def test_candidate_keys_returns_every_key_sharing_the_id() -> None:
    first, second = colliding_pair(1)
    stranger = next(
        k
        for k in iter(Ed25519PrivateKey.generate, None)
        if codes.key_id_bytes(k.public_key())[0] != codes.key_id_bytes(first.public_key())[0]
    )
    prefix = codes.key_id_bytes(second.public_key())[:1]
    keys = [first.public_key(), stranger.public_key(), second.public_key()]
    assert codes.candidate_keys(prefix, keys) == [first.public_key(), second.public_key()]
    full = codes.key_id_bytes(second.public_key())
    assert codes.candidate_keys(full, keys) == [second.public_key()]


def test_every_candidate_is_tried_not_just_the_first() -> None:
    first, second = colliding_pair(1)
    message = b"DK1" + b"body"
    signature = second.sign(message)
    candidates = codes.candidate_keys(
        codes.key_id_bytes(second.public_key())[:1], [first.public_key(), second.public_key()]
    )
    assert candidates[0] == first.public_key()  # the wrong key comes first
    assert codes.verifies_with_any(candidates, signature, message)
    assert not codes.verifies_with_any(candidates[:1], signature, message)
    assert not codes.verifies_with_any(candidates, signature, message + b"x")


# --- messages -----------------------------------------------------------------------------------


def test_rejection_messages_never_contain_the_identifier(key: Ed25519PrivateKey) -> None:
    text = codes.encode(typical(), key)
    raw = raw_of(text)
    flipped = bytearray(raw)
    flipped[50] ^= 1
    for bad in [
        text.lower(),
        rewrap(raw[:-1]),
        rewrap(bytes(flipped)),
        text.replace("DK1:", "DK2:"),
    ]:
        with pytest.raises(PageCodeError) as caught:
            codes.decode(bad, [key.public_key()])
        assert PNR.value not in str(caught.value)
        assert PNR.display() not in str(caught.value)

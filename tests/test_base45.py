from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from downtime.codes import base45

RFC_EXAMPLES = [
    (b"AB", "BB8"),
    (b"Hello!!", "%69 VD92EX0"),
    (b"base-45", "UJCLQE7W581"),
    (b"ietf!", "QED8WEX0"),
    (b"", ""),
]


@pytest.mark.parametrize(("data", "text"), RFC_EXAMPLES)
def test_rfc_9285_examples_encode(data: bytes, text: str) -> None:
    assert base45.encode(data) == text


@pytest.mark.parametrize(("data", "text"), RFC_EXAMPLES)
def test_rfc_9285_examples_decode(data: bytes, text: str) -> None:
    assert base45.decode(text) == data


def test_alphabet_is_the_qr_alphanumeric_set() -> None:
    assert base45.ALPHABET == "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
    assert len(set(base45.ALPHABET)) == 45


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("FGW", b"\xff\xff"),  # 15 + 16*45 + 32*2025 = 65535, the largest triple
        ("U5", b"\xff"),  # 30 + 5*45 = 255, the largest final pair
        ("000", b"\x00\x00"),
        ("00", b"\x00"),
    ],
)
def test_largest_and_smallest_groups_decode(text: str, data: bytes) -> None:
    assert base45.decode(text) == data


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("GGW", "more than two bytes"),  # 16 + 16*45 + 32*2025 = 65536
        (":::", "more than two bytes"),
        ("BB8GGW", "characters 4-6"),
        ("V5", "more than one byte"),  # 31 + 5*45 = 256
        ("BB8::", "more than one byte"),
        ("A", "dangling"),
        ("BB8A", "dangling"),
        ("bb8", "not in the Base45 alphabet"),
        ("BB8#", "dangling"),
        ("BB#", "character 3"),
        ("BB8\n", "dangling"),
        ("BB8é0", "not in the Base45 alphabet"),
    ],
)
def test_invalid_text_is_rejected(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        base45.decode(text)


@given(st.binary(max_size=300))
def test_round_trip(data: bytes) -> None:
    text = base45.encode(data)
    assert set(text) <= set(base45.ALPHABET)
    assert len(text) == 3 * (len(data) // 2) + 2 * (len(data) % 2)
    assert base45.decode(text) == data


@given(st.text(alphabet=base45.ALPHABET, max_size=60))
def test_decoding_is_canonical(text: str) -> None:
    """Whatever decodes re-encodes to the very same text (no two texts for one byte string)."""
    try:
        data = base45.decode(text)
    except ValueError:
        return
    assert base45.encode(data) == text

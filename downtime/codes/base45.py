"""Base45 (RFC 9285): bytes as text drawn from the QR code alphanumeric character set.

Every two bytes ``a b`` become the number ``n = a*256 + b``, written as three base-45 digits,
least significant first (``n = c + d*45 + e*45**2`` → ``c d e``); a final odd byte becomes two
digits. The 45 digits are exactly the characters a QR code can hold in alphanumeric mode, so a
Base45 text packs into a QR symbol at 5.5 bits a character.

Decoding is strict, as the RFC requires: characters outside the alphabet (lower case included),
a dangling single character, and groups whose value does not fit (a triple over 65535, a final
pair over 255) are rejected with :class:`ValueError`.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

_VALUES = {char: value for value, char in enumerate(ALPHABET)}


def encode(data: bytes) -> str:
    """Encode ``data`` as Base45 text (3 characters per 2 bytes, 2 for a final odd byte)."""
    out: list[str] = []
    for start in range(0, len(data) - 1, 2):
        n = data[start] * 256 + data[start + 1]
        out.append(_digits(n, 3))
    if len(data) % 2:
        out.append(_digits(data[-1], 2))
    return "".join(out)


def decode(text: str) -> bytes:
    """Decode Base45 ``text``; raise :class:`ValueError` if it is not valid Base45."""
    if len(text) % 3 == 1:
        raise ValueError(
            f"Base45 text of {len(text)} characters ends in a single dangling character"
        )
    values: list[int] = []
    for position, char in enumerate(text, start=1):
        value = _VALUES.get(char)
        if value is None:
            raise ValueError(f"character {position} ({char!r}) is not in the Base45 alphabet")
        values.append(value)
    out = bytearray()
    for start in range(0, len(values), 3):
        group = values[start : start + 3]
        n = sum(v * 45**i for i, v in enumerate(group))
        if len(group) == 3:
            if n > 0xFFFF:
                raise ValueError(
                    f"characters {start + 1}-{start + 3} encode {n}, more than two bytes hold"
                )
            out += n.to_bytes(2, "big")
        else:
            if n > 0xFF:
                raise ValueError(
                    f"the final characters {start + 1}-{start + 2} encode {n}, "
                    "more than one byte holds"
                )
            out.append(n)
    return bytes(out)


def _digits(n: int, count: int) -> str:
    """``n`` as ``count`` base-45 digits, least significant first."""
    chars: list[str] = []
    for _ in range(count):
        n, digit = divmod(n, 45)
        chars.append(ALPHABET[digit])
    return "".join(chars)

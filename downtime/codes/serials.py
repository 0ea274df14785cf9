"""Form serials and downtime reserve ids: short codes people can read aloud and type back.

Both are 12 symbols printed in groups of four (``XXXX-XXXX-XXXX``): 10 data symbols followed by
2 check symbols. Reserve ids carry a ``DT-`` prefix (``DT-XXXX-XXXX-XXXX``).

Alphabet
--------
21 symbols, ``ACDEFHJKMNPRTWXY34679``. Left out on purpose, because they are easily confused
with one another in handwriting, print or OCR: ``0 O Q`` (``D`` stays: with the other round
shapes gone it has nothing to be mistaken for), ``1 I L``, ``2 Z``, ``5 S``, ``8 B``, ``G``
(like ``6`` and ``C``) and ``U V``.

Check symbols
-------------
With the data symbol values ``v_0 … v_9`` (their indexes in the alphabet),

    c = (v_0·w^9 + v_1·w^8 + … + v_8·w + v_9) mod 439,    w = 15,

written as the two symbols ``c // 21`` and ``c % 21``. 439 is prime, which makes the integers
mod 439 a field (a product is zero only if a factor is), and it is the largest prime below
21² = 441, so the check uses nearly all the combinations two symbols offer.

``w = 15`` is the smallest primitive root mod 439 (multiplicative order 438, the largest
possible), so ``w ≢ 0, ±1`` and ``w^k ≢ 1`` for every ``0 < k < 438``; and no power ``w^j``
with ``j ≤ 9`` is ``≡ -1`` or ``≡ -21`` (the first such powers are ``w^219`` and ``w^258``).
What the proofs below need is only that ``w^k ≢ 1`` for ``k ≤ 9`` and those two exclusions;
a primitive root gives that with room to spare and is the conventional choice.

Why every single substitution and every transposition of two symbols is detected — write
``u_i = w^(9-i)`` for the weight of data position ``i`` and ``S(v)`` for the sum above, so a
serial is valid iff ``S(v) ≡ 21·c_1 + c_2 (mod 439)`` with ``c_1, c_2`` its check symbols:

* Substitution of data symbol ``i`` (``v_i → v_i + d``, ``0 < |d| ≤ 20``): ``S`` changes by
  ``d·u_i``. ``d`` is not a multiple of 439 and ``u_i`` is a power of ``w ≢ 0``, so the product
  is not ``≡ 0``: the check no longer matches.
* Substitution of a check symbol changes ``21·c_1 + c_2`` to another value in ``0 … 440``
  (two base-21 digits name each number once); it is either ≥ 439, which is never valid, or a
  different residue, which no longer equals the unchanged ``S``.
* Transposition of data symbols ``i < j`` (``k = j - i``, ``d = v_j - v_i ≠ 0``): ``S``
  changes by ``d·(u_i - u_j) = d·u_j·(w^k - 1)``, non-zero because ``w^k ≢ 1`` for ``k ≤ 9``.
  Adjacent (``k = 1``, needs ``w ≢ 1``) and jump transpositions (``k = 2``, needs ``w ≢ ±1``)
  are special cases.
* Transposition of data symbol ``i`` with ``c_1``: the new data sum is ``S + u_i·(c_1 - v_i)``
  and the new check value ``21·v_i + c_2 = S - 21·(c_1 - v_i)``; they agree only if
  ``(c_1 - v_i)·(u_i + 21) ≡ 0``, i.e. never, since ``u_i ≢ -21``.
* Transposition of data symbol ``i`` with ``c_2``: similarly ``(c_2 - v_i)·(u_i + 1) ≡ 0``
  is needed, and ``u_i ≢ -1``.
* Transposition of ``c_1`` and ``c_2``: ``21·c_2 + c_1 ≡ 21·c_1 + c_2`` iff
  ``20·(c_2 - c_1) ≡ 0`` iff ``c_1 = c_2`` (no change at all).

Twin errors (``aa → bb`` in adjacent data positions) change ``S`` by ``d·u_{i+1}·(w + 1)``, also
non-zero. A random string of 12 symbols passes the check with probability 1 in 441.

Nothing here does I/O; random values come from :mod:`secrets`.
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING

from downtime.errors import SerialError

if TYPE_CHECKING:
    from collections.abc import Sequence

ALPHABET = "ACDEFHJKMNPRTWXY34679"
RESERVE_PREFIX = "DT-"

DATA_SYMBOLS = 10
CHECK_SYMBOLS = 2
SYMBOLS = DATA_SYMBOLS + CHECK_SYMBOLS
CHECK_MODULUS = 439
CHECK_WEIGHT = 15

_BASE = len(ALPHABET)
_VALUES = {char: value for value, char in enumerate(ALPHABET)}
_SEPARATORS = frozenset(" -")
_HEX32 = re.compile(r"[0-9a-f]{32}")


# --- the shared "data symbols + check symbols" logic -------------------------------------------


def check_value(data: Sequence[int]) -> int:
    """The check value ``Σ v_i · w^(n-1-i) mod 439`` of the data symbol values (Horner's rule)."""
    c = 0
    for v in data:
        c = (c * CHECK_WEIGHT + v) % CHECK_MODULUS
    return c


def with_check(data: Sequence[int]) -> list[int]:
    """The 10 data symbol values followed by their 2 check symbol values."""
    if len(data) != DATA_SYMBOLS or any(not 0 <= v < _BASE for v in data):
        raise ValueError(f"expected {DATA_SYMBOLS} symbol values in 0..{_BASE - 1}")
    high, low = divmod(check_value(data), _BASE)
    return [*data, high, low]


def is_valid(values: Sequence[int]) -> bool:
    """Whether 12 symbol values end in the right check symbols."""
    if len(values) != SYMBOLS:
        return False
    high, low = values[DATA_SYMBOLS:]
    return high * _BASE + low == check_value(values[:DATA_SYMBOLS])


def digits(number: int, count: int = DATA_SYMBOLS) -> list[int]:
    """``number`` (``0 <= number < 21**count``) as ``count`` base-21 digits, most significant
    first."""
    if not 0 <= number < _BASE**count:
        raise ValueError(f"{number} does not fit in {count} base-{_BASE} digits")
    out = [0] * count
    for i in range(count - 1, -1, -1):
        number, out[i] = divmod(number, _BASE)
    return out


def format_symbols(values: Sequence[int]) -> str:
    """12 symbol values as ``XXXX-XXXX-XXXX``."""
    text = "".join(ALPHABET[v] for v in values)
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def _parse_symbols(text: str, what: str, offset: int = 0) -> list[int]:
    """The symbol values of ``text`` (case-insensitive; spaces and hyphens ignored).

    Errors name positions in the text as typed, counting from 1 and adding ``offset`` (the
    length of a prefix the caller already consumed); they never repeat the whole text.
    """
    values: list[int] = []
    bad: list[tuple[int, str]] = []
    for position, char in enumerate(text, start=offset + 1):
        if char in _SEPARATORS:
            continue
        value = _VALUES.get(char.upper())
        if value is None:
            bad.append((position, char))
        values.append(-1 if value is None else value)
    hint = f"read the {what} again from the paper"
    if bad:
        position, char = bad[0]
        message = (
            f"character {position} of the {what} is {char!r}, which {what}s never use "
            f"(they use only {ALPHABET}; look-alike characters are left out)"
        )
        if len(bad) > 1:
            message += f"; {len(bad) - 1} more character(s) are not allowed either"
        elif len(values) == SYMBOLS:
            suggestion = _only_fix(values, values.index(-1))
            if suggestion is not None:
                message += (
                    f"; did you mean {suggestion!r}? it is the only character that makes "
                    "the check characters match"
                )
        raise SerialError(message, hint=hint)
    if len(values) != SYMBOLS:
        raise SerialError(
            f"a {what} has {SYMBOLS} characters (not counting hyphens and spaces); "
            f"this one has {len(values)}",
            hint=hint,
        )
    if not is_valid(values):
        raise SerialError(
            "the check characters do not match: a character was probably mistyped; "
            f"read the {what} again",
        )
    return values


def _only_fix(values: Sequence[int], index: int) -> str | None:
    """The one symbol that, put at ``index``, makes the check symbols match (if exactly one)."""
    fits = [
        ALPHABET[v] for v in range(_BASE) if is_valid([*values[:index], v, *values[index + 1 :]])
    ]
    return fits[0] if len(fits) == 1 else None


# --- form serials -------------------------------------------------------------------------------


def serial_for_page(page_uid: str) -> str:
    """The human-typable serial printed on the page with this uid (32 lowercase hex chars).

    The data symbols are the first 8 bytes of the uid, as a big-endian integer mod 21**10
    (about 44 bits), in base 21. The serial is a convenience for people; the page uid stays the
    key (two pages of one site share a serial only with negligible probability, but it is not
    impossible).
    """
    if not _HEX32.fullmatch(page_uid):
        raise ValueError("a page uid is 32 lowercase hexadecimal characters")
    number = int(page_uid[:16], 16) % _BASE**DATA_SYMBOLS
    return format_symbols(with_check(digits(number)))


def parse_serial(text: str) -> str:
    """The canonical ``XXXX-XXXX-XXXX`` form of a typed or OCR-read serial.

    Lower case, spaces and hyphens anywhere (or none) are accepted. Raises
    :class:`~downtime.errors.SerialError` naming the position of a bad character, for a wrong
    length, or when the check characters do not match.
    """
    return format_symbols(_parse_symbols(text, "serial"))


# --- downtime reserve ids -----------------------------------------------------------------------


def new_reserve_id() -> str:
    """A fresh downtime reserve id, ``DT-XXXX-XXXX-XXXX``: 10 random symbols and 2 check symbols."""
    data = [secrets.randbelow(_BASE) for _ in range(DATA_SYMBOLS)]
    return RESERVE_PREFIX + format_symbols(with_check(data))


def parse_reserve_id(text: str) -> str:
    """The canonical ``DT-XXXX-XXXX-XXXX`` form of a typed reserve id.

    Case-insensitive; the prefix may be written ``DT-``, ``DT `` or ``DT``, and the rest as for
    :func:`parse_serial`. Raises :class:`~downtime.errors.SerialError`.
    """
    stripped = text.lstrip()
    offset = len(text) - len(stripped)
    if stripped[:2].upper() != RESERVE_PREFIX[:2]:
        raise SerialError(
            "a downtime reserve id starts with DT- (this one does not)",
            hint="read the reserve id again from the wristband or the paper",
        )
    values = _parse_symbols(stripped[2:], "reserve id", offset=offset + 2)
    return RESERVE_PREFIX + format_symbols(values)

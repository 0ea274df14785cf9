from __future__ import annotations

import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from downtime.codes import serials
from downtime.errors import SerialError

ALPHABET = "ACDEFHJKMNPRTWXY34679"
SERIAL = re.compile(r"[ACDEFHJKMNPRTWXY34679]{4}(-[ACDEFHJKMNPRTWXY34679]{4}){2}")


def sample_serials(count: int = 40) -> list[str]:
    rng = random.Random(20250314)
    return [serials.serial_for_page(rng.randbytes(16).hex()) for _ in range(count)]


def is_accepted(symbols: str) -> bool:
    try:
        serials.parse_serial(symbols)
    except SerialError:
        return False
    return True


def reference_check(data: str) -> int:
    """The check value straight from its definition (no Horner's rule)."""
    values = [ALPHABET.index(c) for c in data]
    n = len(values)
    weights: list[int] = [15**k for k in range(n - 1, -1, -1)]
    return sum(v * w for v, w in zip(values, weights, strict=True)) % 439


# --- the alphabet and the check ----------------------------------------------------------------


def test_alphabet_has_21_distinct_unambiguous_symbols() -> None:
    assert serials.ALPHABET == ALPHABET
    assert len(set(ALPHABET)) == 21
    assert not set(ALPHABET) & set("01258BGILOQSUVZ")


def test_weight_is_a_primitive_root_of_the_prime_modulus() -> None:
    p, w = serials.CHECK_MODULUS, serials.CHECK_WEIGHT
    assert all(p % d for d in range(2, int(p**0.5) + 1))  # prime
    assert p <= 21**2  # the check value fits two symbols
    assert w % p not in (0, 1, p - 1)
    powers = {pow(w, k, p) for k in range(1, p)}
    assert len(powers) == p - 1  # order p - 1: w generates every non-zero residue


@pytest.mark.parametrize("serial", sample_serials(10))
def test_check_symbols_follow_the_documented_formula(serial: str) -> None:
    symbols = serial.replace("-", "")
    c = reference_check(symbols[:10])
    assert symbols[10:] == ALPHABET[c // 21] + ALPHABET[c % 21]


def test_all_zero_data_has_zero_check() -> None:
    assert serials.serial_for_page("00" * 16) == "AAAA-AAAA-AAAA"


def test_serial_for_page_uses_the_first_8_bytes_mod_21_pow_10() -> None:
    uid = "ffffffffffffffff" + "0123456789abcdef"
    number = 0xFFFFFFFFFFFFFFFF % 21**10
    data = ""
    for _ in range(10):
        number, digit = divmod(number, 21)
        data = ALPHABET[digit] + data
    c = reference_check(data)
    expected = data + ALPHABET[c // 21] + ALPHABET[c % 21]
    assert serials.serial_for_page(uid) == "-".join([expected[:4], expected[4:8], expected[8:]])
    # only the first 8 bytes count
    assert serials.serial_for_page("ffffffffffffffff" + "0" * 16) == serials.serial_for_page(uid)


@given(st.binary(min_size=16, max_size=16))
def test_serial_for_page_is_well_formed_and_parses_back(uid: bytes) -> None:
    serial = serials.serial_for_page(uid.hex())
    assert SERIAL.fullmatch(serial)
    assert serials.parse_serial(serial) == serial


@pytest.mark.parametrize("uid", ["0" * 31, "0" * 33, "A" * 32, "g" * 32, ""])
def test_serial_for_page_rejects_bad_uids(uid: str) -> None:
    with pytest.raises(ValueError, match="32 lowercase"):
        serials.serial_for_page(uid)


# --- what the check detects: exhaustively, over a sample ----------------------------------------


@pytest.mark.parametrize("serial", sample_serials())
def test_every_single_substitution_is_detected(serial: str) -> None:
    symbols = serial.replace("-", "")
    assert is_accepted(symbols)
    for i in range(12):
        for replacement in ALPHABET:
            if replacement != symbols[i]:
                assert not is_accepted(symbols[:i] + replacement + symbols[i + 1 :]), (i, serial)


@pytest.mark.parametrize("serial", sample_serials())
def test_every_transposition_is_detected(serial: str) -> None:
    """Adjacent (distance 1), jump (distance 2) and any other swap of two different symbols,
    check symbols included."""
    symbols = list(serial.replace("-", ""))
    tested = 0
    for i in range(12):
        for j in range(i + 1, 12):
            if symbols[i] != symbols[j]:
                swapped = symbols.copy()
                swapped[i], swapped[j] = swapped[j], swapped[i]
                assert not is_accepted("".join(swapped)), (i, j, serial)
                tested += 1
    assert tested > 0


def test_transpositions_of_crafted_serials_with_repeats() -> None:
    """Serials built to put equal and unequal neighbours everywhere, with random check symbols."""
    rng = random.Random(7)
    for _ in range(200):
        data = [rng.choice([0, 1, 20]) for _ in range(10)]
        symbols = "".join(ALPHABET[v] for v in serials.with_check(data))
        for i in range(11):
            if symbols[i] != symbols[i + 1]:
                swapped = symbols[:i] + symbols[i + 1] + symbols[i] + symbols[i + 2 :]
                assert not is_accepted(swapped)


def test_twin_errors_are_detected() -> None:
    rng = random.Random(11)
    for _ in range(300):
        a, b = rng.sample(range(21), 2)
        i = rng.randrange(9)
        data = [rng.randrange(21) for _ in range(10)]
        data[i] = data[i + 1] = a
        good = serials.with_check(data)
        twin = good.copy()
        twin[i] = twin[i + 1] = b
        assert serials.is_valid(good)
        assert not serials.is_valid(twin)


def test_the_check_is_not_trivially_satisfied() -> None:
    rng = random.Random(3)
    accepted = sum(
        is_accepted("".join(rng.choice(ALPHABET) for _ in range(12))) for _ in range(20_000)
    )
    assert accepted < 20_000 * 3 / 439  # about 1 in 439 expected


# --- parse_serial -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["{0}-{1}-{2}", "{0}{1}{2}", "{0} {1} {2}", " {0} - {1}-{2} ", "{0}-{1}{2}"],
)
def test_parse_serial_accepts_spacing_and_case(typed: str) -> None:
    serial = sample_serials(1)[0]
    groups = serial.split("-")
    for text in (typed.format(*groups), typed.format(*groups).lower()):
        assert serials.parse_serial(text) == serial


def test_parse_serial_names_the_bad_character_and_its_position() -> None:
    serial = sample_serials(1)[0]
    typed = serial[:5] + "O" + serial[6:]  # position 6 counting the hyphen
    with pytest.raises(SerialError) as caught:
        serials.parse_serial(typed)
    message = str(caught.value)
    assert "character 6" in message
    assert "'O'" in message
    assert typed not in message
    assert serial[:4] not in message


def test_parse_serial_suggests_the_one_character_that_fits() -> None:
    for serial in sample_serials(20):
        typed = serial[:10] + "0" + serial[11:]
        with pytest.raises(SerialError) as caught:
            serials.parse_serial(typed)
        assert f"did you mean {serial[10]!r}?" in str(caught.value)


def test_parse_serial_reports_how_many_other_characters_are_bad() -> None:
    with pytest.raises(SerialError, match=r"character 1 .* 2 more character"):
        serials.parse_serial("OOAA-AAAA-AAA0")


@pytest.mark.parametrize("text", ["", "AAAA-AAAA-AAA", "AAAA-AAAA-AAAA-A", "DT-AAAA-AAAA-AAAA"])
def test_parse_serial_rejects_the_wrong_length(text: str) -> None:
    with pytest.raises(SerialError, match="12 characters"):
        serials.parse_serial(text)


def test_parse_serial_rejects_a_check_failure() -> None:
    serial = sample_serials(1)[0]
    bad = ("C" if serial[0] != "C" else "A") + serial[1:]
    with pytest.raises(SerialError, match="check characters do not match") as caught:
        serials.parse_serial(bad)
    assert bad not in str(caught.value)


# --- reserve ids --------------------------------------------------------------------------------


def test_new_reserve_ids_are_well_formed_random_and_valid() -> None:
    ids = {serials.new_reserve_id() for _ in range(200)}
    assert len(ids) == 200
    for reserve_id in ids:
        assert reserve_id.startswith("DT-")
        assert SERIAL.fullmatch(reserve_id[3:])
        assert serials.parse_reserve_id(reserve_id) == reserve_id
    # every data position takes many values: the symbols really are random
    for position in range(10):
        assert len({r.replace("-", "")[2 + position] for r in ids}) > 10


@pytest.mark.parametrize(
    "typed", ["DT-{}", "dt-{}", "DT{}", "dt {}", "  DT-{} ", "DT - {}", "Dt{}"]
)
def test_parse_reserve_id_accepts_spacing_and_case(typed: str) -> None:
    reserve_id = serials.new_reserve_id()
    body = reserve_id[3:]
    for variant in (body, body.replace("-", ""), body.lower()):
        assert serials.parse_reserve_id(typed.format(variant)) == reserve_id


@pytest.mark.parametrize("text", ["", "ACDE-FHJK-MN34", "XT-ACDE-FHJK-MN34", "D-ACDE-FHJK-MN34"])
def test_parse_reserve_id_requires_the_prefix(text: str) -> None:
    with pytest.raises(SerialError, match="starts with DT-"):
        serials.parse_reserve_id(text)


def test_parse_reserve_id_checks_alphabet_with_positions_in_the_typed_text() -> None:
    reserve_id = serials.new_reserve_id()
    typed = reserve_id[:8] + "5" + reserve_id[9:]  # "DT-XXXX-" is 8 characters
    with pytest.raises(SerialError, match="character 9 of the reserve id is '5'") as caught:
        serials.parse_reserve_id(typed)
    assert reserve_id[3:7] not in str(caught.value)


def test_parse_reserve_id_checks_the_check_characters() -> None:
    reserve_id = serials.new_reserve_id()
    symbols = list(reserve_id)
    symbols[5], symbols[6] = symbols[6], symbols[5]
    if symbols[5] == symbols[6]:
        symbols[5] = "A" if symbols[5] != "A" else "C"
    with pytest.raises(SerialError, match="check characters"):
        serials.parse_reserve_id("".join(symbols))


def test_reserve_ids_and_serials_share_one_format() -> None:
    reserve_id = serials.new_reserve_id()
    assert serials.parse_serial(reserve_id[3:]) == reserve_id[3:]


# --- the shared helpers -------------------------------------------------------------------------


@pytest.mark.parametrize("data", [[0] * 9, [0] * 11, [21] + [0] * 9, [-1] + [0] * 9])
def test_with_check_rejects_bad_data(data: list[int]) -> None:
    with pytest.raises(ValueError, match="10 symbol values"):
        serials.with_check(data)


def test_digits_round_trip_and_limits() -> None:
    assert serials.digits(0) == [0] * 10
    assert serials.digits(21**10 - 1) == [20] * 10
    assert serials.digits(22, 3) == [0, 1, 1]
    with pytest.raises(ValueError, match="does not fit"):
        serials.digits(21**10)

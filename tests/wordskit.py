"""Checks every words catalogue (``words.toml``) passes: both languages, same placeholders."""

from __future__ import annotations

import string
from collections.abc import Collection, Iterator, Mapping
from typing import Any


def texts(value: Any) -> Iterator[str]:
    """Every text of a catalogue value: a string, or a count's ``one`` and ``other`` forms."""
    if isinstance(value, Mapping):
        yield from (str(v) for v in value.values())
    else:
        yield str(value)


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def assert_parallel(catalogue: Mapping[str, Mapping[str, Any]], tables: Collection[str]) -> None:
    """Swedish and English have the same keys (and the same codes in each of ``tables``), each
    text the same placeholders in both, and a count its ``one`` and ``other`` forms naming
    its number ``n`` (in one language or both)."""
    sv, en = catalogue["sv"], catalogue["en"]
    assert set(sv) == set(en)
    for key in sv:
        if key in tables:
            assert set(sv[key]) == set(en[key]), key
            pairs = [(f"{key}.{code}", sv[key][code], en[key][code]) for code in sv[key]]
        else:
            pairs = [(key, sv[key], en[key])]
        for name, sv_value, en_value in pairs:
            found = [placeholders(t) for t in [*texts(sv_value), *texts(en_value)]]
            assert all(p == found[0] for p in found), f"{name}: {found}"
            for value in (sv_value, en_value):
                if isinstance(value, Mapping):  # a count (one language may say "page(s)")
                    assert set(value) == {"one", "other"}, name
                    assert "n" in found[0], name

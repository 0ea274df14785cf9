"""Words in Swedish and English from a ``words.toml`` catalogue shipped in a package: the
report's and the command line's (:class:`Words`, one language of one catalogue)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, ClassVar

LANGS = ("sv", "en")


@cache
def catalogue(package: str) -> dict[str, dict[str, Any]]:
    """The ``words.toml`` of ``package``, by language."""
    text = (resources.files(package) / "words.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


@dataclass(frozen=True)
class Words:
    """One catalogue's words in one language: ``w("key", name=value)``, ``w.n("key", count)``
    for a count (its plural form), ``w.of("table", "code")`` from a table. A subclass names
    its catalogue's package (:attr:`package`) and what the words are for (:attr:`what`)."""

    package: ClassVar[str]
    what: ClassVar[str]
    lang: str

    def __post_init__(self) -> None:
        if self.lang not in LANGS:
            raise ValueError(f"no {self.what} language '{self.lang}' (one of {', '.join(LANGS)})")

    @property
    def table(self) -> dict[str, Any]:
        return catalogue(self.package)[self.lang]

    def __call__(self, key: str, /, **values: Any) -> str:
        text = self.table[key]
        if not isinstance(text, str):
            raise TypeError(f"{self.what} word '{key}' counts something: use Words.n")
        return text.format(**values)

    def n(self, key: str, count: int, /, **values: Any) -> str:
        text = self.table[key]
        if isinstance(text, Mapping):
            text = text["one" if count == 1 else "other"]
        return str(text).format(n=count, **values)

    def of(self, table: str, code: str) -> str:
        """A code in words; the code itself where the table has none for it."""
        return str(self.table.get(table, {}).get(code, code))

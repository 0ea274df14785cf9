"""The station's words in Swedish and English (``words.toml``, shipped in the package)."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

LANGS = ("sv", "en")


@cache
def catalogue() -> dict[str, dict[str, Any]]:
    text = (resources.files("downtime.station") / "words.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def word(lang: str, key: str, **values: Any) -> str:
    """The word ``key`` in ``lang`` (Swedish if unknown), with ``values`` filled in."""
    table = catalogue().get(lang) or catalogue()["sv"]
    text = table.get(key, key)
    return str(text).format(**values) if values else str(text)


def reason(lang: str, code: str) -> str:
    """A quarantine reason in words (the code itself for a reason the catalogue lacks)."""
    table = catalogue().get(lang) or catalogue()["sv"]
    return str(table.get("reasons", {}).get(code, code))

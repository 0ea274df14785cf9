"""The station's words in Swedish and English (``words.toml``, shipped in the package)."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

from downtime.review import why_code


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
    return coded(lang, "reasons", code)


def coded(lang: str, table: str, code: str) -> str:
    """A code in words from one of the catalogue's tables (``reasons``, ``statuses``,
    ``resource_types``): the code itself where the table has no words for it."""
    found = catalogue().get(lang) or catalogue()["sv"]
    return str(found.get(table, {}).get(code, code))


def why(lang: str, detail: str) -> str:
    """Why an item is held, in ``lang``: the catalogue's ``whys`` text for the detail's code
    (:func:`downtime.review.why_code`), flags in words too; the detail as it is (English)
    when the catalogue has no text for it."""
    found = why_code(detail)
    table = catalogue().get(lang) or catalogue()["sv"]
    text = table.get("whys", {}).get(found[0]) if found is not None else None
    if found is None or text is None:
        return detail
    values = dict(found[1])
    if "flags" in values:
        flags = table.get("flags", {})
        values["flags"] = ", ".join(str(flags.get(f, f)) for f in values["flags"].split(", "))
    return str(text).format(**values)

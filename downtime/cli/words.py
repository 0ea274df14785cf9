"""The CLI's own messages in Swedish and English (``words.toml``, shipped in the package), and
the language a command speaks: ``--lang``, else site.toml's ``lang`` (Swedish by default),
else English when the site's settings cannot be read (the error saying why is in English).

Pure apart from reading site.toml: a language and values in, text out.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from downtime import words as shared
from downtime.errors import DowntimeError
from downtime.words import LANGS

FALLBACK = "en"  # when the site's language cannot be known: the library's own messages' language


def catalogue() -> dict[str, dict[str, Any]]:
    return shared.catalogue("downtime.cli")


@cache
def _reason_words() -> dict[str, dict[str, str]]:
    """The quarantine reasons' words, kept with the review station's words (one place for
    them); read as a file, so that the CLI does not load the station's web stack."""
    text = (resources.files("downtime") / "station" / "words.toml").read_text(encoding="utf-8")
    found = tomllib.loads(text)
    return {lang: dict(found.get(lang, {}).get("reasons", {})) for lang in LANGS}


def site_language(home: Path | None, asked: str | None = None) -> str:
    """``asked`` (``--lang``), else the site's language; English when site.toml is unusable."""
    if asked in LANGS:
        return asked
    from downtime.settings import resolve

    try:
        lang = resolve(home).config.lang
    except DowntimeError:
        return FALLBACK
    return lang if lang in LANGS else FALLBACK


class Words(shared.Words):
    """The CLI's messages in one language: ``w("key", name=value)``, ``w.n("key", count)`` for
    a count (its plural form), ``w.of("table", "code")`` from a table (the code itself where the
    table has no words for it)."""

    package = "downtime.cli"
    what = "CLI"

    def reason(self, code: str) -> str:
        """A quarantine reason: the code as it is in English (what `quarantine list` shows);
        in another language its words, then the code."""
        if self.lang == "en":
            return code
        found = _reason_words()[self.lang].get(code)
        return f"{found[:1].lower()}{found[1:]} [{code}]" if found else code

    def decimal(self, number: float, places: int = 1) -> str:
        """A number with a decimal comma in Swedish, a point in English."""
        text = f"{number:.{places}f}"
        return text.replace(".", ",") if self.lang == "sv" else text

    def error(self, error: DowntimeError) -> str:
        """How an error is shown: in this language when the error has its words here (or the
        language is English); else what it is about, then its English message below."""
        said = error.said
        table = catalogue()[self.lang]
        if said is not None and said.key in table.get("errors", {}):
            message = table["errors"][said.key].format(**said.values)
            hint = table.get("hints", {}).get(said.key)
            if hint is not None:
                message += f"\n  → {hint.format(**said.values)}"
            elif error.hint:
                message += f"\n  → {error.hint}"
            return self("error", message=message)
        if self.lang == "en":
            return self("error", message=str(error))
        about = self.of("exit", error.exit_code.name)
        details = "\n".join(f"  {line}" for line in str(error).splitlines())
        return self("error", message=f"{about} {self('in_english')}\n{details}")


def words(lang: str) -> Words:
    return Words(lang)

"""The CLI's own messages in Swedish and English (``words.toml``, shipped in the package), and
the language a command speaks: ``--lang``, else site.toml's ``lang`` (Swedish by default),
else English when the site's settings cannot be read (the error saying why is in English).

Pure apart from reading site.toml: a language and values in, text out.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from downtime import words as shared
from downtime.errors import DowntimeError, ProblemsError, Said
from downtime.words import LANGS

if TYPE_CHECKING:
    from downtime.app.doctor_check import Check


class Finding(Protocol):
    """What ``ledger check`` and ``audit verify`` list (:mod:`downtime.ledger.check`)."""

    @property
    def kind(self) -> str: ...
    @property
    def where(self) -> str: ...
    @property
    def said(self) -> Said | None: ...
    @property
    def place(self) -> Said | None: ...


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

    def refusal(
        self, name: str, code: str, problem: str, hint: str | None, said: Said | None
    ) -> str:
        """Why ``packs import`` refused the manifest ``name``: in English its problem and the
        reason's code; in another language the reason's words and code, then the problem (in
        English where it has no words here), then what to do."""
        if self.lang == "en":
            text = self("pack_refused", problem=problem, code=code)
            return text + (f"\n  → {hint}" if hint else "")
        table = catalogue()[self.lang]
        reason = f"{name}: {self.of('refusals', code)}"
        text = self("pack_refused", problem=reason, code=code)
        if said is not None and said.key in table["errors"]:
            text += f"\n  {self._said(table['errors'], said)}"
        else:
            text += f"\n  {self('in_english')}\n  {problem}"
        hint = table["refusal_hints"].get(code, hint)
        return text + (f"\n  → {hint}" if hint else "")

    def decimal(self, number: float, places: int = 1) -> str:
        """A number with a decimal comma in Swedish, a point in English."""
        text = f"{number:.{places}f}"
        return text.replace(".", ",") if self.lang == "sv" else text

    def check(self, check: Check) -> tuple[str, str]:
        """What a ``doctor`` check found and what to do, in this language where the check
        has words here (else as the check says them: in English, as ``--json`` does)."""
        table = catalogue()[self.lang]
        checks, fixes = table.get("checks", {}), table.get("fixes", {})
        said, fixed = check.said, check.fixed or check.said
        if self.lang == "en" or said is None or said.key not in checks:
            return check.what, check.fix
        what = self._said(checks, said)
        if fixed is not None and fixed.key in fixes:
            return what, self._said(fixes, fixed, checks)
        return what, check.fix

    def finding(self, finding: Finding) -> str:
        """A finding of ``ledger check`` or ``audit verify``: its kind (a code, in either
        language), where, and what is wrong, in this language where it has words here."""
        table = catalogue()[self.lang]["findings"]
        if self.lang == "en" or finding.said is None or finding.said.key not in table:
            return f"{finding.kind}\t{finding}"
        where = finding.where if finding.place is None else self._said(table, finding.place)
        return f"{finding.kind}\t{where}: {self._said(table, finding.said)}"

    def _said(
        self, table: Mapping[str, Any], said: Said, inner: Mapping[str, Any] | None = None
    ) -> str:
        """``said`` in ``table``; a value that is itself said is said by its key in ``inner``
        (else the same table), and so is each of a tuple of them (joined by "; ") or of a list
        (by ", ")."""
        inner = table if inner is None else inner
        values = {name: self._value(inner, value) for name, value in said.values.items()}
        return _counted(table[said.key], values).format(**values)

    def _value(self, table: Mapping[str, Any], value: object) -> object:
        if isinstance(value, Said):
            return self._said(table, value)
        if isinstance(value, tuple | list):
            said = [self._value(table, v) for v in value]
            return ("; " if isinstance(value, tuple) else ", ").join(map(str, said))
        return value

    def error(self, error: DowntimeError) -> str:
        """How an error is shown: in this language when the error has its words here (or the
        language is English); else what it is about, then its English message below."""
        said = error.said
        table = catalogue()[self.lang]
        if said is not None and said.key in table.get("errors", {}):
            message = _counted(table["errors"][said.key], said.values).format(**said.values)
            if isinstance(error, ProblemsError) and error.problems:
                if self.lang != "en":
                    message += f"\n  {self('in_english')}"
                message += "".join(f"\n  {p}" for p in error.problems)
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


def _counted(text: Any, values: Mapping[str, object]) -> str:
    """A message, or a count's (``one``, ``other``) form chosen by its value ``n``."""
    if isinstance(text, Mapping):
        return str(text["one" if values.get("n") == 1 else "other"])
    return str(text)


def words(lang: str) -> Words:
    return Words(lang)

"""site.toml as ``downtime init`` writes it: a new one from the commented template, or the
site's own, edited file updated in place (the only importer of tomlkit).

An edited site.toml keeps its comments, its order and its values, byte for byte: an option
named on the command line (``init --lang en``) changes only that value, and an option the file
lacks is added with the template's comment above it, after the file's last option (before its
first table, such as ``[fhir]``). Nothing else is touched; a file with nothing to add or
change is not written at all.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import ParseError

from downtime.errors import ConfigError
from downtime.settings import SiteConfig, site_config_text

_TABLE_HEADER = re.compile(r"^[ \t]*\[", re.M)


def site_toml_after_init(path: Path, config: SiteConfig, given: Mapping[str, Any]) -> str | None:
    """The text ``init`` leaves in site.toml at ``path``, or None when it stays as it is.

    ``config`` is the configuration in force with ``given`` (the options named on the command
    line) applied: its values fill the options the file lacks.
    """
    template = site_config_text(config)
    if not path.exists():
        return template
    text = path.read_text(encoding="utf-8")
    updated = _with_values(text, given, path.name)
    missing = [key for key in _template_keys(template) if key not in tomllib.loads(updated)]
    if missing:
        updated = _insert(updated, "".join(_template_lines(template, key) for key in missing))
    return None if updated == text else updated


def _with_values(text: str, given: Mapping[str, Any], where: str) -> str:
    """``text`` with the values of ``given`` that it holds changed (their comments kept)."""
    try:
        doc = tomlkit.parse(text)
    except ParseError as e:
        raise ConfigError(
            f"{where} cannot be read: {e}", hint=f"fix line {e.line} (nothing was changed)"
        ) from e
    changed = False
    for key, value in given.items():
        if key in doc and doc[key] != value:
            doc[key] = value
            changed = True
    return tomlkit.dumps(doc) if changed else text


def _template_keys(template: str) -> list[str]:
    return list(tomllib.loads(template))


def _template_lines(template: str, key: str) -> str:
    """The template's line for ``key``, with the comment lines right above it."""
    lines = template.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if re.match(rf"{re.escape(key)}\s*=", line))
    start = at
    while start > 0 and lines[start - 1].startswith("#"):
        start -= 1
    return "".join(lines[start : at + 1])


def _insert(text: str, added: str) -> str:
    """``added`` (top-level options) after the last option above the first table of ``text``;
    at its end when it has no table."""
    if text and not text.endswith("\n"):
        text += "\n"
    header = _first_table_header(text)
    if header is None:
        return text + added
    lines = text[:header].splitlines(keepends=True)
    keep = len(lines)
    while keep > 0 and (not lines[keep - 1].strip() or lines[keep - 1].lstrip().startswith("#")):
        keep -= 1  # blank lines and comments right above the table go with the table
    before = "".join(lines[:keep])
    return before + added + text[len(before) :]


def _first_table_header(text: str) -> int | None:
    """Where the first ``[table]`` header starts: the first line opening with ``[`` that is
    not inside a value (the text before it is whole TOML)."""
    for found in _TABLE_HEADER.finditer(text):
        try:
            tomllib.loads(text[: found.start()])
        except tomllib.TOMLDecodeError:
            continue  # inside a multi-line array or string
        return found.start()
    return None

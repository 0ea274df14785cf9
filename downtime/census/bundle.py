"""A FHIR Bundle as read for a census: its entries, numbered and resolvable by reference, and
the helpers that read loosely typed JSON without trusting it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from downtime.census.findings import _Invalid
from downtime.census.textfiles import _modified_at, _read_text, _unreadable
from downtime.census.values import _aware_datetime

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

_BUNDLE_TYPES = ("collection", "searchset", "batch", "transaction")

# A resource id that may carry a personnummer is not printed (see _Entry.where).
_NUMBER_LIKE = re.compile(r"\d{10}|\d{6}[-+]\d{4}")

_JsonObject = dict[str, Any]


def _obj(value: object) -> _JsonObject:
    return value if isinstance(value, dict) else {}


def _objects(value: object) -> list[_JsonObject]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


def _strings(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


@dataclass(frozen=True)
class _Entry:
    number: int  # 1-based position in Bundle.entry
    resource: _JsonObject
    full_url: str
    file: str

    @property
    def type(self) -> str:
        return _string(self.resource.get("resourceType"))

    @property
    def id(self) -> str:
        return _string(self.resource.get("id"))

    @property
    def where(self) -> str:
        """``<file> entry N (Type/id)``; an id that looks like a personal number is withheld."""
        rid = self.id or "no id"
        if _NUMBER_LIKE.search(rid):
            rid = "id withheld"
        return f"{self.file} entry {self.number} ({self.type}/{rid})"


@dataclass
class _Bundle:
    entries: list[_Entry]
    by_url: dict[str, _Entry] = field(default_factory=dict)
    by_type_id: dict[str, _Entry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for entry in self.entries:
            if entry.full_url:
                self.by_url.setdefault(entry.full_url, entry)
            if entry.type and entry.id:
                self.by_type_id.setdefault(f"{entry.type}/{entry.id}", entry)

    def of_type(self, resource_type: str) -> list[_Entry]:
        return [entry for entry in self.entries if entry.type == resource_type]

    def resolve(self, reference: object, resource_type: str) -> _Entry | None:
        """The entry a ``Reference`` points at (by fullUrl or ``Type/id``), if of that type."""
        target = _string(_obj(reference).get("reference")).strip()
        if not target:
            return None
        entry = self.by_url.get(target)
        if entry is None:
            match = re.search(r"([A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]*)?$", target)
            entry = self.by_type_id.get(f"{match[1]}/{match[2]}") if match else None
        return entry if entry is not None and entry.type == resource_type else None


def _parse_float(text: str) -> Decimal:
    return Decimal(text)


def _no_constants(text: str) -> object:
    raise ValueError(text)


def _read_bundle(path: Path) -> tuple[_Bundle, _JsonObject]:
    try:
        data = json.loads(_read_text(path), parse_float=_parse_float, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise _unreadable(path, f"not valid JSON (near line {exc.lineno})") from None
    except ValueError:
        raise _unreadable(path, "not valid JSON (NaN and Infinity are not JSON numbers)") from None
    bundle = _obj(data)
    if bundle.get("resourceType") != "Bundle":
        raise _unreadable(path, "not a FHIR Bundle (resourceType must be Bundle)")
    if bundle.get("type") not in _BUNDLE_TYPES:
        raise _unreadable(path, f"Bundle.type must be one of {', '.join(_BUNDLE_TYPES)}")
    entries = [
        _Entry(number, _obj(item.get("resource")), _string(item.get("fullUrl")), path.name)
        for number, item in enumerate(_objects(bundle.get("entry")), start=1)
    ]
    return _Bundle(entries), bundle


def _bundle_time(path: Path, bundle: _JsonObject) -> datetime:
    """Bundle.timestamp, else Bundle.meta.lastUpdated, else the file's modification time."""
    for name, value in (
        ("Bundle.timestamp", bundle.get("timestamp")),
        ("Bundle.meta.lastUpdated", _obj(bundle.get("meta")).get("lastUpdated")),
    ):
        if value is None:
            continue
        try:
            return _aware_datetime(_string(value)).astimezone(UTC)
        except _Invalid as exc:
            raise _unreadable(path, f"{name} {exc}") from None
    return _modified_at(path)


def _concept_text(concept: object) -> str:
    """A CodeableConcept's text, else its first coding's display."""
    concept = _obj(concept)
    text = _string(concept.get("text")).strip()
    if text:
        return text
    for coding in _objects(concept.get("coding")):
        display = _string(coding.get("display")).strip()
        if display:
            return display
    return ""


def _has_code(concept: object, codes: Sequence[str]) -> bool:
    return any(coding.get("code") in codes for coding in _objects(_obj(concept).get("coding")))


def _business_id(resource: _JsonObject) -> str:
    """The first identifier's value, else the resource id."""
    for identifier in _objects(resource.get("identifier")):
        value = _string(identifier.get("value")).strip()
        if value:
            return value
    return _string(resource.get("id")).strip()

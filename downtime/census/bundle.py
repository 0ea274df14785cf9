"""A FHIR Bundle as read for a census: its entries, numbered and resolvable by reference, and
the helpers that read loosely typed JSON without trusting it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from downtime.census.findings import Invalid
from downtime.census.textfiles import modified_at, read_text, unreadable
from downtime.census.values import aware_datetime

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

_BUNDLE_TYPES = ("collection", "searchset", "batch", "transaction")

# A resource id that may carry a personnummer is not printed (see Entry.where).
_NUMBER_LIKE = re.compile(r"\d{10}|\d{6}[-+]\d{4}")

JsonObject = dict[str, Any]


def obj(value: object) -> JsonObject:
    return value if isinstance(value, dict) else {}


def objects(value: object) -> list[JsonObject]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def string(value: object) -> str:
    return value if isinstance(value, str) else ""


def strings(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


@dataclass(frozen=True)
class Entry:
    number: int  # 1-based position in Bundle.entry
    resource: JsonObject
    full_url: str
    file: str

    @property
    def type(self) -> str:
        return string(self.resource.get("resourceType"))

    @property
    def id(self) -> str:
        return string(self.resource.get("id"))

    @property
    def where(self) -> str:
        """``<file> entry N (Type/id)``; an id that looks like a personal number is withheld."""
        rid = self.id or "no id"
        if _NUMBER_LIKE.search(rid):
            rid = "id withheld"
        return f"{self.file} entry {self.number} ({self.type}/{rid})"


@dataclass
class Bundle:
    entries: list[Entry]
    by_url: dict[str, Entry] = field(default_factory=dict)
    by_type_id: dict[str, Entry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for entry in self.entries:
            if entry.full_url:
                self.by_url.setdefault(entry.full_url, entry)
            if entry.type and entry.id:
                self.by_type_id.setdefault(f"{entry.type}/{entry.id}", entry)

    def of_type(self, resource_type: str) -> list[Entry]:
        return [entry for entry in self.entries if entry.type == resource_type]

    def resolve(self, reference: object, resource_type: str) -> Entry | None:
        """The entry a ``Reference`` points at (by fullUrl or ``Type/id``), if of that type."""
        target = string(obj(reference).get("reference")).strip()
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


def read_bundle(path: Path) -> tuple[Bundle, JsonObject]:
    try:
        data = json.loads(read_text(path), parse_float=_parse_float, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise unreadable(path, f"not valid JSON (near line {exc.lineno})") from None
    except ValueError:
        raise unreadable(path, "not valid JSON (NaN and Infinity are not JSON numbers)") from None
    bundle = obj(data)
    if bundle.get("resourceType") != "Bundle":
        raise unreadable(path, "not a FHIR Bundle (resourceType must be Bundle)")
    if bundle.get("type") not in _BUNDLE_TYPES:
        raise unreadable(path, f"Bundle.type must be one of {', '.join(_BUNDLE_TYPES)}")
    entries = [
        Entry(number, obj(item.get("resource")), string(item.get("fullUrl")), path.name)
        for number, item in enumerate(objects(bundle.get("entry")), start=1)
    ]
    return Bundle(entries), bundle


def bundle_time(path: Path, bundle: JsonObject) -> datetime:
    """Bundle.timestamp, else Bundle.meta.lastUpdated, else the file's modification time."""
    for name, value in (
        ("Bundle.timestamp", bundle.get("timestamp")),
        ("Bundle.meta.lastUpdated", obj(bundle.get("meta")).get("lastUpdated")),
    ):
        if value is None:
            continue
        try:
            return aware_datetime(string(value)).astimezone(UTC)
        except Invalid as exc:
            raise unreadable(path, f"{name} {exc}") from None
    return modified_at(path)


def concept_text(concept: object) -> str:
    """A CodeableConcept's text, else its first coding's display."""
    concept = obj(concept)
    text = string(concept.get("text")).strip()
    if text:
        return text
    for coding in objects(concept.get("coding")):
        display = string(coding.get("display")).strip()
        if display:
            return display
    return ""


def has_code(concept: object, codes: Sequence[str]) -> bool:
    return any(coding.get("code") in codes for coding in objects(obj(concept).get("coding")))


def business_id(resource: JsonObject) -> str:
    """The first identifier's value, else the resource id."""
    for identifier in objects(resource.get("identifier")):
        value = string(identifier.get("value")).strip()
        if value:
            return value
    return string(resource.get("id")).strip()

"""Resources to post: each with its identifier and the conditional create that makes it once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from downtime.record.fhir.model import URN_NAMESPACE, token


@dataclass(frozen=True)
class Made:
    """One resource and how it is created only once."""

    resource_type: str
    system: str
    value: str
    resource: dict[str, Any]
    if_none_exist: str
    label: str = ""  # what a clerk finds on the paper: "med1.t08", "page 2/active3"

    @property
    def urn(self) -> str:
        return urn_for(self.resource_type, self.system, self.value)

    def logical(self) -> dict[str, Any]:
        return logical_ref(self.resource_type, self.system, self.value)


def made_resource(resource: dict[str, Any], system: str, value: str, label: str = "") -> Made:
    kind = resource["resourceType"]
    if kind == "Provenance":
        search = f"_tag={token(system, value)}"
    else:
        identifier = [{"system": system, "value": value}]
        resource = {"resourceType": kind, "identifier": identifier, **resource}
        search = f"identifier={token(system, value)}"
    return Made(kind, system, value, _pruned(resource), search, label)


def urn_for(resource_type: str, system: str, value: str) -> str:
    name = f"{resource_type}/{system}|{value}"
    return f"urn:uuid:{uuid.uuid5(URN_NAMESPACE, name)}"


def logical_ref(resource_type: str, system: str, value: str) -> dict[str, Any]:
    return {"type": resource_type, "identifier": {"system": system, "value": value}}


def _pruned(value: Any) -> Any:
    """Without ``None``, empty strings, lists and objects, at any depth (FHIR allows none)."""
    if isinstance(value, dict):
        pairs = ((k, _pruned(v)) for k, v in value.items())
        return {k: v for k, v in pairs if v not in (None, "", [], {})}
    if isinstance(value, list):
        items = (_pruned(v) for v in value)
        return [v for v in items if v not in (None, "", [], {})]
    return value


def instant(at: datetime) -> str:
    return at.isoformat(timespec="seconds")

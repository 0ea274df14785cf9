"""Revisions: a form delivered before in an earlier state (a page returned late, a recapture).

On a server, resources delivered before become updates with ``If-Match`` on the version the
server gave them. In the outbox, where no version is known, they become new resources (a
revision suffix on the identifier) that say which one they replace: never an update that could
overwrite silently. Patients and encounters are never revised.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from downtime.record.delivery import identifier_of

NEVER_REVISED = ("Patient", "Encounter")


def as_revision(
    bundles: list[dict[str, Any]],
    earlier: Mapping[str, str | None],
    source: str,
    *,
    on_server: bool,
) -> list[dict[str, Any]]:
    """``earlier``: identifier → location of each resource delivered before for this form;
    ``source``: the digest of the form's content now."""
    if not earlier:
        return bundles
    out = []
    for bundle in bundles:
        entries = []
        for entry in bundle.get("entry", []):
            resource = entry["resource"]
            key = identifier_of(resource)
            if key is not None and key in earlier and resource["resourceType"] not in NEVER_REVISED:
                if on_server:
                    entry = _update_entry(entry, resource["resourceType"], key, earlier[key])
                else:
                    entry = _replacing_entry(entry, key, source)
            entries.append(entry)
        out.append({**bundle, "entry": entries})
    return out


def _replacing_entry(entry: dict[str, Any], ident: str, source: str) -> dict[str, Any]:
    """A new resource replacing the one delivered as ``ident`` (outbox revisions)."""
    system, value = ident.split("|", 1)
    new_value = f"{value}-r{source[:8]}"
    resource = {**entry["resource"], "identifier": [{"system": system, "value": new_value}]}
    if resource["resourceType"] == "DocumentReference":
        old = {"identifier": {"system": system, "value": value}}
        resource["relatesTo"] = [{"code": "replaces", "target": old}]
    request = {**entry["request"], "ifNoneExist": f"identifier={system}|{new_value}"}
    return {**entry, "resource": resource, "request": request}


def _update_entry(
    entry: dict[str, Any], rtype: str, ident: str, location: str | None
) -> dict[str, Any]:
    request: dict[str, Any] = {"method": "PUT", "url": f"{rtype}?identifier={ident}"}
    match = re.fullmatch(r"(\w+)/([^/]+)/_history/([^/]+)", location or "")
    if match:
        request = {"method": "PUT", "url": f"{match[1]}/{match[2]}", "ifMatch": f'W/"{match[3]}"'}
        entry = {**entry, "resource": {**entry["resource"], "id": match[2]}}
    return {**entry, "request": request}

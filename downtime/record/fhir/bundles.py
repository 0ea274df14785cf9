"""Splitting a form's resources into transaction bundles of at most ``max_entries`` entries."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from downtime.record.fhir.made import Made
from downtime.record.fhir.model import item_identifier


def pack_bundles(
    form_key: str, header: Sequence[Made], units: Sequence[Sequence[Made]], max_entries: int
) -> list[dict[str, Any]]:
    room = max_entries - len(header)
    groups: list[list[Made]] = []
    for unit in units:
        if len(unit) > room:
            raise ValueError(f"max_entries {max_entries} leaves no room for {len(unit)} entries")
        if not groups or len(groups[-1]) + len(unit) > room:
            groups.append([])
        groups[-1].extend(unit)
    logical = {m.urn: m.logical() for unit in units for m in unit}
    return [_bundle(form_key, [*header, *group], group, logical) for group in groups]


def _bundle(
    form_key: str,
    entries: Sequence[Made],
    own: Sequence[Made],
    logical: Mapping[str, dict[str, Any]],
) -> dict[str, Any]:
    here = {m.urn for m in entries}
    elsewhere = {urn: ref for urn, ref in logical.items() if urn not in here}
    system, value = item_identifier(form_key, "bundle/" + ",".join(m.value for m in own))
    return {
        "resourceType": "Bundle",
        "identifier": {"system": system, "value": value},
        "type": "transaction",
        "entry": [
            {
                "fullUrl": m.urn,
                "resource": _relinked(m.resource, elsewhere),
                "request": {
                    "method": "POST",
                    "url": m.resource_type,
                    "ifNoneExist": m.if_none_exist,
                },
            }
            for m in entries
        ],
    }


def _relinked(value: Any, elsewhere: Mapping[str, dict[str, Any]]) -> Any:
    """A deep copy in which references to resources of other bundles become logical ones."""
    if isinstance(value, dict):
        reference = value.get("reference")
        if len(value) == 1 and isinstance(reference, str) and reference in elsewhere:
            return copy.deepcopy(elsewhere[reference])
        return {k: _relinked(v, elsewhere) for k, v in value.items()}
    if isinstance(value, list):
        return [_relinked(v, elsewhere) for v in value]
    return value

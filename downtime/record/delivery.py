"""Delivering one transaction bundle: into the outbox folder, or to a FHIR server.

A bundle counts as posted only when the server confirms it: a ``transaction-response`` with
one 2xx answer per request and a location for every create (:func:`unconfirmed`), or, after an
answer that is not that, a lost response (a timeout, a dropped connection, garbage) or a crash,
when every resource of it is found on the server by identifier. Nothing is sent again before
that search, because the server may have committed it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from downtime import files
from downtime.ledger.postings import Attempt, BundleDelivery, PostedResource
from downtime.record.client import FhirClient, FhirError, Response, RunStopped

Log = Callable[[str], None]


@dataclass(frozen=True)
class Target:
    """Where bundles go: an outbox folder (the default) or a FHIR server."""

    outbox: Path | None = None
    client: FhirClient | None = None

    @property
    def name(self) -> str:
        return self.client.base_url if self.client is not None else "outbox"


@dataclass
class Delivery:
    """What happened to one bundle, recorded after it left."""

    key: str
    entries: int = 0  # resources the bundle carries
    attempts: list[Attempt] = field(default_factory=list)
    found: list[PostedResource] = field(default_factory=list)
    ok: bool = False
    stopped: RunStopped | None = None  # the run stops after this bundle

    def next_number(self, first: int) -> int:
        """The number of the next attempt (``first`` if none was recorded yet)."""
        return self.attempts[-1].number + 1 if self.attempts else first

    def attempt(self, number: int, outcome: str, status: int | None, detail: str) -> None:
        self.attempts.append(Attempt(number, outcome, status, detail[:1000]))

    def delivered(
        self,
        number: int,
        outcome: str,
        status: int | None,
        detail: str,
        found: Sequence[PostedResource],
    ) -> Delivery:
        self.found = list(found)
        self.attempt(number, outcome, status, detail)
        self.ok = True
        return self

    def fact(self) -> BundleDelivery:
        return BundleDelivery(self.key, tuple(self.attempts), tuple(self.found))


def deliver(target: Target, key: str, attempt: int, bundle: dict[str, Any], log: Log) -> Delivery:
    """Deliver one bundle; what happened is in the result. :class:`RunStopped` stops the
    run: it is set on the result (``stopped``), after the attempt it cut short is recorded."""
    result = Delivery(key, len(bundle.get("entry", [])))
    if target.client is None:
        assert target.outbox is not None
        files.private_folder(target.outbox)
        path = target.outbox / f"{safe_name(key)}.json"
        files.write_atomic(path, _bundle_bytes(bundle), sync_folder=False)  # folder: per batch
        written = [PostedResource(rtype, ident, None) for _, rtype, ident in identified(bundle)]
        return result.delivered(attempt, "written", None, f"{safe_name(key)}.json", written)
    try:
        return _post(target.client, result, attempt, bundle, log)
    except RunStopped as stop:
        result.attempt(result.next_number(attempt), "retry" if stop.lost else "failed",
                       stop.status, stop.message)  # fmt: skip
        result.stopped = stop
        return result


def _post(
    client: FhirClient, result: Delivery, attempt: int, bundle: dict[str, Any], log: Log
) -> Delivery:
    if attempt > 1:
        # Sent before, no outcome recorded (a crash), or not confirmed: look before sending.
        found = _search_all(client, bundle)
        if found is not None:
            return result.delivered(
                attempt, "posted", None, "found by identifier before resending", found
            )
    for _ in range(2):  # a lost response: look, then send again once
        try:
            reply = client.transaction(bundle)
        except RunStopped:
            raise
        except FhirError as e:
            if not e.lost:
                result.attempt(attempt, "failed", e.status, e.message)
                log(f"failed: {e.message}")
                return result
            result.attempt(attempt, "retry", e.status, f"response lost: {e.message}")
            attempt += 1
            found = _search_all(client, bundle)
            if found is not None:
                return result.delivered(attempt, "posted", None, "found by identifier", found)
            continue
        problem = unconfirmed(bundle, reply)
        if problem is None:
            found = _locations(bundle, reply.body)
            return result.delivered(attempt, "posted", reply.status, "transaction accepted", found)
        # Not a confirmation: the server may have committed all, some or nothing of it.
        result.attempt(attempt, "failed", reply.status, f"not confirmed: {problem}")
        log(f"failed: the server's answer does not confirm the transaction ({problem})")
        found = _search_all(client, bundle)
        if found is not None:
            return result.delivered(
                attempt + 1, "posted", None, "found by identifier after an unconfirmed answer",
                found,
            )  # fmt: skip
        return result
    result.attempt(attempt, "failed", None, "no response, twice")
    return result


def unconfirmed(bundle: dict[str, Any], reply: Response) -> str | None:
    """Why ``reply`` does not confirm ``bundle`` (None when it does): a transaction-response
    Bundle with one entry per request, each 2xx, each create (POST) with its location."""
    body = reply.body
    if not 200 <= reply.status < 300:
        return f"HTTP {reply.status}"
    if body.get("resourceType") != "Bundle" or body.get("type") != "transaction-response":
        return "the answer is not a transaction-response Bundle"
    sent, answers = bundle.get("entry", []), body.get("entry")
    if not isinstance(answers, list) or len(answers) != len(sent):
        count = len(answers) if isinstance(answers, list) else 0
        return f"{count} answers to {len(sent)} requests"
    for number, (request, answer) in enumerate(zip(sent, answers, strict=True), start=1):
        response = answer.get("response") if isinstance(answer, dict) else None
        status = str(response.get("status", "")) if isinstance(response, dict) else ""
        if status[:1] != "2":
            return f"entry {number}: status {status[:40] or 'missing'}"
        assert isinstance(response, dict)
        method = request.get("request", {}).get("method")
        if method == "POST" and not isinstance(response.get("location"), str):
            return f"entry {number}: no location"
    return None


def identifier_of(resource: dict[str, Any]) -> str | None:
    """``system|value`` of a resource's first identifier (Provenance has none in R4)."""
    ids = resource.get("identifier")
    first = ids[0] if isinstance(ids, list) and ids else None
    return f"{first['system']}|{first['value']}" if first else None


def identified(bundle: dict[str, Any]) -> list[tuple[int, str, str]]:
    """(entry index, resource type, identifier) of every entry with an identifier."""
    out = []
    for i, entry in enumerate(bundle.get("entry", [])):
        ident = identifier_of(entry["resource"])
        if ident is not None:
            out.append((i, entry["resource"]["resourceType"], ident))
    return out


def _search_all(client: FhirClient, bundle: dict[str, Any]) -> list[PostedResource] | None:
    """Each resource of the bundle found on the server by identifier, or None if any is not
    (or a search fails; :class:`RunStopped` stops the run)."""
    found: list[PostedResource] = []
    for _, rtype, ident in identified(bundle):
        try:
            hits = client.search(rtype, {"identifier": ident})
        except RunStopped:
            raise
        except FhirError:
            return None
        if not hits:
            return None
        version = hits[0].get("meta", {}).get("versionId", "")
        found.append(PostedResource(rtype, ident, f"{rtype}/{hits[0]['id']}/_history/{version}"))
    return found


def _locations(bundle: dict[str, Any], reply: dict[str, Any]) -> list[PostedResource]:
    answers = reply.get("entry", [])
    return [
        PostedResource(rtype, ident, _location(answers[i]) if i < len(answers) else None)
        for i, rtype, ident in identified(bundle)
    ]


def _location(answer: dict[str, Any]) -> str | None:
    """``Type/id/_history/version`` of a transaction answer. Medplum's ``location`` has no
    version: it is taken from ``etag`` or the resource returned (a revision needs it for
    ``If-Match``)."""
    response = answer.get("response", {})
    location: str | None = response.get("location")
    if not location or "/_history/" in location:
        return location
    etag = re.fullmatch(r'W/"([^"]+)"', response.get("etag") or "")
    version = etag[1] if etag else answer.get("resource", {}).get("meta", {}).get("versionId")
    return f"{location}/_history/{version}" if version else location


def safe_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", key)


def _bundle_bytes(bundle: dict[str, Any]) -> bytes:
    return (json.dumps(bundle, ensure_ascii=False, separators=(",", ":")) + "\n").encode()

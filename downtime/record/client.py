"""A small FHIR R4 HTTP client: the only module that talks to a FHIR server.

Standard library only (urllib): transactions, searches, reads. Retries only where retrying is
safe and useful — HTTP 429 and 503 (honouring ``Retry-After``) and connection errors — with a
bounded number of attempts. A request whose response was lost (a timeout, a dropped
connection) is *not* simply sent again by this module: the caller searches by identifier first
(see downtime.record.delivery), because the server may have committed it.

The bearer token comes from the environment or a file, never from the command line (where
other users could read it in the process list), or from a login (SMART Backend Services,
downtime.record.auth) that renews it; a TLS context carries a hospital CA bundle and client
certificate.
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from downtime.errors import ConfigError, DowntimeError, ExitCode

TOKEN_ENV = "DOWNTIME_FHIR_TOKEN"  # noqa: S105 - the name of a variable, not a secret
FHIR_JSON = "application/fhir+json"
RETRY_STATUSES = frozenset({429, 503})
MAX_RETRY_AFTER_S = 60.0  # a server asking us to wait longer is treated as down


class FhirError(DowntimeError):
    """A request the server refused (4xx/5xx after retries) or could not be reached."""

    exit_code = ExitCode.INTERNAL

    def __init__(self, message: str, *, status: int | None = None, lost: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.lost = lost  # the request may have reached the server; its response did not


class Login(Protocol):
    """Where the ``Authorization`` header comes from when it is not a static token
    (downtime.record.auth.BackendServicesLogin); ``renew``: the last one was refused."""

    def authorization(self, renew: bool = False) -> str: ...


@dataclass(frozen=True)
class Response:
    status: int
    body: dict[str, Any]
    headers: Mapping[str, str]


def read_token(token_file: Path | None) -> str | None:
    """The bearer token: from ``token_file`` if given, else ``$DOWNTIME_FHIR_TOKEN``."""
    if token_file is not None:
        try:
            return token_file.read_text(encoding="utf-8").strip() or None
        except OSError as e:
            raise ConfigError(f"the token file {token_file.name} cannot be read: {e}") from e
    return os.environ.get(TOKEN_ENV) or None


class FhirClient:
    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        login: Login | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout_s: float = 30.0,
        attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._login = login  # SMART Backend Services (downtime.record.auth); else ``token``
        self._ssl = ssl_context  # the hospital's CA bundle, a client certificate
        self._timeout = timeout_s
        self._attempts = attempts
        self._sleep = sleep
        self.retries = 0  # how many times a request was retried (429/503/connection)

    # -- requests ---------------------------------------------------------------------------

    def transaction(self, bundle: Mapping[str, Any]) -> Response:
        return self._send("POST", self.base_url, bundle)

    def search(
        self, resource_type: str, params: Mapping[str, str], *, max_pages: int = 100
    ) -> list[dict[str, Any]]:
        """Every match, following the server's ``next`` links (at most ``max_pages`` pages)."""
        url: str | None = f"{self.base_url}/{resource_type}?{urllib.parse.urlencode(params)}"
        found: list[dict[str, Any]] = []
        for _ in range(max_pages):
            if url is None:
                break
            body = self._send("GET", url, None).body
            found.extend(e["resource"] for e in body.get("entry", []) if "resource" in e)
            url = next(
                (link["url"] for link in body.get("link", []) if link.get("relation") == "next"),
                None,
            )
        return found

    def read(self, reference: str) -> dict[str, Any]:
        return self._send("GET", f"{self.base_url}/{reference}", None).body

    # -- the wire -----------------------------------------------------------------------------

    def _send(self, method: str, url: str, body: Mapping[str, Any] | None) -> Response:
        data = json.dumps(body).encode("utf-8") if body is not None else None
        for attempt in range(1, self._attempts + 1):
            try:
                return self._exchange(method, url, data)
            except urllib.error.HTTPError as e:
                if e.code in RETRY_STATUSES and attempt < self._attempts:
                    self._wait(attempt, e.headers.get("Retry-After"))
                    continue
                raise FhirError(
                    f"{method} {_path(url)}: HTTP {e.code} {diagnostics(e.read())}",
                    status=e.code,
                ) from e
            except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
                sent = data is not None and _maybe_delivered(e)
                if sent:
                    # The server may have committed it: the caller must look before resending.
                    raise FhirError(
                        f"{method} {_path(url)}: no response ({_reason(e)})", lost=True
                    ) from e
                if attempt < self._attempts:
                    self._wait(attempt, None)
                    continue
                raise FhirError(f"{method} {_path(url)}: server unreachable ({_reason(e)})") from e
        raise FhirError(f"{method} {_path(url)}: gave up after {self._attempts} attempts")

    # -- logging in: one request on the wire, with its credentials --------------------------

    def _exchange(self, method: str, url: str, data: bytes | None) -> Response:
        """One request and its answer. A 401 with a login renews the access token and sends
        the request once more: the server refused it before doing anything with it."""
        try:
            return self._open(method, url, data, renew=False)
        except urllib.error.HTTPError as e:
            if e.code != 401 or self._login is None:
                raise
            e.close()
        return self._open(method, url, data, renew=True)

    def _open(self, method: str, url: str, data: bytes | None, *, renew: bool) -> Response:
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
        request.add_header("Accept", FHIR_JSON)
        if data is not None:
            request.add_header("Content-Type", FHIR_JSON)
        if self._login is not None:
            request.add_header("Authorization", self._login.authorization(renew=renew))
        elif self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        with urllib.request.urlopen(  # noqa: S310
            request, timeout=self._timeout, context=self._ssl
        ) as reply:
            return Response(reply.status, _json(reply.read()), dict(reply.headers))

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        self.retries += 1
        delay = min(2.0 ** (attempt - 1), 30.0)
        if retry_after:
            try:
                delay = float(retry_after)
            except ValueError:
                delay = 5.0  # an HTTP date: rare from FHIR servers; wait a moment
        if delay > MAX_RETRY_AFTER_S:
            raise FhirError(f"the server asks to wait {delay:.0f} s: try again later", status=429)
        self._sleep(delay)


def _maybe_delivered(error: BaseException) -> bool:
    """Whether the request may have reached the server (a response lost) rather than never
    left (connection refused, name not found)."""
    reason = getattr(error, "reason", error)
    return not isinstance(reason, ConnectionRefusedError | socket.gaierror)


def _json(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    value = json.loads(raw)
    return value if isinstance(value, dict) else {}


def diagnostics(raw: bytes) -> str:
    """What an OperationOutcome says, briefly: its errors (warnings only if there are none)."""
    try:
        outcome = json.loads(raw)
        issues = outcome.get("issue", [])
        issues = [i for i in issues if i.get("severity") in ("fatal", "error")] or issues
        texts = [
            f"{i.get('diagnostics') or i.get('details', {}).get('text', '')}"
            f"{' at ' + ','.join(i['expression']) if i.get('expression') else ''}"
            for i in issues[:3]
        ]
        return _without_numbers("; ".join(t for t in texts if t))[:500]
    except (ValueError, AttributeError, TypeError):
        return ""


def _without_numbers(text: str) -> str:
    """A server may quote the value it refused: long digit runs (a personnummer) and quoted
    values are masked before the text reaches a log or the ledger."""
    text = re.sub(r"\d{6,}", "…", text)
    return re.sub(r'"[^"]{1,200}"', '"…"', text)


def _reason(error: BaseException) -> str:
    return str(getattr(error, "reason", error))[:200]


def _path(url: str) -> str:
    """The URL without its query (queries hold identifiers)."""
    return urllib.parse.urlsplit(url).path

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

import email.utils
import http.client
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from downtime.errors import ConfigError, DowntimeError, ExitCode

TOKEN_ENV = "DOWNTIME_FHIR_TOKEN"  # noqa: S105 - the name of a variable, not a secret
FHIR_JSON = "application/fhir+json"
RETRY_STATUSES = frozenset({429, 503})
GATEWAY_STATUSES = frozenset({502, 504})
DEFAULT_TIMEOUT_S = 30.0  # one request: connect, send, and each wait for the answer's bytes
DEFAULT_MAX_WAIT_S = 120.0  # the longest Retry-After honoured before the run stops
SILENT_LIMIT = 3  # requests in a row without any answer (timeouts, refused) that stop the run


class FhirError(DowntimeError):
    """A request that failed: the server refused it (4xx/5xx after retries), answered
    something that is not FHIR JSON, or did not answer (``lost``: it may have arrived)."""

    exit_code = ExitCode.INTERNAL

    def __init__(self, message: str, *, status: int | None = None, lost: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.lost = lost  # the request may have reached the server; its response did not


class RunStopped(FhirError):
    """The run must stop now: the server asks to wait too long, keeps throttling, or stopped
    answering, or the run's time limit is reached. It is run again later; nothing is lost:
    what was not confirmed is looked for by identifier before it is sent again."""

    exit_code = ExitCode.TEMPFAIL


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
    """Requests to one FHIR server, each bounded by ``timeout_s``; with ``deadline`` (a
    :func:`time.monotonic` value) no request starts after it and none waits past it.

    Retried here: 429 and 503 (after ``Retry-After``, seconds or an HTTP date, at most
    ``max_wait_s``; longer, or still refused after ``attempts``, stops the run:
    :class:`RunStopped`), and a search or read that got no answer. ``SILENT_LIMIT``
    requests in a row without any answer stop the run too."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        login: Login | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        attempts: int = 5,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        deadline: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._login = login  # SMART Backend Services (downtime.record.auth); else ``token``
        self._ssl = ssl_context  # the hospital's CA bundle, a client certificate
        self._timeout = timeout_s
        self._attempts = attempts
        self._max_wait = max_wait_s
        self._deadline = deadline
        self._sleep = sleep
        self._silent = 0  # requests in a row that got no answer at all
        self.retries = 0  # requests sent again (after a 429/503 or no answer to a search)

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
            entries = body.get("entry", [])
            if body.get("resourceType") != "Bundle" or not isinstance(entries, list):
                raise FhirError(f"GET {_path(url)}: the answer is not a search result (Bundle)")
            for entry in entries:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if not isinstance(resource, dict) or not isinstance(resource.get("id"), str):
                    raise FhirError(f"GET {_path(url)}: a search result without a resource id")
                if entry.get("search", {}).get("mode", "match") == "match":
                    found.append(resource)
            url = next(
                (
                    link.get("url")
                    for link in body.get("link", [])
                    if isinstance(link, dict) and link.get("relation") == "next"
                ),
                None,
            )
        return found

    def read(self, reference: str) -> dict[str, Any]:
        return self._send("GET", f"{self.base_url}/{reference}", None).body

    # -- the wire -----------------------------------------------------------------------------

    def _send(self, method: str, url: str, body: Mapping[str, Any] | None) -> Response:
        data = json.dumps(body).encode("utf-8") if body is not None else None
        where = f"{method} {_path(url)}"
        for attempt in range(1, self._attempts + 1):
            if attempt > 1:
                self.retries += 1
            timeout = self._time_left(where)
            try:
                status, headers, raw = self._exchange(method, url, data, timeout)
            except urllib.error.HTTPError as e:
                self._silent = 0
                if e.code in RETRY_STATUSES:
                    self._wait(where, e.code, attempt, e.headers.get("Retry-After"))
                    continue
                raise FhirError(
                    f"{where}: HTTP {e.code} {diagnostics(e.read())}",
                    status=e.code,
                    # a gateway that gave up waiting: the server behind it may have committed
                    lost=data is not None and e.code in GATEWAY_STATUSES,
                ) from e
            except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
                lost = data is not None and _maybe_delivered(e)
                self._no_answer(where, e, lost=lost)
                if lost:
                    # The server may have committed it: the caller must look before resending.
                    raise FhirError(f"{where}: no response ({_reason(e)})", lost=True) from e
                if attempt < self._attempts:
                    self._sleep(min(2.0 ** (attempt - 1), 8.0))
                    continue
                raise FhirError(f"{where}: server unreachable ({_reason(e)})") from e
            self._silent = 0
            try:
                return Response(status, _json(raw), headers)
            except ValueError as e:
                # Garbage where FHIR JSON was due: after a POST it may have been committed.
                raise FhirError(
                    f"{where}: the answer is not FHIR JSON (HTTP {status}, "
                    f"{headers.get('Content-Type') or 'no content type'})",
                    status=status,
                    lost=data is not None,
                ) from e
        raise AssertionError("unreachable: the last attempt returns or raises")

    # -- logging in: one request on the wire, with its credentials --------------------------

    def _exchange(
        self, method: str, url: str, data: bytes | None, timeout: float
    ) -> tuple[int, dict[str, str], bytes]:
        """One request and its answer (status, headers, body). A 401 with a login renews the
        access token and sends the request once more: the server refused it before doing
        anything with it."""
        try:
            return self._open(method, url, data, timeout, renew=False)
        except urllib.error.HTTPError as e:
            if e.code != 401 or self._login is None:
                raise
            e.close()
        return self._open(method, url, data, timeout, renew=True)

    def _open(
        self, method: str, url: str, data: bytes | None, timeout: float, *, renew: bool
    ) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
        request.add_header("Accept", FHIR_JSON)
        if data is not None:
            request.add_header("Content-Type", FHIR_JSON)
        if self._login is not None:
            request.add_header("Authorization", self._login.authorization(renew=renew))
        elif self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        with urllib.request.urlopen(  # noqa: S310
            request, timeout=timeout, context=self._ssl
        ) as reply:
            return reply.status, dict(reply.headers), reply.read()

    def _time_left(self, where: str) -> float:
        if self._deadline is None:
            return self._timeout
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise RunStopped(f"{where}: the run's time limit is reached")
        return min(self._timeout, left)

    def _no_answer(self, where: str, error: BaseException, *, lost: bool) -> None:
        self._silent += 1
        if self._silent >= SILENT_LIMIT:
            what = (
                f"did not answer {self._silent} requests in a row"
                if _maybe_delivered(error)
                else f"is unreachable ({self._silent} requests in a row)"
            )
            raise RunStopped(
                f"the server {what} (last: {where}, {_reason(error)}); nothing more is sent "
                "in this run: check the server, then run again",
                lost=lost,
            ) from error

    def _wait(self, where: str, status: int, attempt: int, retry_after: str | None) -> None:
        """Before sending again after a 429 or 503; the run stops instead when the server
        asks for more than ``max_wait_s`` or has refused ``attempts`` times."""
        delay = _retry_after_s(retry_after)
        if delay is None:
            delay = min(2.0 ** (attempt - 1), 30.0)
        if delay > self._max_wait:
            raise RunStopped(
                f"{where}: HTTP {status}: the server asks to wait {delay:.0f} s; rerun later",
                status=status,
            )
        if attempt >= self._attempts:
            raise RunStopped(
                f"{where}: HTTP {status} {self._attempts} times in a row: the server is "
                "overloaded or throttling this client; rerun later",
                status=status,
            )
        if self._deadline is not None and time.monotonic() + delay >= self._deadline:
            raise RunStopped(
                f"{where}: HTTP {status}: waiting {delay:.0f} s would pass the run's time "
                "limit; rerun later",
                status=status,
            )
        self._sleep(delay)


def _retry_after_s(value: str | None) -> float | None:
    """``Retry-After`` in seconds from now: delay-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _maybe_delivered(error: BaseException) -> bool:
    """Whether the request may have reached the server (a response lost) rather than never
    left (connection refused, name not found)."""
    reason = getattr(error, "reason", error)
    return not isinstance(reason, ConnectionRefusedError | socket.gaierror)


def _json(raw: bytes) -> dict[str, Any]:
    """The JSON object of an answer (an empty answer: {}); ValueError if it is not one."""
    if not raw.strip():
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


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

"""A FHIR server that misbehaves the way real ones do, for tests: its own process on loopback.

It stands in front of a real FHIR server (the Medplum test server of tests/fhirserver.py) and
passes requests through to it, except as its current *mode* says:

    proxy            pass everything through (a healthy server)
    search-500       searches and reads answer HTTP 500; transactions pass through
    fake-ok          a transaction is NOT passed on; it is answered 200 with an empty
                     transaction-response (no entries, no locations)
    short-response   a transaction is passed on (committed), and its answer cut to its first
                     entry, without location or etag
    garbage          every request answered 200 with an HTML page (nothing passed on)
    garbage-post     a transaction is passed on (committed), then answered with HTML
    hang             the connection is accepted and never answered
    throttle         every request answered 429 with ``Retry-After: <retry_after>``
    unavailable      every request answered 503 with ``Retry-After: <retry_after>``

Control (plain JSON, never passed on):

    POST /__mode   {"mode": "throttle", "retry_after": "3600"}   set the mode
    GET  /__stats  {"GET": n, "POST": n, "passed": n}            requests seen since the
                                                                  last /__mode

Run: ``python badfhir.py UPSTREAM_ORIGIN`` (e.g. http://127.0.0.1:8103); it prints
``listening PORT`` once it accepts connections.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import urllib.error
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODES = frozenset(
    {
        "proxy", "search-500", "fake-ok", "short-response", "garbage", "garbage-post",
        "hang", "throttle", "unavailable",
    }
)  # fmt: skip
HANG_S = 600.0  # a hanging request is held this long at most (or until the mode changes)
GARBAGE = b"<html><body><h1>Service temporarily unavailable</h1></body></html>"


class State:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.mode = "proxy"
        self.retry_after = "1"
        self.seen: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.changed = threading.Event()


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read what they need from /__stats

    def do_GET(self) -> None:
        if self.path == "/__stats":
            with self.server.state.lock:
                self._send(200, json.dumps(dict(self.server.state.seen)).encode())
            return
        self._serve("GET")

    def do_POST(self) -> None:
        if self.path == "/__mode":
            spec = json.loads(self._body() or b"{}")
            state = self.server.state
            if spec.get("mode") not in MODES:
                self._send(400, json.dumps({"error": f"modes: {sorted(MODES)}"}).encode())
                return
            with state.lock:
                state.mode = spec["mode"]
                state.retry_after = str(spec.get("retry_after", "1"))
                state.seen = Counter()
                state.changed.set()
                state.changed = threading.Event()
            self._send(200, b"{}")
            return
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    # -- misbehaving ---------------------------------------------------------------------------

    def _serve(self, method: str) -> None:
        state = self.server.state
        body = self._body() if method != "GET" else None
        with state.lock:
            mode, retry_after, changed = state.mode, state.retry_after, state.changed
            state.seen[method] += 1
        transaction = method == "POST" and self.path.rstrip("/").count("/") <= 2
        if mode == "hang":
            changed.wait(HANG_S)
            self.close_connection = True
            return
        if mode in ("throttle", "unavailable"):
            status = 429 if mode == "throttle" else 503
            outcome = {"resourceType": "OperationOutcome",
                       "issue": [{"severity": "error", "code": "throttled"}]}  # fmt: skip
            self._send(status, json.dumps(outcome).encode(), {"Retry-After": retry_after})
            return
        if mode == "garbage":
            self._send(200, GARBAGE, content_type="text/html")
            return
        if mode == "search-500" and method == "GET":
            outcome = {"resourceType": "OperationOutcome",
                       "issue": [{"severity": "error", "code": "exception"}]}  # fmt: skip
            self._send(500, json.dumps(outcome).encode())
            return
        if mode == "fake-ok" and transaction:
            answer = {"resourceType": "Bundle", "type": "transaction-response", "entry": []}
            self._send(200, json.dumps(answer).encode())
            return
        status, headers, raw = self._pass_on(method, body)
        with state.lock:
            state.seen["passed"] += 1
        if transaction and mode == "garbage-post":
            self._send(200, GARBAGE, content_type="text/html")
            return
        if transaction and mode == "short-response" and status < 300:
            answer = json.loads(raw)
            first = answer.get("entry", [])[:1]
            for entry in first:
                entry["response"] = {"status": entry.get("response", {}).get("status", "200")}
            raw = json.dumps({**answer, "entry": first}).encode()
        self._send(status, raw, {k: v for k, v in headers.items() if k == "Retry-After"})

    def _pass_on(self, method: str, body: bytes | None) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(
            self.server.state.upstream + self.path, data=body, method=method
        )
        for name in ("Accept", "Content-Type", "If-Match", "If-None-Exist", "Authorization"):
            if self.headers.get(name):
                request.add_header(name, self.headers[name])
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                return reply.status, dict(reply.headers), reply.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        raw: bytes,
        headers: dict[str, str] | None = None,
        content_type: str = "application/fhir+json",
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: State) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = state


def main() -> None:
    server = Server(State(sys.argv[1]))
    print(f"listening {server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()

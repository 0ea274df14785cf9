"""``downtime station serve``: the print host's read-only HTTPS service for ward stations.

Three resources, all behind a bearer token (compared in constant time) and TLS (the host's
certificate and key from files)::

    GET /v1/index                    downtime.station-index/1: the site, the host's public
                                     keys (id, SHA-256 fingerprint, status) and, per ward,
                                     its newest pack (id, times, PDF SHA-256, where to get it);
                                     under "continuations", the continuation packs of those
                                     packs (the same, and the pack each continues)
    GET /v1/packs/<pack_id>/manifest the pack's manifest, as written
    GET /v1/packs/<pack_id>/pdf      the pack's PDF, as written (and as the index hashes it)

Nothing else is served and nothing can be changed: any other path is 404, any other method
405. A request without the right token is 401 whatever it asks for. Requests are logged
(client address, method, path, status), never the token. The catalogue is read anew for each
request, so packs printed since the service started are served at once.
"""

from __future__ import annotations

import hmac
import json
import re
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from downtime.errors import ConfigError
from downtime.ward.sources import HostKey

INDEX_SCHEMA = "downtime.station-index/1"
MIN_TOKEN_LENGTH = 16
REQUEST_TIMEOUT_S = 30.0
_PACK_PATH = re.compile(r"/v1/packs/([0-9a-f]{16})/(manifest|pdf)")


@dataclass(frozen=True)
class ServedPack:
    ward: str
    pack_id: str
    issued_at: datetime
    data_as_of: datetime
    valid_until: datetime
    pdf_sha256: str
    manifest: Path
    pdf: Path
    continues: str = ""  # a continuation pack: the pack it continues


@dataclass(frozen=True)
class ServeConfig:
    host: str
    port: int
    cert: Path
    key: Path
    token: bytes
    site: str
    keys: tuple[HostKey, ...]
    catalogue: Callable[[], list[ServedPack]]  # the newest pack per ward and its continuations
    read_pdf: Callable[[ServedPack], bytes | None]  # its bytes, None if no longer that PDF
    log: Callable[[str], None]


def read_token(path: Path) -> bytes:
    """The shared token from its file (whitespace around it ignored)."""
    try:
        token = path.read_bytes().strip()
    except OSError as e:
        raise ConfigError(f"the token file {path} cannot be read ({e.strerror})") from e
    if len(token) < MIN_TOKEN_LENGTH or any(b < 0x21 or b > 0x7E for b in token):
        raise ConfigError(
            f"the token in {path} is not usable: it must be at least {MIN_TOKEN_LENGTH} "
            "printable characters, without spaces",
            hint="make one with: openssl rand -hex 32 > FILE (and give the same file to the "
            "ward stations)",
        )
    return token


def make_server(config: ServeConfig) -> ThreadingHTTPServer:
    """The HTTPS server, bound and listening; run it with ``serve_forever()``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(config.cert, config.key)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(
            f"the TLS certificate {config.cert.name} or its key {config.key.name} cannot be "
            f"used ({e})",
            hint="give a PEM certificate (--cert) and its private key (--key)",
        ) from e
    handler = type("Handler", (_Handler,), {"config": config})
    try:
        server = _Server((config.host, config.port), handler)
    except OSError as e:
        raise ConfigError(f"cannot listen on {config.host}:{config.port} ({e.strerror})") from e
    server.daemon_threads = True
    server.socket = context.wrap_socket(
        server.socket, server_side=True, do_handshake_on_connect=False
    )
    return server


def index_document(config: ServeConfig, packs: list[ServedPack]) -> dict[str, Any]:
    def entry(p: ServedPack) -> dict[str, Any]:
        return {
            "ward": p.ward,
            "pack_id": p.pack_id,
            "issued_at": p.issued_at.isoformat(),
            "data_as_of": p.data_as_of.isoformat(),
            "valid_until": p.valid_until.isoformat(),
            "pdf_sha256": p.pdf_sha256,
            "manifest": f"/v1/packs/{p.pack_id}/manifest",
            "pdf": f"/v1/packs/{p.pack_id}/pdf",
        } | ({"continues": p.continues} if p.continues else {})

    return {
        "schema": INDEX_SCHEMA,
        "site": config.site,
        "generated_at": datetime.now(UTC).isoformat(),
        "keys": [
            {"key_id": k.key_id, "fingerprint_sha256": k.fingerprint, "status": k.status}
            for k in config.keys
        ],
        "packs": [entry(p) for p in packs if not p.continues],
        "continuations": [entry(p) for p in packs if p.continues],
    }


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line, not a traceback: a client that hung up or failed its handshake."""
        error = sys.exc_info()[1]
        host = client_address[0] if client_address else "-"
        self.RequestHandlerClass.config.log(  # type: ignore[attr-defined]
            f"{host} request failed: {type(error).__name__}"
        )


class _Handler(BaseHTTPRequestHandler):
    config: ServeConfig
    server_version = "downtime"
    sys_version = ""
    timeout = REQUEST_TIMEOUT_S

    def setup(self) -> None:
        self.request.settimeout(REQUEST_TIMEOUT_S)
        self.request.do_handshake()  # here, in the request's thread, never in accept()
        super().setup()

    def do_GET(self) -> None:
        if not self._authorised():
            self._send(401, b"token required\n", "text/plain", {"WWW-Authenticate": "Bearer"})
            return
        path = self.path.split("?", 1)[0]
        if path == "/v1/index":
            body = json.dumps(index_document(self.config, self.config.catalogue()))
            self._send(200, body.encode(), "application/json")
            return
        match = _PACK_PATH.fullmatch(path)
        pack = next((p for p in self.config.catalogue() if match and p.pack_id == match[1]), None)
        if match is None or pack is None:
            self._send(404, b"not found\n", "text/plain")
            return
        data = pack.manifest.read_bytes() if match[2] == "manifest" else self.config.read_pdf(pack)
        if data is None:
            self._send(404, b"the pack was replaced: fetch the index again\n", "text/plain")
            return
        kind = "application/json" if match[2] == "manifest" else "application/pdf"
        self._send(200, data, kind)

    def _refuse_method(self) -> None:
        self._send(405, b"read-only\n", "text/plain", {"Allow": "GET"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _refuse_method

    def _authorised(self) -> bool:
        given = (self.headers.get("Authorization") or "").encode("latin-1", "replace")
        return hmac.compare_digest(given, b"Bearer " + self.config.token)

    def _send(
        self, status: int, body: bytes, kind: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return  # requests are logged once, with their status, in log_request

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self.path.split("?", 1)[0] if hasattr(self, "path") else "-"
        self.config.log(f"{self.client_address[0]} {self.command} {path} {code}")


def serve(server: ThreadingHTTPServer) -> None:
    """Serve until the process is stopped (Ctrl-C here; SIGTERM, as systemd stops it, ends
    the process: nothing is written, so nothing is left half done)."""
    try:
        server.serve_forever()
    finally:
        server.server_close()


def address(server: ThreadingHTTPServer) -> tuple[str, int]:
    host, port = server.server_address[:2]
    return str(host if not isinstance(host, bytes) else host.decode()), int(port)

"""A SMART Backend Services token endpoint in front of the FHIR test server, for login tests.

Run as its own process (``python smartproxy.py --upstream URL --jwks FILE --client-id ID``) it
listens on loopback and prints ``listening HOST:PORT`` as its first line. It serves:

- ``GET /fhir/R4/.well-known/smart-configuration``: its token endpoint and what it accepts;
- ``POST /token``: client credentials with a JWT client assertion, checked as a record system
  checks it — the signature against the registered JWK set (by ``kid``), ``iss`` = ``sub`` =
  the client id, ``aud`` = the token endpoint (or ``--audience``), ``exp`` in the future and
  at most five minutes ahead, a ``jti`` never seen before — answered with an opaque access
  token living ``--lifetime`` seconds (``--announce``: the ``expires_in`` it claims);
- ``/fhir/...``: forwarded to the upstream FHIR server only with an unexpired access token,
  401 otherwise;
- ``GET /__stats``: tokens issued (and the tokens themselves), assertions refused and why,
  requests answered 401, and the last assertion accepted.

``--permissions permission-v2`` makes it a server of SMART v2 scopes only. ``--tls-cert``/
``--tls-key`` serve HTTPS; ``--client-ca`` then asks for a client certificate
signed by that CA. Tests use it through :func:`start_smart_proxy`.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import secrets
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_S = 300
SKEW_S = 5
FORWARDED_REQUEST = ("Content-Type", "Accept", "If-None-Exist", "If-Match", "Prefer")
FORWARDED_REPLY = ("Content-Type", "Location", "ETag", "Retry-After", "Last-Modified")


# --------------------------------------------------------------------------------------------
# The process


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64int(text: str) -> int:
    return int.from_bytes(b64decode(text), "big")


def public_keys(jwks: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """kid → (alg, public key), built from the JWK members alone."""
    keys: dict[str, tuple[str, Any]] = {}
    for jwk in jwks["keys"]:
        if jwk["kty"] == "EC":
            assert jwk["crv"] == "P-384"
            numbers = ec.EllipticCurvePublicNumbers(
                b64int(jwk["x"]), b64int(jwk["y"]), ec.SECP384R1()
            )
            keys[jwk["kid"]] = ("ES384", numbers.public_key())
        else:
            key = rsa.RSAPublicNumbers(b64int(jwk["e"]), b64int(jwk["n"])).public_key()
            keys[jwk["kid"]] = ("RS384", key)
    return keys


@dataclass
class State:
    client_id: str
    keys: dict[str, tuple[str, Any]]
    audience: str | None  # None: the token endpoint's own URL
    lifetime: float
    announce: int
    upstream: tuple[str, int]
    permissions: str = "permission-v1"  # the SMART scope syntax it speaks
    root: str = ""
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic)
    seen_jti: set[str] = field(default_factory=set)
    refused: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    unauthorized: int = 0
    forwarded: int = 0
    last_assertion: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, assertion: str) -> str | None:
        """Why the assertion is refused, or None."""
        try:
            head, body, signature = assertion.split(".")
            header = json.loads(b64decode(head))
            claims = json.loads(b64decode(body))
            raw = b64decode(signature)
        except ValueError:
            return "the assertion is not a JWT"
        alg, key = self.keys.get(header.get("kid"), ("", None))
        if key is None:
            return "unknown kid: no registered key has it"
        if header.get("alg") != alg:
            return f"alg {header.get('alg')} is not the registered key's {alg}"
        if not verifies(key, alg, f"{head}.{body}".encode(), raw):
            return "the signature does not verify with the registered key"
        return self.check_claims(claims)

    def check_claims(self, claims: dict[str, Any]) -> str | None:
        now = time.time()
        audience = self.audience or f"{self.root}/token"
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id:
            return "iss and sub must be the client id"
        if claims.get("aud") != audience:
            return f"aud must be {audience}"
        exp = claims.get("exp")
        if not isinstance(exp, int) or not now - SKEW_S < exp <= now + MAX_ASSERTION_S + SKEW_S:
            return "exp must be in the next five minutes"
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            return "jti is missing"
        with self.lock:
            if jti in self.seen_jti:
                return "jti already used (a replayed assertion)"
            self.seen_jti.add(jti)
        return None

    def issue(self) -> str:
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = time.monotonic() + self.lifetime
        return token

    def valid(self, authorization: str | None) -> bool:
        scheme, _, token = (authorization or "").partition(" ")
        with self.lock:
            expiry = self.tokens.get(token)
        return scheme.lower() == "bearer" and expiry is not None and time.monotonic() < expiry

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "tokens": list(self.tokens),
                "jti": len(self.seen_jti),
                "refused": list(self.refused),
                "scopes": list(self.scopes),
                "unauthorized": self.unauthorized,
                "forwarded": self.forwarded,
                "last_assertion": self.last_assertion,
            }


def verifies(key: Any, alg: str, data: bytes, signature: bytes) -> bool:
    try:
        if alg == "ES384":
            if len(signature) != 96:
                return False
            der = encode_dss_signature(
                int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big")
            )
            key.verify(der, data, ec.ECDSA(hashes.SHA384()))
        else:
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA384())
    except InvalidSignature:
        return False
    return True


class Handler(BaseHTTPRequestHandler):
    state: State  # set on the class by main()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/__stats":
            self.answer(200, self.state.stats())
        elif self.path == "/fhir/R4/.well-known/smart-configuration":
            self.answer(200, self.smart_configuration())
        else:
            self.forward()

    def do_POST(self) -> None:
        if self.path == "/token":
            self.token()
        else:
            self.forward()

    def do_PUT(self) -> None:
        self.forward()

    def do_PATCH(self) -> None:
        self.forward()

    def do_DELETE(self) -> None:
        self.forward()

    def smart_configuration(self) -> dict[str, Any]:
        return {
            "token_endpoint": f"{self.state.root}/token",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES384", "RS384"],
            "scopes_supported": ["system/*.read", "system/*.write"],
            "capabilities": ["client-confidential-asymmetric", self.state.permissions],
        }

    def token(self) -> None:
        form = urllib.parse.parse_qs(self.body().decode("ascii", "replace"))
        value = {k: v[0] for k, v in form.items()}
        why = None
        if value.get("grant_type") != "client_credentials":
            why = "grant_type must be client_credentials"
        elif value.get("client_assertion_type") != ASSERTION_TYPE:
            why = "client_assertion_type must be jwt-bearer"
        elif not value.get("scope"):
            why = "scope is missing"
        else:
            why = self.state.check(value.get("client_assertion", ""))
        if why is not None:
            with self.state.lock:
                self.state.refused.append(why)
            self.answer(400, {"error": "invalid_client", "error_description": why})
            return
        with self.state.lock:
            self.state.scopes.append(value["scope"])
            self.state.last_assertion = value["client_assertion"]
        answer = {
            "access_token": self.state.issue(),
            "token_type": "bearer",
            "expires_in": self.state.announce,
            "scope": value["scope"],
        }
        self.answer(200, answer)

    def forward(self) -> None:
        body = self.body()
        if not self.state.valid(self.headers.get("Authorization")):
            with self.state.lock:
                self.state.unauthorized += 1
            outcome = {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "login", "diagnostics": "no valid token"}],
            }
            self.answer(401, outcome, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
            return
        headers = {h: self.headers[h] for h in FORWARDED_REQUEST if self.headers.get(h)}
        upstream = http.client.HTTPConnection(*self.state.upstream, timeout=120)
        try:
            upstream.request(self.command, self.path, body or None, headers)
            reply = upstream.getresponse()
            data = reply.read()
        except (ConnectionError, http.client.HTTPException):
            self.close_connection = True  # lost upstream: lost here too
            return
        finally:
            upstream.close()
        with self.state.lock:
            self.state.forwarded += 1
        self.send_response(reply.status)
        for name in FORWARDED_REPLY:
            if reply.getheader(name):
                self.send_header(name, reply.getheader(name, ""))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, text in (headers or {}).items():
            self.send_header(name, text)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--jwks", required=True, type=Path)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--audience")
    parser.add_argument("--lifetime", type=float, default=300.0)
    parser.add_argument("--announce", type=int)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--client-ca")
    parser.add_argument("--permissions", default="permission-v1")
    args = parser.parse_args()
    upstream = urllib.parse.urlsplit(args.upstream)
    state = State(
        client_id=args.client_id,
        keys=public_keys(json.loads(args.jwks.read_text())),
        audience=args.audience,
        lifetime=args.lifetime,
        announce=args.announce if args.announce is not None else round(args.lifetime),
        upstream=(upstream.hostname or "127.0.0.1", upstream.port or 80),
        permissions=args.permissions,
    )
    Handler.state = state
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    scheme = "http"
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        if args.client_ca:
            context.load_verify_locations(args.client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    host, port = server.server_address[:2]
    state.root = f"{scheme}://{host}:{port}"
    print(f"listening {host}:{port}", flush=True)
    server.serve_forever()


# --------------------------------------------------------------------------------------------
# For tests


@dataclass
class SmartProxy:
    root_url: str
    process: subprocess.Popen[str] = field(repr=False)
    context: ssl.SSLContext | None = None

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/fhir/R4"

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.root_url}/__stats", context=self.context) as reply:
            value: dict[str, Any] = json.loads(reply.read())
            return value


@contextmanager
def start_smart_proxy(
    upstream: str, jwks: Path, client_id: str, *options: str, context: ssl.SSLContext | None = None
) -> Iterator[SmartProxy]:
    """The proxy in its own process, in front of ``upstream`` (the FHIR server's root URL)."""
    command = [sys.executable, __file__, "--upstream", upstream, "--jwks", str(jwks)]
    process = subprocess.Popen(
        [*command, "--client-id", client_id, *options],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("listening "), f"the proxy did not start: {line!r}"
        scheme = "https" if "--tls-cert" in options else "http"
        yield SmartProxy(f"{scheme}://{line.removeprefix('listening ')}", process, context)
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


if __name__ == "__main__":
    main()

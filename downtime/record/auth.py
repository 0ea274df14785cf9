"""Logging in to a record system's FHIR server: SMART Backend Services, and TLS for hospital PKI.

SMART Backend Services is OAuth 2.0 client credentials with a signed JWT as the client's
proof (``private_key_jwt``): the kit signs a short assertion (``iss`` = ``sub`` = the client
id, ``aud`` = the token endpoint, ``exp`` at most five minutes ahead, a fresh ``jti``) with its
client key (ES384 or RS384), and the token endpoint — named by the server in
``{base}/.well-known/smart-configuration`` — answers with a short-lived access token. The
record system knows the client by the public JWK set it was given (``downtime keys client-key
show``).

The access token lives in memory only and is asked for again a minute before it expires, or
at once when the server answers 401. Neither it nor the private key reaches a message, a log
or the ledger.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from downtime.errors import ConfigError
from downtime.files import private_folder, write_new
from downtime.record.client import FhirError

ALGORITHMS = ("ES384", "RS384")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCOPE_V1 = "system/*.read system/*.write"  # SMART v1; understood by v2 servers too
SCOPE_V2 = "system/*.cruds"  # SMART v2 spelling of the same, for servers that speak v2 only
ASSERTION_LIFETIME_S = 240  # under the five minutes SMART allows, leaving room for clock skew
RENEW_EARLY_S = 60.0
DEFAULT_EXPIRES_IN_S = 300.0  # when a token answer omits expires_in
RSA_BITS = 3072

ClientKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class LoginError(ConfigError):
    """The token endpoint refused the client, or the server cannot be logged in to as set up."""


# --- the client key ------------------------------------------------------------------------------


def new_client_key(path: Path, algorithm: str) -> ClientKey:
    """Make a client key pair for ``algorithm`` (ES384 or RS384) and write its private key to
    ``path`` (PKCS#8 PEM, mode 0600 from the start); refuses to replace an existing file."""
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"unknown key algorithm {algorithm}; use ES384 or RS384")
    key: ClientKey = (
        ec.generate_private_key(ec.SECP384R1())
        if algorithm == "ES384"
        else rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    )
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    private_folder(path.parent)
    try:
        write_new(path, pem)
    except FileExistsError:
        raise ConfigError(
            f"a client key already exists ({path.name})",
            hint="`downtime keys client-key show` prints its public JWK set; to replace it, "
            "move the file away first and register the new public key with the record system",
        ) from None
    return key


def load_client_key(path: Path) -> ClientKey:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"there is no client key ({path.name})",
            hint="make one with `downtime keys client-key new` and register its public JWK set "
            "with the record system",
        ) from None
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError(
            f"the client key {path.name} cannot be read as an unencrypted PEM private key",
            hint="restore it from a backup, or make a new one and register it again",
        ) from None
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP384R1):
        return key
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048:
        return key
    raise ConfigError(
        f"the client key {path.name} is neither a P-384 EC key (ES384) nor an RSA key of at "
        "least 2048 bits (RS384)",
        hint="make a new one with `downtime keys client-key new`",
    )


def algorithm_of(key: ClientKey) -> str:
    return "ES384" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS384"


def public_jwk(key: ClientKey) -> dict[str, str]:
    """The public half as a JWK: ``kid`` is its RFC 7638 thumbprint (SHA-256, base64url)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        point = key.public_key().public_numbers()
        members = {
            "crv": "P-384",
            "kty": "EC",
            "x": _b64int(point.x, 48),
            "y": _b64int(point.y, 48),
        }
    else:
        numbers = key.public_key().public_numbers()
        members = {"e": _b64int(numbers.e), "kty": "RSA", "n": _b64int(numbers.n)}
    thumbprint = hashlib.sha256(_compact(members)).digest()
    return {**members, "kid": _b64(thumbprint), "alg": algorithm_of(key), "use": "sig"}


def jwk_set(key: ClientKey) -> dict[str, Any]:
    """The public JWK set to register with the record system."""
    return {"keys": [{**public_jwk(key), "key_ops": ["verify"]}]}


def client_assertion(key: ClientKey, client_id: str, audience: str, now: float) -> str:
    """A signed JWT that proves the client to the token endpoint ``audience``."""
    header = {"alg": algorithm_of(key), "typ": "JWT", "kid": public_jwk(key)["kid"]}
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": int(now),
        "exp": int(now) + ASSERTION_LIFETIME_S,
        "jti": secrets.token_urlsafe(24),
    }
    signing_input = f"{_b64(_compact(header))}.{_b64(_compact(claims))}"
    return f"{signing_input}.{_b64(_sign(key, signing_input.encode('ascii')))}"


def _sign(key: ClientKey, data: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA384())))
        return r.to_bytes(48, "big") + s.to_bytes(48, "big")  # JWS wants r ‖ s, not DER
    return key.sign(data, padding.PKCS1v15(), hashes.SHA384())


def _compact(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64int(value: int, size: int = 0) -> str:
    return _b64(value.to_bytes(max(size, (value.bit_length() + 7) // 8), "big"))


# --- TLS -----------------------------------------------------------------------------------------


def tls_context(
    ca_bundle: Path | None, client_cert: Path | None, client_cert_key: Path | None
) -> ssl.SSLContext | None:
    """The TLS context for the hospital's PKI: servers verified against ``ca_bundle`` (instead
    of the system's CAs) and, if given, a client certificate. None: the system's defaults."""
    if ca_bundle is None and client_cert is None:
        return None
    try:
        context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(
            f"the CA bundle {ca_bundle} cannot be read as PEM certificates ({_ssl_reason(e)})",
            hint="set [fhir] ca_bundle in site.toml to the hospital's CA certificates (PEM)",
        ) from None
    if client_cert is not None:
        try:
            context.load_cert_chain(client_cert, client_cert_key)
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(
                f"the client certificate {client_cert} or its key cannot be used "
                f"({_ssl_reason(e)})",
                hint="set [fhir] client_cert (PEM certificate) and client_cert_key (its "
                "unencrypted PEM private key) in site.toml",
            ) from None
    return context


def _ssl_reason(error: BaseException) -> str:
    return str(getattr(error, "strerror", None) or getattr(error, "reason", None) or error)[:200]


# --- logging in ----------------------------------------------------------------------------------


class BackendServicesLogin:
    """Access tokens for one FHIR server, by SMART Backend Services.

    ``authorization()`` is the ``Authorization`` header value for the next request: the token
    in hand, or a new one when it is within a minute of expiring (half its lifetime, for very
    short-lived tokens). ``authorization(renew=True)`` asks for a new one whatever the clock
    says: the server answered 401 to the last.
    """

    def __init__(
        self,
        fhir_url: str,
        client_id: str,
        key: ClientKey,
        *,
        scope: str | None = None,
        token_endpoint: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.fhir_url = fhir_url.rstrip("/")
        self.client_id = client_id
        self._key = key
        self._scope = scope
        self._endpoint = token_endpoint
        self._ssl = ssl_context
        self._timeout = timeout_s
        self._clock = clock
        self._token: str | None = None
        self._renew_at = 0.0
        self.tokens = 0  # how many access tokens were asked for

    def authorization(self, renew: bool = False) -> str:
        if renew or self._token is None or self._clock() >= self._renew_at:
            self._token, lifetime = self._new_token()
            self._renew_at = self._clock() + lifetime - min(RENEW_EARLY_S, lifetime / 2)
        return f"Bearer {self._token}"

    # -- the token endpoint ---------------------------------------------------------------------

    def _new_token(self) -> tuple[str, float]:
        endpoint, scope = self._discover()
        form = {
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(self._key, self.client_id, endpoint, time.time()),
        }
        body = urllib.parse.urlencode(form).encode("ascii")
        request = urllib.request.Request(endpoint, data=body, method="POST")  # noqa: S310
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        request.add_header("Accept", "application/json")
        self.tokens += 1
        answer = self._fetch(request, "the token endpoint")
        return _token_of(answer)

    def _discover(self) -> tuple[str, str]:
        """The token endpoint and the scope to ask for (the server's smart-configuration)."""
        if self._endpoint is not None and self._scope is not None:
            return self._endpoint, self._scope
        url = f"{self.fhir_url}/.well-known/smart-configuration"
        request = urllib.request.Request(url)  # noqa: S310
        request.add_header("Accept", "application/json")
        config = self._fetch(request, "the server's smart-configuration")
        endpoint = self._endpoint or _token_endpoint_of(config, self.fhir_url)
        _check_supported(config, algorithm_of(self._key))
        capabilities = config.get("capabilities") or []
        v2_only = "permission-v2" in capabilities and "permission-v1" not in capabilities
        self._endpoint = endpoint
        self._scope = self._scope or (SCOPE_V2 if v2_only else SCOPE_V1)
        return self._endpoint, self._scope

    def _fetch(self, request: urllib.request.Request, what: str) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(  # noqa: S310
                request, timeout=self._timeout, context=self._ssl
            ) as reply:
                raw = reply.read()
        except urllib.error.HTTPError as e:
            raise _refusal(what, e) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            reason = getattr(e, "reason", e)
            if isinstance(reason, ssl.SSLCertVerificationError):
                raise LoginError(
                    f"{what} has a certificate this computer does not trust "
                    f"({reason.verify_message})",
                    hint="set [fhir] ca_bundle in site.toml to the hospital's CA certificates",
                ) from None
            raise FhirError(f"{what} cannot be reached ({str(reason)[:200]})") from None
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise FhirError(f"{what} did not answer with a JSON object")
        return value


def _token_of(answer: Mapping[str, Any]) -> tuple[str, float]:
    token = answer.get("access_token")
    kind = answer.get("token_type")
    expires_in = answer.get("expires_in", DEFAULT_EXPIRES_IN_S)
    if not isinstance(token, str) or not token or not isinstance(kind, str):
        raise FhirError("the token endpoint's answer holds no access token")
    if kind.lower() != "bearer":
        raise LoginError(f"the token endpoint gave a {kind[:20]!r} token; only bearer is supported")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
        expires_in = DEFAULT_EXPIRES_IN_S
    return token, float(expires_in)


def _token_endpoint_of(config: Mapping[str, Any], fhir_url: str) -> str:
    endpoint = config.get("token_endpoint")
    if not isinstance(endpoint, str) or not re.match(r"https?://", endpoint):
        raise LoginError(
            "the server's smart-configuration names no token endpoint",
            hint="set [fhir] token_endpoint in site.toml to the one the record system's "
            "administrators give",
        )
    if fhir_url.startswith("https:") and endpoint.startswith("http:"):
        raise LoginError(
            "the server's smart-configuration names a token endpoint without TLS (http:)",
            hint="ask the record system's administrators; the kit does not send its client "
            "assertion unencrypted to a server reached over https",
        )
    return endpoint


def _check_supported(config: Mapping[str, Any], algorithm: str) -> None:
    methods = config.get("token_endpoint_auth_methods_supported")
    if isinstance(methods, list) and "private_key_jwt" not in methods:
        raise LoginError(
            "the server does not accept signed client assertions (private_key_jwt)",
            hint="ask the record system's administrators for SMART Backend Services access",
        )
    algorithms = config.get("token_endpoint_auth_signing_alg_values_supported")
    if isinstance(algorithms, list) and algorithm not in algorithms:
        accepted = ", ".join(str(a) for a in algorithms[:5])
        raise LoginError(
            f"the server does not accept {algorithm} client assertions (it accepts {accepted})",
            hint="make a key it accepts: `downtime keys client-key new --alg RS384` (or ES384)",
        )


def _refusal(what: str, error: urllib.error.HTTPError) -> Exception:
    """A token endpoint's refusal as the server worded it (``error``, ``error_description``)."""
    try:
        answer = json.loads(error.read())
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    code = _printable(answer.get("error"), 60)
    description = _printable(answer.get("error_description"), 300)
    said = f": {code}" + (f" ({description})" if description else "") if code else ""
    if error.code in (400, 401, 403):
        return LoginError(
            f"{what} refused the client (HTTP {error.code}{said})",
            hint="check [fhir] client_id in site.toml, and that the record system has this "
            "client's public JWK set (`downtime keys client-key show`) and the scope asked for",
        )
    return FhirError(f"{what}: HTTP {error.code}{said}", status=error.code)


def _printable(value: object, limit: int) -> str:
    if not isinstance(value, str):
        return ""
    return re.sub(r"[^\x20-\x7e]", "?", value)[:limit]

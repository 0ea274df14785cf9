"""A ward station's side of ``station serve``: the host's index and packs over HTTPS (standard
library only). The token goes in an ``Authorization: Bearer`` header, only over TLS; the host's
certificate is checked with the system's CAs or a CA file (a self-signed host certificate is
given as its own CA file)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from downtime.errors import ConfigError, InputError
from downtime.ward.serve import INDEX_SCHEMA
from downtime.ward.sources import (
    MAX_MANIFEST_BYTES,
    MAX_PDF_BYTES,
    Catalogue,
    HostKey,
    Offer,
    SourceUnreachable,
    newest_per_ward,
)

TIMEOUT_S = 30.0


class _Host:
    def __init__(self, url: str, token: bytes, ca_file: Path | None) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise InputError(
                f"{url} is not an https:// address",
                hint="give the print host as https://HOST:PORT (the token never travels "
                "unencrypted), or a folder",
            )
        self.base = url.rstrip("/")
        self.token = token
        try:
            self.context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"the CA file {ca_file} cannot be used ({e})") from e

    def get(self, path: str, limit: int) -> bytes:
        request = urllib.request.Request(  # noqa: S310 - https only, checked above
            self.base + path,
            headers={"Authorization": "Bearer " + self.token.decode("ascii")},
        )
        try:
            with urllib.request.urlopen(  # noqa: S310
                request, timeout=TIMEOUT_S, context=self.context
            ) as response:
                data: bytes = response.read(limit + 1)
        except urllib.error.HTTPError as e:
            if e.code in (401, 403):
                raise ConfigError(
                    f"the print host refused this station's token (HTTP {e.code})",
                    hint="give the token file the host serves with (--token-file)",
                ) from None
            raise SourceUnreachable(f"the print host answered HTTP {e.code} for {path}") from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, ssl.SSLCertVerificationError):
                raise ConfigError(
                    f"the print host's certificate is not trusted ({e.reason.verify_message})",
                    hint="give the host's certificate (or its CA) with --ca-file",
                ) from None
            raise SourceUnreachable(f"the print host cannot be reached ({e.reason})") from None
        except (TimeoutError, ConnectionError, ssl.SSLError) as e:
            raise SourceUnreachable(f"the print host cannot be reached ({e})") from None
        if len(data) > limit:
            raise SourceUnreachable(f"the print host sent more than {limit} bytes for {path}")
        return data


def https_catalogue(url: str, token: bytes, ca_file: Path | None = None) -> Catalogue:
    """The newest pack per ward the host offers, their continuations, and its keys."""
    host = _Host(url, token, ca_file)
    try:
        doc = json.loads(host.get("/v1/index", MAX_MANIFEST_BYTES).decode("utf-8"))
        if doc.get("schema") != INDEX_SCHEMA:
            raise ValueError("not a station index")
        keys = tuple(
            HostKey(str(k["key_id"]), str(k["fingerprint_sha256"]), str(k["status"]))
            for k in doc["keys"]
        )
        offers = [_offer(host, p) for p in doc["packs"]]
        continuations = tuple(_offer(host, p) for p in doc.get("continuations", ()))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise SourceUnreachable(f"the print host's index cannot be read ({e})") from None
    return Catalogue(host.base, newest_per_ward(offers), keys, continuations)


def _offer(host: _Host, p: dict[str, object]) -> Offer:
    continues = str(p.get("continues") or "")
    return Offer(
        ward=str(p["ward"]),
        pack_id=str(p["pack_id"]),
        issued_at=datetime.fromisoformat(str(p["issued_at"])),
        name=f"{'continuation' if continues else 'pack'} {p['pack_id']} of {p['ward']}",
        fetch=_fetch(host, str(p["manifest"]), str(p["pdf"])),
        continues=continues,
    )


def _fetch(host: _Host, manifest: str, pdf: str) -> Callable[[], tuple[bytes, bytes]]:
    for path in (manifest, pdf):
        if not path.startswith("/v1/packs/"):
            raise ValueError(f"the index names {path!r}, not a pack on this host")

    def fetch() -> tuple[bytes, bytes]:
        return host.get(manifest, MAX_MANIFEST_BYTES), host.get(pdf, MAX_PDF_BYTES)

    return fetch

"""Logging in to the record system: the FHIR client as site.toml's ``[fhir]`` sets it up, and
the client key pair for SMART Backend Services (``downtime keys client-key``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from downtime.app.workspace import workspace
from downtime.errors import ConfigError
from downtime.ledger import AuditEvent, write_audit
from downtime.record.auth import (
    BackendServicesLogin,
    ClientKey,
    algorithm_of,
    jwk_set,
    load_client_key,
    new_client_key,
    public_jwk,
    tls_context,
)
from downtime.record.client import DEFAULT_TIMEOUT_S, TOKEN_ENV, FhirClient, read_token
from downtime.settings import Settings


@dataclass(frozen=True)
class ClientKeyInfo:
    path: Path  # relative to the data folder when it lies inside it
    kid: str
    algorithm: str
    jwks: str  # the public JWK set, JSON


def make_client_key(home: Path | None, algorithm: str) -> ClientKeyInfo:
    """A new client key pair in the data folder (``[fhir] client_key``); never replaces one."""
    with workspace(home, keys="read") as (settings, _keys, ledger):
        path = settings.data_path(settings.config.fhir.client_key)
        key = new_client_key(path, algorithm)
        kid = public_jwk(key)["kid"]
        write_audit(
            ledger,
            [AuditEvent("keys.client-key", f"new {algorithm} {kid}")],
            actor=settings.operator,
            station=settings.station,
        )
        return _info(settings, path, key)


def show_client_key(home: Path | None) -> ClientKeyInfo:
    with workspace(home, keys="read") as (settings, _keys, _ledger):
        path = settings.data_path(settings.config.fhir.client_key)
        return _info(settings, path, load_client_key(path))


def _info(settings: Settings, path: Path, key: ClientKey) -> ClientKeyInfo:
    shown = path.relative_to(settings.home) if path.is_relative_to(settings.home) else path
    jwks = json.dumps(jwk_set(key), indent=2) + "\n"
    return ClientKeyInfo(shown, public_jwk(key)["kid"], algorithm_of(key), jwks)


def fhir_client(
    settings: Settings,
    url: str,
    token_file: Path | None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    deadline: float | None = None,
    attempts: int = 5,
) -> FhirClient:
    """The client for ``url``: logged in by SMART Backend Services when site.toml names a
    client id (the first access token is asked for now, so that a login the record system
    refuses stops the run before anything is sent), else with the static token, if any.
    ``timeout_s``, ``deadline`` and ``attempts``: see :class:`FhirClient`."""
    config = settings.config.fhir
    context = tls_context(
        settings.data_path(config.ca_bundle) if config.ca_bundle else None,
        settings.data_path(config.client_cert) if config.client_cert else None,
        settings.data_path(config.client_cert_key) if config.client_cert_key else None,
    )
    token = read_token(token_file)
    if not config.client_id:
        return FhirClient(
            url,
            token=token,
            ssl_context=context,
            timeout_s=timeout_s,
            deadline=deadline,
            attempts=attempts,
        )
    if token is not None:
        raise ConfigError(
            f"site.toml names a client id for SMART login, and a static token is given too "
            f"(--token-file or ${TOKEN_ENV})",
            hint="use one: remove [fhir] client_id, or drop the token",
        )
    login = BackendServicesLogin(
        url,
        config.client_id,
        load_client_key(settings.data_path(config.client_key)),
        scope=config.scope or None,
        token_endpoint=config.token_endpoint or None,
        ssl_context=context,
        timeout_s=timeout_s,
    )
    login.authorization()
    return FhirClient(
        url,
        login=login,
        ssl_context=context,
        timeout_s=timeout_s,
        deadline=deadline,
        attempts=attempts,
    )

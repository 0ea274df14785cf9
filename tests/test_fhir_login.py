"""Logging in to the record system: SMART Backend Services, TLS for hospital PKI, the client key.

The token endpoint is tests/smartproxy.py, a process of its own on loopback in front of the
Medplum FHIR server of tests/fhirserver.py: it checks each client assertion's signature
against the JWK set `downtime keys client-key` printed, its audience, expiry and `jti`, and
forwards FHIR requests only with an unexpired access token it issued (401 otherwise).
Reconciliations run on copies of test_reconcile's scanned data folder (one-page forms), set up
through site.toml's `[fhir]` table the way a site sets them up. Certificates for the HTTPS
tests come from a test CA made here.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import os
import ssl
import stat
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PrintedPack, run_cli
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fhirserver import FhirServer, fhir_request, fhir_server_fixture  # noqa: F401 (fhir_server)
from scankit import assert_no_identity, copy_home, patient_pages, rows
from smartproxy import SmartProxy, start_smart_proxy
from test_reconcile import (
    assert_each_once,
    attempts,
    census_in_record,
    filled_at_random,
    fresh,
    print_issued,
    reconcile_cli,
    scan_in,
    server_state,
    summary_of,
)

from downtime.errors import ConfigError
from downtime.record.auth import BackendServicesLogin, load_client_key
from downtime.settings import SiteConfig, load_site_config, site_config_text

CLIENT_ID = "downtime-test"
KEY_FILE = Path("keys/fhir-client.pem")
posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")


# --------------------------------------------------------------------------------------------
# Helpers


def new_client_key(home: Path, *options: str) -> dict[str, Any]:
    """`downtime keys client-key new`: its JWK set, also written to home/../jwks.json."""
    result = run_cli("keys", "client-key", "new", *options, home=home)
    jwks: dict[str, Any] = json.loads(result.stdout)
    (home.parent / "jwks.json").write_text(result.stdout)
    return jwks


def set_fhir(home: Path, **options: str) -> None:
    """Set the [fhir] table of the data folder's site.toml (replacing one set before)."""
    site = home / "site.toml"
    before = site.read_text().split("\n[fhir]\n")[0] if site.exists() else ""
    lines = [f"{name} = {json.dumps(value)}" for name, value in options.items()]
    site.write_text(before + "\n[fhir]\n" + "\n".join(lines) + "\n")


def thumbprint(members: dict[str, str]) -> str:
    """RFC 7638, computed here from the key's required members."""
    compact = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return urlsafe(hashlib.sha256(compact).digest())


def urlsafe(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def nothing_posted(medplum: FhirServer, home: Path) -> None:
    """Nothing but the census's patients and encounters the record held before."""
    state = server_state(medplum)
    assert all(not found for t, found in state.items() if t not in ("Patient", "Encounter"))
    assert attempts(home) == []


def every_file(home: Path) -> Iterator[Path]:
    return (p for p in home.rglob("*") if p.is_file())


@pytest.fixture(scope="module", name="one_page_forms")
def one_page_forms_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MED42 pack printed a day ago, each patient's one-page forms filled at random and
    scanned."""
    base = tmp_path_factory.mktemp("login-scanned")
    pack: PrintedPack = print_issued(base / "printed", hours_ago=25)
    home = copy_home(pack, base / "home")
    entries = [e for e in patient_pages(pack) if e["page"] == 1]
    scan_in(home, base / "scans", [filled_at_random(pack, e) for e in entries])
    return home


@pytest.fixture(name="medplum")
def medplum_fixture(fhir_server: FhirServer) -> FhirServer:
    """The FHIR test server, holding the census's patients and encounters and nothing else."""
    fhir_server.reset()
    census_in_record(fhir_server)
    return fhir_server


@pytest.fixture
def logged_in_home(one_page_forms: Path, tmp_path: Path) -> Path:
    """A scanned data folder with a client key (its JWK set in tmp_path/jwks.json)."""
    home = fresh(one_page_forms, tmp_path)
    new_client_key(home)
    return home


# --------------------------------------------------------------------------------------------
# The client key


@posix_only
def test_client_key_new_writes_a_private_key_and_prints_only_its_public_jwk_set(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    jwks = new_client_key(home)
    path = home / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    key = load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1"
    [jwk] = jwks["keys"]
    point = key.public_key().public_numbers()
    members = {
        "crv": "P-384",
        "kty": "EC",
        "x": urlsafe(point.x.to_bytes(48, "big")),
        "y": urlsafe(point.y.to_bytes(48, "big")),
    }
    assert {k: jwk[k] for k in members} == members
    assert (jwk["kid"], jwk["alg"], jwk["use"]) == (thumbprint(members), "ES384", "sig")
    assert "d" not in jwk  # nothing private
    shown = run_cli("keys", "client-key", "show", home=home).stdout
    assert json.loads(shown) == jwks

    before = path.read_bytes()
    again = run_cli("keys", "client-key", "new", home=home, ok=False)
    assert again.exit_code == 4
    assert "already exists" in again.stderr and "client-key show" in again.stderr
    assert path.read_bytes() == before
    [event] = rows(home, "SELECT detail FROM audit_events WHERE action = 'keys.client-key'")
    assert event["detail"] == f"new ES384 {jwk['kid']}"
    assert before.decode() not in event["detail"]


def test_client_key_new_makes_an_rsa_key_for_rs384(tmp_path: Path) -> None:
    home = tmp_path / "home"
    [jwk] = new_client_key(home, "--alg", "RS384")["keys"]
    key = load_pem_private_key((home / KEY_FILE).read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 3072
    members = {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}
    assert (jwk["alg"], jwk["use"], jwk["kid"]) == ("RS384", "sig", thumbprint(members))
    assert jwk["n"] == urlsafe(key.public_key().public_numbers().n.to_bytes(384, "big"))
    assert not {"d", "p", "q"} & set(jwk)


def test_without_a_client_key_reconcile_says_how_to_make_one(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run_cli("init", home=home)
    set_fhir(home, url="http://127.0.0.1:9/fhir/R4", client_id=CLIENT_ID)
    result = run_cli("reconcile", home=home, ok=False)
    assert result.exit_code == 4
    assert "no client key" in result.stderr and "downtime keys client-key new" in result.stderr
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------------------------
# site.toml


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[fhir]\nclinet_id = "x"\n', "unknown option(s) in [fhir]: clinet_id"),
        ('fhir = "https://fhir.example.se/R4"\n', "fhir must be a table"),
        ('[fhir]\nurl = "fhir.example.se/R4"\n', "[fhir] url must be an https://"),
        ('[fhir]\ntoken_endpoint = "ftp://x/token"\n', "[fhir] token_endpoint must be an"),
        ("[fhir]\nclient_id = 42\n", "[fhir] client_id must be a text"),
        ('[fhir]\nclient_cert_key = "c.key"\n', "client_cert_key is set but client_cert"),
    ],
)
def test_fhir_options_in_site_toml_are_checked(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_site_config(path)
    assert message in str(raised.value)


def test_fhir_options_in_site_toml_are_read(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(
        site_config_text(SiteConfig())
        + '[fhir]\nurl = "https://fhir.example.se/R4"\nclient_id = "dt"\nscope = "system/*.rs"\n'
    )
    fhir = load_site_config(path).fhir
    assert (fhir.url, fhir.client_id, fhir.scope) == (
        "https://fhir.example.se/R4",
        "dt",
        "system/*.rs",
    )
    assert fhir.client_key == str(KEY_FILE) and fhir.ca_bundle == ""


def test_a_static_token_beside_a_smart_client_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    new_client_key(home)
    set_fhir(home, url="http://127.0.0.1:9/fhir/R4", client_id=CLIENT_ID)
    token = tmp_path / "token"
    token.write_text("a-static-token\n")
    result = run_cli("reconcile", "--token-file", token, home=home, ok=False)
    assert result.exit_code == 4
    assert "a static token is given too" in result.stderr
    assert "a-static-token" not in result.stderr


# --------------------------------------------------------------------------------------------
# Logging in through the token endpoint


def reconcile_logged_in(home: Path, proxy: SmartProxy, **options: str) -> dict[str, int]:
    set_fhir(home, url=proxy.base_url, client_id=CLIENT_ID, **options)
    summary = summary_of(reconcile_cli(home))
    assert summary["failed"] == 0 and summary["bundles"] > 0
    return summary


def posted_once(medplum: FhirServer, home: Path, summary: dict[str, int]) -> None:
    state = server_state(medplum)
    assert_each_once(state)
    assert len(state["Patient"]) == len(state["Encounter"]) == 7
    assert Counter(a[2] for a in attempts(home)) == {"posted": summary["bundles"]}


def test_reconcile_logs_in_and_posts_everything_once_without_writing_a_secret(
    logged_in_home: Path, medplum: FhirServer, tmp_path: Path
) -> None:
    home = logged_in_home
    with start_smart_proxy(medplum.root_url, tmp_path / "jwks.json", CLIENT_ID) as proxy:
        probe = fhir_request("GET", f"{proxy.base_url}/Patient")
        assert probe.status == 401  # the proxy lets nothing through without a token
        first = reconcile_logged_in(home, proxy)
        posted_once(medplum, home, first)
        again = summary_of(reconcile_cli(home))
        assert (again["bundles"], again["failed"]) == (0, 0)
        stats = proxy.stats()
    assert stats["refused"] == [] and stats["unauthorized"] == 1
    assert len(stats["tokens"]) == 2  # one login per run: the tokens live five minutes
    assert stats["scopes"] == ["system/*.read system/*.write"] * 2
    assert stats["forwarded"] > first["bundles"]
    private_key = (home / KEY_FILE).read_bytes().splitlines()[1]
    for path in every_file(home):
        data = path.read_bytes()
        assert not any(t.encode() in data for t in stats["tokens"]), path
        assert path == home / KEY_FILE or private_key not in data, path


def test_a_token_that_runs_out_during_the_run_is_renewed_before_it_does(
    logged_in_home: Path, medplum: FhirServer, tmp_path: Path
) -> None:
    home = logged_in_home
    with start_smart_proxy(
        medplum.root_url, tmp_path / "jwks.json", CLIENT_ID, "--lifetime", "2"
    ) as proxy:
        summary = reconcile_logged_in(home, proxy)
        stats = proxy.stats()
    posted_once(medplum, home, summary)
    assert len(stats["tokens"]) >= 2
    assert stats["unauthorized"] == 0  # renewed before it ran out, never refused
    assert stats["refused"] == [] and stats["jti"] == len(stats["tokens"])  # a new jti each


def test_a_token_the_server_stops_accepting_early_is_renewed_on_its_401(
    logged_in_home: Path, medplum: FhirServer, tmp_path: Path
) -> None:
    home = logged_in_home
    options = ("--lifetime", "0.5", "--announce", "3600")  # it claims an hour, lives 0.5 s
    with start_smart_proxy(medplum.root_url, tmp_path / "jwks.json", CLIENT_ID, *options) as proxy:
        summary = reconcile_logged_in(home, proxy)
        stats = proxy.stats()
    posted_once(medplum, home, summary)  # nothing sent twice: a 401 was refused, not done
    assert stats["unauthorized"] >= 1
    assert len(stats["tokens"]) == stats["unauthorized"] + 1
    assert summary["retries"] == 0


@pytest.mark.parametrize(
    ("refusal", "said"),
    [
        ("another key", "unknown kid: no registered key has it"),
        ("another audience", "aud must be https://record.example.se/token"),
        ("another client", "iss and sub must be the client id"),
    ],
)
def test_a_login_the_token_endpoint_refuses_stops_the_run_before_anything_is_sent(
    refusal: str, said: str, logged_in_home: Path, medplum: FhirServer, tmp_path: Path
) -> None:
    home = logged_in_home
    jwks, client_id, options = tmp_path / "jwks.json", CLIENT_ID, ()
    if refusal == "another key":
        jwks = tmp_path / "other" / "jwks.json"
        new_client_key(jwks.parent / "home")
    elif refusal == "another audience":
        options = ("--audience", "https://record.example.se/token")
    else:
        client_id = "someone-else"
    with start_smart_proxy(medplum.root_url, jwks, client_id, *options) as proxy:
        set_fhir(home, url=proxy.base_url, client_id=CLIENT_ID)
        result = run_cli("reconcile", home=home, ok=False)
        assert proxy.stats()["refused"] == [said]
    assert result.exit_code == 4, result.stderr
    assert "the token endpoint refused the client (HTTP 400: invalid_client" in result.stderr
    assert said in result.stderr and "client-key show" in result.stderr
    assert "Traceback" not in result.stderr
    assert_no_identity(result.stderr, home, "stderr of a refused login")
    nothing_posted(medplum, home)

    # The record system is told the right key, audience and client: the rerun posts it all.
    with start_smart_proxy(medplum.root_url, tmp_path / "jwks.json", CLIENT_ID) as proxy:
        posted_once(medplum, home, reconcile_logged_in(home, proxy))


def test_the_token_endpoint_refuses_a_replayed_assertion_and_each_login_makes_a_new_one(
    tmp_path: Path, fhir_server: FhirServer
) -> None:
    home = tmp_path / "home"
    new_client_key(home)
    with start_smart_proxy(fhir_server.root_url, tmp_path / "jwks.json", CLIENT_ID) as proxy:
        login = BackendServicesLogin(proxy.base_url, CLIENT_ID, load_client_key(home / KEY_FILE))
        first = login.authorization()
        assertion = proxy.stats()["last_assertion"]
        replay = urllib.parse.urlencode(
            {
                "grant_type": "client_credentials",
                "scope": "system/*.read",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
            }
        )
        answer = fhir_request_form(f"{proxy.root_url}/token", replay)
        assert answer == (400, "jti already used (a replayed assertion)")
        assert login.authorization() == first  # still valid: no new login
        renewed = login.authorization(renew=True)
        stats = proxy.stats()
    assert renewed != first and renewed.startswith("Bearer ")
    assert stats["last_assertion"] != assertion
    assert len(stats["tokens"]) == 2 and stats["jti"] == 2


@pytest.mark.parametrize(
    ("permissions", "scope"),
    [("permission-v1", "system/*.read system/*.write"), ("permission-v2", "system/*.cruds")],
)
def test_the_default_scope_is_spelled_as_the_server_speaks_smart(
    permissions: str, scope: str, tmp_path: Path, fhir_server: FhirServer
) -> None:
    home = tmp_path / "home"
    new_client_key(home)
    jwks = tmp_path / "jwks.json"
    with start_smart_proxy(
        fhir_server.root_url, jwks, CLIENT_ID, "--permissions", permissions
    ) as proxy:
        login = BackendServicesLogin(proxy.base_url, CLIENT_ID, load_client_key(home / KEY_FILE))
        token = login.authorization()
        read = fhir_request("GET", f"{proxy.base_url}/metadata", headers={"Authorization": token})
        stats = proxy.stats()
    assert read.status == 200 and stats["scopes"] == [scope]


def fhir_request_form(url: str, form: str) -> tuple[int, str]:
    request = urllib.request.Request(url, data=form.encode(), method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, ""
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())["error_description"]


# --------------------------------------------------------------------------------------------
# TLS: the hospital's CA and a client certificate


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    for_server: bool = False,
) -> x509.Certificate:
    """A CA certificate (no issuer), or one for a server (127.0.0.1) or client it signs."""
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    signer_cert, signer_key = issuer if issuer else (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(signer_cert.subject if signer_cert else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()),
            critical=False,
        )
    )
    if issuer is None:
        usage = x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False,
        )  # fmt: skip
        builder = builder.add_extension(usage, critical=True)
    elif for_server:
        address = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
        builder = builder.add_extension(x509.SubjectAlternativeName([address]), critical=False)
        eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
        builder = builder.add_extension(eku, critical=False)
    else:
        eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
        builder = builder.add_extension(eku, critical=False)
    return builder.sign(signer_key, hashes.SHA384())


def hospital_pki(folder: Path) -> dict[str, Path]:
    """A test CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""
    folder.mkdir(parents=True)
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca = certificate("Test Hospital CA", ca_key, None)
    files: dict[str, Path] = {}
    for name, pem in (("ca.pem", ca.public_bytes(Encoding.PEM)),):
        files[name] = folder / name
        files[name].write_bytes(pem)
    for who in ("server", "client"):
        key = ec.generate_private_key(ec.SECP384R1())
        cert = certificate(f"test {who}", key, (ca, ca_key), for_server=who == "server")
        files[f"{who}.pem"] = folder / f"{who}.pem"
        files[f"{who}.pem"].write_bytes(cert.public_bytes(Encoding.PEM))
        files[f"{who}.key"] = folder / f"{who}.key"
        files[f"{who}.key"].write_bytes(private_key_pem(key))
    return files


def test_https_with_the_hospitals_ca_bundle_and_a_client_certificate(
    logged_in_home: Path, medplum: FhirServer, tmp_path: Path
) -> None:
    home = logged_in_home
    pki = hospital_pki(home / "pki")  # named relative to the data folder in site.toml
    tls = ("--tls-cert", str(pki["server.pem"]), "--tls-key", str(pki["server.key"]))
    context = ssl.create_default_context(cafile=str(pki["ca.pem"]))
    context.load_cert_chain(pki["client.pem"], pki["client.key"])
    options = (*tls, "--client-ca", str(pki["ca.pem"]))
    with start_smart_proxy(
        medplum.root_url, tmp_path / "jwks.json", CLIENT_ID, *options, context=context
    ) as proxy:
        assert proxy.base_url.startswith("https://127.0.0.1:")
        set_fhir(home, url=proxy.base_url, client_id=CLIENT_ID)
        untrusted = run_cli("reconcile", home=home, ok=False)
        assert untrusted.exit_code == 4, untrusted.stderr
        assert "certificate this computer does not trust" in untrusted.stderr
        assert "[fhir] ca_bundle" in untrusted.stderr
        nothing_posted(medplum, home)

        pem = {"ca_bundle": "pki/ca.pem", "client_cert": "pki/client.pem"}
        summary = reconcile_logged_in(home, proxy, **pem, client_cert_key="pki/client.key")
        stats = proxy.stats()
    posted_once(medplum, home, summary)
    assert len(stats["tokens"]) == 1 and stats["refused"] == []

"""One frozen settings object, resolved once: defaults ← site config ← command-line flags.

The data folder (``DOWNTIME_HOME``, default: the user's data directory) holds::

    ledger.sqlite3      the ledger (SQLite, WAL), unless a PostgreSQL database is named
    keys/               Ed25519 keys: private on the print host only, public everywhere
    site.toml           site options (this module's SiteConfig)
    forms/              the site's own form definitions, replacing built-ins with the same id

Nothing inside records its own absolute path, so a restored backup works anywhere.

The ledger is the SQLite file unless a PostgreSQL database is named for it (several stations
on one ledger): ``DOWNTIME_DB``, else ``database`` in site.toml (set by ``downtime init --db``).
A database URL never carries a password: that comes from a password file (``PGPASSFILE``,
``~/.pgpass``, or ``passfile=`` in the URL), readable only by the user who runs the kit.
"""

from __future__ import annotations

import getpass
import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from downtime.errors import ConfigError

HOME_ENV = "DOWNTIME_HOME"
USER_ENV = "DOWNTIME_USER"
DB_ENV = "DOWNTIME_DB"
DATABASE_SCHEMES = ("postgresql://", "postgres://")
LEDGER_FILE = "ledger.sqlite3"
SITE_FILE = "site.toml"

DEFAULT_PATIENT_FORMS = ("journal", "medication-orders", "mar", "prescription", "referral")
NPL_ID = "urn:oid:1.2.752.129.2.1.5.1"  # Läkemedelsverket's NPL id (a medicinal product)


@dataclass(frozen=True)
class FhirServerConfig:
    """``[fhir]`` in site.toml: the record system's FHIR server and how to log in to it. An
    empty text is not set. Files are relative to the data folder unless absolute."""

    url: str = ""  # the FHIR R4 base; `reconcile --fhir-url` overrides it
    client_id: str = ""  # SMART Backend Services client id; empty: a static token, if any
    client_key: str = "keys/fhir-client.pem"  # made by `downtime keys client-key new`
    scope: str = ""  # empty: system/*.read system/*.write (system/*.cruds on SMART v2 servers)
    token_endpoint: str = ""  # empty: from the server's .well-known/smart-configuration
    ca_bundle: str = ""  # PEM CA certificates that the servers' certificates are checked with
    client_cert: str = ""  # PEM client certificate, for servers that ask for one
    client_cert_key: str = ""  # its PEM private key, unless client_cert holds it


@dataclass(frozen=True)
class SiteConfig:
    """Options a site sets once in ``site.toml``; every one has a safe default."""

    site: str = "Exempelsjukhuset"
    lang: str = "sv"  # sv | en: the language forms are printed in
    timezone: str = "Europe/Stockholm"  # times on paper are local wall-clock times
    admission_forms: int = 4  # blank admission forms (with reserve numbers) per ward pack
    validity_hours: int = 12  # a pack is valid this long after it is issued
    mar_hours: int = 24  # the administration record covers this many hours from issue
    # continuation packs made ahead with each ward pack (`pack --ahead N`), 0–3: a ward station
    # prints them during an outage without the network or a signing key
    continuations_ahead: int = 0
    patient_forms: tuple[str, ...] = DEFAULT_PATIENT_FORMS  # printed for every patient, in order
    qr_encoder: str = "auto"  # auto | zxing-cpp | qrcode
    # The record system's own identifier system of the census encounter ids, for a census that
    # does not name it (a CSV census): reconciliation refers to the encounter by it. Empty: no
    # encounter reference (a FHIR census names the system of each Encounter's identifier).
    encounter_system: str = ""
    # The image store (originals and registered pages, content-addressed): a folder several
    # stations may share, absolute or relative to the data folder. Empty: store/ in it.
    image_store: str = ""
    # The site's drug list (CSV: name, strength, form, code), relative to the data folder unless
    # absolute: the review station suggests its entries, and reconciliation codes a typed drug
    # that is exactly one of them. Empty: no list. drug_list_system: the code system of its codes.
    drug_list: str = ""
    drug_list_system: str = NPL_ID
    # The ledger's PostgreSQL database (several stations on one ledger), as a postgresql://
    # URL without a password; empty: the SQLite file in the data folder (one station).
    database: str = ""
    fhir: FhirServerConfig = field(default_factory=FhirServerConfig)  # [fhir]


@dataclass(frozen=True)
class Settings:
    home: Path
    config: SiteConfig = field(default_factory=SiteConfig)
    operator: str = "unknown"  # who runs the command (audit trail)
    station: str = "unknown"  # which machine (audit trail)
    database: str = ""  # in force: DOWNTIME_DB, else site.toml's (empty: the SQLite file)

    @property
    def ledger_path(self) -> Path:
        """The SQLite ledger's file in the data folder (used when no database is named)."""
        return self.home / LEDGER_FILE

    @property
    def ledger_target(self) -> Path | str:
        """Where the ledger is: the PostgreSQL database's URL, or the SQLite file."""
        return self.database or self.ledger_path

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def store_dir(self) -> Path:
        """The image store's folder (``image_store``, else ``store/`` in the data folder)."""
        return (
            self.data_path(self.config.image_store)
            if self.config.image_store
            else self.home / "store"
        )

    @property
    def forms_dir(self) -> Path:
        return self.home / "forms"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone)

    def data_path(self, name: str) -> Path:
        """A file named in site.toml: relative to the data folder unless absolute."""
        return self.home / Path(name).expanduser()


def default_home() -> Path:
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("downtime", appauthor=False))


def resolve(home: Path | None = None, **overrides: Any) -> Settings:
    """Settings for a command: the data folder's site.toml, then ``overrides`` (flags)."""
    home = (home or default_home()).expanduser().resolve()
    config = load_site_config(home / SITE_FILE)
    given = {k: v for k, v in overrides.items() if v is not None}
    if given:
        config = _validated(replace(config, **given), "command line")
    operator = os.environ.get(USER_ENV) or _login_name()
    database = config.database
    if "database" not in given and os.environ.get(DB_ENV):
        database = check_database_url(os.environ[DB_ENV], DB_ENV)
    return Settings(
        home=home,
        config=config,
        operator=operator,
        station=socket.gethostname(),
        database=database,
    )


def check_database_url(url: str, where: str) -> str:
    """``url`` if it names a PostgreSQL database and carries no password; else a ConfigError."""
    if any(c < " " or c == "\x7f" for c in url) or not url.startswith(DATABASE_SCHEMES):
        raise ConfigError(
            f"{where}: database must be a postgresql:// URL, such as "
            "postgresql://downtime@db.example.se/downtime (empty: the SQLite file in the data "
            "folder)"
        )
    parts = urlsplit(url)
    if parts.password is not None or "password" in parse_qs(parts.query):
        raise ConfigError(
            f"{where}: the database URL carries a password; a password is never given on the "
            "command line or in a URL",
            hint="leave it out of the URL and put it in a password file, readable only by you: "
            "PGPASSFILE, or ~/.pgpass (host:port:database:user:password)",
        )
    return url


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


def load_site_config(path: Path) -> SiteConfig:
    if not path.exists():
        return SiteConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(
            f"site config {path.name} cannot be read: {e}",
            hint=f"fix or remove {path} (defaults apply without it)",
        ) from e
    return _validated(_from_mapping(data, path.name), path.name)


def _from_mapping(data: Mapping[str, Any], where: str) -> SiteConfig:
    known = {f.name: f for f in fields(SiteConfig)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(
            f"{where}: unknown option(s) {', '.join(unknown)}",
            hint=f"known options: {', '.join(known)}",
        )
    values = dict(data)
    if "patient_forms" in values:
        if not isinstance(values["patient_forms"], list):
            raise ConfigError(f"{where}: patient_forms must be a list of form ids")
        values["patient_forms"] = tuple(values["patient_forms"])
    if "fhir" in values:
        values["fhir"] = _fhir_from_mapping(values["fhir"], where)
    return SiteConfig(**values)


def _fhir_from_mapping(data: object, where: str) -> FhirServerConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: fhir must be a table ([fhir] with its options below it)")
    known = [f.name for f in fields(FhirServerConfig)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(
            f"{where}: unknown option(s) in [fhir]: {', '.join(unknown)}",
            hint=f"known options: {', '.join(known)}",
        )
    for name, value in data.items():
        if not isinstance(value, str) or any(c < " " or c == "\x7f" for c in value):
            raise ConfigError(f"{where}: [fhir] {name} must be a text on one line")
    for name in ("url", "token_endpoint"):
        url = data.get(name, "")
        if url and not url.startswith(("https://", "http://")):
            raise ConfigError(f"{where}: [fhir] {name} must be an https:// (or http://) URL")
    if data.get("client_cert_key") and not data.get("client_cert"):
        raise ConfigError(f"{where}: [fhir] client_cert_key is set but client_cert is not")
    return FhirServerConfig(**data)


_TYPE_WORDS = {
    str: "a text",
    int: "a whole number",
    tuple: "a list of form ids",
    FhirServerConfig: "a table ([fhir])",
}


def _validated(config: SiteConfig, where: str) -> SiteConfig:
    defaults = SiteConfig()
    for f in fields(SiteConfig):
        value, default = getattr(config, f.name), getattr(defaults, f.name)
        if type(value) is not type(default):
            raise ConfigError(f"{where}: {f.name} must be {_TYPE_WORDS[type(default)]}")
    if config.lang not in ("sv", "en"):
        raise ConfigError(f"{where}: lang must be 'sv' or 'en'")
    if not 0 <= config.admission_forms <= 50:
        raise ConfigError(f"{where}: admission_forms must be between 0 and 50")
    if not 1 <= config.validity_hours <= 168:
        raise ConfigError(f"{where}: validity_hours must be between 1 and 168")
    if not 1 <= config.mar_hours <= 24:
        raise ConfigError(f"{where}: mar_hours must be between 1 and 24")
    if not 0 <= config.continuations_ahead <= 3:
        raise ConfigError(f"{where}: continuations_ahead must be between 0 and 3")
    for name in ("encounter_system", "drug_list_system"):
        system = getattr(config, name)
        if system != system.strip() or any(c in system for c in "|?&# "):
            raise ConfigError(
                f"{where}: {name} must be a system URI such as 'urn:oid:…' (no spaces, "
                "'|', '?', '&' or '#')"
            )
    if not config.drug_list_system:
        raise ConfigError(f"{where}: drug_list_system is empty", hint=f"the NPL id is {NPL_ID}")
    if any(c < " " or c == "\x7f" for c in config.drug_list):
        raise ConfigError(f"{where}: drug_list must be a file name on one line")
    if config.database:
        check_database_url(config.database, where)
    try:
        ZoneInfo(config.timezone)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ConfigError(f"{where}: unknown timezone '{config.timezone}'") from e
    return config


def site_config_text(config: SiteConfig) -> str:
    """A commented site.toml with the given values, written by ``downtime init``."""
    forms = ", ".join(_toml_string(f) for f in config.patient_forms)
    return f"""# downtime site options. Delete a line to get the default back (`downtime init`
# writes it in again, with the default); init keeps this file's comments, order and values.

site = {_toml_string(config.site)}              # printed on every cover sheet
lang = {_toml_string(config.lang)}                         # sv | en: language of the printed forms
timezone = {_toml_string(config.timezone)}  # times on paper are local wall-clock times
admission_forms = {config.admission_forms}               # blank admission forms per ward pack
validity_hours = {config.validity_hours}               # a pack is valid this long after issue
mar_hours = {config.mar_hours}                    # hours the administration record covers
# Continuation packs (the next administration records and journal pages) made ahead with each
# ward pack, 0-3: a ward station prints them during an outage, without network or signing key.
continuations_ahead = {config.continuations_ahead}
patient_forms = [{forms}]
qr_encoder = {_toml_string(config.qr_encoder)}                # auto | zxing-cpp | qrcode
# The record's identifier system of a CSV census's encounter_id (e.g. "urn:oid:…"): reconcile
# refers to each encounter by it. Empty: no encounter reference (a FHIR census names its own).
encounter_system = {_toml_string(config.encounter_system)}
# The site's drug list, a CSV file (name,strength,form,code) in the data folder or an absolute
# path: the review station suggests its entries; a typed drug that is exactly one of them gets
# its code. Empty: no list. drug_list_system: the system of its codes (default: the NPL id).
drug_list = {_toml_string(config.drug_list)}
drug_list_system = {_toml_string(config.drug_list_system)}
# The ledger: empty for the SQLite file in this folder (one station); for several stations on
# one ledger, a PostgreSQL URL without a password (the password goes in PGPASSFILE or ~/.pgpass).
database = {_toml_string(config.database)}

# The record system's FHIR server, for `downtime reconcile` (README: "Logging in to the
# record system"). SMART Backend Services: `downtime keys client-key new`, then register
# the printed JWK set with the record system under client_id.
# [fhir]
# url = "https://fhir.example.se/R4"
# client_id = "downtime"
# ca_bundle = "/etc/pki/hospital-ca.pem"
"""


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped (a site name
    such as 'Sankt "Görans"' must not break site.toml)."""
    escaped = "".join(
        f"\\u{ord(c):04x}" if c < " " or c == "\x7f" else f"\\{c}" if c in '"\\' else c
        for c in text
    )
    return f'"{escaped}"'

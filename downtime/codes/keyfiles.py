"""The key store's files: ``keyring.json`` read and checked, public key PEM files written,
read and imported. Every problem is a :class:`~downtime.errors.KeyStoreError` that says what to
restore or redo."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, NamedTuple

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

from downtime.codes.signing import key_id_of
from downtime.errors import KeyStoreError
from downtime.files import write_new

KEYRING = "keyring.json"
KEYRING_SCHEMA = "downtime.keyring/1"

KeyStatus = Literal["active", "retired", "verify-only"]
STATUSES: tuple[KeyStatus, ...] = ("active", "retired", "verify-only")

_KEY_ID = re.compile(r"[0-9a-f]{8}")
_PEM_BLOCK = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]+)-----\r?\n.*?-----END (?P=label)-----", re.DOTALL
)

# --- keyring.json -------------------------------------------------------------------------------


class KeyringEntry(NamedTuple):
    """A validated keyring entry."""

    key_id: str
    created_at: datetime
    status: KeyStatus
    retired_at: datetime | None


def read_keyring(path: Path) -> list[KeyringEntry]:
    def corrupt(what: str) -> KeyStoreError:
        return KeyStoreError(
            f"{path} is corrupt: {what}",
            hint=f"restore {path.name} from a backup",
        )

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise corrupt(f"it cannot be read as JSON ({exc.__class__.__name__})") from None
    if not isinstance(document, dict) or document.get("schema") != KEYRING_SCHEMA:
        raise corrupt(f"it is not a {KEYRING_SCHEMA} document")
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise corrupt("'keys' is not a list")
    entries: list[KeyringEntry] = []
    for number, item in enumerate(keys, start=1):
        if not isinstance(item, dict):
            raise corrupt(f"key entry {number} is not an object")
        key_id = item.get("key_id")
        status = item.get("status")
        if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
            raise corrupt(f"key entry {number} has no valid key_id")
        if status not in STATUSES:
            raise corrupt(f"key {key_id} has an unknown status")
        try:
            created_at = _parse_time(item.get("created_at"))
            retired_raw = item.get("retired_at")
            retired_at = None if retired_raw is None else _parse_time(retired_raw)
        except ValueError:
            raise corrupt(f"key {key_id} has an invalid timestamp") from None
        entries.append(KeyringEntry(key_id, created_at, status, retired_at))
    ids = [entry.key_id for entry in entries]
    if len(set(ids)) != len(ids):
        raise corrupt("a key id is listed twice")
    if sum(entry.status == "active" for entry in entries) > 1:
        raise corrupt("more than one key is active")
    return entries


def _parse_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("not a string")
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise ValueError("naive timestamp")
    return when.astimezone(UTC)


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso_utc(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


# --- key files ----------------------------------------------------------------------------------


def raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def load_public(folder: Path, key_id: str) -> Ed25519PublicKey:
    path = folder / f"{key_id}.pub"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyStoreError(
            f"the public key file {path.name} listed in {KEYRING} is missing",
            hint="restore it from a backup, or import the key again",
        ) from None
    try:
        key = load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise KeyStoreError(
            f"the public key file {path.name} cannot be read", hint="restore it from a backup"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyStoreError(f"the public key file {path.name} is not an Ed25519 key")
    actual = key_id_of(key)
    if actual != key_id:
        raise KeyStoreError(
            f"the public key file {path.name} holds key {actual}, not {key_id}",
            hint="the key files have been swapped or altered; restore them from a backup",
        )
    return key


def write_public(folder: Path, key_id: str, public_key: Ed25519PublicKey) -> None:
    path = folder / f"{key_id}.pub"
    pem = public_pem(public_key)
    try:
        write_new(path, pem)
    except FileExistsError:
        # Left over from an interrupted import: fine if it is the same key.
        if path.read_bytes() != pem:
            raise KeyStoreError(
                f"{path.name} already exists with different contents",
                hint="move the file away and try again",
            ) from None


# --- importing ----------------------------------------------------------------------------------


def parse_public_pems(pem: bytes) -> list[Ed25519PublicKey]:
    """The Ed25519 public keys in a PEM file (comments and blank lines allowed between blocks)."""
    try:
        text = pem.decode("ascii")
    except UnicodeDecodeError:
        raise KeyStoreError(
            "the key file is not a PEM text file", hint="export the keys again on the print host"
        ) from None
    keys: list[Ed25519PublicKey] = []
    position = 0
    for number, match in enumerate(_PEM_BLOCK.finditer(text), start=1):
        _check_between(text[position : match.start()])
        position = match.end()
        label = match["label"]
        if "PRIVATE" in label:
            raise KeyStoreError(
                f"block {number} of the file is a private key; import public keys only",
                hint="never copy private keys off the print host; export its public keys",
            )
        if label != "PUBLIC KEY":
            raise KeyStoreError(f"block {number} of the file is a {label}, not a public key")
        try:
            key = load_pem_public_key(match[0].encode("ascii"))
        except (ValueError, UnsupportedAlgorithm):
            raise KeyStoreError(f"public key {number} of the file cannot be read") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyStoreError(
                f"public key {number} of the file is not an Ed25519 key "
                f"({type(key).__name__.removesuffix('PublicKey') or 'unknown'})",
                hint="page codes are signed with Ed25519 keys only; export the keys again "
                "from the downtime print host",
            )
        keys.append(key)
    _check_between(text[position:])
    if not keys:
        raise KeyStoreError(
            "the file holds no public keys", hint="export the keys again on the print host"
        )
    return keys


def _check_between(text: str) -> None:
    """Text outside PEM blocks may only be comment lines and blank lines."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            raise KeyStoreError(
                "the key file has text outside its PEM blocks that is not a comment",
                hint="export the keys again on the print host",
            )

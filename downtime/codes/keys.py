"""The Ed25519 key store in the data folder (typically ``<DOWNTIME_HOME>/keys``).

Layout (folder mode 0700, every file 0600)::

    keyring.json     {"schema": "downtime.keyring/1", "keys": [{"key_id", "created_at",
                      "status", "retired_at"}, ...]}
    <keyid>.key      private key, PKCS#8 PEM, only for the one ``active`` key
    <keyid>.pub      public key, SubjectPublicKeyInfo PEM, for every key

Statuses: ``active`` signs (at most one; only the print host has one), ``retired`` was active
on this host and still verifies its old pages (its private key is deleted on rotation),
``verify-only`` was imported from a print host (scan stations).

Private keys are stored **unencrypted**: the protection boundary is the print host's own disk
and account (file modes keep other local users out; full-disk encryption and access control
are the site's job). An optional passphrase is a possible later feature.

Files are created with :func:`os.open` and mode 0600 from the start, so a private key is never
readable by others, not even for a moment; ``keyring.json`` is replaced atomically (temporary
file, fsync, :func:`os.replace`). A key file whose computed key id does not match its name or
the keyring is an error, never silently used. The store is not meant for concurrent writers
(key creation, rotation and import are rare administrative steps).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, NamedTuple

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from downtime.codes.pagecode import key_id_of
from downtime.errors import KeyStoreError
from downtime.files import FOLDER_MODE, write_atomic, write_new

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

KEYRING = "keyring.json"
KEYRING_SCHEMA = "downtime.keyring/1"

KeyStatus = Literal["active", "retired", "verify-only"]
STATUSES: tuple[KeyStatus, ...] = ("active", "retired", "verify-only")

_KEY_ID = re.compile(r"[0-9a-f]{8}")
_PEM_BLOCK = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]+)-----\r?\n.*?-----END (?P=label)-----", re.DOTALL
)
_NO_SIGNING_KEY = "this station holds public keys only; print packs on the print host"


@dataclass(frozen=True)
class KeyInfo:
    """One key of the store, as listed to people and handed to the page-code verifier."""

    key_id: str  # 8 lowercase hex
    created_at: datetime  # aware, UTC; for verify-only keys: when they were imported
    status: KeyStatus
    retired_at: datetime | None
    public_key: Ed25519PublicKey = field(hash=False)


class KeyStore:
    """The keys in one folder. Make one with :meth:`open` or :meth:`create`."""

    def __init__(self, folder: Path, keys: list[KeyInfo]) -> None:
        self.folder = folder
        self._keys = keys

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    def open(cls, folder: Path) -> KeyStore:
        """The existing store in ``folder``; :class:`KeyStoreError` if it is missing or corrupt."""
        keyring = folder / KEYRING
        if not keyring.is_file():
            raise KeyStoreError(
                f"there is no key store in {folder} (no {KEYRING})",
                hint="set up the key store on the print host first; on a scan station, create "
                "an empty key store and import the print host's public keys",
            )
        entries = _read_keyring(keyring)
        keys = [KeyInfo(*entry, _load_public(folder, entry.key_id)) for entry in entries]
        return cls(folder, keys)

    @classmethod
    def create(cls, folder: Path, *, with_signing_key: bool = True) -> KeyStore:
        """The store in ``folder``, creating the folder and a first active key if needed.

        Idempotent: an existing store is opened and returned unchanged. A first signing key is
        made only in a store with no keys at all, so a scan station holding imported public
        keys does not quietly become a signer. ``with_signing_key=False`` makes an empty store
        (for a scan station, which then imports the print host's public keys).
        """
        try:
            folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
            folder.chmod(FOLDER_MODE)
        except OSError as exc:
            raise KeyStoreError(
                f"the key folder {folder} cannot be created ({exc.strerror})",
                hint="check the data folder's location and permissions",
            ) from None
        if (folder / KEYRING).exists():
            store = cls.open(folder)
            if store._keys or not with_signing_key:
                return store
        else:
            strays = sorted(p.name for p in folder.iterdir() if p.suffix in (".key", ".pub"))
            if strays:
                raise KeyStoreError(
                    f"{folder} holds key files ({', '.join(strays)}) but no {KEYRING}",
                    hint=f"restore {KEYRING} from a backup, or move the key files away",
                )
            store = cls(folder, [])
        if with_signing_key:
            store._keys.append(store._new_key(_now()))
        store._save()
        return store

    # --- reading -----------------------------------------------------------------------------

    def public_keys(self) -> list[KeyInfo]:
        """Every key in the store (active, retired and verify-only), in keyring order."""
        return list(self._keys)

    def verification_keys(self) -> list[Ed25519PublicKey]:
        """The public keys page codes are verified with: all of them, whatever their status."""
        return [info.public_key for info in self._keys]

    def signing_key(self) -> tuple[str, Ed25519PrivateKey]:
        """The active key's id and private key; :class:`KeyStoreError` if there is none."""
        active = self._active()
        path = self.folder / f"{active.key_id}.key"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise KeyStoreError(
                f"the private key file {path.name} of the active key is missing",
                hint="restore it from a backup, or rotate to a new key and redistribute the "
                "public keys",
            ) from None
        try:
            key = load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise KeyStoreError(
                f"the private key file {path.name} cannot be read ({exc.__class__.__name__})",
                hint="restore it from a backup",
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyStoreError(f"the private key file {path.name} is not an Ed25519 key")
        if _raw(key.public_key()) != _raw(active.public_key):
            raise KeyStoreError(
                f"the private key in {path.name} does not belong to key {active.key_id} "
                f"(its key id is {key_id_of(key.public_key())})",
                hint="the key files have been swapped or altered; restore them from a backup",
            )
        return active.key_id, key

    def export_public_pem(self, key_ids: Iterable[str] | None = None) -> str:
        """Public keys as PEM blocks, each after a ``# key <keyid> <status> created <iso>`` line.

        ``key_ids=None`` exports every key of the store; an unknown key id is an error.
        """
        wanted = self._keys if key_ids is None else [self._get(key_id) for key_id in key_ids]
        parts = [
            f"# key {info.key_id} {info.status} created {_iso(info.created_at)}\n"
            + _public_pem(info.public_key).decode("ascii")
            for info in wanted
        ]
        return "".join(parts)

    # --- changing ----------------------------------------------------------------------------

    def rotate(self) -> KeyInfo:
        """Make a new active key; the previous one becomes retired and its private key is
        deleted (retired keys verify, never sign)."""
        previous = self._active()
        now = _now()
        new = self._new_key(now)
        self._keys = [
            replace(info, status="retired", retired_at=now) if info is previous else info
            for info in self._keys
        ]
        self._keys.append(new)
        self._save()
        # After the keyring no longer lists it as active: a crash in between leaves a stale
        # file that is never used, rather than a keyring without a signing key.
        (self.folder / f"{previous.key_id}.key").unlink(missing_ok=True)
        return new

    def import_public(self, pem: bytes) -> list[KeyInfo]:
        """Add the public keys in ``pem`` as ``verify-only`` (for scan stations).

        Comment lines (``#``) and blank lines are ignored; keys already in the store are
        skipped, so importing twice changes nothing. Returns the keys that were added.
        Non-Ed25519 keys, private keys and anything else that is not a PEM public key are
        rejected before anything is written.
        """
        found = _parse_public_pems(pem)
        known = {info.key_id: info for info in self._keys}
        added: list[KeyInfo] = []
        now = _now()
        for public_key in found:
            key_id = key_id_of(public_key)
            existing = known.get(key_id)
            if existing is not None:
                if _raw(existing.public_key) != _raw(public_key):
                    raise KeyStoreError(
                        f"the file holds a different key with the id {key_id} of a key already "
                        "in the store",
                        hint="check where the file came from; nothing was imported",
                    )
                continue
            info = KeyInfo(key_id, now, "verify-only", None, public_key)
            known[key_id] = info
            added.append(info)
        for info in added:
            _write_public(self.folder, info.key_id, info.public_key)
        if added:
            self._keys.extend(added)
            self._save()
        return added

    # --- internals ---------------------------------------------------------------------------

    def _active(self) -> KeyInfo:
        for info in self._keys:
            if info.status == "active":
                return info
        raise KeyStoreError("there is no signing key in this key store", hint=_NO_SIGNING_KEY)

    def _get(self, key_id: str) -> KeyInfo:
        for info in self._keys:
            if info.key_id == key_id:
                return info
        raise KeyStoreError(f"there is no key {key_id} in this key store")

    def _new_key(self, now: datetime) -> KeyInfo:
        """Generate a key and write its files (the caller updates the keyring)."""
        private_key = Ed25519PrivateKey.generate()
        public_key = private_key.public_key()
        key_id = key_id_of(public_key)
        pem = private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        write_new(self.folder / f"{key_id}.key", pem)
        _write_public(self.folder, key_id, public_key)
        return KeyInfo(key_id, now, "active", None, public_key)

    def _save(self) -> None:
        document = {
            "schema": KEYRING_SCHEMA,
            "keys": [
                {
                    "key_id": info.key_id,
                    "created_at": _iso(info.created_at),
                    "status": info.status,
                    "retired_at": None if info.retired_at is None else _iso(info.retired_at),
                }
                for info in self._keys
            ],
        }
        text = json.dumps(document, indent=2) + "\n"
        write_atomic(self.folder / KEYRING, text.encode("utf-8"))


# --- keyring.json -------------------------------------------------------------------------------


class _Entry(NamedTuple):
    """A validated keyring entry."""

    key_id: str
    created_at: datetime
    status: KeyStatus
    retired_at: datetime | None


def _read_keyring(path: Path) -> list[_Entry]:
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
    entries: list[_Entry] = []
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
        entries.append(_Entry(key_id, created_at, status, retired_at))
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


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


# --- key files ----------------------------------------------------------------------------------


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def _load_public(folder: Path, key_id: str) -> Ed25519PublicKey:
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


def _write_public(folder: Path, key_id: str, public_key: Ed25519PublicKey) -> None:
    path = folder / f"{key_id}.pub"
    pem = _public_pem(public_key)
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


def _parse_public_pems(pem: bytes) -> list[Ed25519PublicKey]:
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

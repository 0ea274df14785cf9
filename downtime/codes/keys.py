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
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from downtime.codes.keyfiles import (
    KEYRING,
    KEYRING_SCHEMA,
    KeyStatus,
    iso_utc,
    load_public,
    now_utc,
    parse_public_pems,
    public_pem,
    raw_public,
    read_keyring,
    write_public,
)
from downtime.codes.signing import key_id_of
from downtime.errors import KeyStoreError
from downtime.files import FOLDER_MODE, write_atomic, write_new

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

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
        entries = read_keyring(keyring)
        keys = [KeyInfo(*entry, load_public(folder, entry.key_id)) for entry in entries]
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
            store._keys.append(store._new_key(now_utc()))
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
        if raw_public(key.public_key()) != raw_public(active.public_key):
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
            f"# key {info.key_id} {info.status} created {iso_utc(info.created_at)}\n"
            + public_pem(info.public_key).decode("ascii")
            for info in wanted
        ]
        return "".join(parts)

    # --- changing ----------------------------------------------------------------------------

    def rotate(self) -> KeyInfo:
        """Make a new active key; the previous one becomes retired and its private key is
        deleted (retired keys verify, never sign)."""
        previous = self._active()
        now = now_utc()
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
        found = parse_public_pems(pem)
        known = {info.key_id: info for info in self._keys}
        added: list[KeyInfo] = []
        now = now_utc()
        for public_key in found:
            key_id = key_id_of(public_key)
            existing = known.get(key_id)
            if existing is not None:
                if raw_public(existing.public_key) != raw_public(public_key):
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
            write_public(self.folder, info.key_id, info.public_key)
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
        write_public(self.folder, key_id, public_key)
        return KeyInfo(key_id, now, "active", None, public_key)

    def _save(self) -> None:
        document = {
            "schema": KEYRING_SCHEMA,
            "keys": [
                {
                    "key_id": info.key_id,
                    "created_at": iso_utc(info.created_at),
                    "status": info.status,
                    "retired_at": None if info.retired_at is None else iso_utc(info.retired_at),
                }
                for info in self._keys
            ],
        }
        text = json.dumps(document, indent=2) + "\n"
        write_atomic(self.folder / KEYRING, text.encode("utf-8"))

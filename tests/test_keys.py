from __future__ import annotations

import json
import os
import re
import stat
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from downtime import codes
from downtime.codes.keys import KeyStore
from downtime.errors import KeyStoreError
from downtime.model import Identifier

if TYPE_CHECKING:
    from pathlib import Path

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def page_code() -> codes.PageCode:
    return codes.PageCode(
        page_uid=codes.new_page_uid(),
        form_code=1,
        form_version=1,
        page=1,
        page_count=1,
        issued_at=datetime(2025, 1, 1, tzinfo=UTC),
        pack_id=codes.new_pack_id(),
        patient=Identifier("personnummer", "191212121212"),
        encounter="E1",
    )


def keyring(folder: Path) -> dict[str, object]:
    document = json.loads((folder / "keyring.json").read_text())
    assert isinstance(document, dict)
    return document


@pytest.fixture
def store(tmp_path: Path) -> KeyStore:
    return KeyStore.create(tmp_path / "home" / "keys")


# --- create and open ----------------------------------------------------------------------------


def test_create_makes_one_active_key(store: KeyStore) -> None:
    [info] = store.public_keys()
    assert info.status == "active"
    assert info.retired_at is None
    assert info.created_at.tzinfo is not None
    assert re.fullmatch(r"[0-9a-f]{8}", info.key_id)
    assert info.key_id == codes.key_id_of(info.public_key)
    assert sorted(p.name for p in store.folder.iterdir()) == sorted(
        ["keyring.json", f"{info.key_id}.key", f"{info.key_id}.pub"]
    )
    document = keyring(store.folder)
    assert document["schema"] == "downtime.keyring/1"
    assert document["keys"] == [
        {
            "key_id": info.key_id,
            "created_at": info.created_at.isoformat(),
            "status": "active",
            "retired_at": None,
        }
    ]


def test_key_files_are_pkcs8_and_spki_pem(store: KeyStore) -> None:
    key_id = store.public_keys()[0].key_id
    private_pem = (store.folder / f"{key_id}.key").read_text()
    public_pem = (store.folder / f"{key_id}.pub").read_text()
    assert private_pem.startswith("-----BEGIN PRIVATE KEY-----\n")  # PKCS#8, unencrypted
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----\n")  # SubjectPublicKeyInfo


@posix_only
def test_folder_is_0700_and_every_file_0600(store: KeyStore) -> None:
    store.rotate()
    store.import_public(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    assert mode(store.folder) == 0o700
    files = list(store.folder.iterdir())
    assert len(files) == 5  # keyring, new .key, two own .pub, one imported .pub
    for path in files:
        assert mode(path) == 0o600, path.name


@posix_only
def test_files_are_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        store = KeyStore.create(tmp_path / "keys")
    finally:
        os.umask(old)
    assert mode(store.folder) == 0o700
    assert {mode(p) for p in store.folder.iterdir()} == {0o600}


@posix_only
def test_create_tightens_an_existing_folder(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    KeyStore.create(folder)
    assert mode(folder) == 0o700


def test_create_is_idempotent(store: KeyStore) -> None:
    before = {p.name: p.read_bytes() for p in store.folder.iterdir()}
    again = KeyStore.create(store.folder)
    assert [i.key_id for i in again.public_keys()] == [i.key_id for i in store.public_keys()]
    assert {p.name: p.read_bytes() for p in store.folder.iterdir()} == before


def test_open_reads_what_create_wrote(store: KeyStore) -> None:
    opened = KeyStore.open(store.folder)
    assert opened.public_keys() == store.public_keys()
    assert opened.signing_key()[0] == store.signing_key()[0]


def test_open_missing_store_gives_a_hint(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="no key store") as caught:
        KeyStore.open(tmp_path / "nowhere")
    assert caught.value.hint


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"schema": "downtime.keyring/2", "keys": []}',
        '{"schema": "downtime.keyring/1", "keys": {}}',
        '{"schema": "downtime.keyring/1", "keys": [{"key_id": "XYZ"}]}',
        "[]",
    ],
)
def test_open_corrupt_keyring(store: KeyStore, content: str) -> None:
    (store.folder / "keyring.json").write_text(content)
    with pytest.raises(KeyStoreError, match="corrupt") as caught:
        KeyStore.open(store.folder)
    assert caught.value.hint


def test_open_rejects_an_unknown_status_and_a_bad_timestamp(store: KeyStore) -> None:
    document = keyring(store.folder)
    for field, value in [("status", "signing"), ("created_at", "yesterday")]:
        entry = dict(document["keys"][0])  # type: ignore[index]
        entry[field] = value
        (store.folder / "keyring.json").write_text(json.dumps({**document, "keys": [entry]}))
        with pytest.raises(KeyStoreError, match="corrupt"):
            KeyStore.open(store.folder)


def test_open_rejects_two_active_keys(store: KeyStore) -> None:
    store.rotate()
    document = keyring(store.folder)
    for entry in document["keys"]:  # type: ignore[attr-defined]
        entry["status"] = "active"
    (store.folder / "keyring.json").write_text(json.dumps(document))
    with pytest.raises(KeyStoreError, match="more than one key is active"):
        KeyStore.open(store.folder)


def test_create_refuses_key_files_without_a_keyring(store: KeyStore) -> None:
    (store.folder / "keyring.json").unlink()
    with pytest.raises(KeyStoreError, match=r"no keyring\.json"):
        KeyStore.create(store.folder)


# --- signing and verifying ----------------------------------------------------------------------


def test_signing_key_signs_codes_the_store_verifies(store: KeyStore) -> None:
    key_id, private_key = store.signing_key()
    assert key_id == store.public_keys()[0].key_id
    text = codes.encode(page_code(), private_key)
    decoded = codes.decode(text, KeyStore.open(store.folder).verification_keys())
    assert decoded.key_id == key_id


def test_scan_station_has_no_signing_key(tmp_path: Path, store: KeyStore) -> None:
    scan = KeyStore.create(tmp_path / "scan", with_signing_key=False)
    assert scan.public_keys() == []
    scan.import_public(store.export_public_pem().encode())
    again = KeyStore.create(scan.folder)  # idempotent: does not make a scan station a signer
    for station in (scan, again, KeyStore.open(scan.folder)):
        with pytest.raises(KeyStoreError) as caught:
            station.signing_key()
        assert caught.value.hint == (
            "this station holds public keys only; print packs on the print host"
        )
    text = codes.encode(page_code(), store.signing_key()[1])
    assert codes.decode(text, scan.verification_keys()).key_id == store.signing_key()[0]


# --- rotation -----------------------------------------------------------------------------------


def test_rotate_retires_the_old_key_and_deletes_its_private_key(store: KeyStore) -> None:
    old_id, old_private = store.signing_key()
    old_code = codes.encode(page_code(), old_private)
    new = store.rotate()
    assert new.status == "active"
    assert new.key_id != old_id
    assert not (store.folder / f"{old_id}.key").exists()
    assert (store.folder / f"{old_id}.pub").exists()
    assert (store.folder / f"{new.key_id}.key").exists()
    reopened = KeyStore.open(store.folder)
    statuses = {i.key_id: (i.status, i.retired_at is not None) for i in reopened.public_keys()}
    assert statuses == {old_id: ("retired", True), new.key_id: ("active", False)}
    assert reopened.signing_key()[0] == new.key_id
    # the retired key still verifies the pages it signed
    assert codes.decode(old_code, reopened.verification_keys()).key_id == old_id
    assert not list(store.folder.glob("*.tmp")) and not list(store.folder.glob(".*"))


def test_rotate_twice_keeps_every_public_key(store: KeyStore) -> None:
    first = store.signing_key()[0]
    second = store.rotate().key_id
    third = store.rotate().key_id
    infos = KeyStore.open(store.folder).public_keys()
    assert [(i.key_id, i.status) for i in infos] == [
        (first, "retired"),
        (second, "retired"),
        (third, "active"),
    ]
    assert len(list(store.folder.glob("*.key"))) == 1


def test_rotate_needs_an_active_key(tmp_path: Path) -> None:
    scan = KeyStore.create(tmp_path / "scan", with_signing_key=False)
    with pytest.raises(KeyStoreError):
        scan.rotate()


# --- export and import --------------------------------------------------------------------------


def test_export_has_a_comment_line_before_every_block(store: KeyStore) -> None:
    store.rotate()
    pem = store.export_public_pem()
    comments = re.findall(r"^# key ([0-9a-f]{8}) (\S+) created (\S+)$", pem, re.MULTILINE)
    infos = store.public_keys()
    assert [(k, s) for k, s, _ in comments] == [(i.key_id, i.status) for i in infos]
    assert [datetime.fromisoformat(c) for _, _, c in comments] == [i.created_at for i in infos]
    assert pem.count("-----BEGIN PUBLIC KEY-----") == 2
    assert "PRIVATE" not in pem
    blocks = pem.split("# key ")[1:]
    assert all(b.splitlines()[1] == "-----BEGIN PUBLIC KEY-----" for b in blocks)


def test_export_selected_keys(store: KeyStore) -> None:
    old = store.signing_key()[0]
    store.rotate()
    pem = store.export_public_pem([old])
    assert pem.startswith(f"# key {old} retired created ")
    assert pem.count("BEGIN PUBLIC KEY") == 1
    with pytest.raises(KeyStoreError, match="no key 00000000"):
        store.export_public_pem(["00000000"])


def test_import_adds_verify_only_keys_once(tmp_path: Path, store: KeyStore) -> None:
    store.rotate()
    exported = store.export_public_pem().encode()
    scan = KeyStore.create(tmp_path / "scan", with_signing_key=False)
    added = scan.import_public(exported)
    assert [i.key_id for i in added] == [i.key_id for i in store.public_keys()]
    assert {i.status for i in added} == {"verify-only"}
    assert all(i.retired_at is None for i in added)
    assert scan.import_public(exported) == []  # idempotent
    reopened = KeyStore.open(scan.folder)
    assert reopened.public_keys() == added
    assert [
        k.public_bytes(Encoding.Raw, PublicFormat.Raw) for k in reopened.verification_keys()
    ] == [i.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw) for i in store.public_keys()]


def test_import_own_export_changes_nothing(store: KeyStore) -> None:
    before = {p.name: p.read_bytes() for p in store.folder.iterdir()}
    assert store.import_public(store.export_public_pem().encode()) == []
    assert {p.name: p.read_bytes() for p in store.folder.iterdir()} == before


def test_import_plain_pem_without_comments(store: KeyStore) -> None:
    public = Ed25519PrivateKey.generate().public_key()
    pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    [info] = store.import_public(b"\n# from the print host\n\n" + pem + b"\n")
    assert info.key_id == codes.key_id_of(public)
    assert info.public_key == public


def _spki(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: _spki(rsa.generate_private_key(65537, 2048)), "not an Ed25519 key"),
        (lambda: _spki(ec.generate_private_key(ec.SECP256R1())), "not an Ed25519 key"),
        (
            lambda: Ed25519PrivateKey.generate().private_bytes(
                Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
            ),
            "private key",
        ),
        (lambda: b"hello\n", "outside its PEM blocks"),
        (lambda: b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "cannot be read"),
        (lambda: b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "CERTIFICATE"),
        (lambda: "# nyckel å\n".encode(), "not a PEM text file"),
    ],
)
def test_import_rejects_what_is_not_an_ed25519_public_key(
    store: KeyStore, make: object, fragment: str
) -> None:
    assert callable(make)
    bad = make()
    good = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    before = {p.name: p.read_bytes() for p in store.folder.iterdir()}
    with pytest.raises(KeyStoreError, match=fragment):
        store.import_public(good + bad)  # a good key first: nothing at all is imported
    assert {p.name: p.read_bytes() for p in store.folder.iterdir()} == before
    assert len(store.public_keys()) == 1


@pytest.mark.parametrize("pem", [b"", b"# only a comment\n\n"])
def test_import_of_a_file_without_keys_is_an_error(store: KeyStore, pem: bytes) -> None:
    with pytest.raises(KeyStoreError, match="no public keys"):
        store.import_public(pem)


# --- tampered files -----------------------------------------------------------------------------


def test_swapped_public_key_file_is_refused(store: KeyStore) -> None:
    key_id = store.signing_key()[0]
    stranger = Ed25519PrivateKey.generate().public_key()
    (store.folder / f"{key_id}.pub").write_bytes(
        stranger.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(KeyStoreError, match=f"holds key {codes.key_id_of(stranger)}, not {key_id}"):
        KeyStore.open(store.folder)


def test_swapped_private_key_file_is_refused(store: KeyStore) -> None:
    key_id = store.signing_key()[0]
    (store.folder / f"{key_id}.key").write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
    )
    with pytest.raises(KeyStoreError, match=f"does not belong to key {key_id}"):
        KeyStore.open(store.folder).signing_key()


@pytest.mark.parametrize("suffix", [".key", ".pub"])
def test_garbled_or_missing_key_file_is_refused(store: KeyStore, suffix: str) -> None:
    key_id = store.signing_key()[0]
    path = store.folder / f"{key_id}{suffix}"
    path.write_bytes(path.read_bytes().replace(b"A", b"B", 5)[:-30])
    with pytest.raises(KeyStoreError, match="cannot be read"):
        KeyStore.open(store.folder).signing_key()
    path.unlink()
    with pytest.raises(KeyStoreError, match="missing"):
        KeyStore.open(store.folder).signing_key()


def test_key_file_not_in_the_keyring_is_not_used(store: KeyStore) -> None:
    """A key listed under another id in the keyring is refused, not silently used."""
    other = Ed25519PrivateKey.generate()
    other_id = codes.key_id_of(other.public_key())
    document = keyring(store.folder)
    document["keys"][0]["key_id"] = other_id  # type: ignore[index]
    (store.folder / "keyring.json").write_text(json.dumps(document))
    with pytest.raises(KeyStoreError, match="missing"):
        KeyStore.open(store.folder)
    original = store.signing_key()[0]
    (store.folder / f"{original}.pub").rename(store.folder / f"{other_id}.pub")
    with pytest.raises(KeyStoreError, match=f"holds key {original}, not {other_id}"):
        KeyStore.open(store.folder)

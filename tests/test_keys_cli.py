"""`downtime init` and `downtime keys`: the data folder, signing keys on the print host, and
public keys on scan stations."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from conftest import PrintedPack, ledger_rows, print_example_pack, run_cli
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_public_key,
)
from pdfpages import page_codes, page_texts

from downtime import codes
from downtime.codes.keys import KeyStore
from downtime.ledger import Ledger, verify_audit_chain
from downtime.ledger.migrations import MIGRATIONS
from downtime.settings import SiteConfig, load_site_config

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def key_rows(home: Path) -> dict[str, dict[str, str]]:
    """`downtime keys list` as {key_id: {column: value}}."""
    lines = run_cli("keys", "list", "--lang", "en", home=home).stdout.splitlines()
    header, *rows = (line.split("\t") for line in lines)
    return {row[0]: dict(zip(header, row, strict=True)) for row in rows}


def keys_of(home: Path) -> dict[str, str]:
    """key_id → status, from the key store itself."""
    return {k.key_id: k.status for k in KeyStore.open(home / "keys").public_keys()}


def active_key(home: Path) -> str:
    [key_id] = [k for k, status in keys_of(home).items() if status == "active"]
    return key_id


def page_count(home: Path) -> int:
    with Ledger.open(home / "ledger.sqlite3") as ledger:
        return int(ledger_rows(ledger, "SELECT count(*) AS n FROM pages")[0]["n"])


def verify_first_page(pack: PrintedPack, verifier: Path) -> codes.PageCode:
    """Read the cover sheet's code from a rendering; verify it with the keys of the data
    folder ``verifier`` (the print host itself or a scan station)."""
    [text] = page_codes(pack.pdf, range(1))
    code = codes.decode(text, KeyStore.open(verifier / "keys").verification_keys())
    assert code.page_uid == pack.manifest["pages"][0]["page_uid"]
    assert code.pack_id == pack.manifest["pack_id"]
    return code


# --------------------------------------------------------------------------------------------
# init


@posix_only
def test_init_creates_a_private_data_folder(home: Path) -> None:
    result = run_cli("init", home=home)  # the site's language: Swedish
    assert mode(home) == 0o700 and mode(home / "keys") == 0o700
    for path in (home / "ledger.sqlite3", home / "site.toml", *(home / "keys").iterdir()):
        assert mode(path) == 0o600, path.name
    key_id = active_key(home)
    assert sorted(p.name for p in (home / "keys").iterdir()) == [
        f"{key_id}.key", f"{key_id}.pub", "keyring.json",
    ]  # fmt: skip
    assert f"signeringsnyckel\t{key_id}" in result.stdout
    assert load_site_config(home / "site.toml") == SiteConfig()
    with Ledger.open(home / "ledger.sqlite3") as ledger:
        assert ledger.migrations() == [name for name, _ in MIGRATIONS]


def test_init_again_keeps_the_key_and_the_site_options(home: Path) -> None:
    run_cli("init", "--site", "Norrlands sjukhus", home=home)
    key_id = active_key(home)
    private = (home / "keys" / f"{key_id}.key").read_bytes()
    keyring = (home / "keys" / "keyring.json").read_bytes()
    result = run_cli("init", home=home)
    assert f"signeringsnyckel\t{key_id}" in result.stdout
    assert (home / "keys" / f"{key_id}.key").read_bytes() == private
    assert (home / "keys" / "keyring.json").read_bytes() == keyring
    assert load_site_config(home / "site.toml").site == "Norrlands sjukhus"


def test_init_site_and_lang_are_used_by_the_next_pack(home: Path, tmp_path: Path) -> None:
    run_cli("init", home=home)
    run_cli("init", "--site", "Norrlands sjukhus", "--lang", "en", home=home)
    config = load_site_config(home / "site.toml")
    assert (config.site, config.lang) == ("Norrlands sjukhus", "en")
    pack = print_example_pack(home, tmp_path)
    assert (pack.manifest["site"], pack.manifest["lang"]) == ("Norrlands sjukhus", "en")
    texts = page_texts(pack.pdf)
    assert "Norrlands sjukhus" in texts[0]
    assert "DOWNTIME FORM" in texts[1] and "NEDTIDSBLANKETT" not in "".join(texts)
    with Ledger.open(home / "ledger.sqlite3") as ledger:
        [row] = ledger_rows(ledger, "SELECT site, lang FROM packs")
    assert (row["site"], row["lang"]) == ("Norrlands sjukhus", "en")


@pytest.mark.parametrize("site", ['Sankt "Görans" sjukhus', "Sjukhus A\\B", "Sjukhus # 2"])
def test_init_site_names_with_toml_special_characters_round_trip(
    home: Path, tmp_path: Path, site: str
) -> None:
    run_cli("init", "--site", site, home=home)
    assert load_site_config(home / "site.toml").site == site
    pack = print_example_pack(home, tmp_path)
    assert pack.manifest["site"] == site
    assert site in page_texts(pack.pdf)[0]


# --------------------------------------------------------------------------------------------
# keys list


def test_keys_list_counts_the_pages_each_key_signed(home: Path, tmp_path: Path) -> None:
    run_cli("init", home=home)
    key_id = active_key(home)
    before = key_rows(home)
    assert list(before) == [key_id]
    assert before[key_id]["status"] == "active" and before[key_id]["pages_signed"] == "0"
    pack = print_example_pack(home, tmp_path)
    rows = key_rows(home)
    assert int(rows[key_id]["pages_signed"]) == page_count(home) == len(pack.manifest["pages"])
    assert {p["key_id"] for p in pack.manifest["pages"]} == {key_id}


# --------------------------------------------------------------------------------------------
# keys rotate, export-public, import-public


def test_rotate_retires_the_old_key_and_signs_new_packs_with_the_new_one(
    home: Path, tmp_path: Path
) -> None:
    first = print_example_pack(home, tmp_path / "1")
    old = active_key(home)
    result = run_cli("keys", "rotate", "--lang", "en", home=home)
    new = active_key(home)
    assert new != old and result.stdout.strip() == f"active\t{new}"
    assert keys_of(home) == {old: "retired", new: "active"}
    retired = next(k for k in KeyStore.open(home / "keys").public_keys() if k.key_id == old)
    assert retired.retired_at is not None
    assert not (home / "keys" / f"{old}.key").exists(), "a retired key never signs again"
    assert (home / "keys" / f"{old}.pub").exists()

    second = print_example_pack(home, tmp_path / "2")
    assert {p["key_id"] for p in first.manifest["pages"]} == {old}
    assert {p["key_id"] for p in second.manifest["pages"]} == {new}
    rows = key_rows(home)
    assert rows[old]["status"] == "retired" and rows[new]["status"] == "active"
    assert int(rows[old]["pages_signed"]) == len(first.manifest["pages"])
    assert int(rows[new]["pages_signed"]) == len(second.manifest["pages"])


def test_a_pack_printed_before_rotation_still_verifies(home: Path, tmp_path: Path) -> None:
    pack = print_example_pack(home, tmp_path)
    old = active_key(home)
    run_cli("keys", "rotate", home=home)
    assert verify_first_page(pack, home).key_id == old


def exported_keys(pem: str) -> dict[str, Ed25519PublicKey]:
    blocks = re.findall(r"-----BEGIN PUBLIC KEY-----\n.*?-----END PUBLIC KEY-----\n", pem, re.S)
    keys = {}
    for block in blocks:
        key = load_pem_public_key(block.encode("ascii"))
        assert isinstance(key, Ed25519PublicKey)
        keys[codes.key_id_of(key)] = key
    assert len(keys) == len(blocks)
    return keys


def test_export_public_after_rotation_holds_both_keys(home: Path, tmp_path: Path) -> None:
    print_example_pack(home, tmp_path)
    old = active_key(home)
    run_cli("keys", "rotate", home=home)
    new = active_key(home)
    pem = run_cli("keys", "export-public", home=home).stdout
    assert set(exported_keys(pem)) == {old, new}
    assert f"# key {old} retired" in pem and f"# key {new} active" in pem
    assert "PRIVATE" not in pem


def test_export_public_leaves_out_a_retired_key_that_signed_nothing(home: Path) -> None:
    run_cli("init", home=home)
    unused = active_key(home)
    run_cli("keys", "rotate", home=home)
    pem = run_cli("keys", "export-public", home=home).stdout
    assert set(exported_keys(pem)) == {active_key(home)} != {unused}


def test_a_scan_station_verifies_packs_signed_before_and_after_rotation(
    home: Path, tmp_path: Path
) -> None:
    before = print_example_pack(home, tmp_path / "1")
    run_cli("keys", "rotate", home=home)
    after = print_example_pack(home, tmp_path / "2", ward="KIR7")
    pem = tmp_path / "print-host.pem"
    pem.write_text(run_cli("keys", "export-public", home=home).stdout, encoding="ascii")

    station = tmp_path / "station"
    init = run_cli("init", "--scan-station", home=station)
    assert "signeringsnyckel\tingen (skanningsstation)" in init.stdout
    assert keys_of(station) == {}
    imported = run_cli("keys", "import-public", pem, home=station)
    host_keys = set(keys_of(home))
    assert {line.split("\t")[1] for line in imported.stdout.splitlines()} == host_keys
    assert keys_of(station) == dict.fromkeys(host_keys, "verify-only")
    assert not list((station / "keys").glob("*.key"))

    assert verify_first_page(before, station).key_id == before.manifest["pages"][0]["key_id"]
    assert verify_first_page(after, station).key_id == after.manifest["pages"][0]["key_id"]

    out = tmp_path / "station-pack.pdf"
    refused = run_cli("pack", "--example", "--ward", "MED42", "-o", out, home=station, ok=False)
    assert refused.exit_code == 4
    assert "public keys only" in refused.stderr
    assert not out.exists()
    assert page_count(station) == 0


def test_a_scan_station_cannot_make_itself_a_signing_key(home: Path) -> None:
    run_cli("init", "--scan-station", home=home)
    keyring = (home / "keys" / "keyring.json").read_bytes()
    rotate = run_cli("keys", "rotate", home=home, ok=False)
    assert rotate.exit_code == 4 and "no signing key" in rotate.stderr
    again = run_cli("init", home=home)  # without --scan-station: still a station
    assert "signeringsnyckel\tingen (skanningsstation)" in again.stdout
    assert (home / "keys" / "keyring.json").read_bytes() == keyring
    assert keys_of(home) == {}


def test_importing_the_same_keys_twice_adds_nothing(home: Path, tmp_path: Path) -> None:
    run_cli("init", home=home)
    pem = tmp_path / "host.pem"
    pem.write_text(run_cli("keys", "export-public", home=home).stdout, encoding="ascii")
    station = tmp_path / "station"
    run_cli("init", "--scan-station", home=station)
    run_cli("keys", "import-public", pem, home=station)
    keyring = (station / "keys" / "keyring.json").read_bytes()
    again = run_cli("keys", "import-public", pem, home=station)
    assert again.stdout == ""
    assert (station / "keys" / "keyring.json").read_bytes() == keyring


def _private_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is not a key\n", "text outside its PEM blocks"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not a PEM text file"),
        (b"", "holds no public keys"),
        (b"# only a comment\n", "holds no public keys"),
        (_private_pem(), "private key"),
    ],
    ids=["text", "binary", "empty", "comment-only", "private-key"],
)
def test_import_of_a_file_that_is_not_a_public_key_pem_is_refused(
    home: Path, tmp_path: Path, content: bytes, message: str
) -> None:
    run_cli("init", home=home)
    good = tmp_path / "host.pem"
    good.write_text(run_cli("keys", "export-public", home=home).stdout, encoding="ascii")
    station = tmp_path / "station"
    run_cli("init", "--scan-station", home=station)
    run_cli("keys", "import-public", good, home=station)
    keyring = (station / "keys" / "keyring.json").read_bytes()
    files = sorted(p.name for p in (station / "keys").iterdir())

    bad = tmp_path / "bad.pem"
    bad.write_bytes(content)
    result = run_cli("keys", "import-public", bad, "--lang", "en", home=station, ok=False)
    assert result.exit_code == 4
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.stderr
    assert (station / "keys" / "keyring.json").read_bytes() == keyring
    assert sorted(p.name for p in (station / "keys").iterdir()) == files
    with Ledger.open(station / "ledger.sqlite3") as ledger:
        imports = ledger_rows(ledger, "SELECT * FROM audit_events WHERE action = 'keys.import'")
    assert len(imports) == 1, "only the good import is audited"


# --------------------------------------------------------------------------------------------
# Audit trail


def test_init_rotate_and_import_are_audited_in_an_intact_chain(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOWNTIME_USER", "it.admin")
    run_cli("init", "--site", "Norrlands sjukhus", home=home)
    old = active_key(home)
    run_cli("keys", "rotate", home=home)
    new = active_key(home)
    pem = tmp_path / "host.pem"
    pem.write_text(run_cli("keys", "export-public", home=home).stdout, encoding="ascii")
    station = tmp_path / "station"
    run_cli("init", "--scan-station", home=station)
    run_cli("keys", "import-public", pem, home=station)

    with Ledger.open(home / "ledger.sqlite3") as ledger:
        host = ledger_rows(ledger, "SELECT * FROM audit_events ORDER BY seq")
        assert verify_audit_chain(ledger) is None
    assert [e["action"] for e in host] == ["init", "keys.rotate"]
    assert "site=Norrlands sjukhus" in host[0]["detail"]
    assert host[1]["detail"] == f"{old} -> {new}"
    assert {e["actor"] for e in host} == {"it.admin"}
    assert all(e["station"] for e in host)

    with Ledger.open(station / "ledger.sqlite3") as ledger:
        events = ledger_rows(ledger, "SELECT * FROM audit_events ORDER BY seq")
        assert verify_audit_chain(ledger) is None
    assert [e["action"] for e in events] == ["init", "keys.import"]
    assert set(events[1]["detail"].split(",")) == {new}  # old signed nothing: not exported

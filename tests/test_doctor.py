"""``downtime doctor``: one line per check, exit code 1 when something a run needs is missing.

Real parts throughout: a data folder made by ``downtime init`` and a printed pack, the real
Tesseract hidden from PATH in a subprocess, the Medplum test server (tests/fhirserver.py) and
tests/badfhir.py in front of it for a server that answers HTML.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from backends import tamper
from click.testing import Result
from conftest import PrintedPack, print_example_pack, python_m_downtime, run_cli
from fhirserver import FhirServer, fhir_request, fhir_server_fixture  # noqa: F401 (fhir_server)

from downtime.app.doctor import diagnose
from downtime.cli.words import words
from downtime.record.capability import POSTED_TYPES, capability_problems

ROOT = Path(__file__).resolve().parent.parent
BAD_SERVER = Path(__file__).parent / "badfhir.py"
CHECKS = [
    "site-config", "timezone", "clock", "tesseract", "zxing-cpp", "zbar", "qr-encoder",
    "fonts", "permissions", "ledger", "audit-chain", "keys", "disk", "fhir",
]  # fmt: skip


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> PrintedPack:
    base = tmp_path_factory.mktemp("doctor")
    run_cli("init", "--site", "Doktorsjukhuset", home=base / "home")
    return print_example_pack(base / "home", base / "out")


@pytest.fixture
def home(printed: PrintedPack, tmp_path: Path) -> Path:
    """A copy of the printed data folder, modes kept, for a test to break."""
    import shutil

    return Path(shutil.copytree(printed.home, tmp_path / "home"))


def doctor_json(home: Path, ok: bool = True) -> tuple[Result, dict[str, Any]]:
    result = run_cli("doctor", "--json", home=home, ok=ok)
    return result, json.loads(result.stdout)


def by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    unsaid = [c["check"] for c in document["checks"] if c["state"] != "ok" and not c["fix"]]
    assert not unsaid, "every check that is not ok says what to do"
    return {c["check"]: c for c in document["checks"]}


def said(home: Path, check: str, *lang: str) -> str:
    """The line of ``check`` in ``downtime doctor``'s text, in the site's language (Swedish)
    or ``--lang en``."""
    text = run_cli("doctor", *lang, home=home, ok=False).stdout
    (line,) = [x for x in text.splitlines() if x.split()[1] == check]
    return line


# --------------------------------------------------------------------------------------------
# A healthy data folder


def test_a_healthy_data_folder_passes_every_check_one_line_each(printed: PrintedPack) -> None:
    result, document = doctor_json(printed.home)
    text = run_cli("doctor", "--lang", "en", home=printed.home)

    assert document["schema"] == "downtime.doctor/1"
    assert document["ok"] is True and result.exit_code == 0
    assert [c["check"] for c in document["checks"]] == CHECKS
    checks = by_name(document)
    not_ok = {n: c for n, c in checks.items() if c["state"] != "ok" and n != "disk"}
    assert not not_ok, "a healthy folder on a set-up computer"
    assert checks["disk"]["state"] in ("ok", "warning")
    assert all(c["fix"] is None for c in checks.values() if c["state"] == "ok")
    keys = json.loads(run_cli("keys", "list", "--json", home=printed.home).stdout)["keys"]
    pages = len(printed.manifest["pages"])
    assert f"signs with {keys[0]['key_id']}" in checks["keys"]["what"]
    assert f"{pages} page(s) signed" in checks["keys"]["what"]
    assert "'Doktorsjukhuset'" in checks["site-config"]["what"]
    assert "Europe/Stockholm" in checks["timezone"]["what"]
    assert "language data eng" in checks["tesseract"]["what"]
    assert checks["qr-encoder"]["what"].startswith("zxing-cpp")
    assert "events intact" in checks["audit-chain"]["what"]
    assert "no FHIR server" in checks["fhir"]["what"]
    lines = text.stdout.splitlines()
    assert [line.split()[1] for line in lines] == CHECKS, "one line per check"
    assert all(line.split()[0] in ("ok", "warning") for line in lines)
    assert "0 FAILED" in text.stderr
    swedish = said(printed.home, "keys")
    assert f"signerar med {keys[0]['key_id']} (skapad " in swedish
    assert f"{pages} sidor signerade); verifierar med 1 nyckel (1 aktiv)" in swedish
    assert ": sjukhus 'Doktorsjukhuset', blanketter på " in said(printed.home, "site-config")
    ledger = said(printed.home, "ledger")
    assert "integritet ok (SQLites integritetskontroll; loggkedjan kan bara läggas till)" in ledger
    english = said(printed.home, "keys", "--lang", "en")
    assert checks["keys"]["what"] in english, "English says what --json says"


def test_the_doctor_changes_nothing_and_reports_a_missing_data_folder(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result, document = doctor_json(missing, ok=False)

    assert result.exit_code == 1 and document["ok"] is False
    folder = by_name(document)["data-folder"]
    assert folder["state"] == "failed" and "downtime init" in folder["fix"]
    assert not missing.exists(), "a data folder that is not there is not made"


def test_an_unknown_time_zone_fails_and_the_computers_checks_still_run(home: Path) -> None:
    site = home / "site.toml"
    site.write_text(site.read_text().replace("Europe/Stockholm", "Mars/Olympus_Mons"))

    result, document = doctor_json(home, ok=False)

    checks = by_name(document)
    assert result.exit_code == 1
    assert checks["site-config"]["state"] == "failed"
    assert "unknown timezone 'Mars/Olympus_Mons'" in checks["site-config"]["what"]
    assert str(home / "site.toml") in checks["site-config"]["fix"]
    swedish = said(home, "site-config", "--lang", "sv")  # site.toml unreadable: English else
    assert f"→ rätta {home}/site.toml (eller ta bort inställningen" in swedish
    assert {"tesseract", "zxing-cpp", "zbar", "qr-encoder", "fonts"} <= set(checks)


# --------------------------------------------------------------------------------------------
# Permissions


def test_files_and_folders_open_to_others_fail_and_are_named(home: Path) -> None:
    (home / "ledger.sqlite3").chmod(0o644)
    (home / "keys").chmod(0o755)
    (home / "outbox").mkdir(mode=0o700)
    (home / "outbox" / "bundle.json").write_text("{}")
    (home / "outbox" / "bundle.json").chmod(0o640)

    result, document = doctor_json(home, ok=False)

    assert result.exit_code == 1
    check = by_name(document)["permissions"]
    assert check["state"] == "failed"
    for offender in ("ledger.sqlite3 (0644)", "keys (0755)", "outbox/bundle.json (0640)"):
        assert offender in check["what"]
    assert "file(s) or folder(s) open to other users or not yours" in check["what"]
    assert f"chmod -R go-rwx {home}" in check["fix"]
    others = {c["check"]: c["state"] for c in document["checks"] if c["check"] != "permissions"}
    assert "failed" not in others.values(), "the other checks still run, and pass"
    text = run_cli("doctor", "--lang", "en", home=home, ok=False).stdout
    (line,) = [x for x in text.splitlines() if x.split()[1] == "permissions"]
    assert line.startswith("FAILED") and "→ chmod -R go-rwx" in line
    line = said(home, "permissions")
    assert (
        line.startswith("FEL")
        and " filer eller mappar är öppna för andra användare eller inte dina: " in line
    )
    assert "ledger.sqlite3 (0644)" in line and f"→ chmod -R go-rwx {home}; filer som inte" in line


def test_a_damaged_audit_trail_and_a_missing_image_fail(home: Path) -> None:
    import sqlite3

    tamper(home / "ledger.sqlite3", "UPDATE audit_events SET detail = 'edited' WHERE seq = 2")
    conn = sqlite3.connect(home / "ledger.sqlite3")
    with conn:
        conn.execute(  # a file the ledger names, not in the store (foreign keys are off here)
            "INSERT INTO scan_files (file_sha256, size, kind, first_source, first_run, "
            "stored_as) VALUES (?, 1, 'png', 'gone.png', 'run', ?)",
            ("ab" * 32, f"store/ab/{'ab' * 32}.png"),
        )
    conn.close()

    result, document = doctor_json(home, ok=False)

    checks = by_name(document)
    assert result.exit_code == 1
    assert checks["audit-chain"]["state"] == "failed"
    assert "audit event 2" in checks["audit-chain"]["what"]
    assert "downtime audit verify" in checks["audit-chain"]["fix"]
    assert checks["ledger"]["state"] == "failed"
    assert "1 image(s) it names are not in the image store" in checks["ledger"]["what"]
    ledger = said(home, "ledger")
    assert "1 bild som den nämner finns inte i bildlagret" in ledger
    assert "→ återställ bilderna från en säkerhetskopia" in ledger
    assert "1 avvikelse i " in said(home, "audit-chain")
    assert "1 image(s) it names are not" in said(home, "ledger", "--lang", "en")


def test_a_ledger_written_by_a_newer_version_fails(home: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(home / "ledger.sqlite3")
    with conn:
        conn.execute("INSERT INTO migrations (name, applied_at) VALUES ('9999_future', 'x')")
    conn.close()

    result, document = doctor_json(home, ok=False)

    check = by_name(document)["ledger"]
    assert result.exit_code == 1 and check["state"] == "failed"
    assert "newer version of downtime" in check["what"] and "9999_future" in check["what"]
    assert "skriven av en nyare version av downtime (dess schema har 9999_future)" in (
        said(home, "ledger")
    )


def test_a_scan_station_without_the_signing_key_of_its_pages_fails_the_keys_check(
    home: Path,
) -> None:
    import shutil

    shutil.rmtree(home / "keys")
    run_cli("init", "--scan-station", home=home)

    result, document = doctor_json(home, ok=False)

    check = by_name(document)["keys"]
    assert result.exit_code == 1 and check["state"] == "failed"
    assert "the key store holds no keys" in check["what"]
    line = said(home, "keys")
    assert "nyckellagret har inga nycklar → på en skanningsstation: downtime keys" in line
    assert "the key store holds no keys → on a scan station" in said(home, "keys", "--lang", "en")


def test_a_clock_behind_the_ledger_fails(printed: PrintedPack) -> None:
    from datetime import UTC, datetime

    checks = {
        c.name: c for c in diagnose(printed.home, now=datetime(2025, 6, 1, tzinfo=UTC)).checks
    }

    assert checks["clock"].state == "failed"
    assert "before the ledger's newest record" in checks["clock"].what
    assert "NTP" in checks["clock"].fix
    what, fix = words("sv").check(checks["clock"])
    assert "före liggarens senaste post" in what and fix.startswith("ställ datorns klocka")
    assert words("en").check(checks["clock"]) == (checks["clock"].what, checks["clock"].fix)


# --------------------------------------------------------------------------------------------
# Tesseract, hidden from PATH


def test_without_tesseract_on_path_the_doctor_fails_and_says_what_to_install(
    printed: PrintedPack, tmp_path: Path
) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()

    done = python_m_downtime(
        "--home", str(printed.home), "doctor", "--lang", "en", env={"PATH": str(empty_bin)}
    )

    assert done.returncode == 1, done.stderr
    (line,) = [x for x in done.stdout.splitlines() if x.split()[1] == "tesseract"]
    assert line.startswith("FAILED")
    assert "Tesseract is not on PATH" in line and "→ sudo apt-get install tesseract-ocr" in line
    others = [x for x in done.stdout.splitlines() if x.split()[1] in ("zxing-cpp", "fonts")]
    assert all(x.startswith("ok") for x in others)


def test_tesseract_without_its_language_data_fails(printed: PrintedPack, tmp_path: Path) -> None:
    no_data = tmp_path / "tessdata"
    no_data.mkdir()

    done = python_m_downtime(
        "--home", str(printed.home), "doctor", "--json", env={"TESSDATA_PREFIX": str(no_data)}
    )

    check = by_name(json.loads(done.stdout))["tesseract"]
    assert done.returncode == 1
    assert check["state"] == "failed" and "has no language data eng" in check["what"]
    assert check["fix"] == "sudo apt-get install tesseract-ocr-eng"


def test_the_qrcode_encoder_is_a_warning_only(home: Path) -> None:
    site = home / "site.toml"
    site.write_text(site.read_text().replace('qr_encoder = "auto"', 'qr_encoder = "qrcode"'))

    result, document = doctor_json(home)

    check = by_name(document)["qr-encoder"]
    assert result.exit_code == 0 and document["ok"] is True
    assert check["state"] == "warning" and check["what"].startswith("qrcode")
    assert by_name(document)["zbar"]["state"] == "ok", "reads the qrcode encoder's code too"
    site.write_text(site.read_text().replace('qr_encoder = "qrcode"', 'qr_encoder = "qr-9000"'))
    result, document = doctor_json(home, ok=False)
    check = by_name(document)["qr-encoder"]
    assert check["state"] == "failed" and "unknown QR encoder 'qr-9000'" in check["what"]
    assert "qr_encoder = 'auto'" in check["fix"]


# --------------------------------------------------------------------------------------------
# The FHIR server


def with_fhir_url(home: Path, url: str) -> None:
    with (home / "site.toml").open("a", encoding="utf-8") as f:
        f.write(f'\n[fhir]\nurl = "{url}"\n')


def test_the_test_fhir_server_offers_what_reconcile_needs(
    home: Path, fhir_server: FhirServer
) -> None:
    with_fhir_url(home, fhir_server.base_url)

    result, document = doctor_json(home)

    check = by_name(document)["fhir"]
    assert result.exit_code == 0 and check["state"] == "ok"
    assert fhir_server.base_url in check["what"] and "FHIR 4.0.1" in check["what"]


def test_a_capability_statement_without_transactions_or_conditional_create_is_refused(
    fhir_server: FhirServer,
) -> None:
    statement = fhir_request("GET", f"{fhir_server.base_url}/metadata").body
    assert capability_problems(statement) == []
    rest = statement["rest"][0]
    rest["interaction"] = [i for i in rest["interaction"] if i["code"] != "transaction"]
    for resource in rest["resource"]:
        if resource["type"] == "Provenance":
            resource["conditionalCreate"] = False
    rest["resource"] = [r for r in rest["resource"] if r["type"] != "ServiceRequest"]

    problems = capability_problems(statement)

    assert problems == [
        "it does not list the 'transaction' interaction",
        "it does not list the resource type(s) ServiceRequest",
        "no conditional create (ifNoneExist) for Provenance",
    ]
    assert "ServiceRequest" in POSTED_TYPES


@pytest.fixture(scope="module")
def bad_server(fhir_server: FhirServer) -> Iterator[str]:
    """tests/badfhir.py in front of the test server, answering HTML; its FHIR base."""
    parts = urllib.parse.urlsplit(fhir_server.base_url)
    process = subprocess.Popen(
        [sys.executable, str(BAD_SERVER), f"{parts.scheme}://{parts.netloc}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("listening "), line
    root = f"http://127.0.0.1:{int(line.split()[1])}"
    try:
        answer = fhir_request("POST", f"{root}/__mode", {"mode": "garbage"})
        assert answer.status == 200
        yield root + parts.path
    finally:
        process.terminate()
        process.wait(10)


def test_a_server_answering_html_fails_the_fhir_check(home: Path, bad_server: str) -> None:
    with_fhir_url(home, bad_server)

    result, document = doctor_json(home, ok=False)

    check = by_name(document)["fhir"]
    assert result.exit_code == 1 and check["state"] == "failed"
    assert bad_server in check["what"] and "not FHIR JSON" in check["what"]


def test_a_server_that_is_not_there_fails_at_once(home: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with_fhir_url(home, f"http://127.0.0.1:{port}/fhir")

    result, document = doctor_json(home, ok=False)

    check = by_name(document)["fhir"]
    assert result.exit_code == 1
    assert check["state"] == "failed" and "unreachable" in check["what"]
    assert check["fix"]

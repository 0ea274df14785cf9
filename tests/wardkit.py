"""Helpers for the ward station tests: a print host with both example wards' packs in a folder,
ward stations holding its public keys, a self-signed TLS certificate, the host's HTTPS service
in its own process, and a CUPS of the test's own (``cupsd`` in a temporary folder, a queue whose
device is a file)."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLE, run_cli
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parent.parent
PDF_PPD = Path("/usr/share/ppd/cupsfilters/Generic-PDF_Printer-PDF.ppd")


@dataclass(frozen=True)
class Host:
    home: Path
    packs: Path  # what `pack --all-wards -o` wrote: MED42.pdf, KIR7.pdf and their manifests
    keys_pem: Path


def make_host(base: Path) -> Host:
    home, packs = base / "host", base / "packs"
    run_cli("pack", EXAMPLE / "patients.csv", "--medications", EXAMPLE / "medications.csv",
            "--all-wards", "--jobs", "1", "-o", packs, home=home)  # fmt: skip
    pem = base / "host-keys.pem"
    pem.write_text(run_cli("keys", "export-public", home=home).stdout)
    return Host(home, packs, pem)


def copy_host(host: Host, base: Path) -> Host:
    """A host of the test's own (its ledger and packs may change)."""
    home, packs = base / "host", base / "packs"
    shutil.copytree(host.home, home)
    shutil.copytree(host.packs, packs)
    return Host(home, packs, host.keys_pem)


def make_station(base: Path, host: Host | None) -> Path:
    """A ward station: its own data folder; the host's public keys unless ``host`` is None."""
    home = base / "station"
    run_cli("init", "--scan-station", home=home)
    if host is not None:
        run_cli("keys", "import-public", host.keys_pem, home=home)
    return home


def manifest(packs: Path, ward: str) -> dict[str, Any]:
    return dict(json.loads((packs / f"{ward}.manifest.json").read_text("utf-8")))


def held_files(station: Path) -> list[str]:
    folder = station / "ward-packs"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.suffix == ".pdf" or (p.suffix == ".json"
                  and p.name.endswith(".manifest.json")))  # fmt: skip


# --------------------------------------------------------------------------------------------
# TLS and the host's service


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1, signed by its own key: (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "downtime test host")])
    now = dt.datetime.now(dt.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "host.crt", folder / "host.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass(frozen=True)
class Service:
    url: str
    token_file: Path
    cert: Path  # the host's self-signed certificate: the stations' CA file
    log: Path


@contextlib.contextmanager
def serving(
    host: Host, folder: Path, token: str = "t0ken-for-the-ward-stations"
) -> Iterator[Service]:
    """``downtime station serve`` of the host's packs, in a process of its own, on a free
    port of 127.0.0.1."""
    cert, key = self_signed(folder)
    token_file = folder / "token"
    token_file.write_text(token + "\n")
    log = folder / "serve.log"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-c", "from downtime.cli import main; main()", "--home",
             str(host.home), "station", "serve", "--packs", str(host.packs), "--host",
             "127.0.0.1", "--port", "0", "--cert", str(cert), "--key", str(key),
             "--token-file", str(token_file)],
            stdout=subprocess.PIPE, stderr=err, env=env, text=True,
        )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # "serving https://127.0.0.1:PORT/ (packs in …)"
        assert line.startswith("serving https://"), log.read_text()
        yield Service(line.split()[1].rstrip("/"), token_file, cert, log)
    finally:
        process.terminate()
        process.wait(timeout=10)


# --------------------------------------------------------------------------------------------
# CUPS


@dataclass(frozen=True)
class Cups:
    server: str  # the scheduler's socket: $CUPS_SERVER for lp, lpstat and lpadmin
    printer: str
    out: Path  # the queue's device: every job's output lands in this file
    folder: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "CUPS_SERVER": self.server}

    def wait_done(self, timeout: float = 60.0) -> None:
        """Wait until the queue has no job left, and its output file is there."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pending = subprocess.run(
                ["lpstat", "-o", self.printer], capture_output=True, text=True, env=self.env(),
                check=False,
            ).stdout.strip()  # fmt: skip
            if not pending and self.out.is_file() and self.out.stat().st_size > 0:
                return
            time.sleep(0.2)
        log = (self.folder / "log" / "error_log").read_text(errors="replace")[-3000:]
        raise AssertionError(f"the print job did not finish within {timeout} s\n{log}")


CUPSD_CONF = """Listen {folder}/cups.sock
LogLevel info
Browsing No
WebInterface No
DefaultAuthType None
<Location />
  Order allow,deny
  Allow all
</Location>
<Policy default>
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
"""

CUPS_FILES_CONF = """ServerRoot {folder}/root
RequestRoot {folder}/spool
TempDir {folder}/spool
CacheDir {folder}/cache
StateDir {folder}/state
AccessLog {folder}/log/access_log
ErrorLog {folder}/log/error_log
PageLog {folder}/log/page_log
FileDevice Yes
ServerBin /usr/lib/cups
DataDir /usr/share/cups
"""


@contextlib.contextmanager
def own_cups() -> Iterator[Cups]:
    """A CUPS scheduler of the test's own: ``cupsd -f`` with a configuration in a temporary
    folder, listening on a socket there (never the system's CUPS), and a queue ``ward-printer``
    with the generic PDF printer's driver whose device is a file: each job's output, after
    CUPS's filters (media, scaling, copies), is written there as PDF.

    Run as root, cupsd runs its filters as the ``lp`` user, so the folder is readable by all
    and the output folder writable by all (the folder is made with a random name, and removed
    afterwards). As another user, cupsd and its filters run as that user.
    """
    missing = [c for c in ("cupsd", "lpadmin", "lp", "lpstat") if shutil.which(c) is None]
    if missing or not PDF_PPD.is_file():
        pytest.skip(f"CUPS is not installed ({', '.join(missing) or PDF_PPD}): make system-deps")
    folder = Path(tempfile.mkdtemp(prefix="downtime-cups-"))
    folder.chmod(0o755)
    for sub in ("root", "spool", "cache", "state", "log", "out"):
        (folder / sub).mkdir(mode=0o755)
    (folder / "out").chmod(0o777)
    (folder / "cupsd.conf").write_text(CUPSD_CONF.format(folder=folder))
    (folder / "cups-files.conf").write_text(CUPS_FILES_CONF.format(folder=folder))
    cups = Cups(str(folder / "cups.sock"), "ward-printer", folder / "out" / "printed.pdf", folder)
    daemon = subprocess.Popen(
        ["cupsd", "-f", "-c", str(folder / "cupsd.conf"), "-s", str(folder / "cups-files.conf")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not (folder / "cups.sock").exists():
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((folder / "log" / "error_log").read_text(errors="replace"))
            time.sleep(0.1)
        subprocess.run(
            ["lpadmin", "-p", cups.printer, "-E", "-v", f"file://{cups.out}", "-P", str(PDF_PPD)],
            env=cups.env(), check=True, capture_output=True,
        )  # fmt: skip
        yield cups
    finally:
        daemon.terminate()
        daemon.wait(timeout=20)
        shutil.rmtree(folder, ignore_errors=True)

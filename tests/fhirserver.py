"""A real FHIR R4 server for integration tests, and a small standard-library HTTP client for it.

The server is tests/fhir_server/server.mjs (Medplum's FHIR router in memory, validating every
write against the R4 profiles); see tests/fhir_server/README.md. A test module that needs it
imports the fixture, whose name in tests is `fhir_server`:

    from fhir import FhirServer, fhir_request, fhir_server_fixture  # noqa: F401 (fhir_server)

    def test_something(fhir_server: FhirServer) -> None: ...

The server's Node packages are installed by `make test` (or `npm ci --prefix tests/fhir_server`);
without them, or without `node`, the fixture fails: these tests are never skipped silently.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SERVER_DIR = Path(__file__).parent / "fhir_server"
SERVER_SCRIPT = SERVER_DIR / "server.mjs"
# Only needed for @medplum 5.x on Node 20 (5.x wants Node 22, where WebSocket is built in);
# the pinned 4.5.2 runs on Node 20 without it.
NODE_FLAGS: tuple[str, ...] = ()
START_TIMEOUT = 60.0
INSTALL_HINT = "run `npm ci --prefix tests/fhir_server` (or `make test`, which does it)"


@dataclass(frozen=True)
class FhirResponse:
    status: int
    headers: Mapping[str, str]
    body: Any  # parsed JSON, or None for an empty body

    @property
    def resource_type(self) -> str | None:
        return self.body.get("resourceType") if isinstance(self.body, dict) else None


def fhir_request(
    method: str,
    url: str,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> FhirResponse:
    """One request with FHIR JSON in and out; 4xx/5xx answers are returned, not raised.

    A connection closed without an answer raises (ConnectionError or http.client.HTTPException).
    """
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/fhir+json")
    if data is not None:
        request.add_header("Content-Type", "application/fhir+json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, answer_headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, answer_headers, raw = error.code, error.headers, error.read()
    return FhirResponse(status, dict(answer_headers.items()), json.loads(raw) if raw else None)


@dataclass
class FhirServer:
    """A running test server: `base_url` is its FHIR base, e.g. http://127.0.0.1:43122/fhir/R4."""

    root_url: str
    process: subprocess.Popen[str] = field(repr=False)
    start_seconds: float = 0.0  # from launch to the `listening` line

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/fhir/R4"

    def reset(self) -> None:
        """Empty the repository and forget pending faults."""
        self._control("/__reset", {})

    def fault(self, **spec: Any) -> None:
        """Arm a test fault for the next requests to the FHIR base, for example
        `fault(status=429, retry_after=1, count=1)` or `fault(drop_response=True)`."""
        self._control("/__faults", spec)

    def _control(self, path: str, spec: Mapping[str, Any]) -> None:
        response = fhir_request("POST", self.root_url + path, dict(spec))
        if response.status != 204:
            raise AssertionError(
                f"POST {path} {dict(spec)} answered {response.status}: {response.body}"
            )


def _require_server_installed() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "the FHIR test server needs Node.js 20.19+ and npm (`node` is not on PATH); "
            f"then {INSTALL_HINT}"
        )
    if not (SERVER_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
        pytest.fail(
            f"the FHIR test server is not installed ({SERVER_DIR}/node_modules); {INSTALL_HINT}"
        )
    return node


def start_fhir_server(log_dir: Path) -> FhirServer:
    """Start the server on a free loopback port and wait for its `listening HOST:PORT` line."""
    node = _require_server_installed()
    started = time.monotonic()
    log = log_dir / "fhir-server.stderr.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [node, *NODE_FLAGS, str(SERVER_SCRIPT), "0"],
            cwd=SERVER_DIR,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "FHIR_PORT": "0"},
        )
    first_line: list[str] = []
    stdout = process.stdout
    assert stdout is not None
    reader = threading.Thread(target=lambda: first_line.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(START_TIMEOUT)
    line = first_line[0].strip() if first_line else ""
    if not line.startswith("listening "):
        why = f"no line in {START_TIMEOUT:.0f} s" if reader.is_alive() else "no line"
        stop_fhir_server(process)
        why += f", exit status {process.returncode}"
        pytest.fail(
            f"the FHIR test server did not start ({why}; stdout {line!r}); "
            f"stderr:\n{log.read_text()[-4000:]}\nIf packages are missing, {INSTALL_HINT}"
        )
    root_url = f"http://{line.removeprefix('listening ')}"
    return FhirServer(root_url, process, start_seconds=time.monotonic() - started)


def stop_fhir_server(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    if process.stdout is not None:
        process.stdout.close()


@pytest.fixture(scope="session", name="fhir_server")
def fhir_server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FhirServer]:
    """One server per test session (per xdist worker); tests share it, so use unique identifiers
    or call `reset()` first."""
    server = start_fhir_server(tmp_path_factory.mktemp("fhir-server"))
    try:
        yield server
    finally:
        stop_fhir_server(server.process)

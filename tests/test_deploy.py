"""The systemd units in deploy/ (issue 12): valid for systemd, hardened, and running commands
and options that `downtime` has.

`systemd-analyze verify` checks each unit as systemd would load it (and that the program it
starts exists: the units name /usr/local/bin/downtime, replaced here by a stand-in);
`systemd-analyze security --offline` scores the hardening of each service.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import click
import pytest

from downtime.cli import main

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
PROGRAM = "/usr/local/bin/downtime"
UNITS = sorted([*DEPLOY.glob("*.service"), *DEPLOY.glob("*.timer")])
SERVICES = [u for u in UNITS if u.suffix == ".service"]
MAX_EXPOSURE = 4.0  # systemd-analyze security: 0 (locked down) … 10 (unprotected); < 4 is "OK"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is not installed (Debian's systemd package)"
)


def settings(unit: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.read_text("utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    """The units as installed, their program a stand-in that exists."""
    stand_in = tmp_path / "bin" / "downtime"
    stand_in.parent.mkdir()
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    units = tmp_path / "units"
    units.mkdir()
    for unit in UNITS:
        text = unit.read_text("utf-8").replace(PROGRAM, str(stand_in))
        (units / unit.name).write_text(text)
    return units


def test_the_roles_have_their_units() -> None:
    names = {u.name for u in UNITS}
    assert names == {
        "downtime-pack.service",
        "downtime-pack.timer",
        "downtime-station-sync.service",
        "downtime-station-sync.timer",
        "downtime-scan-watch.service",
        "downtime-review.service",
    }
    for unit in SERVICES:
        found = settings(unit)
        for key, value in {
            "User": "downtime",
            "UMask": "0077",
            "NoNewPrivileges": "yes",
            "ProtectSystem": "strict",
            "PrivateTmp": "yes",
            "Environment": "DOWNTIME_HOME=/var/lib/downtime",
        }.items():
            assert found.get(key) == [value], (unit.name, key)
        assert "/var/lib/downtime" in found["ReadWritePaths"][0].split(), unit.name
    watch = settings(DEPLOY / "downtime-scan-watch.service")
    assert watch["Restart"] == ["on-failure"] and watch["KillSignal"] == ["SIGTERM"]
    assert watch["KillMode"] == ["mixed"]  # SIGTERM to the watcher alone: it stops its readers


@pytest.mark.parametrize("unit", SERVICES, ids=lambda u: u.name)
def test_each_service_runs_a_command_and_options_downtime_has(unit: Path) -> None:
    (command,) = settings(unit)["ExecStart"]
    program, *args = shlex.split(command)
    assert program == PROGRAM
    group: click.Command = main
    while isinstance(group, click.Group) and args and not args[0].startswith("-"):
        name = args.pop(0)
        if name not in group.commands:
            pytest.fail(f"{unit.name}: downtime has no command {name!r}")
        group = group.commands[name]
    options = {o for p in group.params for o in (*p.opts, *p.secondary_opts)}
    unknown = [a for a in args if a.startswith("-") and a not in options]
    assert not unknown, f"{unit.name}: `{group.name}` has no option {unknown}"


@needs_analyze
def test_systemd_accepts_every_unit(installed: Path) -> None:
    result = subprocess.run(
        [str(ANALYZE), "verify", *sorted(str(u) for u in installed.iterdir())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    ours = [line for line in result.stderr.splitlines() if "downtime" in line]
    assert result.returncode == 0 and not ours, result.stderr


@needs_analyze
@pytest.mark.parametrize("unit", SERVICES, ids=lambda u: u.name)
def test_each_service_is_hardened(installed: Path, unit: Path) -> None:
    result = subprocess.run(
        [str(ANALYZE), "security", "--offline=yes", "--no-pager", str(installed / unit.name)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    if found is None:
        pytest.skip(f"this systemd-analyze cannot score a unit file offline: {result.stderr}")
    assert float(found.group(1)) < MAX_EXPOSURE, result.stdout

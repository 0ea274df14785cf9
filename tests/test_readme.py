"""The README documents every command, so the docs cannot drift from the CLI."""

from __future__ import annotations

from pathlib import Path

import click

from downtime.cli import main

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str) -> list[str]:
    found = []
    for name, command in group.commands.items():
        full = f"{prefix} {name}"
        if isinstance(command, click.Group):
            found.extend(_commands(command, full))
        else:
            found.append(full)
    return found


def test_every_command_is_in_the_readme() -> None:
    commands = _commands(main, "downtime")
    assert len(commands) >= 10
    missing = [c for c in commands if c not in README]
    assert not missing, f"commands missing from README.md: {missing}"


def test_readme_names_the_two_commands_ci_runs() -> None:
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci
    assert "make demo" in README and "make test" in README

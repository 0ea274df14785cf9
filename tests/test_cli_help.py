"""``downtime --help`` lists every command with its whole summary; ``python -m downtime`` is the
same command; shell completion scripts come out of it."""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner
from conftest import python_m_downtime

from downtime import __version__
from downtime.cli import main
from downtime.cli.help import summary

ROOT = Path(__file__).resolve().parent.parent


def every_command(group: click.Group = main, prefix: str = "") -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            if command.invoke_without_command:
                found[prefix + name] = command
            found |= every_command(command, f"{prefix}{name} ")
        else:
            found[prefix + name] = command
    return found


def test_help_lists_every_command_with_its_whole_summary_on_one_line() -> None:
    wide = CliRunner().invoke(main, ["--help"], terminal_width=120, prog_name="downtime")
    commands = every_command()

    assert wide.exit_code == 0
    assert {"doctor", "keys list", "keys client-key new", "review", "review list"} <= set(commands)
    lines = wide.stdout.splitlines()
    for name, command in commands.items():
        text = summary(command)
        assert text and not text.endswith("..."), name
        assert [*name.split(), *text.split()] in [line.split() for line in lines], name


def commands_section(*args: str, width: int) -> str:
    shown = CliRunner().invoke(main, [*args, "--help"], terminal_width=width).stdout
    return shown.split("Commands:\n")[1]


def test_no_summary_is_cut_short_at_any_width() -> None:
    for width in (60, 80, 200):
        assert "..." not in commands_section(width=width), width
    for group in ("keys", "packs", "forms", "outage", "quarantine", "review", "users"):
        assert "..." not in commands_section(group, width=80), group


def test_at_80_columns_every_summary_fits_on_its_line() -> None:
    section = commands_section(width=80).splitlines()
    for name, command in every_command().items():
        text = summary(command)
        beside = [*name.split(), *text.split()]  # or, after a long name, on the next line
        assert any(line.split() == beside or line.strip() == text for line in section), name


def test_python_m_downtime_is_the_downtime_command() -> None:
    version = python_m_downtime("--version")
    helped = python_m_downtime("--help")

    assert version.returncode == 0 and version.stdout.strip() == f"downtime, version {__version__}"
    assert helped.stdout.startswith("Usage: downtime [OPTIONS] COMMAND [ARGS]...")
    assert "  doctor  " in helped.stdout


def test_shell_completion_scripts_are_produced_and_complete_commands() -> None:
    bash = python_m_downtime(env={"_DOWNTIME_COMPLETE": "bash_source"})
    zsh = python_m_downtime(env={"_DOWNTIME_COMPLETE": "zsh_source"})
    words = python_m_downtime(
        env={"_DOWNTIME_COMPLETE": "bash_complete", "COMP_WORDS": "downtime pa", "COMP_CWORD": "1"}
    )
    in_process = CliRunner().invoke(
        main, [], prog_name="downtime", env={"_DOWNTIME_COMPLETE": "bash_source"}
    )

    assert bash.returncode == 0
    assert "complete -o nosort -F _downtime_completion downtime" in bash.stdout
    assert "#compdef downtime" in zsh.stdout
    assert words.stdout.split() == ["plain,pack", "plain,packs"]
    assert in_process.stdout == bash.stdout


def test_the_readme_tells_how_to_turn_completion_on() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    assert 'eval "$(_DOWNTIME_COMPLETE=bash_source downtime)"' in readme
    assert "python -m downtime" in readme

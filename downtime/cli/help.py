"""``--help`` with every command's whole summary.

click cuts a command's summary in its group's help at about 45 characters and ends it with
"..."; :class:`Group` shows it whole (wrapped to the terminal), in the order the commands were
added, and ``downtime --help`` (:class:`Index`) lists every command there is, a subcommand
under its group's name (``keys rotate``), so that one screen shows everything the kit does.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import click

# Summaries are written to fit in SUMMARY_WIDTH columns: at 80 columns the names' column is
# then 18 wide, and a longer name ("keys client-key show") gets its summary on the next line;
# a wider terminal widens the names' column first.
SUMMARY_WIDTH = 56
NAME_SPACING = 4  # the gap after a name, and the right margin


def summary(command: click.Command) -> str:
    """A command's one-line summary: its ``short_help``, else the first sentence of its help."""
    if command.short_help:
        return " ".join(command.short_help.split())
    first = inspect.cleandoc(command.help or "").split("\n\n")[0]
    text = " ".join(first.replace("\b", "").split())
    end = text.find(". ")
    return text[: end + 1] if end >= 0 else text


class Group(click.Group):
    """A group whose help lists its commands in the order they were added, summaries whole."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def listed(self, ctx: click.Context) -> Iterator[tuple[str, click.Command]]:
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                yield name, command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, summary(command)) for name, command in self.listed(ctx)]
        if rows:
            with formatter.section("Commands"):
                room = formatter.width - SUMMARY_WIDTH - NAME_SPACING
                formatter.write_dl(rows, col_max=max(room, 10))


class Index(Group):
    """The top group: its help lists every command, subcommands by their full name."""

    def listed(self, ctx: click.Context) -> Iterator[tuple[str, click.Command]]:
        yield from _every(self, ctx, "")


def _every(
    group: click.Group, ctx: click.Context, prefix: str
) -> Iterator[tuple[str, click.Command]]:
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        if not isinstance(command, click.Group):
            yield f"{prefix}{name}", command
            continue
        if command.invoke_without_command:  # the group does something itself
            yield f"{prefix}{name}", command
        yield from _every(command, ctx, f"{prefix}{name} ")

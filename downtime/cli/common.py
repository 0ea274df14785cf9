"""What every command shares: option types, the data folder from the context, messages on
stderr, and a :class:`DowntimeError` turned into its exit code."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from downtime.errors import DowntimeError

F = TypeVar("F", bound=Callable[..., Any])

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
OUTPUT_PATH = click.Path(path_type=Path)
LANG = click.Choice(["sv", "en"])


def jobs_option(what: str) -> Callable[[F], F]:
    """``--jobs N``: how many processes do ``what`` at once (default: one per CPU)."""
    return click.option(
        "--jobs",
        type=click.IntRange(1, 64),
        default=lambda: os.cpu_count() or 1,
        show_default="number of CPUs",
        help=f"{what}.",
    )


def _fail(error: DowntimeError) -> None:
    click.echo(f"error: {error}", err=True)
    sys.exit(int(error.exit_code))


def handles_errors(command: F) -> F:
    """Turn a DowntimeError into a message on stderr and its exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DowntimeError as e:
            _fail(e)

    return wrapper  # type: ignore[return-value]


def data_home(ctx: click.Context) -> Path | None:
    home: Path | None = ctx.obj.get("home") if ctx.obj else None
    return home


def echo_err(message: str) -> None:
    click.echo(message, err=True)

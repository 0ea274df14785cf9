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

from downtime.cli.words import Words, site_language, words
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


LANG_OPTION = click.option(
    "--lang", type=LANG, help="Language of the messages (default: site.toml's, else sv)."
)
_SPEAKS = "downtime_speaks_site_language"


def _fail(error: DowntimeError, lang: str) -> None:
    click.echo(words(lang).error(error), err=True)
    sys.exit(int(error.exit_code))


def speaks_site_language(command: F) -> F:
    """Mark a command whose messages (errors too) are in the site's language (``--lang``, else
    site.toml's); put it below :func:`handles_errors`. Commands without it speak English."""
    setattr(command, _SPEAKS, True)
    return command


def handles_errors(command: F) -> F:
    """Turn a DowntimeError into a message on stderr and its exit code."""
    speaks = getattr(command, _SPEAKS, False)

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DowntimeError as e:
            lang = "en"
            if speaks:
                home = data_home(click.get_current_context(silent=True))
                lang = site_language(home, kwargs.get("lang"))
            _fail(e, lang)

    return wrapper  # type: ignore[return-value]


def say(ctx: click.Context, lang: str | None = None) -> Words:
    """The messages of a command in its language: ``lang`` (``--lang``), else the site's."""
    return words(site_language(data_home(ctx), lang))


def data_home(ctx: click.Context | None) -> Path | None:
    home: Path | None = ctx.obj.get("home") if ctx is not None and ctx.obj else None
    return home


def echo_err(message: str) -> None:
    click.echo(message, err=True)

"""``downtime review``: the review station, a local web application (:mod:`downtime.station`).

A group: bare ``downtime review`` serves the station; subcommands (the scriptable path) hang
off the same group."""

from __future__ import annotations

import click

from downtime.cli.common import data_home, echo_err, handles_errors


@click.group(invoke_without_command=True)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but this computer's own (loopback) address lets "
    "other computers reach the login page: only on a trusted ward network.",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="Port (default: a free one)."
)
@click.pass_context
@handles_errors
def review(ctx: click.Context, host: str, port: int) -> None:
    """Serve the review station, where people settle what the kit holds for them.

    Prints the address to open in a browser, then serves until Ctrl+C. Log in with a user
    made by `downtime users add`; each sees the queues of their role.

    \b
    downtime review
    downtime review --port 8765
    """
    if ctx.invoked_subcommand is not None:
        return
    from downtime.station import open_station

    serving = open_station(data_home(ctx), host=host, port=port)
    if serving.wide:
        echo_err(
            f"warning: the review station listens on {host}, reachable from other computers; "
            "traffic is not encrypted (use it only on a trusted network)"
        )
    click.echo(serving.url)
    echo_err("review station running; stop it with Ctrl+C")
    try:
        serving.run()
    except KeyboardInterrupt:
        pass
    finally:
        serving.close()

"""Serving the station: waitress on one address and port, the Host names it answers to."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from waitress.server import create_server

from downtime.app.held import site_drugs
from downtime.app.workspace import keep_ledgers_open
from downtime.settings import resolve
from downtime.station.web import Station

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
THREADS = 4


@dataclass(frozen=True)
class Serving:
    url: str
    hosts: tuple[str, ...]  # the Host headers answered (host:port)
    wide: bool  # bound beyond this computer
    run: Callable[[], None]  # serves until interrupted
    close: Callable[[], None]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_names(host: str, port: int) -> tuple[str, ...]:
    """What a browser puts in the Host header for this station: the address it was told to
    bind; on loopback also localhost; on a wildcard address this computer's names."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    names = {shown}
    if is_loopback(host):
        names |= set(LOOPBACK_NAMES)
    if host in ("0.0.0.0", "::", "[::]"):  # noqa: S104 - naming what a wildcard bind answers
        names |= {socket.gethostname(), socket.getfqdn(), *LOOPBACK_NAMES}
    return tuple(sorted(f"{n.lower()}:{port}" for n in names))


def open_station(home: Path | None, *, host: str = "127.0.0.1", port: int = 0) -> Serving:
    """Bind the station (``port`` 0: a free one) and say where it is; :attr:`Serving.run`
    serves."""
    settings = resolve(home)
    drugs = site_drugs(settings.home)  # read and checked once: a bad list stops the start
    app = _App()
    server = create_server(app, host=host, port=port, threads=THREADS, ident="downtime")
    bound = int(getattr(server, "effective_port", port))
    hosts = host_names(host, bound)
    app.station = Station(
        settings.home,
        hosts=hosts,
        lang=settings.config.lang,
        timezone=settings.config.timezone,
        drugs=drugs,
    )
    shown = hosts[0] if not is_loopback(host) else f"127.0.0.1:{bound}"

    def run() -> None:
        keep_ledgers_open()  # from here on this process serves short requests, and only them
        server.run()

    return Serving(f"http://{shown}/", hosts, not is_loopback(host), run, server.close)


class _App:
    """The WSGI callable handed to waitress before the port (and so the Host names) is known."""

    station: Station | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        assert self.station is not None
        return self.station(environ, start_response)

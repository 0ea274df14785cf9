"""The review station: a local web application where people settle what the kit holds for them.

``downtime review`` serves it (:func:`~downtime.station.server.open_station`): server-rendered
pages (Jinja2 templates, one CSS and a few lines of plain JavaScript, all shipped in this
package), behind a login (:mod:`~downtime.station.login`, users from
:mod:`downtime.app.users`), with sessions in memory (:mod:`~downtime.station.sessions`) and the
guard of :mod:`~downtime.station.web` in front of every page. Each queue is a
:class:`~downtime.station.queues.Queue` (that module says how to add one); data and decisions
come from :mod:`downtime.app`, never from the ledger directly. Words in Swedish and English:
``words.toml``.
"""

from __future__ import annotations

from downtime.station.server import Serving, open_station

__all__ = ["Serving", "open_station"]

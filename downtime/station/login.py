"""Logging in and out. A login page gets a session of its own (with a CSRF token, no user);
a successful login replaces it with a new one. Failed logins are throttled per name and per
client address, before the password is even checked."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from werkzeug.wrappers import Request, Response

from downtime.app.review import record_station_event
from downtime.app.users import check_login
from downtime.ledger import AuditEvent
from downtime.station.queues import redirect
from downtime.station.sessions import Session, Sessions, Throttle


class Station(Protocol):
    """What logging in needs of the station (:class:`downtime.station.web.Station`)."""

    home: Path | None
    lang: str
    sessions: Sessions
    by_user: Throttle
    by_address: Throttle

    def set_cookie(self, response: Response, session: Session) -> Response: ...

    def render(
        self, session: Session | None, template: str, values: Mapping[str, Any], status: int
    ) -> Response: ...


def to_login(station: Station, session: Session | None, *, expired: bool) -> Response:
    """To the login page (a session that ended says so there)."""
    if session is None:
        session = station.sessions.new(station.lang)
    if expired:
        session.notice = "session_ended"
    return station.set_cookie(redirect("/login"), session)


def login(station: Station, request: Request, session: Session | None) -> Response:
    if session is not None and session.user is not None:
        return redirect("/")
    if session is None:
        session = station.sessions.new(station.lang)
    if request.method == "GET":
        return station.set_cookie(_page(station, session, None, 200), session)
    name = request.form.get("name", "").strip().lower()[:64]
    password = request.form.get("password", "")
    address = request.remote_addr or "unknown"
    wait = max(station.by_user.wait_s(name), station.by_address.wait_s(address))
    if wait > 0:
        event = AuditEvent("station.login-throttled", "too many failed logins")
        record_station_event(station.home, event, actor=name or "-")
        minutes = max(1, math.ceil(wait / 60))
        return _page(station, session, ("login_throttled", minutes), 429)
    check = check_login(station.home, name, password)
    if check.user is None:
        station.by_user.failed(name)
        station.by_address.failed(address)
        return _page(station, session, ("login_failed", 0), 401)
    station.by_user.succeeded(name)
    fresh = station.sessions.log_in(session, check.user.name, check.user.role)
    return station.set_cookie(redirect("/"), fresh)


def logout(station: Station, session: Session) -> Response:
    station.sessions.end(session)
    response = redirect("/login")
    response.delete_cookie("downtime_session", path="/", httponly=True, samesite="Strict")
    return response


def _page(
    station: Station, session: Session, problem: tuple[str, int] | None, status: int
) -> Response:
    notice = session.take_notice()
    values = {"problem": problem, "ended": notice == "session_ended"}
    return station.render(session, "login.html", values, status)

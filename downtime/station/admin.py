"""The users page (administrators only): who may use the station, with which role; add a
user, disable one. The same as ``downtime users``, and audited the same way."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from downtime.app.users import add_station_user, disable_station_user, station_users
from downtime.errors import DowntimeError
from downtime.ledger.users import ROLES as ALL_ROLES
from downtime.station.queues import ADMINS, Desk

ROLES = ADMINS


def users_page(desk: Desk, request: Request) -> Response:
    problem = None
    if request.method == "POST":
        try:
            if request.form.get("action") == "disable":
                name = request.form.get("name", "")
                disable_station_user(desk.home, name, actor=desk.user)
                desk.notify(desk.words("disabled_user", name=name))
            else:
                problem = _add(desk, request)
            if problem is None:
                return desk.redirect("/users")
        except DowntimeError as e:
            problem = e.message
    return desk.page(
        "users.html",
        status=200 if problem is None else 422,
        users=station_users(desk.home),
        roles=ALL_ROLES,
        problem=problem,
    )


def _add(desk: Desk, request: Request) -> str | None:
    name = request.form.get("name", "").strip().lower()
    password = request.form.get("password", "")
    if password != request.form.get("password2", ""):
        return desk.words("passwords_differ")
    add_station_user(desk.home, name, request.form.get("role", ""), password, actor=desk.user)
    desk.notify(desk.words("added_user", name=name))
    return None

"""The station's WSGI application: the guard in front of every page, then the page.

Every request passes, in order: the Host header must name the address the station is bound
to (a page of another site that resolves its own name to 127.0.0.1 is refused: DNS
rebinding); a POST must come from a page of the station (Origin, when the browser sends one)
and carry its session's CSRF token; every page but the login page needs a live session
(:mod:`~downtime.station.sessions`), and a queue or the users page the role for it. Answers
are never cached and may not be framed; scripts, styles and images come from the station.
Nothing a page shows is logged: the station writes to stderr only an internal error's type
and place, with a reference shown to the user.
"""

from __future__ import annotations

import json
import secrets
import sys
import traceback
from collections.abc import Iterable, Mapping
from datetime import datetime
from importlib import resources
from pathlib import Path, PurePath
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from werkzeug.exceptions import Forbidden, HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from downtime.app.held import drug_suggestions
from downtime.app.review import record_station_event
from downtime.app.users import active_user
from downtime.ledger import AuditEvent
from downtime.station import admin, login
from downtime.station.queue_conflicts import PageConflictQueue, RecordConflictQueue
from downtime.station.queue_marks import MarksQueue
from downtime.station.queue_quarantine import QuarantineQueue
from downtime.station.queue_transcription import TranscriptionQueue, UnknownPatientQueue
from downtime.station.queues import Desk, Queue, redirect
from downtime.station.sessions import Session, Sessions, Throttle
from downtime.station.words import coded, reason, why, word
from downtime.words import LANGS

QUEUES: tuple[Queue, ...] = (
    TranscriptionQueue(),
    MarksQueue(),
    PageConflictQueue(),
    RecordConflictQueue(),
    UnknownPatientQueue(),
    QuarantineQueue(),
)
COOKIE = "downtime_session"
STATIC = {"station.css": "text/css", "station.js": "text/javascript"}
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PUBLIC = {"login", "static"}
SUGGESTED = 25  # drug names offered for what was typed so far
MAX_TYPED = 100


class CsrfRefused(Forbidden):
    pass


class Station:
    def __init__(
        self,
        home: Path | None,
        *,
        hosts: Iterable[str],
        lang: str,
        timezone: str,
        drugs: Iterable[str] = (),
    ) -> None:
        self.home = home
        self.drugs = tuple(drugs)  # the site drug list's entries as shown (app.held.site_drugs)
        self.hosts = {h.lower() for h in hosts}
        self.lang = lang if lang in LANGS else "sv"
        self.tz = ZoneInfo(timezone)
        self.sessions = Sessions()
        self.by_user = Throttle(5, 15 * 60.0)
        self.by_address = Throttle(20, 15 * 60.0)
        self.queues = {q.slug: q for q in QUEUES}
        self.templates = Environment(
            loader=PackageLoader("downtime.station", "templates"),
            autoescape=select_autoescape(default=True),
        )
        self.templates.filters["file_name"] = lambda source: PurePath(str(source)).name
        self.routes = Map(
            [
                Rule("/", endpoint="index", methods=["GET"]),
                Rule("/login", endpoint="login", methods=["GET", "POST"]),
                Rule("/logout", endpoint="logout", methods=["POST"]),
                Rule("/lang", endpoint="lang", methods=["POST"]),
                Rule("/users", endpoint="users", methods=["GET", "POST"]),
                Rule("/static/<name>", endpoint="static", methods=["GET"]),
                Rule("/drugs", endpoint="drugs", methods=["GET"]),
                Rule("/q/<slug>", endpoint="listing", methods=["GET"]),
                Rule("/q/<slug>/<item>", endpoint="item", methods=["GET", "POST"]),
                Rule("/q/<slug>/<item>/<part>", endpoint="part", methods=["GET"]),
            ]
        )

    # ---------------------------------------------------------------------------------------
    # WSGI

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except HTTPException as e:
            response = self.refusal(request, e)
        except Exception as e:  # logged without its message, answered as 500
            response = self.internal_error(request, e)
        self.harden(response)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        if request.host.lower() not in self.hosts:
            return Response("misdirected request\n", 421, mimetype="text/plain")
        endpoint, args = self.routes.bind_to_environ(request.environ).match()
        if endpoint == "static":
            return self.static(args["name"])
        session = self.sessions.get(request.cookies.get(COOKIE))
        request.environ["downtime.session"] = session
        if request.method == "POST":
            self.check_post(request, session)
        if endpoint == "login":
            return login.login(self, request, session)
        if endpoint == "lang" and session is not None:
            return self.switch_lang(request, session)
        if session is None or session.user is None or session.role is None:
            return login.to_login(self, session, expired=request.cookies.get(COOKIE) is not None)
        if active_user(self.home, session.user) is None:  # disabled since
            self.sessions.end(session)
            return login.to_login(self, None, expired=True)
        desk = self.desk(session)
        if endpoint == "logout":
            return login.logout(self, session)
        if endpoint == "index":
            return self.index(desk)
        if endpoint == "drugs":
            self.require(desk, self.queues["transcription"].roles, "drugs")
            return self.drug_matches(request.args.get("q", ""))
        if endpoint == "users":
            self.require(desk, admin.ROLES, "users")
            return admin.users_page(desk, request)
        queue = self.queues.get(args["slug"])
        if queue is None:
            raise NotFound()
        self.require(desk, queue.roles, queue.slug)
        if endpoint == "listing":
            return queue.listing(desk, request)
        if endpoint == "part":
            return queue.part(desk, request, args["item"], args["part"])
        if request.method == "POST":
            return queue.act(desk, request, args["item"])
        return queue.item(desk, request, args["item"])

    # ---------------------------------------------------------------------------------------
    # The guard

    def check_post(self, request: Request, session: Session | None) -> None:
        origin = request.headers.get("Origin")
        if origin is not None and origin.lower() not in {f"http://{h}" for h in self.hosts}:
            raise CsrfRefused()
        token = request.form.get("csrf", "")
        if session is None or not secrets.compare_digest(token.encode(), session.csrf.encode()):
            raise CsrfRefused()

    def require(self, desk: Desk, roles: frozenset[str], what: str) -> None:
        if desk.role not in roles:
            event = AuditEvent("station.refused", f"role {desk.role} asked for {what}")
            record_station_event(self.home, event, actor=desk.user)
            raise Forbidden()

    def harden(self, response: Response) -> None:
        headers = response.headers
        headers["Content-Security-Policy"] = CSP
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "same-origin"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Cross-Origin-Resource-Policy"] = "same-origin"
        if "Cache-Control" not in headers:
            headers["Cache-Control"] = "no-store"

    def set_cookie(self, response: Response, session: Session) -> Response:
        response.set_cookie(
            COOKIE, session.token, httponly=True, samesite="Strict", path="/", secure=False
        )
        return response

    # ---------------------------------------------------------------------------------------
    # Pages

    def desk(self, session: Session) -> Desk:
        assert session.user is not None and session.role is not None

        def render(template: str, values: Mapping[str, Any], status: int) -> Response:
            return self.render(session, template, values, status)

        def notify(text: str) -> None:
            session.notice = text

        return Desk(
            home=self.home,
            user=session.user,
            role=session.role,
            lang=session.lang,
            csrf=session.csrf,
            words=lambda key, **values: word(session.lang, key, **values),
            render=render,
            redirect=redirect,
            notify=notify,
            local_time=self.local_time,
            drugs=self.drugs,
        )

    def render(
        self,
        session: Session | None,
        template: str,
        values: Mapping[str, Any],
        status: int = 200,
    ) -> Response:
        lang = session.lang if session else self.lang
        role = session.role if session else None
        context = {
            "t": lambda key, **v: word(lang, key, **v),
            "reason_words": lambda code: reason(lang, code),
            "why_words": lambda detail: why(lang, detail),
            "coded": lambda table, code: coded(lang, table, code),
            "local_time": self.local_time,
            "lang": lang,
            "langs": LANGS,
            "user": session.user if session else None,
            "role": role,
            "csrf": session.csrf if session else "",
            "notice": session.take_notice() if session else None,
            "nav": [q for q in QUEUES if q.allows(role)],
            "is_admin": role in admin.ROLES,
            **values,
        }
        html = self.templates.get_template(template).render(context)
        return Response(html, status, mimetype="text/html")

    def index(self, desk: Desk) -> Response:
        counts = [(q, q.count(desk)) for q in QUEUES if q.allows(desk.role)]
        return desk.page("index.html", counts=counts)

    def drug_matches(self, typed: str) -> Response:
        """The drug names matching what was typed so far, as JSON (``station.js`` offers them
        under a drug input): a list of thousands is not sent with every page."""
        found = drug_suggestions(self.home, self.drugs, typed[:MAX_TYPED], SUGGESTED)
        return Response(json.dumps({"q": typed, "drugs": found}), mimetype="application/json")

    def switch_lang(self, request: Request, session: Session) -> Response:
        chosen = request.form.get("lang", "")
        if chosen in LANGS:
            session.lang = chosen
        back = request.form.get("back", "/")
        safe = back.startswith("/") and not back.startswith("//") and "\\" not in back
        return redirect(back if safe else "/")

    def static(self, name: str) -> Response:
        if name not in STATIC:
            raise NotFound()
        data = (resources.files("downtime.station") / "static" / name).read_bytes()
        response = Response(data, mimetype=STATIC[name])
        response.headers["Cache-Control"] = "max-age=3600"
        return response

    def local_time(self, iso: str) -> str:
        try:
            return datetime.fromisoformat(iso).astimezone(self.tz).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            return iso

    def refusal(self, request: Request, error: HTTPException) -> Response:
        session: Session | None = request.environ.get("downtime.session")
        status = error.code or 500
        key = {403: "refused", 404: "not_found"}.get(status, "error")
        text = {403: "refused_role", 404: "not_found_text"}.get(status, "not_found_text")
        if isinstance(error, CsrfRefused):
            text = "refused_csrf"
        return self.render(session, "message.html", {"title": key, "text": text}, status)

    def internal_error(self, request: Request, error: Exception) -> Response:
        ref = secrets.token_hex(4)
        frame = traceback.extract_tb(error.__traceback__)[-1]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        name = type(error).__name__
        sys.stderr.write(f"review station: internal error {ref}: {name} at {where}\n")
        session: Session | None = request.environ.get("downtime.session")
        values = {"title": "error", "text": "error_text", "ref": ref}
        return self.render(session, "message.html", values, 500)

"""Sessions and the failed-login throttle, held in the station's memory only.

A session is a bearer secret: kept in memory, it is never written where a copy of the data
folder would carry it, and it ends with the station process. One process serves the station
(waitress's threads share it), so memory is the whole truth; a lock guards it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

IDLE_S = 30 * 60.0  # a session unused this long has ended
MAX_SESSIONS = 2000  # beyond this, the least recently used go (a flood of login page loads)
MAX_KEYS = 10_000  # names and addresses with failures kept before the stale ones are dropped


@dataclass
class Session:
    token: str
    csrf: str
    lang: str
    user: str | None = None  # None: not logged in (the login page's own session)
    role: str | None = None
    last_seen: float = field(default_factory=time.monotonic)
    notice: str | None = None  # shown once, on the next page

    def take_notice(self) -> str | None:
        notice, self.notice = self.notice, None
        return notice


class Sessions:
    def __init__(self, *, idle_s: float = IDLE_S, clock: Callable[[], float] = time.monotonic):
        self.idle_s = idle_s
        self._clock = clock
        self._lock = threading.Lock()
        self._by_token: dict[str, Session] = {}

    def new(self, lang: str) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), lang)
        session.last_seen = self._clock()
        with self._lock:
            self._sweep()
            self._by_token[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        """The live session of a cookie's token, its idle time restarted; None if it ended."""
        if not token:
            return None
        with self._lock:
            session = self._by_token.get(token)
            if session is None:
                return None
            now = self._clock()
            if now - session.last_seen > self.idle_s:
                del self._by_token[token]
                return None
            session.last_seen = now
            return session

    def log_in(self, old: Session, user: str, role: str) -> Session:
        """A new session (new token and CSRF token) for a user who logged in: a token seen
        before the login never carries it."""
        fresh = self.new(old.lang)
        fresh.user, fresh.role = user, role
        self.end(old)
        return fresh

    def end(self, session: Session) -> None:
        with self._lock:
            self._by_token.pop(session.token, None)

    def _sweep(self) -> None:
        now = self._clock()
        for token in [t for t, s in self._by_token.items() if now - s.last_seen > self.idle_s]:
            del self._by_token[token]
        while len(self._by_token) >= MAX_SESSIONS:
            oldest = min(self._by_token.values(), key=lambda s: s.last_seen)
            del self._by_token[oldest.token]


class Throttle:
    """At most ``limit`` failures per key within ``window_s``; then refused until the oldest
    failure ages out. A success clears the key's failures."""

    def __init__(
        self, limit: int, window_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}

    def wait_s(self, key: str) -> float:
        """Seconds until ``key`` may try again (0: now)."""
        with self._lock:
            times = self._recent(key)
            if len(times) < self.limit:
                return 0.0
            return max(0.0, times[0] + self.window_s - self._clock())

    def failed(self, key: str) -> None:
        with self._lock:
            self._recent(key).append(self._clock())
            if len(self._failures) > MAX_KEYS:
                for stale in [k for k in list(self._failures) if not self._recent(k)]:
                    del self._failures[stale]

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _recent(self, key: str) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        cutoff = self._clock() - self.window_s
        while times and times[0] <= cutoff:
            times.popleft()
        return times

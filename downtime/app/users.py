"""The review station's users (``downtime users``) and the password check at its login.

Passwords are hashed with Argon2id (argon2-cffi's defaults: RFC 9106's second recommended
setting, 64 MiB and 3 passes), so that a copied ledger does not give the passwords away
cheaply. Only the hash is kept. A name the ledger does not know is checked against a hash
all the same, so that the time a refusal takes does not tell which names exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from downtime.app.workspace import workspace
from downtime.errors import InputError, Said
from downtime.ledger import AuditEvent, write_audit
from downtime.ledger.users import ROLES, User, add_user, disable_user, user_and_hash, users

NAME = re.compile(r"[a-z][a-z0-9._-]{1,31}")
MIN_PASSWORD = 10
_HASHER = PasswordHasher()
_NOBODY = _HASHER.hash("a password no user has")


@dataclass(frozen=True)
class LoginCheck:
    user: User | None  # None: refused
    why: str  # "ok" | "unknown-or-wrong" | "disabled"


def check_new_user(name: str, role: str, password: str) -> None:
    if not NAME.fullmatch(name):
        raise InputError(
            f"'{name}' cannot be a user name",
            hint="2-32 characters: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter",
            said=Said("user_bad_name", {"name": name}),
        )
    if role not in ROLES:
        raise InputError(
            f"unknown role '{role}'",
            hint=f"one of: {', '.join(ROLES)}",
            said=Said("user_bad_role", {"role": role, "roles": ", ".join(ROLES)}),
        )
    if len(password) < MIN_PASSWORD:
        raise InputError(
            f"a password has at least {MIN_PASSWORD} characters",
            said=Said("user_short_password", {"min": MIN_PASSWORD}),
        )


def add_station_user(
    home: Path | None, name: str, role: str, password: str, *, actor: str | None = None
) -> User:
    """Add a user of the review station with a role; audited as ``actor`` (default: the
    operator)."""
    check_new_user(name, role, password)
    hashed = _HASHER.hash(password)
    with workspace(home, keys="read") as (settings, _keys, ledger):
        return add_user(
            ledger, name, role, hashed, actor=actor or settings.operator, station=settings.station
        )


def station_users(home: Path | None) -> list[User]:
    with workspace(home, keys="read") as (_settings, _keys, ledger):
        return users(ledger)


def disable_station_user(home: Path | None, name: str, *, actor: str | None = None) -> bool:
    """Disable a user from now on (their open sessions end at their next request); audited.
    False when they were disabled already."""
    with workspace(home, keys="read") as (settings, _keys, ledger):
        return disable_user(
            ledger, name, actor=actor or settings.operator, station=settings.station
        )


def check_login(home: Path | None, name: str, password: str) -> LoginCheck:
    """Is this the password of an active user? Every attempt is audited (the name asked for,
    never the password)."""
    with workspace(home, keys="read") as (settings, _keys, ledger):
        found = user_and_hash(ledger, name)
        ok = _verify(found[1] if found else _NOBODY, password) and found is not None
        user = found[0] if found else None
        if ok and user is not None and not user.active:
            check = LoginCheck(None, "disabled")
        elif ok and user is not None:
            check = LoginCheck(user, "ok")
        else:
            check = LoginCheck(None, "unknown-or-wrong")
        action = "station.login" if check.user else "station.login-refused"
        event = AuditEvent(action, check.why, object_type="user", object_id=name[:64])
        write_audit(ledger, [event], actor=name[:64], station=settings.station)
        return check


def active_user(home: Path | None, name: str) -> User | None:
    """The user, while they are active (a session ends when its user is disabled)."""
    with workspace(home, keys="read") as (_settings, _keys, ledger):
        found = user_and_hash(ledger, name)
        return found[0] if found and found[0].active else None


def _verify(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False

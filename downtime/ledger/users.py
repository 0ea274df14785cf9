"""The review station's users: added with a role and a password hash, disabled, never changed.

Only the hash is stored (Argon2id, made and checked in :mod:`downtime.app.users`); a disabled
user stays in the table, so that the audit trail's names keep pointing at someone.
"""

from __future__ import annotations

from dataclasses import dataclass

from downtime.errors import InputError
from downtime.ledger.audit import append_audit
from downtime.ledger.db import Connection, Ledger, Row, now, rows
from downtime.ledger.records import AuditEvent

ROLES = ("clerk", "confirmer", "admin")


@dataclass(frozen=True)
class User:
    name: str
    role: str  # one of ROLES
    added_by: str
    added_at: str
    disabled_at: str | None = None

    @property
    def active(self) -> bool:
        return self.disabled_at is None


_SELECT = (
    "SELECT u.name, u.role, u.added_by, u.added_at, u.password_hash, d.disabled_at"
    " FROM users u LEFT JOIN user_disablements d ON d.name = u.name"
)


def _user(r: Row) -> User:
    return User(r["name"], r["role"], r["added_by"], r["added_at"], r["disabled_at"])


def users(ledger: Ledger) -> list[User]:
    """Every user, by name."""
    return [_user(r) for r in rows(ledger, f"{_SELECT} ORDER BY u.name")]


def user_and_hash(ledger: Ledger, name: str) -> tuple[User, str] | None:
    """A user and their password hash (to check a password against), or None."""
    found = rows(ledger, f"{_SELECT} WHERE u.name = ?", (name,))
    return (_user(found[0]), str(found[0]["password_hash"])) if found else None


def add_user(
    ledger: Ledger, name: str, role: str, password_hash: str, *, actor: str, station: str
) -> User:
    """Record a new user; a name already taken (also by a disabled user) is refused."""
    if role not in ROLES:
        raise InputError(f"unknown role '{role}'", hint=f"one of: {', '.join(ROLES)}")

    def body(conn: Connection) -> User:
        if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
            raise InputError(
                f"there is already a user '{name}'",
                hint="a name is never reused: choose another (see `downtime users list`)",
            )
        at = now()
        conn.execute(
            "INSERT INTO users (name, role, password_hash, added_by, added_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (name, role, password_hash, actor, at),
        )
        event = AuditEvent("users.add", f"role {role}", object_type="user", object_id=name)
        append_audit(conn, [event], actor=actor, station=station)
        return User(name, role, actor, at)

    return ledger.write(body)


def disable_user(ledger: Ledger, name: str, *, actor: str, station: str) -> bool:
    """Disable a user from now on; False when they were disabled before (nothing changes)."""

    def body(conn: Connection) -> bool:
        if not conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
            raise InputError(f"there is no user '{name}'", hint="see `downtime users list`")
        if conn.execute("SELECT 1 FROM user_disablements WHERE name = ?", (name,)).fetchone():
            return False
        conn.execute(
            "INSERT INTO user_disablements (name, disabled_by, disabled_at) VALUES (?, ?, ?)",
            (name, actor, now()),
        )
        event = AuditEvent("users.disable", "disabled", object_type="user", object_id=name)
        append_audit(conn, [event], actor=actor, station=station)
        return True

    return ledger.write(body)

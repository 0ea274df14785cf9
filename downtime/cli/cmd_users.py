"""``downtime users``: who may use the review station, with which role."""

from __future__ import annotations

import sys

import click

from downtime.cli.common import LANG_OPTION, data_home, handles_errors, say, speaks_site_language
from downtime.cli.help import Group
from downtime.cli.listing import USERS, echo_document, json_option, local_time, site_timezone
from downtime.report.safetext import visible, visible_tree

ROLE = click.Choice(["clerk", "confirmer", "admin"])


@click.group(cls=Group)
def users() -> None:
    """Users of the review station (`downtime review`) and their roles.

    \b
    clerk       reviews: transcribes, resolves marks, assigns quarantined pages
    confirmer   reviews, and confirms medication as the second person
    admin       everything, and the users page
    """


@users.command("add", short_help="Add a review station user with a role.")
@click.argument("name")
@click.option("--role", type=ROLE, required=True, help="What the user may do.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def users_add(
    ctx: click.Context, name: str, role: str, password_stdin: bool, lang: str | None
) -> None:
    """Add user NAME with a role; the password is asked twice (at least 10 characters) and
    only its Argon2id hash is kept. Audited.

    \b
    downtime users add anna --role clerk
    printf '%s\\n' "$PASSWORD" | downtime users add bo --role confirmer --password-stdin
    """
    from downtime.app.users import add_station_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        w = say(ctx, lang)
        password = click.prompt(w("password"), hide_input=True, err=True,
                                confirmation_prompt=w("password_again"))  # fmt: skip
    user = add_station_user(data_home(ctx), name, role, password)
    click.echo(f"{user.name}\t{user.role}")


@users.command("list", short_help="Every user: name, role, active or disabled, when added.")
@json_option(USERS)
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def users_list(ctx: click.Context, as_json: bool, lang: str | None) -> None:
    """Every user: name, role, active or disabled, when added (site time) and by whom."""
    from downtime.app.users import station_users

    found = station_users(data_home(ctx))
    tz = site_timezone(ctx)
    if as_json:
        listed = [
            {
                "name": user.name,
                "role": user.role,
                "active": user.active,
                "added_by": user.added_by,
                "added_at": local_time(user.added_at, tz),
                "disabled_at": local_time(user.disabled_at, tz),
            }
            for user in found
        ]
        echo_document(USERS, timezone=tz.key, users=visible_tree(listed))
        return
    w = say(ctx, lang)
    for user in found:
        disabled = w("user_disabled", at=local_time(user.disabled_at, tz))
        state = w("user_active") if user.active else disabled
        click.echo(w("user_line", name=user.name, role=user.role, state=state,
                     at=local_time(user.added_at, tz), by=visible(user.added_by)))  # fmt: skip


@users.command("disable", short_help="Disable a user from now on (never deleted).")
@click.argument("name")
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def users_disable(ctx: click.Context, name: str, lang: str | None) -> None:
    """Disable user NAME from now on: they cannot log in, and their open sessions end at
    their next request. A user is never deleted (the audit trail names them). Audited."""
    from downtime.app.users import disable_station_user

    changed = disable_station_user(data_home(ctx), name)
    w = say(ctx, lang)
    click.echo(w("user_disabled_now" if changed else "user_disabled_before", name=name))

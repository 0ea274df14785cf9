"""``downtime keys``: list, rotate, export and import signing keys; the client key that logs in
to the record system (``client-key``)."""

from __future__ import annotations

from pathlib import Path

import click

from downtime.cli.common import (
    EXISTING_FILE,
    LANG_OPTION,
    data_home,
    echo_err,
    handles_errors,
    say,
    speaks_site_language,
)
from downtime.cli.help import Group
from downtime.cli.listing import KEYS, echo_document, json_option, local_time, site_timezone


@click.group(cls=Group)
def keys() -> None:
    """Signing keys: the print host signs page codes, scan stations verify them.

    `client-key` is another kind of key: the one the kit logs in to the record system with.
    """


@keys.command("list", short_help="Every key: status, when made, pages signed.")
@json_option(KEYS)
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def keys_list(ctx: click.Context, as_json: bool, lang: str | None) -> None:
    """Every key, its status and how many issued pages it signed.

    The active key signs; retired keys, and verify-only ones (imported on a scan station),
    only verify. Times in the site's time zone.
    """
    from downtime.app import key_table

    rows = key_table(data_home(ctx))
    tz = site_timezone(ctx)
    if as_json:
        keys = [
            {
                "key_id": k.key_id,
                "status": k.status,
                "signs": k.status == "active",
                "created_at": local_time(k.created_at, tz),
                "retired_at": local_time(k.retired_at, tz),
                "pages_signed": k.pages_signed,
            }
            for k in rows
        ]
        echo_document(KEYS, timezone=tz.key, keys=keys)
        return
    w = say(ctx, lang)
    click.echo(w("keys_heading"))
    for k in rows:
        created, retired = local_time(k.created_at, tz), local_time(k.retired_at, tz)
        status = w.of("key_statuses", k.status)
        cells = (k.key_id, status, created or "-", retired or "-", str(k.pages_signed))
        click.echo("\t".join(cells))


@keys.command("rotate", short_help="Make a new signing key; old ones keep verifying.")
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def keys_rotate(ctx: click.Context, lang: str | None) -> None:
    """Make a new signing key; the old one keeps verifying the pages it signed."""
    from downtime.app import rotate_key

    click.echo(say(ctx, lang)("key_active", key=rotate_key(data_home(ctx))))


@keys.command("export-public", short_help="Print the public keys in use as PEM, for scan stations.")
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def keys_export(ctx: click.Context, lang: str | None) -> None:
    """Print every public key still in use as PEM (for scan stations)."""
    from downtime.app import export_keys

    click.echo(export_keys(data_home(ctx)), nl=False)


@keys.command("import-public", short_help="Add a print host's public keys to this station.")
@click.argument("pem_file", type=EXISTING_FILE)
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def keys_import(ctx: click.Context, pem_file: Path, lang: str | None) -> None:
    """Add a print host's public keys (from export-public) to this station."""
    from downtime.app import import_keys

    w = say(ctx, lang)
    for key_id in import_keys(data_home(ctx), pem_file.read_bytes()):
        click.echo(w("key_imported", key=key_id))


@keys.group("client-key", cls=Group)
def client_key() -> None:
    """The key pair this kit logs in to the record system's FHIR server with.

    SMART Backend Services: the kit proves who it is with a JWT signed by this key; the
    record system knows it by the public JWK set printed here. Register that JWK set with the
    record system, then set [fhir] url and client_id (the id the record system gave) in
    site.toml; `downtime reconcile` then logs in by itself.

    \b
    downtime keys client-key new > downtime-jwks.json    # ES384 (P-384)
    downtime keys client-key new --alg RS384              # if the record system wants RSA
    downtime keys client-key show                         # the JWK set again
    """


@client_key.command("new", short_help="Make the record login key pair; print its JWK set.")
@click.option(
    "--alg",
    "algorithm",
    type=click.Choice(["ES384", "RS384"], case_sensitive=False),
    default="ES384",
    show_default=True,
    help="Signature algorithm: ES384 (a P-384 EC key) or RS384 (a 3072-bit RSA key).",
)
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def client_key_new(ctx: click.Context, algorithm: str, lang: str | None) -> None:
    """Make the client key pair and print its public JWK set (to register).

    The private key is written to the data folder ([fhir] client_key in site.toml, default
    keys/fhir-client.pem), readable by its owner only; it never leaves this computer. An
    existing key is never replaced.
    """
    from downtime.app import make_client_key

    made = make_client_key(data_home(ctx), algorithm.upper())
    echo_err(say(ctx, lang)("client_key_made", kid=made.kid, alg=made.algorithm, path=made.path))
    click.echo(made.jwks, nl=False)


@client_key.command("show", short_help="Print the record login key's public JWK set.")
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def client_key_show(ctx: click.Context, lang: str | None) -> None:
    """Print the client key's public JWK set (kid, alg, use=sig, key)."""
    from downtime.app import show_client_key

    click.echo(show_client_key(data_home(ctx)).jwks, nl=False)

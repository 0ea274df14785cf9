"""``downtime keys``: list, rotate, export and import signing keys."""

from __future__ import annotations

from pathlib import Path

import click

from downtime.cli.common import EXISTING_FILE, data_home, handles_errors


@click.group()
def keys() -> None:
    """Signing keys: the print host signs page codes, scan stations verify them."""


@keys.command("list")
@click.pass_context
@handles_errors
def keys_list(ctx: click.Context) -> None:
    """Every key, its status and how many issued pages it signed."""
    from downtime.app import key_table

    click.echo("\t".join(("key_id", "status", "created", "retired", "pages_signed")))
    for k in key_table(data_home(ctx)):
        retired = k.retired_at.isoformat(timespec="seconds") if k.retired_at else "-"
        created = k.created_at.isoformat(timespec="seconds")
        click.echo("\t".join((k.key_id, k.status, created, retired, str(k.pages_signed))))


@keys.command("rotate")
@click.pass_context
@handles_errors
def keys_rotate(ctx: click.Context) -> None:
    """Make a new signing key; the old one keeps verifying the pages it signed."""
    from downtime.app import rotate_key

    click.echo(f"active\t{rotate_key(data_home(ctx))}")


@keys.command("export-public")
@click.pass_context
@handles_errors
def keys_export(ctx: click.Context) -> None:
    """Print every public key still in use as PEM (for scan stations)."""
    from downtime.app import export_keys

    click.echo(export_keys(data_home(ctx)), nl=False)


@keys.command("import-public")
@click.argument("pem_file", type=EXISTING_FILE)
@click.pass_context
@handles_errors
def keys_import(ctx: click.Context, pem_file: Path) -> None:
    """Add a print host's public keys (from export-public) to this station."""
    from downtime.app import import_keys

    for key_id in import_keys(data_home(ctx), pem_file.read_bytes()):
        click.echo(f"imported\t{key_id}")

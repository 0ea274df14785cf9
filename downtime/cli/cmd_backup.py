"""``downtime backup DEST`` and ``downtime restore SRC``."""

from __future__ import annotations

from pathlib import Path

import click

from downtime.cli.common import data_home, echo_err, handles_errors

FOLDER = click.Path(file_okay=False, path_type=Path)


@click.command(short_help="Back up the data folder into DEST, while scans may run.")
@click.argument("dest", type=FOLDER)
@click.pass_context
@handles_errors
def backup(ctx: click.Context, dest: Path) -> None:
    """Back up the data folder into DEST (a new or empty folder), while scans may run.

    A consistent copy of the ledger (a PostgreSQL ledger: pg_dump's, which must be installed
    and as new as the server), the keys (the signing key too: keep the backup as private as
    the data folder), site.toml, the site's forms, and every page image the ledger names, with
    backup.json saying what it holds. Restore it with `downtime restore DEST`.
    """
    from downtime.app.backup import backup as make_backup

    done = make_backup(data_home(ctx), dest)
    click.echo(f"backed up\t{done.folder}\t{done.counts['pages']} pages issued\t"
               f"{done.counts['captures']} captures\t{done.images} images\t"
               f"audit head {done.audit_head[:16]}")  # fmt: skip


@click.command(short_help="Restore a backup into the data folder, then check it.")
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Restore over a data folder that holds a ledger.")
@click.pass_context
@handles_errors
def restore(ctx: click.Context, src: Path, force: bool) -> None:
    """Restore the backup SRC into the data folder, then check it: the same row counts, the
    audit trail intact and the one backed up, every image there with its content.

    A data folder that holds a ledger is refused unless --force (its ledger is then kept
    beside the restored one, renamed ledger.sqlite3.before-TIME). A PostgreSQL ledger goes
    into the database DOWNTIME_DB names, else the backup's site.toml: one that holds rows is
    refused unless --force (they are then kept beside, in a schema public_before_TIME).
    """
    from downtime.app.backup import restore as restore_backup

    done = restore_backup(src, data_home(ctx), force=force)
    echo_err("restored and checked: counts, audit trail and images match the backup")
    click.echo(f"restored\t{done.folder}\t{done.counts['pages']} pages issued\t"
               f"{done.counts['captures']} captures\t{done.images} images\t"
               f"audit head {done.audit_head[:16]}")  # fmt: skip

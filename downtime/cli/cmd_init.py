"""``downtime init``: the data folder."""

from __future__ import annotations

import click

from downtime.cli.common import LANG, data_home, handles_errors, say, speaks_site_language


@click.command()
@click.option("--site", help="Site name printed on cover sheets.")
@click.option("--lang", type=LANG, help="Language of the printed forms and the messages.")
@click.option("--scan-station", is_flag=True, help="Public keys only: this machine never signs.")
@click.option(
    "--db",
    "database",
    metavar="URL",
    help="Keep the ledger in this PostgreSQL database (postgresql://user@host/db, no password: "
    "that goes in PGPASSFILE or ~/.pgpass), for several stations on one ledger; written to "
    "site.toml. Default: the SQLite file in the data folder.",
)
@click.pass_context
@handles_errors
@speaks_site_language
def init(
    ctx: click.Context,
    site: str | None,
    lang: str | None,
    scan_station: bool,
    database: str | None,
) -> None:
    """Create the data folder: ledger, signing key, site.toml.

    Safe to run again: what exists is kept (options given here update site.toml).
    Other commands create the folder on first use when init was not run.
    """
    from downtime.app import initialise

    made = initialise(
        data_home(ctx), site=site, lang=lang, database=database, signing=not scan_station
    )
    w = say(ctx, lang)
    click.echo(w("init_folder", path=made.home))
    click.echo(w("init_ledger", path=made.ledger))
    click.echo(w("init_site", path=made.site_config))
    click.echo(w("init_key", path=made.signing_key or w("init_no_key")))

"""``downtime drill``: rehearse a whole outage on the bundled example."""

from __future__ import annotations

from pathlib import Path

import click

from downtime.cli.common import echo_err, handles_errors, jobs_option


@click.command(short_help="Rehearse a whole outage on the bundled example.")
@click.option("--ward", default="MED42", show_default=True, help="Example ward to rehearse.")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the simulation.")
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the drill's folder (data folder, pack, scans, outbox) here.",
)
@jobs_option("Worker processes scanning the drill's pages")
@handles_errors
def drill(ward: str, seed: int, keep: Path | None, jobs: int) -> None:
    """Rehearse a whole outage on the bundled example, in a temporary folder.

    Prints a ward's pack, fills and returns its pages as a ward and the world would (skewed,
    upside down, a phone photo, a stained code, a photocopy filled twice, two sheets lost),
    scans them, reconciles into a local outbox, and counts the items held for a person (the
    report's pending items, counted alike). Then two simulated reviewers settle every one of
    them through the same library as the review station (medication typed by one, confirmed
    by the other), it reconciles again, voids the two sheets lost on purpose, and prints the
    report — which says everything is accounted for — and how long each step took. Your own
    data folder is not touched.
    """
    from downtime.report import pending_words
    from downtime.simulate.drill import DrillOptions, run_drill

    result = run_drill(DrillOptions(ward=ward, seed=seed, keep=keep, jobs=jobs), log=echo_err)
    click.echo(result.report)
    click.echo(
        f"sheets returned {result.sheets_returned}, lost on purpose {len(result.sheets_lost)}"
        f" ({', '.join(result.sheets_lost)})"
    )
    click.echo("scan: " + ", ".join(f"{k} {v}" for k, v in sorted(result.scan.items())))
    click.echo("reconcile: " + ", ".join(f"{k} {v}" for k, v in result.reconcile.items()))
    click.echo(f"pending after reconciliation: {pending_words(result.held)}")
    decisions = sum(v for k, v in result.reviewed.items() if k != "confirm")
    click.echo(
        f"review: {decisions} decision(s) by a simulated reviewer "
        f"({', '.join(f'{k} {v}' for k, v in sorted(result.reviewed.items()) if k != 'confirm')})"
        f", {result.reviewed.get('confirm', 0)} medication entr(ies) confirmed by a second one"
    )
    again = ", ".join(f"{k} {v}" for k, v in result.reconcile_after.items())
    click.echo(f"reconcile again: {again}")
    click.echo(f"pending after review: {pending_words(result.held_after)}")
    click.echo(
        "the report says everything is accounted for"
        if result.complete
        else "the report does NOT say everything is accounted for"
    )
    for name, seconds in result.timings:
        click.echo(f"{name:<30}{seconds:>7.1f} s")
    if keep is not None:
        click.echo(f"drill folder: {result.folder}")

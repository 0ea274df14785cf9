"""``downtime drill``: rehearse a whole outage on the bundled example."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import click

from downtime.cli.common import (
    LANG_OPTION,
    echo_err,
    handles_errors,
    jobs_option,
    say,
    speaks_site_language,
)


@click.command(short_help="Rehearse a whole outage on the bundled example.")
@click.option("--ward", default="MED42", show_default=True, help="Example ward to rehearse.")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the simulation.")
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the drill's folder (data folder, pack, scans, outbox) here.",
)
@jobs_option("Worker processes scanning the drill's pages")
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def drill(
    ctx: click.Context, ward: str, seed: int, keep: Path | None, jobs: int, lang: str | None
) -> None:
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

    w = say(ctx, lang)
    options = DrillOptions(ward=ward, seed=seed, keep=keep, jobs=jobs, lang=w.lang)
    result = run_drill(options, log=echo_err)
    click.echo(result.report)
    lost = result.sheets_lost
    click.echo(w("drill_sheets", returned=result.sheets_returned, lost=len(lost),
                 serials=", ".join(lost)))  # fmt: skip
    click.echo(w("drill_scan", counts=_counts(sorted(result.scan.items()))))
    click.echo(w("drill_reconcile", counts=_counts(result.reconcile.items())))
    click.echo(w("drill_pending", held=pending_words(result.held, w.lang)))
    decided = [(k, v) for k, v in sorted(result.reviewed.items()) if k != "confirm"]
    click.echo(w("drill_review", decisions=w.n("decisions_n", sum(v for _, v in decided)),
                 counts=_counts(decided),
                 confirmed=w.n("entries_n", result.reviewed.get("confirm", 0))))  # fmt: skip
    click.echo(w("drill_reconcile_again", counts=_counts(result.reconcile_after.items())))
    click.echo(w("drill_pending_after", held=pending_words(result.held_after, w.lang)))
    click.echo(w("drill_complete" if result.complete else "drill_incomplete"))
    for name, seconds in result.timings:
        click.echo(f"{name:<30}{w.decimal(seconds):>7} s")
    if keep is not None:
        click.echo(w("drill_folder", folder=result.folder))


def _counts(counts: Iterable[tuple[str, int]]) -> str:
    """Counts by their codes: ``identified 12, quarantined 2``."""
    return ", ".join(f"{k} {v}" for k, v in counts)

"""``downtime scan`` reads scanned pages; ``downtime quarantine`` lists the pages set aside,
assigns them by their printed serial, or rejects them with a reason."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from downtime.cli.common import (
    LANG_OPTION,
    data_home,
    handles_errors,
    jobs_option,
    say,
    speaks_site_language,
)
from downtime.cli.help import Group
from downtime.cli.listing import QUARANTINE, echo_document, json_option, local_time, site_timezone
from downtime.cli.words import Words
from downtime.vocab import ScanStatus

if TYPE_CHECKING:
    from downtime.scan.run import ScanSummary


@click.command(short_help="Identify scanned pages, read their marks, record them.")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per page on stdout.")
@jobs_option("Worker processes reading pages")
@click.option(
    "--debug-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write an annotated PNG per page (boxes and verdicts) into DIR.",
)
@click.option("--no-ocr", is_flag=True, help="Never read printed serials with Tesseract.")
@click.option(
    "--watch",
    "watch_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Keep running: scan each file the scanner saves into DIR once it is complete.",
)
@click.option(
    "--settle",
    type=click.FloatRange(0, 3600),
    default=2.0,
    show_default=True,
    help="With --watch: seconds a file must stay unchanged (and closed) to be complete.",
)
@click.option(
    "--interval",
    type=click.FloatRange(0.05, 3600),
    default=1.0,
    show_default=True,
    help="With --watch: seconds between looks at the folder.",
)
@click.option(
    "--done-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="With --watch: move each file dealt with into DIR (default: leave it in place).",
)
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def scan(
    ctx: click.Context,
    paths: tuple[Path, ...],
    as_json: bool,
    jobs: int,
    debug_dir: Path | None,
    no_ocr: bool,
    watch_dir: Path | None,
    settle: float,
    interval: float,
    done_dir: Path | None,
    lang: str | None,
) -> None:
    """Identify scanned pages, read their marks, and record them in the ledger.

    PATHS are scanner PDFs, multi-page TIFFs, PNG or JPEG files, or folders (searched
    recursively), in any order and orientation. Every page ends up identified (or a duplicate
    or conflict of a page already returned), blank, or set aside in quarantine with a reason.
    Exit code 0 when every page was dealt with that way.

    With --watch DIR, keeps running instead: each file the scanner saves into DIR (or below
    it) is scanned once it is complete — unchanged for --settle seconds and closed; names
    like .hidden, *.tmp and *.part are passed over until renamed — and never twice, across
    restarts too. One line per file (with --json: the pages' JSON lines; the file lines on
    stderr). Ctrl-C or SIGTERM stop it after the page being recorded, with exit code 0.

    \b
    downtime scan batch-07.pdf
    downtime scan /srv/scans/2026-11-25 --json > results.jsonl
    downtime scan --watch /srv/scans/inbox --done-dir /srv/scans/done
    downtime quarantine list
    """
    from downtime.app import scan_files
    from downtime.scan.run import ScanOptions

    options = ScanOptions(jobs=jobs, debug_dir=debug_dir, ocr=not no_ocr)
    w = say(ctx, lang)
    if watch_dir is not None:
        if paths:
            raise click.UsageError("give either PATHS or --watch DIR, not both")
        from downtime.cli.watching import watch

        watch(
            watch_dir,
            home=data_home(ctx),
            options=options,
            settle=settle,
            interval=interval,
            done_dir=done_dir,
            as_json=as_json,
            words=w,
        )
        return
    if not paths:
        raise click.UsageError("name the scan files or folders (PATHS), or --watch DIR")
    given = [
        f"--{name.replace('_', '-')}"
        for name in ("done_dir", "settle", "interval")
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
    ]
    if given:
        raise click.UsageError(f"{', '.join(given)}: only with --watch")

    def emit(record: Any) -> None:
        if as_json:
            click.echo(json.dumps(record.to_json(), ensure_ascii=False))

    bar = _Progress(enabled=not as_json, label=w("progress"))
    summary = scan_files(
        paths,
        home=data_home(ctx),
        options=options,
        emit=emit,
        progress=bar.update,
    )
    bar.close()
    for entry in summary.skipped:  # file names are not patient data
        click.echo(w("skipped_file", source=entry.source, why=entry.why), err=True)
    if not as_json:
        for line in summary_lines(w, summary, debug_dir):
            click.echo(line)


def summary_lines(w: Words, summary: ScanSummary, debug_dir: Path | None) -> list[str]:
    """The scan's summary: a line per status (with the reasons pages were set aside), the
    pages and the time, the paths passed over; where to look next."""
    labels = {status: w.of("statuses", status) for status in ScanStatus}
    width = max(len(label) for label in [*labels.values(), w("scan_pages")]) + 1
    lines = []
    for status, label in labels.items():
        line = f"{label:<{width}}{summary.by_status.get(status, 0):>6}"
        if status == ScanStatus.QUARANTINED and summary.quarantined_by_reason:
            reasons = ", ".join(
                f"{w.reason(r)} {n}" for r, n in sorted(summary.quarantined_by_reason.items())
            )
            line += f"   ({reasons})"
        lines.append(line)
    seconds = w("scan_time", seconds=w.decimal(summary.seconds))
    lines.append(f"{w('scan_pages'):<{width}}{summary.pages:>6}   {seconds}")
    if summary.skipped:
        note = w("scan_skipped_note")
        lines.append(f"{w('scan_skipped'):<{width}}{len(summary.skipped):>6}   {note}")
    if summary.by_status.get(ScanStatus.QUARANTINED):
        lines.append(w("set_aside"))
    if debug_dir is not None:
        lines.append(w("debug_overlays", folder=debug_dir))
    return lines


class _Progress:
    """A progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, *, enabled: bool, label: str) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.label = label
        self._bar: Any = None

    def update(self, done: int, total: int) -> None:
        if not self.enabled or total < 2:
            return
        if self._bar is None:
            self._bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self._bar.__enter__()
        self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


@click.group(cls=Group)
def quarantine() -> None:
    """Pages set aside by `downtime scan`, and assigning them by their printed serial."""


@quarantine.command("list", short_help="What was set aside, from which file and page, and why.")
@click.option("--all", "include_assigned", is_flag=True, help="Include items already assigned.")
@json_option(QUARANTINE)
@click.pass_context
@handles_errors
def quarantine_list(ctx: click.Context, include_assigned: bool, as_json: bool) -> None:
    """What was set aside, from which file and page, when (site time), and why."""
    from dataclasses import asdict

    from downtime.app import quarantine_list as items
    from downtime.report.safetext import visible, visible_tree

    found = items(data_home(ctx), include_assigned=include_assigned)
    tz = site_timezone(ctx)
    if as_json:
        listed = [
            asdict(item)
            | {"created_at": local_time(item.created_at, tz), "resolved": item.resolved}
            for item in found
        ]
        echo_document(QUARANTINE, timezone=tz.key, items=visible_tree(listed))
        return
    for item in found:
        state = item.resolved or "open"
        click.echo(
            f"{item.item_id:>5}  {visible(item.source)}  page {item.source_page}  "
            f"{item.reason:<20} {state}\n"
            f"       set aside {local_time(item.created_at, tz)}: {visible(item.message)}"
        )


@quarantine.command("assign", short_help="Attach a set-aside page to the page its serial names.")
@click.argument("item", type=int)
@click.argument("serial")
@click.pass_context
@handles_errors
def quarantine_assign(ctx: click.Context, item: int, serial: str) -> None:
    """Attach set-aside page ITEM to the issued page with the printed form SERIAL.

    For pages whose codes were destroyed (a stain, a tear): the serial's check characters
    must hold and name an issued page; the page is then registered from its registration
    marks and read like any other. The assignment is audited.
    """
    from downtime.app import quarantine_assign as assign

    done = assign(data_home(ctx), item, serial)
    click.echo(
        f"item {done.item_id}\t{done.serial}\t{done.form} page {done.page_no} of "
        f"{done.page_count}\t{done.status}"
    )


@quarantine.command("reject", short_help="Decide a set-aside page is not one to file (audited).")
@click.argument("item", type=int)
@click.option("--reason", required=True, help="Why the page is not filed (kept, audited).")
@click.pass_context
@handles_errors
def quarantine_reject(ctx: click.Context, item: int, reason: str) -> None:
    """Decide that set-aside page ITEM is not one to file (a stray sheet, a page scanned
    twice): it leaves the open items and the report. Audited with the reason."""
    from downtime.app import quarantine_reject as reject

    done = reject(data_home(ctx), item, reason)
    click.echo(f"item {done.item_id}\t{done.resolved}")

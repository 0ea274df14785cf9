"""``downtime scan --watch DIR``: the watcher's signals and its lines of output."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

import click

from downtime.cli.common import echo_err
from downtime.cli.words import Words

if TYPE_CHECKING:
    from downtime.app.watch import FileDone
    from downtime.scan.run import PageRecord, ScanOptions


def watch(
    folder: Path,
    *,
    home: Path | None,
    options: ScanOptions,
    settle: float,
    interval: float,
    done_dir: Path | None,
    as_json: bool,
    words: Words,
) -> None:
    """Watch ``folder`` until Ctrl-C or SIGTERM; one line per file, a summary line at the end
    (on stderr with ``--json``, where stdout carries only the pages' JSON lines)."""
    from downtime.app.watch import WatchOptions, watch_folder

    def emit(record: PageRecord) -> None:
        if as_json:
            click.echo(json.dumps(record.to_json(), ensure_ascii=False))

    def on_file(done: FileDone) -> None:
        click.echo(file_line(done, words), err=as_json)

    with StopSignals() as stop:
        summary = watch_folder(
            folder,
            home=home,
            options=options,
            watch=WatchOptions(settle_s=settle, interval_s=interval, done_dir=done_dir),
            emit=emit,
            on_file=on_file,
            stop=stop,
            log=echo_err,
        )
    counts = _counts(summary.by_status, summary.quarantined_by_reason, words)
    click.echo(
        words(
            "watch_stopped",
            files=words.n("files_n", summary.files),
            pages=words.n("pages_n", summary.pages),
            counts=f" ({counts})" if counts else "",
            duration=_duration(summary.seconds, words),
        ),
        err=as_json,
    )


def file_line(done: FileDone, words: Words) -> str:
    """``scans/b.pdf: 3 pages: identified 2, quarantined 1 (no-page-code 1)``."""
    if done.scan is None:
        line = words("scanned_before", source=done.source)
    else:
        scan = done.scan
        line = words("file_pages", source=done.source, pages=words.n("pages_n", scan.pages))
        counts = _counts(scan.by_status, scan.quarantined_by_reason, words)
        if counts:
            line += f": {counts}"
        if done.stopped:
            line += "; " + words("stopped_early")
    if done.moved_to is not None:
        line += "; " + words("moved_to", folder=done.moved_to)
    return line


def _counts(by_status: dict[str, int], reasons: dict[str, int], words: Words) -> str:
    parts = []
    for status, n in sorted(by_status.items()):
        part = f"{words.of('statuses', status)} {n}"
        if status == "quarantined" and reasons:
            part += " (" + ", ".join(f"{words.reason(r)} {k}" for r, k in sorted(reasons.items()))
            part += ")"
        parts.append(part)
    return ", ".join(parts)


def _duration(seconds: float, words: Words) -> str:
    if seconds < 60:
        return f"{words.decimal(seconds)} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class StopSignals:
    """Ctrl-C (SIGINT) and SIGTERM ask the watcher to stop after the page being recorded;
    a second one stops it at once (what was being recorded is rolled back)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.asked = False
        self._previous: dict[int, Any] = {}

    def __call__(self) -> bool:
        return self.asked

    def __enter__(self) -> StopSignals:
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.asked:
            raise KeyboardInterrupt
        self.asked = True

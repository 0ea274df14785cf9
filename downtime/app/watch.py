"""``downtime scan --watch``: a scanner's folder, each complete file scanned once.

The watcher polls the folder (:class:`~downtime.scan.watch.FolderWatch` says which files are
complete) and scans each complete file through the ordinary scan path, one file per scan run,
so that a corrupt or foreign file is set aside with its reason and the watcher goes on.

Never twice, surviving a restart: a small state file in the data folder
(``watch/<folder key>.json``, 0600) names each file dealt with by its name, size,
modification time and SHA-256; a file seen again unchanged is passed over without being read.
Should the state be lost, the ledger decides: a file whose content the ledger holds under the
same name, with an outcome for each of its pages, is not scanned again. A file whose scan was
stopped between pages is scanned again on the next start: the pages recorded already come
back as duplicates of the same file, and only the others are read.

One watcher per folder and data folder: a second one is refused (a lock file beside the state).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from downtime import files
from downtime.app.forms import site_forms_for
from downtime.app.scans import require_public_keys
from downtime.app.workspace import Log, workspace
from downtime.codes.keys import KeyStore
from downtime.errors import InputError
from downtime.forms import FormDef
from downtime.ledger import Ledger
from downtime.ledger.scans import file_history
from downtime.scan import images
from downtime.scan.run import PageRecord, ScanOptions, ScanSummary, log_event, run_scan
from downtime.scan.watch import FolderWatch, Ready, Signature
from downtime.settings import Settings

STATE_FOLDER = "watch"  # in the data folder
STATE_SCHEMA = "downtime.watch-state/1"
STOP_CHECK_S = 0.1  # how often a waiting watcher looks whether it was asked to stop


@dataclass(frozen=True)
class WatchOptions:
    settle_s: float = 2.0  # a file's size and time unchanged this long (and closed): complete
    interval_s: float = 1.0  # between looks at the folder
    done_dir: Path | None = None  # move each file dealt with here (keeping subfolders)


@dataclass(frozen=True)
class FileDone:
    """One file of the folder dealt with (one line of the watcher's output)."""

    source: str
    sha256: str  # empty when the file could not be read
    scan: ScanSummary | None  # None: scanned before (the ledger holds it), not read again
    moved_to: Path | None = None

    @property
    def stopped(self) -> bool:
        """Stopped between its pages: the rest is read on the next start."""
        return self.scan is not None and self.scan.stopped


@dataclass
class WatchSummary:
    files: int = 0  # files scanned (not counting those passed over as scanned before)
    pages: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, scan: ScanSummary) -> None:
        self.files += 1
        self.pages += scan.pages
        for mine, theirs in (
            (self.by_status, scan.by_status),
            (self.quarantined_by_reason, scan.quarantined_by_reason),
        ):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n


def watch_folder(
    folder: Path,
    *,
    home: Path | None,
    options: ScanOptions,
    watch: WatchOptions,
    emit: Callable[[PageRecord], None],
    on_file: Callable[[FileDone], None],
    stop: Callable[[], bool],
    log: Log,
) -> WatchSummary:
    """Scan each file that becomes complete in ``folder`` until ``stop`` says so (asked
    between pages and between looks at the folder). Every page is emitted as a record, every
    file dealt with is reported to ``on_file``; messages go to ``log``."""
    started = time.monotonic()
    if not folder.is_dir():
        raise InputError(
            f"{folder}: no such folder",
            hint="name the folder the scanner saves its files into",
        )
    with workspace(home, keys="read") as (settings, keys, _ledger):
        require_public_keys(keys)
        state = WatchState(settings.home / STATE_FOLDER, folder)
    summary = WatchSummary()
    with state.locked():
        tracker = FolderWatch(
            folder, settle_s=watch.settle_s, exclude=watch.done_dir, handled=state.load(log)
        )
        log(
            f"watching {folder}: a file is scanned once unchanged for {watch.settle_s:g} s "
            "and closed; Ctrl-C or SIGTERM stops after the page being recorded"
        )
        while not stop():
            ready = tracker.poll(time.monotonic())
            if ready:
                with workspace(home, keys="read") as (settings, keys, ledger):
                    job = _Job(settings, keys, ledger, options, watch, emit, stop, log)
                    for item in ready:
                        if stop():
                            break
                        done = job.file(item)
                        if done is None:
                            continue
                        if done.scan is not None:
                            summary.add(done.scan)
                        if not done.stopped:
                            state.remember(item, done, tracker)
                        on_file(done)
            _wait(watch.interval_s, stop)
    summary.seconds = time.monotonic() - started
    return summary


@dataclass
class _Job:
    """Scanning the files of one look at the folder, with the data folder open."""

    settings: Settings
    keys: KeyStore
    ledger: Ledger
    options: ScanOptions
    watch: WatchOptions
    emit: Callable[[PageRecord], None]
    stop: Callable[[], bool]
    log: Log

    @functools.cached_property
    def forms(self) -> Mapping[str, FormDef]:
        return site_forms_for(self.settings)

    def file(self, item: Ready) -> FileDone | None:
        """Scan one complete file (unless the ledger holds it from before); None if it went
        away meanwhile."""
        try:
            (found,) = images.find_inputs([item.path])
        except (InputError, ValueError):
            return None  # gone since it was listed: nothing to do
        if self._scanned_before(found):
            return self._moved(FileDone(found.source, found.sha256, None), item)
        summary = run_scan(
            [item.path],
            settings=self.settings,
            keys=self.keys,
            ledger=self.ledger,
            forms=self.forms,
            options=self.options,
            emit=self.emit,
            stop=self.stop,
        )
        log_event(self.ledger, self.settings, summary)
        done = FileDone(found.source, found.sha256, summary)
        return done if done.stopped else self._moved(done, item)

    def _scanned_before(self, found: images.InputFile) -> bool:
        """Does the ledger hold this content under this name, with every page's outcome?"""
        if not found.sha256:
            return False
        history = file_history(self.ledger, found.sha256)
        if history is None or found.source not in history.sources:
            return False
        if 0 in history.pages:
            return True
        numbers, problems = images.page_numbers(found)
        return {*numbers, *(p.source_page for p in problems)} <= history.pages

    def _moved(self, done: FileDone, item: Ready) -> FileDone:
        if self.watch.done_dir is None:
            return done
        target = _free_name(self.watch.done_dir / item.name)
        try:
            files.private_folder(target.parent)
            shutil.move(item.path, target)
        except OSError as exc:
            self.log(f"{done.source}: not moved to {target} ({exc.strerror or exc}): left here")
            return done
        return replace(done, moved_to=target)


class WatchState:
    """What was dealt with in one watched folder: name → (signature, SHA-256), in
    ``<data folder>/watch/<key>.json``, the key a hash of the folder's resolved path."""

    def __init__(self, state_dir: Path, folder: Path) -> None:
        key = hashlib.sha256(str(folder.resolve()).encode("utf-8")).hexdigest()[:16]
        self.path = state_dir / f"{key}.json"
        self.lock_path = state_dir / f"{key}.lock"
        self._sha256: dict[str, str] = {}

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        files.private_folder(self.path.parent)
        try:
            with files.exclusive(self.lock_path):
                yield
        except files.Busy as busy:
            raise InputError(
                f"another `downtime scan --watch` is watching this folder ({busy.holder})",
                hint="stop it first; one watcher per folder",
            ) from None

    def load(self, log: Log) -> dict[str, Signature]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
            if data.get("schema") != STATE_SCHEMA:
                raise ValueError(data.get("schema"))
            handled = {}
            for name, (size, mtime_ns, sha) in data["files"].items():
                handled[str(name)] = Signature(int(size), int(mtime_ns))
                self._sha256[str(name)] = str(sha)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            log(f"{self.path.name}: unreadable watch state, started afresh (the ledger decides)")
            self._sha256.clear()
            return {}
        return handled

    def remember(self, item: Ready, done: FileDone, tracker: FolderWatch) -> None:
        """``item`` was dealt with: saved at once (a file moved away is forgotten instead)."""
        if done.moved_to is not None:
            tracker.forget(item.name)
            self._sha256.pop(item.name, None)
        else:
            tracker.handled(item)
            self._sha256[item.name] = done.sha256
        entries = {
            name: [sig.size, sig.mtime_ns, self._sha256.get(name, "")]
            for name, sig in sorted(tracker.handled_files().items())
        }
        text = json.dumps({"schema": STATE_SCHEMA, "files": entries}, indent=0)
        files.write_atomic(self.path, text.encode("utf-8"))


def _free_name(target: Path) -> Path:
    """``target``, or ``NAME-2.EXT``, ``NAME-3.EXT``… if it exists: nothing is overwritten."""
    n = 1
    candidate = target
    while candidate.exists():
        n += 1
        candidate = target.with_name(f"{target.stem}-{n}{target.suffix}")
    return candidate


def _wait(seconds: float, stop: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while not stop() and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(STOP_CHECK_S, left))

"""The worker processes that read pages: their state, one page's safety net, and the pool.

Each worker opens the ledger read-only and reads pages with :mod:`downtime.scan.page`. What can
go wrong with one page stays with that page:

* an ordinary exception while reading it (an OpenCV error, a bug met by an odd image) is caught
  in the worker, and the page set aside as ``worker-error`` with the exception's type only
  (its message may quote the page);
* a worker that dies (a decoder fault on a pathological image) breaks the pool: the pages still
  pending are read again in a fresh pool, the one at the head of the queue alone first; if it
  crashes alone, it is set aside as ``worker-crash``.

Workers die with the run: should ``downtime scan`` be killed, they would otherwise wait on
their queue forever. On Linux the kernel kills each worker when its parent dies
(``PR_SET_PDEATHSIG``); everywhere, a thread in each worker exits it once its parent is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from downtime.files import process_running
from downtime.ledger import Ledger
from downtime.scan import images
from downtime.scan.outcome import PageOutcome, PageTask, WorkerConfig
from downtime.scan.page import scan_image
from downtime.vocab import Reason, ScanStatus

# --------------------------------------------------------------------------------------------
# Worker state (one per process)

_config: WorkerConfig | None = None
_keys: list[Ed25519PublicKey] = []
_ledger: Ledger | None = None


PARENT_CHECK_S = 0.5  # how often a worker looks whether its parent is still there
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def init_worker(config: WorkerConfig, run_pid: int) -> None:
    """Set up a worker process of the run in process ``run_pid``."""
    global _config, _keys, _ledger
    _die_with_parent(run_pid)
    _leave_stopping_to_the_run()
    _config = config
    _keys = [Ed25519PublicKey.from_public_bytes(k) for k in config.public_keys]
    _ledger = Ledger.open_readonly(config.ledger)


def _die_with_parent(run_pid: int) -> None:
    parent = os.getppid()  # the run (fork, spawn) or the start method's server (forkserver)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent != run_pid and not process_running(run_pid):
        os._exit(1)  # the run died before the signal was asked for: it will never come
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watch", daemon=True).start()


def _leave_stopping_to_the_run() -> None:
    """Ctrl-C reaches every process of the terminal's group, and a service manager may send
    SIGTERM to every process of the service: the run decides when to stop (after the page
    being recorded, for ``scan --watch``), and a worker ended by the signal would break the
    pool and have its page set aside as a crash. A worker still ends when the run does."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


def _watch_parent(parent: int) -> None:
    """Exit once the parent is gone (the worker is then someone else's child)."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


def process(task: PageTask) -> PageOutcome:
    """Entry point in the worker: one page of one file. Never raises for the page."""
    assert _config is not None and _ledger is not None, "init_worker was not called"
    start = time.perf_counter()
    try:
        loaded = images.read_page(task.file, task.index, verify=False)  # from the store
        if isinstance(loaded, images.PageProblem):
            outcome = _set_aside(task, loaded.reason, loaded.message)
        else:
            outcome = scan_image(loaded.image, loaded.dpi, task, _config, _keys, _ledger)
    except Exception as exc:  # one page's failure never ends the run
        outcome = reader_error(task, exc)
    return replace(outcome, seconds=time.perf_counter() - start)


def error_name(exc: Exception) -> str:
    """An exception's type, to name it (its message may hold what was read from the page)."""
    kind = type(exc)
    name = kind.__qualname__
    return name if kind.__module__ == "builtins" else f"{kind.__module__}.{name}"


def reader_error(task: PageTask, exc: Exception) -> PageOutcome:
    """A page whose reading raised: set aside as ``worker-error``, naming the type only."""
    return _set_aside(
        task,
        Reason.WORKER_ERROR,
        f"reading this page failed ({error_name(exc)}); the page is set aside and the rest of "
        "the batch went on. Rescan it, or assign it by its serial; if it happens again, report "
        "it",
    )


def _set_aside(task: PageTask, reason: Reason, message: str) -> PageOutcome:
    return PageOutcome(
        task.file.source, task.index, task.file.sha256, ScanStatus.QUARANTINED, reason, message
    )


# --------------------------------------------------------------------------------------------
# The pool (in the main process)


def outcomes(
    tasks: Sequence[PageTask],
    config: WorkerConfig,
    jobs: int,
    stop: Callable[[], bool] = lambda: False,
) -> Generator[PageOutcome, None, None]:
    """Outcomes in task order, from ``jobs`` worker processes, surviving worker crashes.

    Once ``stop`` says so (asked before each page is waited for), the pages not yet started
    are dropped and the outcomes of those being read are still yielded — their registered
    images are in the store already — and then no more: fewer outcomes than tasks."""
    if not tasks:
        return
    pending = list(tasks)
    while pending:
        with ProcessPoolExecutor(
            max_workers=max(1, min(jobs, len(pending))),
            initializer=init_worker,
            initargs=(config, os.getpid()),
        ) as pool:
            window = max(4 * jobs, 8)
            futures: list[Future[PageOutcome]] = []
            crashed = False
            position = 0
            try:
                while position < len(pending):
                    if stop():
                        yield from _started(futures)
                        return
                    while len(futures) < window and position + len(futures) < len(pending):
                        futures.append(pool.submit(process, pending[position + len(futures)]))
                    try:
                        outcome = futures[0].result()
                    except BrokenProcessPool:
                        crashed = True
                        break
                    futures.pop(0)
                    position += 1
                    yield outcome
            finally:
                for f in futures:
                    f.cancel()
        pending = pending[position:]
        if crashed:
            # The page at the head of the queue may not be the one that crashed (several run
            # at once): retry it alone; if it crashes alone, it is the culprit.
            yield _alone(pending[0], config)
            pending = pending[1:]


def _started(futures: Sequence[Future[PageOutcome]]) -> Iterator[PageOutcome]:
    """The outcomes of the pages being read, in order; the others are cancelled (a pool
    starts its pages in order, so those being read come first)."""
    cancelled = [f.cancel() for f in futures]
    for future, dropped in zip(futures, cancelled, strict=True):
        if dropped:
            return
        try:
            yield future.result()
        except BrokenProcessPool:
            return


def _alone(task: PageTask, config: WorkerConfig) -> PageOutcome:
    with ProcessPoolExecutor(
        max_workers=1, initializer=init_worker, initargs=(config, os.getpid())
    ) as pool:
        try:
            return pool.submit(process, task).result()
        except BrokenProcessPool:
            return _set_aside(
                task,
                Reason.WORKER_CRASH,
                "reading this page crashed the image decoder; the page is set aside and the "
                "rest of the batch went on. Rescan it, or assign it by its serial",
            )

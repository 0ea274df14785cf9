"""Storms of SIGKILLs for the crash proofs (tests/test_proofs_crash.py).

A storm is this file run as a script, a process of its own (:func:`storm` starts it and reads
what happened). It imports the kit once, then forks workers — each one a `downtime scan` or
`downtime reconcile` run through the library, started in milliseconds rather than the second a
new Python process takes — and kills them with SIGKILL:

* ``every``: several workers at once; every few tens of milliseconds (a random time in
  ``kill_ms``) one of them, chosen at random, is killed and another started in its place;
* ``mid-posting``: one worker at a time, killed a random time in ``kill_ms`` after the FHIR
  server has taken a new bundle from it (the server's count of Provenance resources, one per
  bundle, went up), so that every kill lands while it posts; the storm ends early when a run
  completes.

Every worker writes each record it reports (for a scan, the JSON line ``downtime scan --json``
prints) to a file of its own the moment it is reported, in one write, so what a killed worker
had reported is known; its stderr goes to a file of its own too. The storm is the subreaper of
its workers' children (a scan's page readers): it ends only when every process it started, and
every process those started, is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import random
import signal
import subprocess
import sys
import time
import traceback
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>
POLL_S = 0.02  # how often the storm looks at the server in ``mid-posting``


@dataclass(frozen=True)
class StormSpec:
    """What a storm does (see the module). ``task``: ``scan`` (each worker scans ``batch``
    files picked at random from ``inputs``) or ``reconcile`` (each worker reconciles to
    ``fhir_url``). ``every``: it goes on for ``seconds``, and on until the workers have reported
    ``min_records`` records between them (workers get little done between kills on a busy
    machine) or ``max_seconds`` have passed. ``mid-posting``: it stops after ``seconds`` or
    when a run completes. Workers still running at the end are killed too."""

    task: str
    kill: str  # every | mid-posting
    home: str
    out: str
    seconds: float
    kill_ms: tuple[float, float]
    seed: int
    workers: int = 1
    inputs: tuple[str, ...] = ()
    batch: tuple[int, int] = (1, 1)
    fhir_url: str = ""
    min_records: int = 0
    max_seconds: float = 0.0


@dataclass(frozen=True)
class Worker:
    """One worker of a storm: what it was given and how it ended."""

    n: int
    pid: int
    inputs: tuple[str, ...]
    started: float  # seconds into the storm
    ended: float
    fate: str  # killed | exited
    code: int  # its exit code (0: the run completed); -9 when killed

    @property
    def records_file(self) -> str:
        return f"worker-{self.n:05d}.jsonl"

    @property
    def stderr_file(self) -> str:
        return f"worker-{self.n:05d}.err"


@dataclass(frozen=True)
class StormResult:
    out: Path
    workers: tuple[Worker, ...]
    seconds: float

    @property
    def killed(self) -> list[Worker]:
        return [w for w in self.workers if w.fate == "killed"]

    @property
    def completed(self) -> list[Worker]:
        return [w for w in self.workers if w.fate == "exited" and w.code == 0]

    @property
    def failed(self) -> list[Worker]:
        return [w for w in self.workers if w.fate == "exited" and w.code != 0]

    def stderr(self, worker: Worker) -> str:
        path = self.out / worker.stderr_file
        return path.read_text("utf-8", "replace") if path.exists() else ""

    def records(self, worker: Worker) -> list[dict[str, Any]]:
        """The records the worker reported, in order."""
        path = self.out / worker.records_file
        if not path.exists():
            return []
        lines = path.read_text("utf-8").split("\n")
        return [json.loads(line) for line in lines[:-1]]  # each ends in \n: the last is empty


def storm(spec: StormSpec, *, env: Mapping[str, str], timeout: float) -> StormResult:
    """Run a storm to its end and read what happened."""
    out = Path(spec.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "spec.json").write_text(json.dumps(asdict(spec)), "utf-8")
    with (out / "storm.err").open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, __file__, str(out / "spec.json")],
            env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
            start_new_session=True,
        )  # fmt: skip
    try:
        code = process.wait(timeout)
    finally:
        if process.poll() is None:  # a storm that hangs leaves nothing running behind it
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    errors = (out / "storm.err").read_text("utf-8", "replace")
    assert code == 0, f"the storm itself failed ({code}):\n{errors[-4000:]}"
    summary = json.loads((out / "storm.json").read_text("utf-8"))
    workers = tuple(Worker(**{**w, "inputs": tuple(w["inputs"])}) for w in summary["workers"])
    return StormResult(out, workers, summary["seconds"])


# --------------------------------------------------------------------------------------------
# In the storm's process

Report = Callable[[dict[str, Any]], None]  # a worker's record, reported
Run = Callable[[tuple[str, ...], Report], None]  # a worker's run: its inputs, where to report


class _Storm:
    def __init__(self, spec: StormSpec, run: Run) -> None:
        self.spec, self.run = spec, run
        self.rng = random.Random(spec.seed)
        self.out = Path(spec.out)
        self.began = time.monotonic()
        self.live: dict[int, tuple[int, tuple[str, ...], float]] = {}  # pid → n, inputs, start
        self.done: list[Worker] = []
        self.reported = 0  # records reported by the workers in done[:self.tallied]
        self.tallied = 0

    def elapsed(self) -> float:
        return time.monotonic() - self.began

    def start(self) -> int:
        n = len(self.done) + len(self.live)
        inputs: tuple[str, ...] = ()
        if self.spec.inputs:
            k = min(len(self.spec.inputs), self.rng.randint(*self.spec.batch))
            inputs = tuple(self.rng.sample(self.spec.inputs, k))
        seed = self.rng.getrandbits(32)
        pid = os.fork()
        if pid == 0:
            _worker(self.run, self.out, n, inputs, seed)
        self.live[pid] = (n, inputs, self.elapsed())
        return pid

    def reap(self, *, block: bool = False) -> None:
        """Note every child that ended (with ``block``: wait for all of them to end)."""
        while True:
            try:
                pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid not in self.live:
                continue  # a page reader orphaned by a killed worker: gone, nothing to say
            n, inputs, started = self.live.pop(pid)
            code = os.waitstatus_to_exitcode(status)
            fate = "killed" if code == -signal.SIGKILL else "exited"
            self.done.append(Worker(n, pid, inputs, started, self.elapsed(), fate, code))

    def kill(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    def records_so_far(self) -> int:
        for w in self.done[self.tallied :]:
            path = self.out / w.records_file
            self.reported += path.read_bytes().count(b"\n") if path.exists() else 0
        self.tallied = len(self.done)
        return self.reported

    def every(self) -> None:
        spec = self.spec
        kill_at = self.began + self.rng.uniform(*spec.kill_ms) / 1000  # a schedule: however
        longest = max(spec.seconds, spec.max_seconds)  # slow forks are, kills keep their pace
        while kill_at - self.began < spec.seconds or (
            self.records_so_far() < spec.min_records and kill_at - self.began < longest
        ):
            self.reap()
            while len(self.live) < spec.workers:
                self.start()
            time.sleep(max(0.0, kill_at - time.monotonic()))
            self.reap()
            if self.live:
                self.kill(self.rng.choice(sorted(self.live)))
            kill_at += self.rng.uniform(*spec.kill_ms) / 1000

    def mid_posting(self) -> None:
        spec = self.spec
        while self.elapsed() < spec.seconds and not any(w.code == 0 for w in self.done):
            posted = _posted(spec.fhir_url)
            pid = self.start()
            while pid in self.live and self.elapsed() < spec.seconds:
                if _posted(spec.fhir_url) > posted:
                    time.sleep(self.rng.uniform(*spec.kill_ms) / 1000)
                    self.kill(pid)
                    break
                time.sleep(POLL_S)
                self.reap()
            if pid in self.live:
                self.kill(pid)  # still running when time is up
            while pid in self.live:
                self.reap(block=True)

    def finish(self) -> None:
        for pid in sorted(self.live):
            self.kill(pid)
        self.reap(block=True)  # every worker and every process they started: all gone
        summary = {"seconds": self.elapsed(), "workers": [asdict(w) for w in self.done]}
        (self.out / "storm.json").write_text(json.dumps(summary), "utf-8")


def _posted(fhir_url: str) -> int:
    """How many Provenance resources the server holds: one more for each bundle it took."""
    url = f"{fhir_url}/Provenance?_summary=count"
    with urllib.request.urlopen(url, timeout=30) as answer:
        return int(json.load(answer)["total"])


def _worker(run: Run, out: Path, n: int, inputs: tuple[str, ...], seed: int) -> None:
    """A forked worker: its stderr to a file of its own, each record written the moment it is
    reported (one write of whole lines); exit code 0 when its run completed. Never returns."""
    code = 1
    try:
        random.seed(seed)
        err = os.open(out / f"worker-{n:05d}.err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(err, 2)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        records = os.open(out / f"worker-{n:05d}.jsonl", flags, 0o600)

        def report(record: dict[str, Any]) -> None:
            os.write(records, (json.dumps(record, ensure_ascii=False) + "\n").encode())

        run(inputs, report)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException as e:  # a DowntimeError exits with its own code, as the CLI does
        code = int(getattr(e, "exit_code", 1) or 1)
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(code)


def _scan_task(spec: StormSpec) -> Run:
    """A worker scans its files as ``downtime scan --json --jobs 1`` does (app.scan_files), the
    site's forms loaded once by the storm rather than by each worker."""
    from downtime.app.forms import site_forms_for
    from downtime.app.workspace import workspace
    from downtime.scan.run import ScanOptions, log_event, run_scan
    from downtime.settings import resolve

    home = Path(spec.home)
    forms = site_forms_for(resolve(home))
    _open_once(home)

    def run(inputs: tuple[str, ...], report: Report) -> None:
        with workspace(home, keys="read") as (settings, keys, ledger):
            summary = run_scan(
                [Path(p) for p in inputs],
                settings=settings, keys=keys, ledger=ledger, forms=forms,
                options=ScanOptions(jobs=1), emit=lambda record: report(record.to_json()),
            )  # fmt: skip
            log_event(ledger, settings, summary)

    return run


def _reconcile_task(spec: StormSpec) -> Run:
    """A worker reconciles the data folder to the FHIR server as ``downtime reconcile
    --fhir-url`` does (app.reconcile_forms: one run at a time, by its lock)."""
    from downtime.app import reconcile_forms

    home = Path(spec.home)
    _open_once(home)

    def run(_inputs: tuple[str, ...], report: Report) -> None:
        summary = reconcile_forms(
            home, fhir_url=spec.fhir_url, token_file=None, outbox=None, dry_run=False,
            max_entries=8, log=lambda line: None,
        )  # fmt: skip
        report({"bundles": summary.bundles, "failed": summary.failed})
        if summary.not_delivered or summary.stopped:
            raise SystemExit(7)

    return run


def _open_once(home: Path) -> None:
    """Open the data folder's ledger once in the storm's process, so that what opening it
    imports (PostgreSQL's driver: a tenth of a second or more) is there in every forked worker,
    as in a station's process that has run before, and each worker's short life is spent on
    its run."""
    from downtime.ledger import Ledger
    from downtime.settings import resolve

    Ledger.open(resolve(home).ledger_target).close()


def _become_subreaper() -> None:
    """Orphaned grandchildren (a killed worker's page readers) become this process's children,
    so that the storm can wait for them to be gone too."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def main(spec_path: Path) -> None:
    data = json.loads(spec_path.read_text("utf-8"))
    spec = StormSpec(**{**data, **{k: tuple(data[k]) for k in ("kill_ms", "inputs", "batch")}})
    tasks = {"scan": _scan_task, "reconcile": _reconcile_task}
    run = tasks[spec.task](spec)  # the kit imported once, before any worker is forked
    _become_subreaper()
    going = _Storm(spec, run)
    try:
        {"every": going.every, "mid-posting": going.mid_posting}[spec.kill]()
    finally:
        going.finish()


if __name__ == "__main__":
    main(Path(sys.argv[1]))

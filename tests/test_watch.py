"""`downtime scan --watch` (issue 12): a real watcher process, fed by real writer processes.

A writer that saves a page slowly under its final name (pieces with pauses longer than the
settle time, the file held open), one that saves under ``*.part`` and renames, a corrupt file
and a file that is not a scan; restarts, with and without the watcher's state; SIGTERM and
SIGINT between the pages of a long scanner PDF. Results are checked in the JSON lines, in the
ledger (one file row, one page row each) and with `downtime ledger check`. The folder logic
alone (settle time, names passed over, files open for writing) is checked in-process, on a
clock the test moves.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import PrintedPack, print_example_pack, run_cli
from PIL import Image
from scankit import (
    DPI,
    Gray,
    cli,
    copy_home,
    patient_pages,
    render,
    require,
    rows,
    save_pdf_of_jpegs,
)

from downtime.scan.watch import (
    NETWORK_FILESYSTEMS,
    FolderWatch,
    Signature,
    filesystem_type,
    ignored,
    open_for_writing,
)

REPO = Path(__file__).resolve().parent.parent
SETTLE_S = 0.5  # the watcher's --settle in these tests
WRITE_PAUSE_S = 1.2  # a slow writer's pause between pieces: longer than the settle time
TIMEOUT_S = 90.0  # generous: the machine is shared and the watcher imports the image stack
BATCH_PAGES = 16  # pages of the scanner PDF stopped between its pages


def child_env() -> dict[str, str]:
    paths = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> PrintedPack:
    base = tmp_path_factory.mktemp("watch-printed")
    return print_example_pack(base / "home", base / "out")


@pytest.fixture(scope="module")
def pages(printed: PrintedPack) -> list[Gray]:
    """Distinct patient pages, as a scanner would see them (150 dpi)."""
    return [render(printed, entry) for entry in patient_pages(printed)[: BATCH_PAGES + 6]]


def png_bytes(image: Gray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, "PNG", dpi=(DPI, DPI))
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# Processes: the watcher, and writers that save files the way scanners do


class Watcher:
    """`downtime scan --watch FOLDER --json` in a process of its own; its stdout (the pages'
    JSON lines) and stderr (file lines, messages, the summary) read by threads."""

    def __init__(self, home: Path, folder: Path, *extra: str | Path) -> None:
        code = "import sys; from downtime.cli import main; sys.exit(main())"
        args = ["--home", home, "scan", "--watch", folder, "--json", "--jobs", "1", "--lang", "en"]
        args += ["--settle", str(SETTLE_S), "--interval", "0.1", "--no-ocr", *extra]
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, *map(str, args)],
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.records: list[dict[str, Any]] = []
        self.messages: list[str] = []
        self._changed = threading.Condition()
        for stream, sink in ((self.process.stdout, self.records), (self.process.stderr, None)):
            threading.Thread(target=self._read, args=(stream, sink), daemon=True).start()
        self.wait_for(lambda: any(m.startswith("watching ") for m in self.messages), "to start")

    def _read(self, stream: Any, sink: list[dict[str, Any]] | None) -> None:
        for line in stream:
            with self._changed:
                if sink is not None:
                    sink.append(json.loads(line))
                else:
                    self.messages.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        with self._changed:
            while not condition():
                if self.process.poll() is not None and not condition():
                    time.sleep(0.2)  # the readers' last lines
                    if condition():
                        return
                    pytest.fail(f"the watcher ended ({self.process.returncode}) before {what}:"
                                f"\n{self.stderr()}")  # fmt: skip
                if time.monotonic() > deadline:
                    pytest.fail(f"the watcher did not get {what} in time:\n{self.stderr()}")
                self._changed.wait(timeout=0.2)

    def wait_for_source(self, name: str, pages: int = 1) -> list[dict[str, Any]]:
        self.wait_for(lambda: len(self.of(name)) >= pages, f"{pages} page(s) of {name}")
        return self.of(name)

    def of(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.records if Path(r["source"]).name == name]

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        self.wait_for(lambda: any(m.startswith("stopped: ") for m in self.messages), "summary")
        return code

    def stderr(self) -> str:
        return "\n".join(self.messages)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=TIMEOUT_S)


WRITER = """
import sys, time
source, target, pieces, pause, final = sys.argv[1:6]
data = open(source, "rb").read()
step = -(-len(data) // int(pieces))
with open(target, "wb") as out:
    for i in range(0, len(data), step):
        out.write(data[i : i + step])
        out.flush()
        if i + step < len(data):
            time.sleep(float(pause))
if final != target:
    import os
    os.rename(target, final)
"""


def slow_writer(
    source: Path, target: Path, *, pieces: int, final: Path | None = None
) -> subprocess.Popen[bytes]:
    """A process that saves ``source`` as ``target`` in pieces, pausing between them with the
    file open, then renames it to ``final`` if given."""
    args = [source, target, pieces, WRITE_PAUSE_S, final or target]
    return subprocess.Popen([sys.executable, "-c", WRITER, *map(str, args)])


@pytest.fixture
def watchers() -> Any:
    started: list[Watcher] = []
    yield started
    for watcher in started:  # a failing test leaves no process behind
        watcher.kill()


def ledger_check(home: Path) -> None:
    result = cli("ledger", "check", "--json", home=home, ok=False)
    document = json.loads(result.stdout)
    assert result.exit_code == 0 and document["ok"], result.stdout
    assert document["findings"] == [], document["findings"]


def file_rows(home: Path, name: str) -> list[dict[str, Any]]:
    return rows(
        home,
        "SELECT f.size, f.first_source, count(s.run_id) AS sightings FROM scan_files f"
        " JOIN scan_sightings s USING (file_sha256) WHERE f.first_source LIKE ?"
        " GROUP BY f.file_sha256",
        (f"%/{name}",),
    )


# --------------------------------------------------------------------------------------------
# The watcher end to end


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="file leases are Linux's")
def test_each_file_is_scanned_once_when_complete_and_never_again_after_a_restart(
    printed: PrintedPack, pages: list[Gray], tmp_path: Path, watchers: list[Watcher]
) -> None:
    home = copy_home(printed, tmp_path / "home")
    inbox, sources = tmp_path / "inbox", tmp_path / "sources"
    inbox.mkdir()
    sources.mkdir()
    for n, image in enumerate(pages[:5]):
        (sources / f"p{n}.png").write_bytes(png_bytes(image))
    watcher = Watcher(home, inbox)
    watchers.append(watcher)

    slow = slow_writer(sources / "p0.png", inbox / "slow.png", pieces=4)
    renamed = slow_writer(
        sources / "p1.png", inbox / "renamed.png.part", pieces=2, final=inbox / "renamed.png"
    )
    (inbox / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\nnot a pdf")
    (inbox / "notes.txt").write_text("not a scan\n")
    (inbox / ".hidden.png").write_bytes((sources / "p4.png").read_bytes())
    code = "import sys; from downtime.cli import main; sys.exit(main())"
    second = subprocess.run(
        [sys.executable, "-c", code, "--home", str(home), "scan", "--watch", str(inbox)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )  # one watcher per folder
    assert second.returncode != 0 and "another `downtime scan --watch`" in second.stderr
    for writer in (slow, renamed):
        assert writer.wait(timeout=TIMEOUT_S) == 0
    watcher.wait_for_source("slow.png")
    watcher.wait_for_source("renamed.png")
    watcher.wait_for_source("broken.pdf")
    watcher.wait_for_source("notes.txt")

    # a corrupt file and a non-scan are set aside with their reasons; the watcher goes on
    (inbox / "later.png").write_bytes((sources / "p2.png").read_bytes())
    watcher.wait_for_source("later.png")
    time.sleep(3 * SETTLE_S)  # time enough for a second look at every file
    assert watcher.stop() == 0

    by_name = {Path(r["source"]).name: r for r in watcher.records}
    assert sorted(by_name) == ["broken.pdf", "later.png", "notes.txt", "renamed.png", "slow.png"]
    assert len(watcher.records) == 5, "each file scanned once"
    for name in ("slow.png", "renamed.png", "later.png"):
        assert by_name[name]["status"] == "identified", by_name[name]
    assert by_name["broken.pdf"]["status"] == "quarantined"
    assert by_name["broken.pdf"]["reason"] in {"corrupt-file", "truncated-file"}
    assert (by_name["notes.txt"]["status"], by_name["notes.txt"]["reason"]) == (
        "quarantined",
        "unsupported-format",
    )
    # only once complete: one file row each, of the whole file, seen once
    for name, source in (("slow.png", "p0.png"), ("renamed.png", "p1.png")):
        (row,) = file_rows(home, name)
        assert (row["size"], row["sightings"]) == ((sources / source).stat().st_size, 1)
    assert not file_rows(home, "renamed.png.part")
    assert "stopped: 5 files, 5 pages" in watcher.stderr()
    ledger_check(home)

    # a restart scans only what is new
    again = Watcher(home, inbox)
    watchers.append(again)
    (inbox / "new.png").write_bytes((sources / "p3.png").read_bytes())
    again.wait_for_source("new.png")
    time.sleep(3 * SETTLE_S)
    assert again.stop() == 0
    assert [Path(r["source"]).name for r in again.records] == ["new.png"]

    # without its state (a data folder restored from a backup), the ledger decides
    for state in (home / "watch").glob("*.json"):
        state.unlink()
    third = Watcher(home, inbox)
    watchers.append(third)
    (inbox / "newer.png").write_bytes((sources / "p4.png").read_bytes())
    third.wait_for_source("newer.png")
    third.wait_for(lambda: third.stderr().count("scanned before") == 6, "the files seen before")
    assert third.stop(signal.SIGINT) == 0
    assert [Path(r["source"]).name for r in third.records] == ["newer.png"]
    assert len(rows(home, "SELECT * FROM scan_sightings")) == 7
    ledger_check(home)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="file leases are Linux's")
def test_sigterm_stops_between_the_pages_of_a_file_and_a_restart_reads_the_rest(
    printed: PrintedPack, pages: list[Gray], tmp_path: Path, watchers: list[Watcher]
) -> None:
    home = copy_home(printed, tmp_path / "home")
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    inbox.mkdir()
    save_pdf_of_jpegs(tmp_path / "batch.pdf", pages[:BATCH_PAGES], DPI)
    watcher = Watcher(home, inbox)
    watchers.append(watcher)
    (tmp_path / "batch.pdf").rename(inbox / "batch.pdf")
    watcher.wait_for_source("batch.pdf")
    assert watcher.stop() == 0
    read = len(watcher.of("batch.pdf"))
    require(read < BATCH_PAGES, f"stopped before the last page ({read} read)")
    assert "stopped before its last page" in watcher.stderr()
    assert f"stopped: 1 file, {read} page" in watcher.stderr()
    recorded = rows(home, "SELECT source_page FROM scan_pages ORDER BY source_page")
    assert [r["source_page"] for r in recorded] == list(range(1, read + 1))
    ledger_check(home)

    # the next start reads the other pages, each once; then the file moves out of the way
    again = Watcher(home, inbox, "--done-dir", done)
    watchers.append(again)
    again.wait_for_source("batch.pdf", BATCH_PAGES)
    again.wait_for(lambda: "moved to" in again.stderr(), "the file moved")
    assert again.stop() == 0
    statuses = [(r["source_page"], r["status"], r["reason"]) for r in again.of("batch.pdf")]
    assert statuses == [(n, "duplicate", "same-file") for n in range(1, read + 1)] + [
        (n, "identified", None) for n in range(read + 1, BATCH_PAGES + 1)
    ]
    recorded = rows(home, "SELECT source_page, status FROM scan_pages ORDER BY source_page")
    assert [(r["source_page"], r["status"]) for r in recorded] == [
        (n, "identified") for n in range(1, BATCH_PAGES + 1)
    ]
    assert not (inbox / "batch.pdf").exists() and (done / "batch.pdf").is_file()
    ledger_check(home)


def test_the_usage_errors(printed: PrintedPack, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for args in (
        ["scan"],
        ["scan", str(inbox), "--watch", str(inbox)],
        ["scan", "--done-dir", str(tmp_path / "done"), str(inbox)],
        ["scan", "--settle", "5", str(inbox)],
    ):
        result = run_cli(*args, home=tmp_path / "home", ok=False)
        assert result.exit_code == 2, (args, result.output)


# --------------------------------------------------------------------------------------------
# The folder alone, on a clock the test moves


def test_a_file_is_complete_once_unchanged_for_the_settle_time(tmp_path: Path) -> None:
    page = tmp_path / "scan.pdf"
    page.write_bytes(b"%PDF-1.7 first")
    folder = FolderWatch(tmp_path, settle_s=2.0)
    assert folder.poll(100.0) == []  # first seen
    assert folder.poll(101.9) == []
    page.write_bytes(b"%PDF-1.7 first and more")  # grew: the clock starts again
    assert folder.poll(102.0) == []
    assert folder.poll(103.9) == []
    (ready,) = folder.poll(104.0)
    assert (ready.name, ready.signature.size) == ("scan.pdf", page.stat().st_size)
    folder.handled(ready)
    assert folder.poll(110.0) == []  # never handed out twice
    page.write_bytes(b"%PDF-1.7 another scan, same name")
    assert folder.poll(111.0) == []
    assert [r.name for r in folder.poll(113.0)] == ["scan.pdf"]  # changed: new again


def test_files_being_written_hidden_or_excluded_are_passed_over(tmp_path: Path) -> None:
    for name in ("a.part", "b.tmp", ".c.pdf", "d.crdownload", "Thumbs.db", "~$e.pdf", "f.pdf~"):
        assert ignored(name), name
    assert not ignored("scan 0001.pdf")
    (tmp_path / "done").mkdir()
    (tmp_path / "day-2").mkdir()
    for name in ("a.pdf.part", ".c.pdf", "done/old.pdf", "day-2/new.pdf", "top.pdf"):
        (tmp_path / name).write_bytes(b"%PDF-1.7")
    (tmp_path / "link.pdf").symlink_to(tmp_path / "top.pdf")
    folder = FolderWatch(tmp_path, settle_s=0.0, exclude=tmp_path / "done")
    folder.poll(0.0)
    assert [r.name for r in folder.poll(0.0)] == ["day-2/new.pdf", "top.pdf"]
    # handled before (a restart): passed over while unchanged; forgotten once gone
    info = (tmp_path / "top.pdf").stat()
    handled = {"top.pdf": Signature(info.st_size, info.st_mtime_ns)}
    folder = FolderWatch(tmp_path, settle_s=0.0, exclude=tmp_path / "done", handled=handled)
    folder.poll(0.0)
    assert [r.name for r in folder.poll(0.0)] == ["day-2/new.pdf"]
    (tmp_path / "top.pdf").unlink()
    folder.poll(1.0)
    assert "top.pdf" not in folder.handled_files()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="file leases are Linux's")
def test_a_file_open_for_writing_is_not_complete(tmp_path: Path) -> None:
    page = tmp_path / "scan.pdf"
    with page.open("wb") as out:
        out.write(b"%PDF-1.7 page one")
        out.flush()
        assert open_for_writing(page)
        folder = FolderWatch(tmp_path, settle_s=0.0)
        folder.poll(0.0)
        assert folder.poll(10.0) == []  # unchanged for long, but still open
    assert not open_for_writing(page)
    assert [r.name for r in folder.poll(11.0)] == ["scan.pdf"]
    # a lease says nothing of other computers' writers: on a network file system, not asked
    assert filesystem_type(os.stat("/proc").st_dev) == "proc"
    assert "cifs" in NETWORK_FILESYSTEMS and "nfs4" in NETWORK_FILESYSTEMS

"""The only module that talks to the printing system: CUPS's ``lp`` and ``lpstat`` commands.

Every job is sent as A4, one-sided, at 100 % scale: ``print-scaling=none`` (IPP's "do not
scale", which pdftopdf honours) and ``fit-to-page=false`` for older filters. A form shrunk to
fit the printable area moves its tick boxes and page codes away from where the scanner
expects them, and a sheet printed on both sides is scanned as one page. The CUPS server is
the system's (or ``$CUPS_SERVER``'s, as for every CUPS command).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from downtime.errors import DependencyError, DowntimeError, ExitCode, InputError

LP_OPTIONS = ("media=A4", "sides=one-sided", "print-scaling=none", "fit-to-page=false")
TIMEOUT_S = 120.0  # lp returns once CUPS has spooled the file, not when the paper is out
_REQUEST_ID = re.compile(r"request id is (\S+)")
_DEFAULT = re.compile(r"system default destination:\s*(\S+)")
_PRINTER_NAME = re.compile(r"[^\s/#]+")  # CUPS: any printable character but space, / and #


class PrintFailed(DowntimeError):
    """CUPS did not take the job (the printer is unknown, disabled, or CUPS is not running):
    nothing was printed; try again once the printer is back."""

    exit_code = ExitCode.TEMPFAIL


@dataclass(frozen=True)
class Job:
    printer: str
    job_id: str  # CUPS's request id, e.g. "ward-printer-42"


def _command(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise DependencyError(
            f"the CUPS command {name} is not installed",
            hint="install CUPS (Debian: apt-get install cups), then add the ward's printer "
            "(lpadmin, or the desktop's printer settings)",
        )
    return found


def default_printer() -> str:
    """The CUPS default destination; :class:`InputError` when there is none."""
    done = _run([_command("lpstat"), "-d"])
    match = _DEFAULT.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise InputError(
            "this computer has no default printer",
            hint="give the printer with --printer NAME (lpstat -p lists them), or set a "
            "default with lpoptions -d NAME",
        )
    return match[1]


def send(pdf: Path, *, printer: str, copies: int, title: str) -> Job:
    """Send ``pdf`` to ``printer``; the job's id once CUPS has taken it."""
    if not _PRINTER_NAME.fullmatch(printer):
        raise InputError(f"{printer!r} is not a printer name")
    options = [item for option in LP_OPTIONS for item in ("-o", option)]
    args = [_command("lp"), "-d", printer, "-n", str(copies), "-t", title, *options, "--",
            str(pdf)]  # fmt: skip
    done = _run(args)
    match = _REQUEST_ID.search(done.stdout)
    if done.returncode != 0 or match is None:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise PrintFailed(
            f"CUPS did not take the job for {printer}: {said[-1] if said else 'no answer'}",
            hint="check the printer (lpstat -p), then print again",
        )
    return Job(printer, match[1])


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(  # noqa: S603 - a fixed command, no shell
            args, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as e:
        raise PrintFailed(
            f"CUPS did not answer within {TIMEOUT_S:.0f} s", hint="check that CUPS is running"
        ) from e

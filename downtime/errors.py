"""Exit codes and the exceptions that carry them.

Every error the kit raises on purpose is a :class:`DowntimeError`: it says what is wrong and,
where it can, what to do next (``hint``). The CLI turns it into a message on stderr and its
``exit_code``. Messages never contain patient names or identifiers; they name line numbers,
columns, files and page serials instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from downtime.vocab import Reason


class ExitCode(IntEnum):
    OK = 0
    CHECK_FAILED = 1  # a check ran and found something wrong (`downtime audit verify`)
    USAGE = 2  # click's own code for a bad command line
    BAD_INPUT = 3  # census, form definition or other input file is invalid
    CONFIG = 4  # data folder, site config or keys unusable
    DEPENDENCY = 5  # a native library or optional package is missing
    LEDGER = 6  # the ledger cannot be opened or written
    NOT_DELIVERED = 7  # the run finished, but something failed to reach the record (listed
    # by `downtime report`); running it again retries it
    TEMPFAIL = 75  # stopped early (the server asks to wait, stopped answering, or another
    # run holds the data folder): run it again later (sysexits' EX_TEMPFAIL)
    INTERNAL = 70


@dataclass(frozen=True)
class Said:
    """An error's message (and next step) by its key in the CLI's catalogue of messages
    (``cli/words.toml``, ``errors`` and ``hints``), with its values: the CLI says it in the
    site's language. The error's ``message`` and ``hint`` are the same words in English."""

    key: str
    values: Mapping[str, object] = field(default_factory=dict)


class DowntimeError(Exception):
    """Base class: a message for a person, an exit code, and an optional next step."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, hint: str | None = None, said: Said | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.said = said

    def __str__(self) -> str:
        return f"{self.message}\n  → {self.hint}" if self.hint else self.message


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input row or definition entry."""

    where: str  # "line 7", "line 7, column patient_id", "group 'active', field 'stop'"
    what: str  # what is wrong, without patient data

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


class ProblemsError(DowntimeError):
    """An input with several independent problems, all reported at once (shown below its
    title, in English, when the title has words of its own: ``said``)."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(
        self,
        title: str,
        problems: Sequence[Problem],
        *,
        hint: str | None = None,
        said: Said | None = None,
    ) -> None:
        self.problems = tuple(problems)
        lines = [title, *(f"  {p}" for p in self.problems)]
        super().__init__("\n".join(lines), hint=hint, said=said)


class CensusError(ProblemsError):
    """The census has bad rows (or cannot be read at all)."""


class DrugListError(ProblemsError):
    """The site's drug list (site.toml ``drug_list``) has bad lines or cannot be read."""


class FormDefinitionError(ProblemsError):
    """A form definition file is invalid."""


class SerialsRefused(ProblemsError):
    """Serials typed for pages a command cannot act on, each with why: nothing was done."""


class InputError(DowntimeError):
    """Something the user named does not exist or does not fit (a ward, a form, a file)."""

    exit_code = ExitCode.BAD_INPUT


class ConfigError(DowntimeError):
    exit_code = ExitCode.CONFIG


class KeyStoreError(DowntimeError):
    exit_code = ExitCode.CONFIG


class LedgerError(DowntimeError):
    exit_code = ExitCode.LEDGER


class DependencyError(DowntimeError):
    exit_code = ExitCode.DEPENDENCY


class PageCodeError(DowntimeError):
    """A page code was rejected. ``reason`` is the stable, machine-readable quarantine reason."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, reason: Reason, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


class SerialError(DowntimeError):
    """A typed or OCR-read form serial is malformed or fails its check characters."""

    exit_code = ExitCode.BAD_INPUT

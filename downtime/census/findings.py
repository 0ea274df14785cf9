"""Problems found in a census: one field wrong, each issue by column or element, and the bad
rows (or bundle entries) collected as problems and as skipped rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from downtime.errors import CensusError, Problem, Said
from downtime.model import SkippedRow

if TYPE_CHECKING:
    from collections.abc import Sequence

_SKIP_HINT = (
    "fix the rows, or pass --skip-invalid to print the rest and list the skipped rows "
    "on the cover sheet"
)


class Invalid(ValueError):
    """One field is wrong. The message is ours, never a library's (those can echo the value)."""


@dataclass(frozen=True)
class Issue:
    column: str | None  # CSV column or FHIR element; None for the row or entry as a whole
    what: str


@dataclass
class Findings:
    """Bad rows (or bundle entries) found so far, as problems and as skipped rows."""

    file: str
    problems: list[Problem] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)
    bad: int = 0

    def bad_line(self, file: str, line: int, issues: Sequence[Issue]) -> None:
        """A bad CSV row: one problem per issue, located by line and column."""
        self.bad += 1
        for issue in issues:
            column = f", column {issue.column}" if issue.column else ""
            self.problems.append(Problem(f"{file} line {line}{column}", issue.what))
        details = "; ".join(
            f"column {issue.column}: {issue.what}" if issue.column else issue.what
            for issue in issues
        )
        self.skipped.append(SkippedRow(line, f"{file}: {details}"))

    def bad_entry(self, where: str, number: int, issues: Sequence[Issue]) -> None:
        """A bad bundle entry: located as ``<file> entry N (Type/id)``, the element in ``what``."""
        self.bad += 1
        whats = [f"{i.column}: {i.what}" if i.column else i.what for i in issues]
        self.problems.extend(Problem(where, what) for what in whats)
        self.skipped.append(SkippedRow(number, f"{where}: {'; '.join(whats)}"))

    def dependent(self, line: int, what: str) -> None:
        """A row left out only because a row it depends on was bad (not counted as bad)."""
        self.skipped.append(SkippedRow(line, what))

    def raise_if_bad(self, noun: str) -> None:
        if self.bad:
            plural = noun if self.bad == 1 else ("entries" if noun == "entry" else f"{noun}s")
            key = "census_bad_entries" if noun == "entry" else "census_bad_rows"
            raise CensusError(
                f"census {self.file}: {self.bad} bad {plural}; no pack was made",
                self.problems,
                hint=_SKIP_HINT,
                said=Said(key, {"file": self.file, "n": self.bad}),
            )

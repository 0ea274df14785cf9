"""What ``downtime doctor`` reports: one :class:`Check` per thing a run needs, and the
:class:`Diagnosis` they make together (see :mod:`downtime.app.doctor`)."""

from __future__ import annotations

from dataclasses import dataclass

from downtime.errors import Said

OK, WARNING, FAILED = "ok", "warning", "failed"
STATES = (OK, WARNING, FAILED)


@dataclass(frozen=True)
class Check:
    """One line of ``downtime doctor``; never names a patient."""

    name: str  # a stable id: tesseract, zxing-cpp, permissions, ledger, …
    state: str  # ok | warning | failed
    what: str  # what was found, for a person
    fix: str = ""  # what to do about it; empty when nothing is to be done
    said: Said | None = None  # ``what`` (and ``fix``) by key in the CLI's words (``checks``)
    fixed: Said | None = None  # ``fix`` by key in the CLI's ``fixes``, when not ``said``'s key


@dataclass(frozen=True)
class Diagnosis:
    checks: tuple[Check, ...]

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.state == FAILED)

    @property
    def warnings(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.state == WARNING)

    @property
    def ok(self) -> bool:
        """Nothing failed (warnings alone are ok)."""
        return not self.failed

"""Census files → :class:`~downtime.model.Census`.

Two inputs are read:

* a CSV pair, ``patients.csv`` and optionally ``medications.csv`` (:func:`load_csv_census`);
* a FHIR R4 Bundle in JSON (:func:`load_fhir_census`).

:func:`load_census` picks one by looking at the file's first character. The site's drug list
(site.toml ``drug_list``), a CSV file of drugs and their codes, is read by
:mod:`downtime.census.druglist`.

Every problem names where it is (file, line and column, or bundle entry) and what is wrong,
never a patient's name or identifier. What the paper can show is checked here too, so that one
run reports every bad row (:mod:`downtime.census.printable`): no control or format character,
every character in the form fonts, a name short enough to print legibly. By default one bad
row stops the pack: a :class:`~downtime.errors.CensusError` lists all problems at once. With
``skip_invalid`` the bad rows are left out and returned in :attr:`Census.skipped` for the cover
sheet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from downtime.census.csvfile import MEDICATION_COLUMNS, PATIENT_COLUMNS, load_csv_census
from downtime.census.fhirfile import load_fhir_census
from downtime.census.values import SEXES as SEXES
from downtime.errors import CensusError, Problem
from downtime.model import Census

if TYPE_CHECKING:
    from datetime import date
    from pathlib import Path

__all__ = [
    "MEDICATION_COLUMNS",
    "PATIENT_COLUMNS",
    "load_census",
    "load_csv_census",
    "load_fhir_census",
]


def _is_json(path: Path) -> bool:
    """Whether the file's first character, after a byte order mark and spaces, is ``{``."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"{")


def load_census(path: Path, medications: Path | None, *, skip_invalid: bool, today: date) -> Census:
    """A FHIR Bundle when the file is JSON (it starts with ``{``), else a CSV census.

    A FHIR bundle carries its own medication orders, so ``medications`` must be ``None`` then.
    """
    if not _is_json(path):
        return load_csv_census(path, medications, skip_invalid=skip_invalid, today=today)
    if medications is not None:
        raise CensusError(
            f"census {path.name}: a FHIR bundle carries its own medication orders",
            [Problem(medications.name, "a medications file cannot be combined with a FHIR bundle")],
            hint="leave out the medications file",
        )
    return load_fhir_census(path, skip_invalid=skip_invalid, today=today)

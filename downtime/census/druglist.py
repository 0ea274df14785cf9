"""The site's drug list (site.toml ``drug_list``): a CSV file of the drugs the site uses, each
with its code, e.g. the NPL id Läkemedelsverket gives every medicinal product.

::

    name,strength,form,code
    Paracetamol,500 mg,tablett,20990101000011

UTF-8 (a byte order mark is fine), a header row naming exactly these columns in any order, as
the CSV census does. An entry is shown as its name, strength and form (``Paracetamol 500 mg
tablett``): the review station suggests it while a drug is typed, and reconciliation codes a
typed drug with the entry's code only when the typed text *is* that display, compared without
regard to case or to how many spaces stand between the words (:func:`drug_key`). Nothing else
is matched: no prefix, no spelling correction, no synonym. Every problem names its line and
column, all at once (:class:`~downtime.errors.DrugListError`); a list with any problem stops the
command that loads it (the review station, reconciliation) before it does anything.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from downtime.census.findings import Invalid
from downtime.census.textfiles import NOT_THERE, read_text
from downtime.census.values import clean_text
from downtime.errors import DrugListError, Problem
from downtime.settings import NPL_ID, Settings

if TYPE_CHECKING:
    from pathlib import Path

DRUG_COLUMNS = ("name", "strength", "form", "code")
NPL_ID_DIGITS = 14  # an NPL id is 14 digits
FHIR_CODE = re.compile(r"\S+( \S+)*")  # FHIR's code: no space at its ends or two in a row
_HINT = (
    'fix the lines (UTF-8 CSV with the header name,strength,form,code), or set drug_list = "" '
    "in site.toml to work without the list"
)


@dataclass(frozen=True)
class DrugEntry:
    name: str
    strength: str  # may be empty
    form: str  # may be empty
    code: str
    line: int = 0  # in the file (header = 1)

    @property
    def display(self) -> str:
        """As the station shows it: ``Paracetamol 500 mg tablett``."""
        return " ".join(part for part in (self.name, self.strength, self.form) if part)


@dataclass(frozen=True)
class DrugList:
    """The site's drug list, validated; empty when the site names none."""

    system: str = NPL_ID  # the code system of every entry's code (site.toml drug_list_system)
    entries: tuple[DrugEntry, ...] = ()
    _by_key: dict[str, DrugEntry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {drug_key(e.display): e for e in self.entries})

    @property
    def displays(self) -> tuple[str, ...]:
        return tuple(e.display for e in self.entries)

    def find(self, typed: str) -> DrugEntry | None:
        """The entry whose display ``typed`` is exactly (see :func:`drug_key`), or None."""
        return self._by_key.get(drug_key(typed)) if typed else None


def drug_key(text: str) -> str:
    """What two drug texts must share to be the same: NFC, case folded, words separated by
    one space (``"paracetamol  500 MG tablett "`` is ``Paracetamol 500 mg tablett``)."""
    return " ".join(unicodedata.normalize("NFC", text).split()).casefold()


def matching(names: Iterable[str], typed: str, limit: int) -> list[str]:
    """The first ``limit`` of ``names`` that what was typed so far matches (case and spacing
    aside): those it begins first, then those with a word it begins, then those holding it;
    each group sorted."""
    key = drug_key(typed)
    if not key:
        return []
    groups: tuple[list[str], list[str], list[str]] = ([], [], [])
    for name in names:
        found = drug_key(name)
        if found.startswith(key):
            groups[0].append(name)
        elif f" {key}" in f" {found}" or f"({key}" in found:
            groups[1].append(name)
        elif key in found:
            groups[2].append(name)
    ordered = [n for group in groups for n in sorted(group, key=str.casefold)]
    return ordered[:limit]


def site_drug_list(settings: Settings) -> DrugList:
    """The list site.toml names (relative to the data folder unless absolute), or an empty one."""
    name, system = settings.config.drug_list, settings.config.drug_list_system
    return load_drug_list(settings.data_path(name), system) if name else DrugList(system)


def load_drug_list(path: Path, system: str = NPL_ID) -> DrugList:
    """Every entry of the file, or a :class:`DrugListError` listing every problem."""
    where = path.name
    rows = _rows(path)
    problems: list[Problem] = []
    entries: list[DrugEntry] = []
    seen: dict[str, DrugEntry] = {}
    for line, cells in rows:
        entry = _entry(where, line, cells, system, problems)
        if entry is None:
            continue
        first = seen.setdefault(drug_key(entry.display), entry)
        if first is entry:
            entries.append(entry)
            continue
        differs = "" if first.code == entry.code else ", with another code"
        what = f"'{entry.display}' is on line {first.line} already{differs}: keep one of the two"
        problems.append(Problem(f"{where} line {line}", f"{what} lines"))
    if not rows:
        raise DrugListError(
            f"drug list {where}: no entries",
            [Problem(where, "has a header row and nothing else")],
            hint='add the drugs, one a line, or set drug_list = "" in site.toml to work without',
        )
    if problems:
        lines = len({p.where.partition(",")[0] for p in problems})
        raise DrugListError(
            f"drug list {where}: {lines} bad line{'s' if lines > 1 else ''}",
            problems,
            hint=_HINT,
        )
    return DrugList(system, tuple(entries))


def _entry(
    where: str, line: int, cells: list[str], system: str, problems: list[Problem]
) -> DrugEntry | None:
    if len(cells) != len(DRUG_COLUMNS):
        what = f"has {len(cells)} cells; the header has {len(DRUG_COLUMNS)}"
        problems.append(Problem(f"{where} line {line}", what))
        return None
    values: dict[str, str] = {}
    for column, raw in zip(DRUG_COLUMNS, cells, strict=True):
        try:
            values[column] = _cell(column, raw, system)
        except Invalid as e:
            problems.append(Problem(f"{where} line {line}, column {column}", str(e)))
    if len(values) < len(DRUG_COLUMNS):
        return None
    return DrugEntry(values["name"], values["strength"], values["form"], values["code"], line)


def _cell(column: str, raw: str, system: str) -> str:
    text = clean_text(raw)
    if column == "name" and not text:
        raise Invalid("is empty: write the drug's name, or delete the line")
    if column != "code":
        return " ".join(text.split())
    if not text:
        code = "its NPL id" if system == NPL_ID else f"its code ({system})"
        raise Invalid(f"is empty: write {code}, or delete the line")
    if system == NPL_ID and not (len(text) == NPL_ID_DIGITS and text.isascii() and text.isdigit()):
        raise Invalid(
            f"is not an NPL id ({NPL_ID_DIGITS} digits): correct it, or set drug_list_system "
            "in site.toml if the list holds codes of another system"
        )
    if not FHIR_CODE.fullmatch(text):
        raise Invalid("is not a code: only single spaces may stand between its parts; correct it")
    return text


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    """(line, cells) of every data row, in the header's order of :data:`DRUG_COLUMNS`; blank
    rows skipped. A short row keeps its length (reported by the caller)."""
    reader = csv.reader(io.StringIO(read_text(path, _unreadable), newline=""))
    try:
        header = [cell.strip() for cell in next(reader)]
        _check_header(path.name, header)
        order = [header.index(column) for column in DRUG_COLUMNS]
        rows: list[tuple[int, list[str]]] = []
        end_of_previous = reader.line_num
        for cells in reader:
            line, end_of_previous = end_of_previous + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            shaped = [cells[i] for i in order] if len(cells) == len(header) else cells
            rows.append((line, shaped))
    except csv.Error:
        raise _unreadable(path, f"line {reader.line_num} is not valid CSV") from None
    return rows


def _check_header(where: str, header: list[str]) -> None:
    problems: list[str] = []
    if not set(header) & set(DRUG_COLUMNS):
        problems.append("no header row: line 1 names none of the columns")
    else:
        repeated = sorted({name for name in header if header.count(name) > 1})
        missing = [name for name in DRUG_COLUMNS if name not in header]
        unknown = [name for name in header if name not in DRUG_COLUMNS]
        if repeated:
            problems.append(f"repeated columns: {', '.join(repeated)}")
        if missing:
            problems.append(f"missing columns: {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown columns: {', '.join(unknown)}")
    if problems:
        raise DrugListError(
            f"drug list {where}: the header row is wrong",
            [Problem(f"{where} line 1", what) for what in problems],
            hint=f"the columns are: {','.join(DRUG_COLUMNS)} (in any order)",
        )


def _unreadable(path: Path, what: str) -> DrugListError:
    if what in NOT_THERE:  # the list is named relative to the data folder: say where
        what = f"{what}: {path}"
    return DrugListError(
        f"drug list {path.name}: cannot be read",
        [Problem(path.name, what)],
        hint="site.toml drug_list names the file, relative to the data folder unless absolute; "
        'set drug_list = "" to work without a list',
    )

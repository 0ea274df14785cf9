"""Where the files the kit ships beside its code are: the built-in forms and the example census.

In the repository they are top-level folders, ``forms/`` (form definitions and their label
catalogue, ``forms/labels/``) and ``examples/census/``, where a hospital finds, reviews and
edits them. A built wheel carries copies inside the package, under ``downtime/_bundled/`` with
the same relative paths (``force-include`` in pyproject.toml). :func:`bundled` finds a folder
in either place: the packaged copy first (an installed wheel), then the source tree (a checkout
or an editable install: its package is the checkout's, which has no packaged copy, so edits
to ``forms/`` show at once). Every reader of these files goes through it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from downtime.errors import DependencyError

PACKAGED = "_bundled"  # the package folder the wheel's copies are in
FORMS = "forms"
LABELS = "forms/labels/labels.toml"  # the words printed on every page, per language
EXAMPLE_CENSUS = "examples/census"


def bundled(relative: str) -> Path:
    """The shipped file or folder at ``relative`` (a repository path such as ``"forms"``)."""
    packaged = Path(str(resources.files("downtime") / PACKAGED)) / relative
    if packaged.exists():
        return packaged
    root = Path(__file__).resolve().parent.parent
    source = root / relative
    if source.exists() and (root / "pyproject.toml").is_file():  # a checkout, not site-packages
        return source
    raise DependencyError(
        f"the kit's {relative} is missing: neither {packaged} nor {source} exists",
        hint="reinstall downtime from its wheel, or run it from a complete source checkout",
    )


def forms_dir() -> Path:
    """The built-in form definitions (``*.toml``)."""
    return bundled(FORMS)


def labels_file() -> Path:
    """The page furniture's words in every language (TOML, one table per language)."""
    return bundled(LABELS)


def example_census() -> Path:
    """The example census: ``patients.csv``, ``medications.csv`` and ``census.fhir.json``."""
    return bundled(EXAMPLE_CENSUS)

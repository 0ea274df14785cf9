"""Forms: definitions (declarative TOML), their layout into pages, and geometry checks."""

from __future__ import annotations

from downtime.forms.checks import check_geometry
from downtime.forms.definition import (
    FIELD_KINDS,
    LANGS,
    SUBJECTS,
    Cells,
    FormDef,
    Group,
    Item,
)
from downtime.forms.load import builtin_forms_dir, load_form, load_forms

__all__ = [
    "FIELD_KINDS",
    "LANGS",
    "SUBJECTS",
    "Cells",
    "FormDef",
    "Group",
    "Item",
    "builtin_forms_dir",
    "check_geometry",
    "load_form",
    "load_forms",
]

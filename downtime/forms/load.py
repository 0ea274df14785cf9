"""Loading form definitions: TOML files read, parsed and validated, every problem at once."""

from __future__ import annotations

import string
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from downtime.bundled import forms_dir
from downtime.errors import FormDefinitionError, Problem
from downtime.forms.checks import check_geometry
from downtime.forms.definition import (
    CHECKBOX_MM,
    FIELD_KINDS,
    LANGS,
    MIN_WRITING_HEIGHT_MM,
    PAGE_POLICIES,
    ROW_PLACEHOLDERS,
    SCHEMA,
    SOURCES,
    SUBJECTS,
    Cells,
    FormDef,
    Group,
    Item,
    Text,
)
from downtime.vocab import WRITING_KINDS, FieldKind


def builtin_forms_dir() -> Path:
    """The built-in form definitions: the repository's ``forms/`` (or the wheel's copy)."""
    return forms_dir()


def load_form(path: Path) -> FormDef:
    """Read and validate one definition; every problem is reported at once."""
    where = path.name
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise FormDefinitionError(
            f"form definition {where} cannot be read", [Problem(where, str(e))]
        ) from e
    except tomllib.TOMLDecodeError as e:
        raise FormDefinitionError(
            f"form definition {where} is not valid TOML", [Problem(where, str(e))]
        ) from e
    problems: list[Problem] = []
    form = _parse_form(data, where, problems)
    if form is not None:
        form = replace(form, path=str(path))
        problems.extend(check_geometry(form))
    if problems or form is None:
        raise FormDefinitionError(
            f"form definition {where} has {len(problems)} problem(s)",
            problems,
            hint="fix the definition and check it again with `downtime forms check FILE`",
        )
    return form


def load_forms(extra_dirs: Iterable[Path] = ()) -> dict[str, FormDef]:
    """Built-in forms, then each extra folder's ``*.toml`` replacing forms with the same id."""
    forms: dict[str, FormDef] = {}
    for folder in (builtin_forms_dir(), *extra_dirs):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            form = load_form(path)
            forms[form.id] = form
    _check_codes_unique(forms.values())
    return forms


def _check_codes_unique(forms: Iterable[FormDef]) -> None:
    seen: dict[int, FormDef] = {}
    problems = []
    for form in forms:
        other = seen.setdefault(form.code, form)
        if other is not form:
            problems.append(
                Problem(
                    Path(form.path).name,
                    f"code {form.code} is already used by form '{other.id}' "
                    f"({Path(other.path).name}); every form needs its own code",
                )
            )
    if problems:
        raise FormDefinitionError("two forms share a page-code number", problems)


# --------------------------------------------------------------------------------------------
# Parsing with problem collection. Each helper appends to `problems` and returns None on error.

_FORM_KEYS = {
    "schema", "id", "code", "version", "subject", "title", "short", "min_pages",
    "show_allergies", "static", "group",
}  # fmt: skip
_GROUP_KEYS = {
    "id", "origin_mm", "rows", "step_mm", "item", "cells", "source", "pages",
    "numbered", "title", "header", "empty_text",
}  # fmt: skip
_CELLS_KEYS = {"id", "origin_mm", "step_mm", "item", "count", "source", "max_per_page", "width_mm"}
_ITEM_KEYS = {
    "type", "box_mm", "id", "kind", "label", "template", "size_pt", "bold",
    "guide_lines_mm", "label_right",
}  # fmt: skip
_ID_CHARS = frozenset(string.ascii_lowercase + string.digits + "_-")


def _unknown_keys(
    data: Mapping[str, Any], allowed: set[str], where: str, problems: list[Problem]
) -> None:
    for key in sorted(set(data) - allowed):
        problems.append(
            Problem(where, f"unknown key '{key}' (allowed: {', '.join(sorted(allowed))})")
        )


def _req(data: Mapping[str, Any], key: str, where: str, problems: list[Problem]) -> Any:
    if key not in data:
        problems.append(Problem(where, f"'{key}' is required"))
        return None
    return data[key]


def _int(value: Any, lo: int, hi: int, what: str, where: str, problems: list[Problem]) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        problems.append(Problem(where, f"{what} must be a whole number from {lo} to {hi}"))
        return lo
    return value


def _num(value: Any, what: str, where: str, problems: list[Problem]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(Problem(where, f"{what} must be a number (millimetres)"))
        return 0.0
    return float(value)


def _box(value: Any, n: int, what: str, where: str, problems: list[Problem]) -> tuple[float, ...]:
    if not isinstance(value, list) or len(value) != n:
        problems.append(Problem(where, f"{what} must be a list of {n} numbers (millimetres)"))
        return (0.0,) * n
    return tuple(_num(v, what, where, problems) for v in value)


def _ident(
    value: Any, what: str, where: str, problems: list[Problem], *, item: bool = False
) -> str:
    """Group and cell ids get row numbers appended; item ids may be dotted ("kind.nurse")."""
    allowed = _ID_CHARS | {"."} if item else _ID_CHARS
    if not isinstance(value, str) or not value or not set(value) <= allowed:
        extra = ", '.'" if item else ""
        problems.append(
            Problem(where, f"{what} must be non-empty lower-case letters, digits, '_', '-'{extra}")
        )
        return ""
    if item:
        if value.startswith(".") or value.endswith(".") or ".." in value:
            problems.append(Problem(where, f"{what} '{value}' has an empty part between dots"))
    elif value[-1].isdigit():
        # "entry" + row number must stay unambiguous: "med1" + "2" would collide with "med12".
        problems.append(Problem(where, f"{what} '{value}' must not end in a digit"))
    return value


def _text(value: Any, what: str, where: str, problems: list[Problem]) -> Text | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.append(Problem(where, f"{what} must be a table of languages, e.g. {{sv=…, en=…}}"))
        return None
    for lang in LANGS:
        if not isinstance(value.get(lang), str) or not value[lang].strip():
            problems.append(Problem(where, f"{what} needs a '{lang}' text"))
    for lang in sorted(set(value) - set(LANGS)):
        problems.append(Problem(where, f"{what} has unknown language '{lang}'"))
    return {k: str(v) for k, v in value.items()}


def _bool(value: Any, what: str, where: str, problems: list[Problem]) -> bool:
    if not isinstance(value, bool):
        problems.append(Problem(where, f"{what} must be true or false"))
        return False
    return value


def _tables(value: Any, what: str, where: str, problems: list[Problem]) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        problems.append(Problem(where, f"'{what}' must be an array of tables ([[{what}]])"))
        return []
    return value


def _parse_form(data: dict[str, Any], where: str, problems: list[Problem]) -> FormDef | None:
    _unknown_keys(data, _FORM_KEYS, where, problems)
    schema = _req(data, "schema", where, problems)
    if schema is not None and schema != SCHEMA:
        problems.append(Problem(where, f"schema must be '{SCHEMA}', not '{schema}'"))
    form_id = _ident(_req(data, "id", where, problems), "id", where, problems)
    code = _int(_req(data, "code", where, problems), 1, 255, "code", where, problems)
    version = _int(_req(data, "version", where, problems), 1, 255, "version", where, problems)
    subject = _req(data, "subject", where, problems)
    if subject is not None and subject not in SUBJECTS:
        problems.append(Problem(where, f"subject must be one of {', '.join(SUBJECTS)}"))
    title = _text(_req(data, "title", where, problems), "title", where, problems)
    min_pages = _int(data.get("min_pages", 1), 1, 20, "min_pages", where, problems)
    allergies = _bool(data.get("show_allergies", False), "show_allergies", where, problems)
    statics = tuple(
        _parse_item(t, f"{where}: static {i + 1}", problems, allow_fields=False)
        for i, t in enumerate(_tables(data.get("static"), "static", where, problems))
    )
    groups = tuple(
        _parse_group(t, f"{where}: group {i + 1}", problems)
        for i, t in enumerate(_tables(data.get("group"), "group", where, problems))
    )
    if not groups and subject != "ward":
        problems.append(Problem(where, "a form needs at least one [[group]]"))
    if problems or title is None or not isinstance(subject, str):
        return None
    return FormDef(
        id=form_id,
        code=code,
        version=version,
        subject=subject,
        title=title,
        groups=groups,
        short=_text(data.get("short"), "short", where, problems),
        min_pages=min_pages,
        show_allergies=allergies,
        statics=statics,
    )


def _parse_group(data: dict[str, Any], where: str, problems: list[Problem]) -> Group:
    _unknown_keys(data, _GROUP_KEYS, where, problems)
    gid = _ident(_req(data, "id", where, problems), "id", where, problems)
    where = f"{where} ('{gid}')"
    source = data.get("source", "")
    if source and source not in SOURCES:
        problems.append(Problem(where, f"source must be one of {', '.join(SOURCES)}"))
    pages = data.get("pages", "every")
    if pages not in PAGE_POLICIES:
        problems.append(Problem(where, f"pages must be one of {', '.join(PAGE_POLICIES)}"))
    if source and "pages" in data:
        problems.append(Problem(where, "a data-bound group is paged by its data; drop 'pages'"))
    rows = _int(data.get("rows", 1), 1, 60, "rows", where, problems)
    origin = _box(_req(data, "origin_mm", where, problems), 2, "origin_mm", where, problems)
    step = _num(data.get("step_mm", 0.0), "step_mm", where, problems)
    if rows > 1 and step <= 0:
        problems.append(Problem(where, "step_mm must be positive when rows > 1"))
    numbered = _bool(data.get("numbered", rows > 1 or bool(source)), "numbered", where, problems)
    if not numbered and (rows > 1 or source):
        problems.append(Problem(where, "repeated or data-bound rows must be numbered"))
    items = tuple(
        _parse_item(t, f"{where}, item {i + 1}", problems)
        for i, t in enumerate(_tables(data.get("item"), "item", where, problems))
    )
    cells = tuple(
        _parse_cells(t, f"{where}, cells {i + 1}", problems)
        for i, t in enumerate(_tables(data.get("cells"), "cells", where, problems))
    )
    header = tuple(
        _parse_item(t, f"{where}, header {i + 1}", problems, allow_fields=False)
        for i, t in enumerate(_tables(data.get("header"), "header", where, problems))
    )
    if not items and not cells:
        problems.append(Problem(where, "a group needs at least one [[group.item]] or cells"))
    return Group(
        id=gid,
        origin_mm=(origin[0], origin[1]),
        rows=rows,
        step_mm=step,
        items=items,
        cells=cells,
        source=source if isinstance(source, str) else "",
        pages=pages if isinstance(pages, str) else "every",
        numbered=numbered,
        title=_text(data.get("title"), "title", where, problems),
        header=header,
        empty_text=_text(data.get("empty_text"), "empty_text", where, problems),
    )


def _parse_cells(data: dict[str, Any], where: str, problems: list[Problem]) -> Cells:
    _unknown_keys(data, _CELLS_KEYS, where, problems)
    cid = _ident(_req(data, "id", where, problems), "id", where, problems)
    where = f"{where} ('{cid}')"
    source = data.get("source", "")
    count = data.get("count", 0)
    if source not in ("", "slots"):
        problems.append(Problem(where, "cells source must be 'slots' (one cell per MAR time)"))
    if bool(source) == bool(count):
        problems.append(Problem(where, "cells need either count = N or source = 'slots'"))
    count = _int(count, 0, 40, "count", where, problems)
    max_per_page = _int(data.get("max_per_page", 0), 0, 40, "max_per_page", where, problems)
    if source == "slots" and max_per_page < 1:
        problems.append(Problem(where, "slot cells need max_per_page ≥ 1"))
    origin = _box(_req(data, "origin_mm", where, problems), 2, "origin_mm", where, problems)
    items = tuple(
        _parse_item(t, f"{where}, item {i + 1}", problems)
        for i, t in enumerate(_tables(data.get("item"), "item", where, problems))
    )
    if not any(i.type == "field" for i in items):
        problems.append(Problem(where, "cells need at least one field item"))
    return Cells(
        id=cid,
        origin_mm=(origin[0], origin[1]),
        step_mm=_num(_req(data, "step_mm", where, problems), "step_mm", where, problems),
        items=items,
        count=count,
        source=source if isinstance(source, str) else "",
        max_per_page=max_per_page,
        width_mm=_num(data.get("width_mm", 0.0), "width_mm", where, problems),
    )


def _parse_item(
    data: dict[str, Any], where: str, problems: list[Problem], *, allow_fields: bool = True
) -> Item:
    _unknown_keys(data, _ITEM_KEYS, where, problems)
    itype = _req(data, "type", where, problems)
    types = ("field", "text", "line", "rect") if allow_fields else ("text", "line", "rect")
    if itype is not None and itype not in types:
        problems.append(Problem(where, f"type must be one of {', '.join(types)}"))
    box = _box(_req(data, "box_mm", where, problems), 4, "box_mm", where, problems)
    label = _text(data.get("label"), "label", where, problems)
    template = data.get("template", "")
    item_id, kind = "", ""
    if itype == "field":
        item_id = _ident(_req(data, "id", where, problems), "id", where, problems, item=True)
        kind = _req(data, "kind", where, problems)
        if kind is not None and kind not in FIELD_KINDS:
            problems.append(Problem(where, f"kind must be one of {', '.join(FIELD_KINDS)}"))
        _check_field_size(kind, box, where, problems)
    elif itype == "text":
        if not isinstance(template, str):
            problems.append(Problem(where, "template must be a string"))
            template = ""
        if (label is None) == (not template):
            problems.append(Problem(where, "a text item needs exactly one of label or template"))
        _check_template(template, where, problems)
    elif "id" in data or "kind" in data:
        problems.append(Problem(where, f"a {itype} item has no id or kind"))
    if box[2] < 0 or box[3] < 0:
        problems.append(Problem(where, "box_mm width and height must not be negative"))
    return Item(
        type=str(itype),
        box_mm=(box[0], box[1], box[2], box[3]),
        id=item_id,
        kind=str(kind or ""),
        label=label,
        template=template,
        size_pt=_num(data.get("size_pt", 7.0), "size_pt", where, problems),
        bold=_bool(data.get("bold", False), "bold", where, problems),
        guide_lines_mm=_num(data.get("guide_lines_mm", 0.0), "guide_lines_mm", where, problems),
        label_right=_bool(data.get("label_right", False), "label_right", where, problems),
    )


def _check_field_size(
    kind: Any, box: tuple[float, ...], where: str, problems: list[Problem]
) -> None:
    w, h = box[2], box[3]
    lo, hi = CHECKBOX_MM
    if kind == FieldKind.CHECKBOX and not (lo <= w <= hi and lo <= h <= hi):
        problems.append(Problem(where, f"a checkbox must be {lo}–{hi} mm on each side"))
    elif kind in WRITING_KINDS and h < MIN_WRITING_HEIGHT_MM:
        problems.append(
            Problem(where, f"a writing box must be at least {MIN_WRITING_HEIGHT_MM} mm high")
        )


def _check_template(template: str, where: str, problems: list[Problem]) -> None:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    except ValueError as e:
        problems.append(Problem(where, f"template is malformed: {e}"))
        return
    for name in sorted(names - ROW_PLACEHOLDERS):
        problems.append(
            Problem(
                where,
                f"unknown placeholder '{{{name}}}' (known: {', '.join(sorted(ROW_PLACEHOLDERS))})",
            )
        )

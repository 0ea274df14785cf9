"""Forms: the site's forms, one form described, form files checked, a sample page previewed."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from downtime import files
from downtime.errors import DowntimeError, InputError
from downtime.forms import FormDef, load_form, load_forms
from downtime.settings import Settings, resolve


def site_forms_for(settings: Settings) -> dict[str, FormDef]:
    return load_forms([settings.forms_dir])


def site_forms(home: Path | None) -> dict[str, FormDef]:
    return site_forms_for(resolve(home))


def site_lang(home: Path | None, lang: str | None) -> str:
    """The language asked for, else the site's."""
    return lang or resolve(home).config.lang


def describe_form(home: Path | None, form_id: str, lang: str | None) -> dict[str, Any]:
    from downtime.forms.layout import layout_form

    lang = site_lang(home, lang)
    form = _one_form(home, form_id)
    sample = layout_form(form, lang, orders=(), window_start=datetime(2000, 1, 1))[0]
    return {
        "id": form.id,
        "code": form.code,
        "version": form.version,
        "subject": form.subject,
        "title": form.title[lang],
        "definition": form.path,
        "fields": [{"id": f.id, "kind": f.kind, "box_mm": list(f.box_mm)} for f in sample.fields],
    }


def _one_form(home: Path | None, form_id: str) -> FormDef:
    forms = site_forms(home)
    if form_id not in forms:
        raise InputError(f"no form '{form_id}'", hint=f"known forms: {', '.join(sorted(forms))}")
    return forms[form_id]


def check_form_files(paths: Iterable[Path]) -> list[tuple[Path, str | DowntimeError]]:
    out: list[tuple[Path, str | DowntimeError]] = []
    for path in paths:
        try:
            form = load_form(path)
        except DowntimeError as e:
            out.append((path, e))
            continue
        fields = sum(len(g.items) for g in form.groups)
        out.append((path, f"{form.id} v{form.version} (code {form.code}, {fields} items)"))
    return out


def preview_form(home: Path | None, form_id: str, output: Path, lang: str | None) -> str:
    from downtime.pack.preview import render_preview

    forms = site_forms(home)
    pdf = render_preview(_one_form(home, form_id), site_lang(home, lang), forms)
    output.parent.mkdir(parents=True, exist_ok=True)
    files.write_atomic(output, pdf)
    return str(output)

"""Forms: the site's forms, one form described, form files checked, a sample page previewed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from downtime import files
from downtime.errors import DowntimeError, InputError, Said
from downtime.forms import FormDef, load_form, load_forms
from downtime.forms.layout import layout_form
from downtime.model import FieldBox
from downtime.settings import Settings, resolve


@dataclass(frozen=True)
class FormDescription:
    """One form and its fields as laid out on a sample page (``box_mm`` from the top-left)."""

    id: str
    code: int
    version: int
    subject: str
    title: str
    definition: str  # the definition file
    fields: tuple[FieldBox, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "code": self.code,
            "version": self.version,
            "subject": self.subject,
            "title": self.title,
            "definition": self.definition,
            "fields": [{"id": f.id, "kind": f.kind, "box_mm": list(f.box_mm)} for f in self.fields],
        }


@dataclass(frozen=True)
class FormCheck:
    """One definition file checked: the form it defines, or the error that says what is wrong."""

    path: Path
    form: FormDef | None = None
    error: DowntimeError | None = None


def site_forms_for(settings: Settings) -> dict[str, FormDef]:
    return load_forms([settings.forms_dir])


def site_forms(home: Path | None) -> dict[str, FormDef]:
    return site_forms_for(resolve(home))


def site_lang(home: Path | None, lang: str | None) -> str:
    """The language asked for, else the site's."""
    return lang or resolve(home).config.lang


def describe_form(home: Path | None, form_id: str, lang: str | None) -> FormDescription:
    lang = site_lang(home, lang)
    form = _one_form(home, form_id)
    sample = layout_form(form, lang, orders=(), window_start=datetime(2000, 1, 1))[0]
    return FormDescription(
        form.id, form.code, form.version, form.subject, form.title[lang], form.path,
        tuple(sample.fields),
    )  # fmt: skip


def _one_form(home: Path | None, form_id: str) -> FormDef:
    forms = site_forms(home)
    if form_id not in forms:
        known = ", ".join(sorted(forms))
        raise InputError(
            f"no form '{form_id}'",
            hint=f"known forms: {known}",
            said=Said("no_form", {"form": form_id, "forms": known}),
        )
    return forms[form_id]


def check_form_files(paths: Iterable[Path]) -> list[FormCheck]:
    out: list[FormCheck] = []
    for path in paths:
        try:
            out.append(FormCheck(path, form=load_form(path)))
        except DowntimeError as e:
            out.append(FormCheck(path, error=e))
    return out


def preview_form(home: Path | None, form_id: str, output: Path, lang: str | None) -> Path:
    from downtime.pack.preview import render_preview

    forms = site_forms(home)
    pdf = render_preview(_one_form(home, form_id), site_lang(home, lang), forms)
    output.parent.mkdir(parents=True, exist_ok=True)
    files.write_atomic(output, pdf)
    return output

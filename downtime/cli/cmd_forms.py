"""``downtime forms``: list, show, check and preview form definitions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from downtime.cli.common import (
    EXISTING_FILE,
    LANG,
    OUTPUT_PATH,
    data_home,
    handles_errors,
    say,
    speaks_site_language,
)
from downtime.cli.help import Group
from downtime.cli.listing import FORMS, echo_document, json_option
from downtime.errors import ExitCode


@click.group(cls=Group)
def forms() -> None:
    """Form definitions: list, show, check and preview them."""


SITE_LANG = click.option("--lang", type=LANG, help="Language (default: site.toml, else sv).")


@forms.command("list", short_help="The forms this site prints: built-in and its own.")
@SITE_LANG
@json_option(FORMS)
@click.pass_context
@handles_errors
@speaks_site_language
def forms_list(ctx: click.Context, lang: str | None, as_json: bool) -> None:
    """The forms this site prints (built-in and the site's own)."""
    from downtime.app import site_forms, site_lang
    from downtime.forms import builtin_forms_dir

    lang = site_lang(data_home(ctx), lang)
    builtin = builtin_forms_dir()
    listed = [
        {
            "id": form.id,
            "code": form.code,
            "version": form.version,
            "subject": form.subject,
            "origin": "built-in" if Path(form.path).parent == builtin else "site",
            "title": form.title[lang],
        }
        for form in sorted(site_forms(data_home(ctx)).values(), key=lambda f: f.code)
    ]
    if as_json:
        echo_document(FORMS, lang=lang, forms=listed)
        return
    w = say(ctx, lang)
    origins = {"built-in": w("origin_builtin"), "site": w("origin_site")}
    for f in listed:
        click.echo(w("form_line", **(f | {"origin": origins[str(f["origin"])]})))


@forms.command("show", short_help="One form's fields: ids, kinds, boxes in mm.")
@click.argument("form_id")
@click.option("--json", "as_json", is_flag=True, help="The field layout as JSON (page mm).")
@SITE_LANG
@click.pass_context
@handles_errors
@speaks_site_language
def forms_show(ctx: click.Context, form_id: str, as_json: bool, lang: str | None) -> None:
    """One form's definition and its fields (ids, kinds, boxes in mm from the top-left)."""
    from downtime.app import describe_form

    form = describe_form(data_home(ctx), form_id, lang)
    if as_json:
        click.echo(json.dumps(form.to_json(), ensure_ascii=False, indent=1))
        return
    click.echo(f"{form.id}  code {form.code}  version {form.version}  {form.subject}  {form.title}")
    click.echo(f"definition: {form.definition}")
    for f in form.fields:
        x, y, w, h = f.box_mm
        click.echo(f"  {f.id:<32} {f.kind:<10} [{x:7.2f} {y:7.2f} {w:6.2f} {h:6.2f}]")


@forms.command("check", short_help="Validate form definition files, listing every problem.")
@click.argument("files", nargs=-1, required=True, type=EXISTING_FILE)
@handles_errors
def forms_check(files: tuple[Path, ...]) -> None:
    """Validate form definition files; every problem is listed."""
    from downtime.app import check_form_files

    failed = 0
    for checked in check_form_files(files):
        if checked.form is None:
            failed += 1
            click.echo(f"error: {checked.error}", err=True)
            continue
        form = checked.form
        items = sum(len(g.items) for g in form.groups)
        click.echo(
            f"ok\t{checked.path}\t{form.id} v{form.version} (code {form.code}, {items} items)"
        )
    if failed:
        sys.exit(int(ExitCode.BAD_INPUT))


@forms.command("preview", short_help="A sample page of a form, for a fictional patient.")
@click.argument("form_id")
@click.option("-o", "--output", type=OUTPUT_PATH, required=True, help="PDF to write.")
@SITE_LANG
@click.pass_context
@handles_errors
@speaks_site_language
def forms_preview(ctx: click.Context, form_id: str, output: Path, lang: str | None) -> None:
    """A sample page of a form, filled with a fictional patient.

    The preview's codes are signed with a throwaway key: a scanned preview is set aside as
    'unknown-key', never filed to anyone.
    """
    from downtime.app import preview_form

    click.echo(preview_form(data_home(ctx), form_id, output, lang))

"""``downtime pack`` prints packs; ``downtime packs`` lists them and imports those printed on
another machine."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from downtime.bundled import example_census
from downtime.cli.common import (
    EXISTING_FILE,
    LANG,
    LANG_OPTION,
    OUTPUT_PATH,
    data_home,
    echo_err,
    handles_errors,
    jobs_option,
    say,
    speaks_site_language,
)
from downtime.cli.help import Group
from downtime.cli.listing import PACKS, echo_document, json_option, local_time, site_timezone
from downtime.cli.words import Words
from downtime.errors import ExitCode
from downtime.model import SkippedRow
from downtime.report.safetext import visible, visible_tree

if TYPE_CHECKING:
    from downtime.pack import PackResult


@click.command(short_help="Print packs: signed, pre-filled forms for a ward.")
@click.argument("census", required=False, type=EXISTING_FILE)
@click.option(
    "--medications", type=EXISTING_FILE, help="medications.csv for a CSV census (active orders)."
)
@click.option("--example", is_flag=True, help="Use the bundled example census (fictional).")
@click.option(
    "--fhir-url",
    help="Pull the census from this FHIR R4 server: in-progress encounters, their patients, "
    "active orders and allergies.",
)
@click.option(
    "--token-file",
    type=EXISTING_FILE,
    help="The server's bearer token (else $DOWNTIME_FHIR_TOKEN; never a flag).",
)
@click.option("--ward", help="The ward to print (its code as in the census).")
@click.option("--all-wards", is_flag=True, help="One pack per ward; -o is then a folder.")
@click.option(
    "-o",
    "--output",
    type=OUTPUT_PATH,
    required=True,
    help="PDF file (--ward; into a folder: WARD.pdf), or a folder (--all-wards).",
)
@click.option(
    "--lang", type=LANG, help="Language of the forms and messages (default: site.toml, else sv)."
)
@click.option(
    "--admission-forms", type=click.IntRange(0, 50), help="Blank admission forms per ward."
)
@jobs_option("Draw this many packs at once (with --all-wards or --ahead)")
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Print the valid rows; list bad rows on stderr and on the cover sheet.",
)
@click.option(
    "--continue",
    "continuation",
    is_flag=True,
    help="A continuation pack of the ward's newest pack: its census, the next time window.",
)
@click.option(
    "--forms",
    "form_list",
    metavar="IDS",
    help="With --continue: the forms every patient gets, comma-separated (default: mar,journal).",
)
@click.option(
    "--ahead",
    type=click.IntRange(0, 3),
    metavar="N",
    help="Also make the next N continuation packs of each ward pack (default: "
    "continuations_ahead in site.toml, else 0): FILE.ahead-1.pdf, FILE.ahead-2.pdf, ….",
)
@click.pass_context
@handles_errors
@speaks_site_language
def pack(
    ctx: click.Context,
    census: Path | None,
    medications: Path | None,
    example: bool,
    fhir_url: str | None,
    token_file: Path | None,
    ward: str | None,
    all_wards: bool,
    output: Path,
    lang: str | None,
    admission_forms: int | None,
    jobs: int,
    skip_invalid: bool,
    continuation: bool,
    form_list: str | None,
    ahead: int | None,
) -> None:
    """Print downtime packs: pre-filled, signed forms for every patient of a ward.

    CENSUS is patients.csv (with --medications meds.csv) or a FHIR R4 Bundle (JSON); or
    the census is pulled from a FHIR server with --fhir-url.
    Each pack is a PDF plus FILE.manifest.json beside it, and is recorded in the ledger;
    earlier packs of the same ward are marked superseded.

    With --continue (on the second and third day of an outage, no network needed): the next
    administration records (and more journal pages, or the --forms chosen) for the ward's
    patients, from the census its newest pack was printed from, for the time window after the
    one that pack covers; new page codes; earlier packs stay in use (nothing is superseded).

    With --ahead N: each ward pack comes with its next N continuation packs, made now (the
    administration records of the N windows after the pack's, and journal pages), so that a
    ward station can print them during an outage without the network or a signing key. Of
    one, the report counts as issued only the pages printed (or back on paper).

    \b
    downtime pack --example --ward MED42 -o MED42.pdf
    downtime pack patients.csv --medications meds.csv --all-wards -o /srv/downtime/packs
    downtime pack patients.csv --medications meds.csv --all-wards --ahead 2 -o /srv/downtime/packs
    downtime pack --continue --ward MED42 -o MED42-day2.pdf
    downtime pack --continue --ward MED42 --forms mar -o MED42-day3.pdf
    """
    from downtime.app import PackRequest, run_pack

    if continuation and ahead is not None:
        raise click.UsageError(
            "--ahead goes with a ward's pack, not with --continue (it continues that pack)"
        )
    if continuation:
        _continue(ctx, census, example, fhir_url, ward, output, form_list, lang, admission_forms)
        return
    if form_list is not None:
        raise click.UsageError("--forms goes with --continue (a pack's forms are site.toml's)")

    if sum((census is not None, example, fhir_url is not None)) != 1:
        raise click.UsageError(
            "give a CENSUS file, --fhir-url for a FHIR server, or --example for the bundled one"
        )
    if bool(ward) == all_wards:
        raise click.UsageError("give --ward W, or --all-wards")
    if example:
        folder = example_census()
        census, medications = folder / "patients.csv", folder / "medications.csv"
    request = PackRequest(
        census=census,
        medications=medications,
        ward=ward,
        output=output,
        skip_invalid=skip_invalid,
        issued_at=datetime.now(UTC),
        today=date.today(),
        jobs=jobs,
        fhir_url=fhir_url,
        token_file=token_file,
    )
    w = say(ctx, lang)

    def skipped(row: SkippedRow) -> None:
        echo_err(w("skipped_row", line=row.line, what=row.what))

    results = run_pack(request, home=data_home(ctx), lang=lang, admission_forms=admission_forms,
                       ahead=ahead, skipped=skipped)  # fmt: skip
    made: dict[str, int] = {}
    for r in results:
        click.echo(pack_line(w, r))
        if r.ahead:
            made[r.ward] = made.get(r.ward, 0) + 1
    for ward_made, n in made.items():
        click.echo(w("ahead_line", ward=ward_made, made=w.n("ahead_n", n)))


def pack_line(w: Words, r: PackResult) -> str:
    """A pack made: ward, PDF, pages, patients, admission forms, manifest (tab-separated)."""
    return w("pack_line", ward=r.ward, pdf=r.pdf, pages=w.n("pages_n", r.pages),
             patients=w.n("patients_n", r.patients),
             admissions=w.n("admissions_n", r.admission_forms), manifest=r.manifest)  # fmt: skip


@click.group(cls=Group)
def packs() -> None:
    """Packs this ledger knows: list them, or import those printed on another machine."""


@packs.command("list", short_help="Every pack: ward, issued, pages, current or superseded.")
@json_option(PACKS)
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def packs_list(ctx: click.Context, as_json: bool, lang: str | None) -> None:
    """Every pack: ward, when issued, pages, whether a later pack superseded it, and for a
    continuation pack the pack it continues (and whether it was made ahead with it: such a
    pack counts only as far as it was printed).

    Newest first; times in the site's time zone.
    """
    from downtime.app import pack_table

    rows = pack_table(data_home(ctx))
    tz = site_timezone(ctx)
    if as_json:
        packs = [
            {
                "pack_id": p.pack_id,
                "site": p.site,
                "ward": p.ward,
                "issued_at": local_time(p.issued_at, tz),
                "pages": p.page_count,
                "census_source": p.census_source,
                "current": p.superseded_by is None,
                "superseded_by": p.superseded_by,
                "continues": p.continues,
                "made_ahead": p.ahead,
            }
            for p in rows
        ]
        echo_document(PACKS, timezone=tz.key, packs=visible_tree(packs))
        return
    w = say(ctx, lang)
    click.echo(w("packs_heading"))
    for p in rows:
        superseded = p.superseded_by
        state = w("pack_superseded", pack=superseded) if superseded else w("pack_current")
        if p.continues:
            state += "; " + w("pack_continues_ahead" if p.ahead else "pack_continues",
                              pack=p.continues)  # fmt: skip
        cells = (p.pack_id, p.ward, local_time(p.issued_at, tz) or "-", str(p.page_count),
                 p.census_source, state)  # fmt: skip
        click.echo("\t".join(visible(c) for c in cells))


@packs.command("import", short_help="Record packs printed elsewhere, from their manifests.")
@click.argument("manifests", nargs=-1, required=True, type=EXISTING_FILE)
@LANG_OPTION
@click.pass_context
@handles_errors
@speaks_site_language
def packs_import(ctx: click.Context, manifests: tuple[Path, ...], lang: str | None) -> None:
    """Record packs printed on the print host from their NAME.manifest.json files.

    A scan station with a ledger of its own needs them to read the pages of those packs.
    Import the print host's public keys first (`downtime keys import-public`): a manifest
    is imported only when its signature and every page code in it verify with them. One
    that does not is refused with the reason (and audited), the others are imported; exit
    code 3 then.
    """
    from downtime.app import import_manifests

    refused, w = False, say(ctx, lang)
    for done in import_manifests(data_home(ctx), manifests):
        if done.refused:
            refused = True
            echo_err(w.refusal(done.manifest.name, done.refused, done.problem, done.hint,
                               done.said))  # fmt: skip
            continue
        imported = w("pack_imported", pages=w.n("pages_n", done.pages))
        what = w("pack_known") if done.known_before else imported
        click.echo(f"{done.manifest.name}\t{done.ward}\t{what}")
    if refused:
        ctx.exit(int(ExitCode.BAD_INPUT))


def _continue(
    ctx: click.Context,
    census: Path | None,
    example: bool,
    fhir_url: str | None,
    ward: str | None,
    output: Path,
    form_list: str | None,
    lang: str | None,
    admission_forms: int | None,
) -> None:
    from downtime.app.continuation import continue_pack
    from downtime.app.held_continuations import holds_pack

    if census is not None or example or fhir_url is not None:
        raise click.UsageError("--continue prints from the ledger's census: give no census")
    if not ward:
        raise click.UsageError("--continue needs --ward W")
    forms = [f.strip() for f in form_list.split(",") if f.strip()] if form_list else None
    if holds_pack(data_home(ctx), ward):
        _continue_held(ctx, ward, output, forms, lang, admission_forms)
        return
    r = continue_pack(data_home(ctx), ward=ward, output=output, issued_at=datetime.now(UTC),
                      forms=forms, admission_forms=admission_forms, lang=lang)  # fmt: skip
    click.echo(pack_line(say(ctx, lang), r))


def _continue_held(
    ctx: click.Context,
    ward: str,
    output: Path,
    forms: list[str] | None,
    lang: str | None,
    admission_forms: int | None,
) -> None:
    """On a ward station: the next continuation it holds (made ahead on the print host, signed
    there), written to ``output`` and recorded as printed."""
    from downtime.app.packs import safe_name
    from downtime.app.printing import PrintRequest, print_pack
    from downtime.cli.cmd_print import echo_printed

    if admission_forms is not None:
        raise click.UsageError(
            "a ward station prints the continuations the print host made: --admission-forms "
            "goes with --continue on the print host"
        )
    pdf = output / f"{safe_name(ward)}-continued.pdf" if output.is_dir() else output
    request = PrintRequest(ward, tuple(forms or ()), continuation=True, to_file=pdf)
    echo_printed(ctx, print_pack(data_home(ctx), request), say(ctx, lang))

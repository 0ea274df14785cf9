"""The ``downtime`` command: parse options, resolve settings, call one library function.

stdout carries data (file paths, tables, JSON, PEM); stderr carries messages. A
:class:`DowntimeError` becomes its message on stderr and its exit code.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import click

from downtime import __version__
from downtime.errors import DowntimeError, ExitCode

F = TypeVar("F", bound=Callable[..., Any])

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
OUTPUT_PATH = click.Path(path_type=Path)
LANG = click.Choice(["sv", "en"])


def _fail(error: DowntimeError) -> None:
    click.echo(f"error: {error}", err=True)
    sys.exit(int(error.exit_code))


def handles_errors(command: F) -> F:
    """Turn a DowntimeError into a message on stderr and its exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DowntimeError as e:
            _fail(e)

    return wrapper  # type: ignore[return-value]


def _home(ctx: click.Context) -> Path | None:
    home: Path | None = ctx.obj.get("home") if ctx.obj else None
    return home


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="downtime")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="DOWNTIME_HOME",
    help="Data folder (ledger, keys, site.toml, site forms). "
    "Default: $DOWNTIME_HOME, else the user's data directory.",
)
@click.pass_context
def main(ctx: click.Context, home: Path | None) -> None:
    """downtime: paper-fallback documentation for hospital record outages.

    \b
    Before an outage:  downtime pack --ward W -o W.pdf   (or --all-wards -o DIR)
    Forms:             downtime forms list | show | check | preview
    Keys:              downtime keys list | rotate | export-public | import-public
    """
    ctx.ensure_object(dict)
    ctx.obj["home"] = home


# --------------------------------------------------------------------------------------------
# init


@main.command()
@click.option("--site", help="Site name printed on cover sheets.")
@click.option("--lang", type=LANG, help="Language of the printed forms.")
@click.option("--scan-station", is_flag=True, help="Public keys only: this machine never signs.")
@click.pass_context
@handles_errors
def init(ctx: click.Context, site: str | None, lang: str | None, scan_station: bool) -> None:
    """Create the data folder: ledger, signing key, site.toml.

    Safe to run again: what exists is kept (options given here update site.toml).
    Other commands create the folder on first use when init was not run.
    """
    from downtime.app import initialise

    report = initialise(_home(ctx), site=site, lang=lang, signing=not scan_station)
    for line in report:
        click.echo(line)


# --------------------------------------------------------------------------------------------
# pack


@main.command()
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
    "-o", "--output", type=OUTPUT_PATH, required=True, help="PDF file (--ward) or folder."
)
@click.option("--lang", type=LANG, help="Language of the forms (default: site.toml, else sv).")
@click.option(
    "--admission-forms", type=click.IntRange(0, 50), help="Blank admission forms per ward."
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=lambda: os.cpu_count() or 1,
    show_default="number of CPUs",
    help="Draw this many ward packs at once (with --all-wards).",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Print the valid rows; list bad rows on stderr and on the cover sheet.",
)
@click.pass_context
@handles_errors
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
) -> None:
    """Print downtime packs: pre-filled, signed forms for every patient of a ward.

    CENSUS is patients.csv (with --medications meds.csv) or a FHIR R4 Bundle (JSON); or
    the census is pulled from a FHIR server with --fhir-url.
    Each pack is a PDF plus FILE.manifest.json beside it, and is recorded in the ledger;
    earlier packs of the same ward are marked superseded.

    \b
    downtime pack --example --ward MED42 -o MED42.pdf
    downtime pack patients.csv --medications meds.csv --all-wards -o /srv/downtime/packs
    """
    from downtime.app import PackRequest, run_pack

    if sum((census is not None, example, fhir_url is not None)) != 1:
        raise click.UsageError(
            "give a CENSUS file, --fhir-url for a FHIR server, or --example for the bundled one"
        )
    if bool(ward) == all_wards:
        raise click.UsageError("give --ward W, or --all-wards")
    if example:
        folder = Path(str(resources.files("downtime") / "resources" / "example"))
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
    results = run_pack(
        request, home=_home(ctx), lang=lang, admission_forms=admission_forms, log=_stderr
    )
    for r in results:
        click.echo(
            f"{r.ward}\t{r.pdf}\t{r.pages} pages\t{r.patients} patients\t"
            f"{r.admission_forms} admission forms\t{r.manifest}"
        )


def _stderr(message: str) -> None:
    click.echo(message, err=True)


# --------------------------------------------------------------------------------------------
# forms


@main.group()
def forms() -> None:
    """Form definitions: list, show, check and preview them."""


SITE_LANG = click.option("--lang", type=LANG, help="Language (default: site.toml, else sv).")


@forms.command("list")
@SITE_LANG
@click.pass_context
@handles_errors
def forms_list(ctx: click.Context, lang: str | None) -> None:
    """The forms this site prints (built-in and the site's own)."""
    from downtime.app import site_forms, site_lang
    from downtime.forms import builtin_forms_dir

    lang = site_lang(_home(ctx), lang)
    builtin = builtin_forms_dir()
    for form in sorted(site_forms(_home(ctx)).values(), key=lambda f: f.code):
        origin = "built-in" if Path(form.path).parent == builtin else "site"
        click.echo(
            f"{form.id:<20} code {form.code:<3} v{form.version:<3} {form.subject:<9} "
            f"{origin:<8} {form.title[lang]}"
        )


@forms.command("show")
@click.argument("form_id")
@click.option("--json", "as_json", is_flag=True, help="The field layout as JSON (page mm).")
@SITE_LANG
@click.pass_context
@handles_errors
def forms_show(ctx: click.Context, form_id: str, as_json: bool, lang: str | None) -> None:
    """One form's definition and its fields (ids, kinds, boxes in mm from the top-left)."""
    from downtime.app import describe_form

    description = describe_form(_home(ctx), form_id, lang)
    if as_json:
        click.echo(json.dumps(description, ensure_ascii=False, indent=1))
        return
    click.echo(
        f"{description['id']}  code {description['code']}  version {description['version']}"
        f"  {description['subject']}  {description['title']}"
    )
    click.echo(f"definition: {description['definition']}")
    for f in description["fields"]:
        x, y, w, h = f["box_mm"]
        click.echo(f"  {f['id']:<32} {f['kind']:<10} [{x:7.2f} {y:7.2f} {w:6.2f} {h:6.2f}]")


@forms.command("check")
@click.argument("files", nargs=-1, required=True, type=EXISTING_FILE)
@handles_errors
def forms_check(files: tuple[Path, ...]) -> None:
    """Validate form definition files; every problem is listed."""
    from downtime.app import check_form_files

    failed = 0
    for path, outcome in check_form_files(files):
        if isinstance(outcome, DowntimeError):
            failed += 1
            click.echo(f"error: {outcome}", err=True)
        else:
            click.echo(f"ok\t{path}\t{outcome}")
    if failed:
        sys.exit(int(ExitCode.BAD_INPUT))


@forms.command("preview")
@click.argument("form_id")
@click.option("-o", "--output", type=OUTPUT_PATH, required=True, help="PDF to write.")
@SITE_LANG
@click.pass_context
@handles_errors
def forms_preview(ctx: click.Context, form_id: str, output: Path, lang: str | None) -> None:
    """A sample page of a form, filled with a fictional patient.

    The preview's codes are signed with a throwaway key: a scanned preview is set aside as
    'unknown-key', never filed to anyone.
    """
    from downtime.app import preview_form

    click.echo(preview_form(_home(ctx), form_id, output, lang))


# --------------------------------------------------------------------------------------------
# keys


@main.group()
def keys() -> None:
    """Signing keys: the print host signs page codes, scan stations verify them."""


@keys.command("list")
@click.pass_context
@handles_errors
def keys_list(ctx: click.Context) -> None:
    """Every key, its status and how many issued pages it signed."""
    from downtime.app import key_table

    for row in key_table(_home(ctx)):
        click.echo("\t".join(row))


@keys.command("rotate")
@click.pass_context
@handles_errors
def keys_rotate(ctx: click.Context) -> None:
    """Make a new signing key; the old one keeps verifying the pages it signed."""
    from downtime.app import rotate_key

    click.echo(rotate_key(_home(ctx)))


@keys.command("export-public")
@click.pass_context
@handles_errors
def keys_export(ctx: click.Context) -> None:
    """Print every public key still in use as PEM (for scan stations)."""
    from downtime.app import export_keys

    click.echo(export_keys(_home(ctx)), nl=False)


@keys.command("import-public")
@click.argument("pem_file", type=EXISTING_FILE)
@click.pass_context
@handles_errors
def keys_import(ctx: click.Context, pem_file: Path) -> None:
    """Add a print host's public keys (from export-public) to this station."""
    from downtime.app import import_keys

    for key_id in import_keys(_home(ctx), pem_file.read_bytes()):
        click.echo(f"imported\t{key_id}")


# --------------------------------------------------------------------------------------------
# scan and quarantine


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per page on stdout.")
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=lambda: os.cpu_count() or 1,
    show_default="number of CPUs",
    help="Worker processes reading pages.",
)
@click.option(
    "--debug-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write an annotated PNG per page (boxes and verdicts) into DIR.",
)
@click.option("--no-ocr", is_flag=True, help="Never read printed serials with Tesseract.")
@click.pass_context
@handles_errors
def scan(
    ctx: click.Context,
    paths: tuple[Path, ...],
    as_json: bool,
    jobs: int,
    debug_dir: Path | None,
    no_ocr: bool,
) -> None:
    """Identify scanned pages, read their marks, and record them in the ledger.

    PATHS are scanner PDFs, multi-page TIFFs, PNG or JPEG files, or folders (searched
    recursively), in any order and orientation. Every page ends up identified (or a duplicate
    or conflict of a page already returned), blank, or set aside in quarantine with a reason.
    Exit code 0 when every page was dealt with that way.

    \b
    downtime scan batch-07.pdf
    downtime scan /srv/scans/2026-11-25 --json > results.jsonl
    downtime quarantine list
    """
    from downtime.app import scan_files
    from downtime.scan import ScanOptions

    def emit(record: Any) -> None:
        if as_json:
            click.echo(json.dumps(record.to_json(), ensure_ascii=False))

    bar = _Progress(enabled=not as_json)
    summary = scan_files(
        paths,
        home=_home(ctx),
        options=ScanOptions(jobs=jobs, debug_dir=debug_dir, ocr=not no_ocr),
        emit=emit,
        progress=bar.update,
    )
    bar.close()
    if as_json:
        return
    for status in ("identified", "duplicate", "conflict", "quarantined", "blank"):
        line = f"{status:<12}{summary.by_status.get(status, 0):>6}"
        if status == "quarantined" and summary.quarantined_by_reason:
            reasons = ", ".join(
                f"{r} {n}" for r, n in sorted(summary.quarantined_by_reason.items())
            )
            line += f"   ({reasons})"
        click.echo(line)
    click.echo(f"{'pages':<12}{summary.pages:>6}   in {summary.seconds:.1f} s")
    if summary.by_status.get("quarantined"):
        click.echo("set aside: see `downtime quarantine list`")
    if debug_dir is not None:
        click.echo(f"debug overlays: {debug_dir}")


class _Progress:
    """A progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._bar: Any = None

    def update(self, done: int, total: int) -> None:
        if not self.enabled or total < 2:
            return
        if self._bar is None:
            self._bar = click.progressbar(length=total, label="pages", file=sys.stderr)
            self._bar.__enter__()
        self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


@main.group()
def quarantine() -> None:
    """Pages set aside by `downtime scan`, and assigning them by their printed serial."""


@quarantine.command("list")
@click.option("--all", "include_assigned", is_flag=True, help="Include items already assigned.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per item.")
@click.pass_context
@handles_errors
def quarantine_list(ctx: click.Context, include_assigned: bool, as_json: bool) -> None:
    """What was set aside, from which file and page, and why."""
    from dataclasses import asdict

    from downtime.app import quarantine_list as items

    for item in items(_home(ctx), include_assigned=include_assigned):
        if as_json:
            click.echo(json.dumps(asdict(item) | {"resolved": item.resolved}, ensure_ascii=False))
            continue
        state = item.resolved or "open"
        click.echo(
            f"{item.item_id:>5}  {item.source}  page {item.source_page}  {item.reason:<20} "
            f"{state}\n       {item.message}"
        )


@quarantine.command("assign")
@click.argument("item", type=int)
@click.argument("serial")
@click.pass_context
@handles_errors
def quarantine_assign(ctx: click.Context, item: int, serial: str) -> None:
    """Attach set-aside page ITEM to the issued page with the printed form SERIAL.

    For pages whose codes were destroyed (a stain, a tear): the serial's check characters
    must hold and name an issued page; the page is then registered from its registration
    marks and read like any other. The assignment is audited.
    """
    from downtime.app import quarantine_assign as assign

    click.echo(assign(_home(ctx), item, serial))


# --------------------------------------------------------------------------------------------
# packs


@main.group()
def packs() -> None:
    """Packs this ledger knows: list them, or import those printed on another machine."""


@packs.command("list")
@click.pass_context
@handles_errors
def packs_list(ctx: click.Context) -> None:
    """Every pack: ward, when issued, pages, and whether a later pack superseded it."""
    from downtime.app import pack_table

    for row in pack_table(_home(ctx)):
        click.echo("\t".join(row))


@packs.command("import")
@click.argument("manifests", nargs=-1, required=True, type=EXISTING_FILE)
@click.pass_context
@handles_errors
def packs_import(ctx: click.Context, manifests: tuple[Path, ...]) -> None:
    """Record packs printed on the print host from their NAME.manifest.json files.

    A scan station with a ledger of its own needs them to read the pages of those packs
    (together with the print host's public keys: `downtime keys import-public`). Manifests
    are not signed: import them only from the print host.
    """
    from downtime.app import import_manifests

    for line in import_manifests(_home(ctx), manifests):
        click.echo(line)


# --------------------------------------------------------------------------------------------
# reconcile


@main.command()
@click.option(
    "--fhir-url",
    help="Post to this FHIR R4 server (base URL). Default: write bundles to the outbox.",
)
@click.option(
    "--token-file",
    type=EXISTING_FILE,
    help="File holding the server's bearer token (else $DOWNTIME_FHIR_TOKEN; never a flag).",
)
@click.option(
    "--outbox",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for transaction bundles (default: the data folder's outbox/).",
)
@click.option(
    "--dry-run", is_flag=True, help="Show what would be created, per patient; change nothing."
)
@click.option(
    "--max-entries",
    type=click.IntRange(3, 1000),
    default=8,
    show_default=True,
    help="Entries per transaction (Medplum allows 8 with conditional creates).",
)
@click.pass_context
@handles_errors
def reconcile(
    ctx: click.Context,
    fhir_url: str | None,
    token_file: Path | None,
    outbox: Path | None,
    dry_run: bool,
    max_entries: int,
) -> None:
    """Put every returned form into the digital record (FHIR R4), once.

    Each form becomes transaction bundles of conditional creates with deterministic
    identifiers: running it again creates nothing. Items that need a person first (a drug
    name written by hand, an uncertain box, captures that disagree) and items the record
    already holds in another form are held back, and listed by `downtime report`.

    \b
    downtime reconcile --dry-run
    downtime reconcile                                  # into the outbox folder
    downtime reconcile --fhir-url https://fhir.example/R4 --token-file /etc/downtime/token
    """
    from downtime.app import reconcile_cmd

    summary = reconcile_cmd(
        _home(ctx),
        fhir_url=fhir_url,
        token_file=token_file,
        outbox=outbox,
        dry_run=dry_run,
        max_entries=max_entries,
        log=_stderr,
    )
    if dry_run:
        for line in summary.lines:
            click.echo(line)
    click.echo(
        f"forms {summary.forms}  unchanged {summary.unchanged}  unused {summary.unused}  "
        f"bundles {summary.bundles}  resources {summary.resources}  held {summary.held}  "
        f"record conflicts {summary.record_conflicts}  failed {summary.failed}"
    )


# --------------------------------------------------------------------------------------------
# outage window, void, report

AT_OPTION = click.option(
    "--at",
    "at_text",
    metavar="ISO8601",
    help="When (e.g. 2026-11-25T06:40; without an offset: site time). Default: now.",
)


@main.group()
def outage() -> None:
    """When the record system was down: the report covers the packs in use then."""


@outage.command("start")
@AT_OPTION
@click.pass_context
@handles_errors
def outage_start(ctx: click.Context, at_text: str | None) -> None:
    """Record that the record system went down (again while one lasts: corrects its start)."""
    from downtime.app import record_outage

    click.echo(record_outage(_home(ctx), "start", at_text))


@outage.command("end")
@AT_OPTION
@click.pass_context
@handles_errors
def outage_end(ctx: click.Context, at_text: str | None) -> None:
    """Record that the record system is back (again: corrects the end)."""
    from downtime.app import record_outage

    click.echo(record_outage(_home(ctx), "end", at_text))


@outage.command("show")
@click.pass_context
@handles_errors
def outage_show(ctx: click.Context) -> None:
    """Every recorded start and end, and the latest outage's window."""
    from downtime.app import outage_lines

    for line in outage_lines(_home(ctx)):
        click.echo(line)


@main.command()
@click.argument("serials", nargs=-1, required=True)
@click.option("--reason", required=True, help="Why the pages will never come back (audited).")
@click.pass_context
@handles_errors
def void(ctx: click.Context, serials: tuple[str, ...], reason: str) -> None:
    """Void issued pages that will never come back, by their printed SERIALS.

    An unused blank form thrown away stops counting as missing. A serial that is mistyped,
    names no issued page, or names a page already returned is refused, and then nothing is
    voided. Each voided page is audited with its ward and patient.
    """
    from downtime.app import void_pages

    for line in void_pages(_home(ctx), serials, reason):
        click.echo(line)


@main.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "html"]),
    default="table",
    show_default=True,
    help="table for a terminal, csv for a spreadsheet, json for tools, html to print.",
)
@click.option("-o", "--output", type=OUTPUT_PATH, help="Write to FILE (0600), not stdout.")
@click.option("--ward", help="This ward only.")
@click.option("--all-packs", is_flag=True, help="Every pack, not only those of the outage.")
@click.pass_context
@handles_errors
def report(
    ctx: click.Context, fmt: str, output: Path | None, ward: str | None, all_packs: bool
) -> None:
    """The outage report: pages issued, returned, MISSING, voided, pending, posted, failed.

    Missing pages come first (referrals, then medication forms), with the serial to find each
    sheet by. The report names patients: keep its files private. Exit code 0 whenever the
    report was made; whether everything is accounted for is in the report ("complete").

    \b
    downtime report
    downtime report --format html -o outage-report.html
    downtime report --ward MED42 --format csv -o MED42.csv
    """
    from downtime.app import outage_report

    text = outage_report(_home(ctx), fmt=fmt, ward=ward, all_packs=all_packs, output=output)
    click.echo(text, nl=output is not None)


# --------------------------------------------------------------------------------------------
# drill


@main.command()
@click.option("--ward", default="MED42", show_default=True, help="Example ward to rehearse.")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the simulation.")
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the drill's folder (data folder, pack, scans, outbox) here.",
)
@click.option("--jobs", type=click.IntRange(1, 64), default=lambda: os.cpu_count() or 1)
@handles_errors
def drill(ward: str, seed: int, keep: Path | None, jobs: int) -> None:
    """Rehearse a whole outage on the bundled example, in a temporary folder.

    Prints a ward's pack, fills and returns its pages as a ward and the world would (skewed,
    upside down, a phone photo, a stained code, a photocopy filled twice, two sheets lost),
    scans them, reconciles into a local outbox, prints the report and how long each step took.
    Your own data folder is not touched.
    """
    from downtime.drill import DrillOptions, run_drill

    result = run_drill(DrillOptions(ward=ward, seed=seed, keep=keep, jobs=jobs), log=_stderr)
    click.echo(result.report)
    click.echo(
        f"sheets returned {result.sheets_returned}, lost on purpose {len(result.sheets_lost)}"
        f" ({', '.join(result.sheets_lost)})"
    )
    click.echo("scan: " + ", ".join(f"{k} {v}" for k, v in sorted(result.scan.items())))
    click.echo("reconcile: " + ", ".join(f"{k} {v}" for k, v in result.reconcile.items()))
    for name, seconds in result.timings:
        click.echo(f"{name:<30}{seconds:>7.1f} s")
    if keep is not None:
        click.echo(f"drill folder: {result.folder}")

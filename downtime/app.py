"""Use cases behind the CLI: each opens the data folder, does one job, and returns data.

This is the edge where settings, the key store and the ledger meet; the modules it calls
(census, pack, forms, layout, render) stay free of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from downtime import files
from downtime.errors import ConfigError, DowntimeError, InputError
from downtime.forms import FormDef, load_form, load_forms
from downtime.keys import KEYRING, KeyStore
from downtime.ledger import AuditEvent, Ledger
from downtime.ledger.scans import QuarantineItem, quarantine_items, record_assignment
from downtime.pack import PackResult, make_packs, prepare_pack
from downtime.pagework import PageOutcome
from downtime.scan import PageRecord, ScanOptions, ScanSummary, log_event, run_scan
from downtime.serials import parse_serial
from downtime.settings import SITE_FILE, Settings, resolve, site_config_text

Log = Callable[[str], None]


@contextmanager
def workspace(
    home: Path | None, *, keys: str = "sign", **overrides: Any
) -> Iterator[tuple[Settings, KeyStore, Ledger]]:
    """The data folder, created on first use: settings, key store and ledger.

    ``keys``: ``sign`` makes a signing key on first use (the print host); ``station`` makes an
    empty key store (a scan station, which imports public keys); ``read`` only reads what is
    there. An existing key store is never given a signing key implicitly, so a scan station
    does not quietly become a signer.
    """
    settings = resolve(home, **overrides)
    files.private_folder(settings.home)
    store = _key_store(settings.keys_dir, keys)
    ledger = Ledger.open(settings.ledger_path)
    try:
        yield settings, store, ledger
    finally:
        ledger.close()


def _key_store(folder: Path, mode: str) -> KeyStore:
    if (folder / KEYRING).exists():
        return KeyStore.open(folder)
    if mode == "read":
        return KeyStore(folder, [])  # nothing on disk until a key is made or imported
    return KeyStore.create(folder, with_signing_key=mode == "sign")


# --------------------------------------------------------------------------------------------
# init


def initialise(
    home: Path | None, *, site: str | None, lang: str | None, signing: bool = True
) -> list[str]:
    settings = resolve(home)
    config_path = settings.home / SITE_FILE
    with workspace(home, keys="sign" if signing else "station") as (settings, keys, ledger):
        config = settings.config
        changes: dict[str, Any] = {"site": site, "lang": lang}
        changes = {k: v for k, v in changes.items() if v is not None}
        if changes or not config_path.exists():
            config = resolve(home, **changes).config  # validated
            files.write_atomic(config_path, site_config_text(config).encode("utf-8"))
        ledger.audit(
            [AuditEvent("init", f"site={config.site} lang={config.lang}")],
            actor=settings.operator,
            station=settings.station,
        )
        active = [k.key_id for k in keys.public_keys() if k.status == "active"]
        return [
            f"data folder\t{settings.home}",
            f"ledger\t{settings.ledger_path}",
            f"site config\t{config_path}",
            f"signing key\t{active[0] if active else 'none (scan station)'}",
        ]


# --------------------------------------------------------------------------------------------
# pack


@dataclass(frozen=True)
class PackRequest:
    census: Path | None  # None: pulled from the FHIR server at ``fhir_url``
    medications: Path | None
    ward: str | None  # None: every ward, output is a folder
    output: Path
    skip_invalid: bool
    issued_at: datetime
    today: date
    jobs: int = 1  # processes drawing packs at once (with several wards)
    fhir_url: str | None = None
    token_file: Path | None = None


def run_pack(
    request: PackRequest,
    *,
    home: Path | None,
    lang: str | None = None,
    admission_forms: int | None = None,
    log: Log = lambda _: None,
) -> list[PackResult]:
    from downtime.census import load_census

    census_path = request.census or _fetch_census(home, request)
    census = load_census(
        census_path,
        request.medications,
        skip_invalid=request.skip_invalid,
        today=request.today,
    )
    for row in census.skipped:
        log(f"skipped line {row.line}: {row.what}")
    with workspace(home, lang=lang, admission_forms=admission_forms) as (settings, keys, ledger):
        forms = site_forms_for(settings)
        if request.ward is not None:
            if request.ward not in census.wards():
                raise InputError(
                    f"ward '{request.ward}' is not in the census",
                    hint=f"wards in {Path(census.source).name}: {', '.join(census.wards())}",
                )
            targets = [(request.ward, request.output)]
        else:
            targets = [(w, request.output / f"{safe_name(w)}.pdf") for w in census.wards()]
        taken: set[str] = set()
        prepared = [
            prepare_pack(
                census,
                ward,
                pdf,
                settings=settings,
                forms=forms,
                keys=keys,
                ledger=ledger,
                issued_at=request.issued_at,
                skip_invalid=request.skip_invalid,
                taken_serials=taken,
            )
            for ward, pdf in targets
        ]
        results = make_packs(prepared, settings=settings, ledger=ledger, jobs=request.jobs)
        for result in results:
            for row in result.skipped[len(census.skipped) :]:
                log(f"skipped line {row.line}: {row.what}")
        return results


def _fetch_census(home: Path | None, request: PackRequest) -> Path:
    """The census from the FHIR server, kept (0600) in the data folder as the Bundle read."""
    import json

    from downtime.census_server import fetch_census_bundle
    from downtime.fhirclient import FhirClient, read_token

    if not request.fhir_url:
        raise InputError("give a census file, or a FHIR server with --fhir-url")
    client = FhirClient(request.fhir_url, token=read_token(request.token_file))
    bundle = fetch_census_bundle(client)
    folder = files.private_folder(resolve(home).home / "census")
    path = folder / f"census-{request.issued_at.strftime('%Y%m%dT%H%M%SZ')}.fhir.json"
    files.write_atomic(path, json.dumps(bundle, ensure_ascii=False).encode("utf-8"))
    return path


def safe_name(ward: str) -> str:
    """A file name for a ward code: letters, digits, '-', '_' and '.' kept, others '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", ward) or "ward"


# --------------------------------------------------------------------------------------------
# forms


def site_forms_for(settings: Settings) -> dict[str, FormDef]:
    return load_forms([settings.forms_dir])


def site_forms(home: Path | None) -> dict[str, FormDef]:
    return site_forms_for(resolve(home))


def site_lang(home: Path | None, lang: str | None) -> str:
    """The language asked for, else the site's."""
    return lang or resolve(home).config.lang


def describe_form(home: Path | None, form_id: str, lang: str | None) -> dict[str, Any]:
    from downtime.layout import layout_form

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
    from downtime.preview import render_preview

    forms = site_forms(home)
    pdf = render_preview(_one_form(home, form_id), site_lang(home, lang), forms)
    output.parent.mkdir(parents=True, exist_ok=True)
    files.write_atomic(output, pdf)
    return str(output)


# --------------------------------------------------------------------------------------------
# keys


def key_table(home: Path | None) -> list[tuple[str, ...]]:
    with workspace(home, keys="read") as (_, keys, ledger):
        used = ledger.pages_per_key()
        rows: list[tuple[str, ...]] = [("key_id", "status", "created", "retired", "pages_signed")]
        for k in keys.public_keys():
            rows.append(
                (
                    k.key_id,
                    k.status,
                    k.created_at.isoformat(timespec="seconds"),
                    k.retired_at.isoformat(timespec="seconds") if k.retired_at else "-",
                    str(used.get(k.key_id, 0)),
                )
            )
        return rows


def rotate_key(home: Path | None) -> str:
    with workspace(home) as (settings, keys, ledger):
        old = [k.key_id for k in keys.public_keys() if k.status == "active"]
        new = keys.rotate()
        ledger.audit(
            [AuditEvent("keys.rotate", f"{','.join(old) or '-'} -> {new.key_id}")],
            actor=settings.operator,
            station=settings.station,
        )
        return f"active\t{new.key_id}"


def export_keys(home: Path | None) -> str:
    """Public keys still in use: the active key and every key that signed issued pages.

    Until reconciliation records which pages are done, a key that signed pages stays in use.
    """
    with workspace(home, keys="read") as (_, keys, ledger):
        used = ledger.pages_per_key()
        wanted = [k.key_id for k in keys.public_keys() if k.status == "active" or k.key_id in used]
        if not wanted:
            raise ConfigError(
                "there are no public keys in use to export",
                hint="run `downtime init` on the print host first",
            )
        return keys.export_public_pem(wanted)


def import_keys(home: Path | None, pem: bytes) -> list[str]:
    with workspace(home, keys="station") as (settings, keys, ledger):
        added = keys.import_public(pem)
        ledger.audit(
            [AuditEvent("keys.import", ",".join(k.key_id for k in added) or "-")],
            actor=settings.operator,
            station=settings.station,
        )
        return [k.key_id for k in added]


# --------------------------------------------------------------------------------------------
# scan and quarantine

# Reasons a clerk may resolve by typing the printed serial. A forged, foreign or contradictory
# code is never overridden this way: the paper original must be checked.
ASSIGNABLE = frozenset({"no-page-code", "registration-failed", "worker-crash"})


def scan_files(
    paths: Sequence[Path],
    *,
    home: Path | None,
    options: ScanOptions,
    emit: Callable[[PageRecord], None],
    progress: Callable[[int, int], None],
) -> ScanSummary:
    with workspace(home, keys="read") as (settings, keys, ledger):
        if not keys.public_keys():
            raise ConfigError(
                "this station has no public keys to verify page codes with",
                hint="on the print host run `downtime keys export-public > keys.pem`, then "
                "here `downtime keys import-public keys.pem`",
            )
        summary = run_scan(
            paths,
            settings=settings,
            keys=keys,
            ledger=ledger,
            forms=site_forms_for(settings),
            options=options,
            emit=emit,
            progress=progress,
        )
        log_event(ledger, settings, summary)
        return summary


def quarantine_list(home: Path | None, *, include_assigned: bool) -> list[QuarantineItem]:
    with workspace(home, keys="read") as (_, _keys, ledger):
        return quarantine_items(ledger, open_only=not include_assigned)


def quarantine_assign(home: Path | None, item_id: int, serial_text: str) -> str:
    serial = parse_serial(serial_text)
    with workspace(home, keys="read") as (settings, keys, ledger):
        item = next((i for i in quarantine_items(ledger) if i.item_id == item_id), None)
        if item is None:
            raise InputError(f"no quarantine item {item_id}", hint="see `downtime quarantine list`")
        if item.assigned_serial is not None:
            raise InputError(
                f"quarantine item {item_id} was already assigned to {item.assigned_serial}"
            )
        if item.resolved is not None:
            raise InputError(f"quarantine item {item_id} needs no assignment: {item.resolved}")
        if item.reason not in ASSIGNABLE:
            raise InputError(
                f"quarantine item {item_id} was set aside as '{item.reason}': such a page is "
                "never assigned by its serial",
                hint="check the paper original; a genuine page with a foreign key verifies "
                "once that key is imported (`downtime keys import-public`) and it is rescanned",
            )
        row = ledger.page_by_serial(serial)
        if row is None:
            raise InputError(
                f"no issued page has the serial {serial}",
                hint="read the serial again from the page footer",
            )
        outcome = _assigned_outcome(settings, keys, ledger, item, row["page_uid"])
        if outcome.status != "identified":
            raise InputError(f"quarantine item {item_id}: {outcome.message}")
        result = record_assignment(
            ledger, item, serial, outcome, actor=settings.operator, station=settings.station
        )
        return (
            f"item {item_id}\t{serial}\t{row['form']} page {row['page_no']} of "
            f"{row['page_count']}\t{result.status}"
        )


def _assigned_outcome(
    settings: Settings, keys: KeyStore, ledger: Ledger, item: QuarantineItem, page_uid: str
) -> PageOutcome:
    from downtime import images
    from downtime.pagework import PageTask, WorkerConfig, read_assigned

    stored = settings.home / item.stored_as
    found = images.find_inputs([stored])[0]
    task = PageTask(
        images.InputFile(item.source, stored, found.sha256, found.size, found.kind),
        item.source_page,
    )
    page = images.read_page(task.file, task.index, verify=False)
    if isinstance(page, images.PageProblem):
        raise InputError(f"quarantine item {item.item_id}: {page.message}")
    config = WorkerConfig(settings.home, settings.ledger_path, ())
    return read_assigned(page.image, page.dpi, task, page_uid, config, ledger)


# --------------------------------------------------------------------------------------------
# packs


def import_manifests(home: Path | None, paths: Sequence[Path]) -> list[str]:
    """Record packs printed elsewhere from their manifests, so this station's ledger knows
    their pages (a scan station with a ledger of its own). Importing twice adds nothing."""
    from downtime.manifest import read_manifest, reserve_ids

    lines = []
    with workspace(home, keys="read") as (settings, _keys, ledger):
        for path in paths:
            record, pages = read_manifest(
                path, issued_by=settings.operator, station=settings.station
            )
            if ledger.has_pack(record.pack_id):
                lines.append(f"{path.name}\t{record.ward}\talready known")
                continue
            event = AuditEvent(
                "pack.import",
                f"{path.name}: {len(pages)} pages",
                care_unit=record.ward,
                object_type="pack",
                object_id=record.pack_id,
            )
            ledger.record_pack(
                record, pages, [], [], reserve_ids(pages), [event],
                actor=settings.operator, station=settings.station,
            )  # fmt: skip
            lines.append(f"{path.name}\t{record.ward}\t{len(pages)} pages imported")
    return lines


def pack_table(home: Path | None) -> list[tuple[str, ...]]:
    with workspace(home, keys="read") as (_, _keys, ledger):
        rows = ledger.query(
            "SELECT k.pack_id, k.ward, k.issued_at, k.page_count, k.census_source, s.superseded_by"
            " FROM packs k LEFT JOIN pack_supersessions s USING (pack_id)"
            " ORDER BY k.issued_at DESC"
        )
        table: list[tuple[str, ...]] = [("pack_id", "ward", "issued_at", "pages", "from", "state")]
        for r in rows:
            state = f"superseded by {r['superseded_by']}" if r["superseded_by"] else "current"
            table.append(
                (r["pack_id"], r["ward"], r["issued_at"], str(r["page_count"]),
                 r["census_source"], state)
            )  # fmt: skip
        return table


# --------------------------------------------------------------------------------------------
# reconcile


def reconcile_cmd(
    home: Path | None,
    *,
    fhir_url: str | None,
    token_file: Path | None,
    outbox: Path | None,
    dry_run: bool,
    max_entries: int,
    log: Log,
) -> Any:
    from downtime.fhirclient import FhirClient, read_token
    from downtime.reconcile import Target, reconcile

    with workspace(home, keys="read") as (settings, _keys, ledger):
        if fhir_url:
            client = FhirClient(fhir_url, token=read_token(token_file))
            target = Target(client=client)
        else:
            target = Target(outbox=outbox or settings.home / "outbox")
        return reconcile(
            ledger, settings, target, dry_run=dry_run, max_entries=max_entries, log=log
        )


# --------------------------------------------------------------------------------------------
# outage window, voided pages and the outage report


def _when(text: str | None, settings: Settings) -> datetime:
    """An ISO 8601 time as given (without an offset: site time); none given: now."""
    if text is None:
        return datetime.now(settings.tz).replace(microsecond=0)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError as e:
        raise InputError(
            f"'{text}' is not an ISO 8601 time",
            hint="e.g. 2026-11-25T06:40 (site time) or 2026-11-25T06:40+01:00",
        ) from e
    return when if when.tzinfo else when.replace(tzinfo=settings.tz)


def record_outage(home: Path | None, kind: str, at_text: str | None) -> str:
    """Record when the record system went down (``start``) or came back (``end``)."""
    from downtime.ledger.outage import latest_outage, outage_events, record_outage_event

    with workspace(home, keys="read") as (settings, _keys, ledger):
        at = _when(at_text, settings)
        current = latest_outage(outage_events(ledger))
        note = ""
        if kind == "end":
            if current is None:
                raise InputError(
                    "no outage start is recorded", hint="record it first: `downtime outage start`"
                )
            if at < current.start:
                raise InputError(
                    f"the end ({at.isoformat()}) is before the outage's start "
                    f"({current.start.isoformat()})",
                    hint="give the end with --at, or correct the start (`downtime outage start`)",
                )
            if current.end is not None:
                note = f"\t(corrects the end recorded as {current.end.isoformat()})"
        elif current is not None and current.end is None:
            note = f"\t(corrects the open outage's start, {current.start.isoformat()})"
        record_outage_event(ledger, kind, at, actor=settings.operator, station=settings.station)
        return f"outage {kind}\t{at.isoformat()}{note}"


def outage_lines(home: Path | None) -> list[str]:
    """Every recorded outage event, then the latest outage's window."""
    from downtime.ledger.outage import latest_outage, outage_events

    with workspace(home, keys="read") as (_settings, _keys, ledger):
        events = outage_events(ledger)
    lines = [
        f"{e.seq}\t{e.kind}\t{e.at.isoformat()}\t"
        f"recorded {e.recorded_at.isoformat(timespec='seconds')} by {e.recorded_by}"
        for e in events
    ]
    latest = latest_outage(events)
    if latest is None:
        return [*lines, "no outage recorded"]
    end = latest.end.isoformat() if latest.end else "not ended"
    return [*lines, f"latest outage\t{latest.start.isoformat()}\t{end}"]


def void_pages(home: Path | None, serial_texts: Sequence[str], reason: str) -> list[str]:
    """Void issued pages that will never come back, by their printed serials: all or none.

    A mistyped serial, a serial no issued page has, or a page already returned is refused and
    nothing is written; a page voided before is left as it was.
    """
    from downtime.errors import SerialError
    from downtime.ledger.outage import pages_by_serial, record_voids

    reason = " ".join(reason.split())
    if not reason:
        raise InputError("give the reason the pages will never come back (--reason)")
    serials: list[str] = []
    typos: list[str] = []
    for n, text in enumerate(serial_texts, start=1):
        try:
            serials.append(parse_serial(text))
        except SerialError as e:
            typos.append(f"serial {n} of {len(serial_texts)}: {e.message}")
    if typos:
        raise SerialError("\n".join(typos), hint="read the serials again from the page footers")
    serials = list(dict.fromkeys(serials))
    with workspace(home, keys="read") as (settings, _keys, ledger):
        found = pages_by_serial(ledger, serials)
        problems = [f"no issued page has the serial {s}" for s in serials if s not in found]
        problems += [
            f"{s} ({found[s][0].form} page {found[s][0].page_no}) was returned: a returned page "
            "is never voided"
            for s in serials
            if s in found and found[s][1]
        ]
        if problems:
            raise InputError("nothing voided:\n  " + "\n  ".join(problems))
        pages = [found[s][0] for s in serials]
        done = set(
            record_voids(ledger, pages, reason, actor=settings.operator, station=settings.station)
        )
    return [
        f"{'voided' if p.serial in done else 'already voided'}\t{p.serial}\t{p.ward}\t"
        f"{p.form} page {p.page_no} of {p.page_count}"
        for p in pages
    ]


def outage_report(
    home: Path | None,
    *,
    fmt: str,
    ward: str | None = None,
    all_packs: bool = False,
    output: Path | None = None,
    now: datetime | None = None,
) -> str:
    """The outage report as ``fmt``; written to ``output`` (0600) when given, then its path is
    returned, else the document itself. Producing it is audited per patient it names."""
    from downtime.report import build_report, read_facts
    from downtime.report_formats import render

    with workspace(home, keys="read") as (settings, _keys, ledger):
        facts = read_facts(
            ledger,
            site=settings.config.site,
            timezone=settings.config.timezone,
            now=now or datetime.now(settings.tz),
            all_packs=all_packs,
        )
        if ward is not None and ward not in facts.known_wards:
            raise InputError(
                f"no pack was printed for ward '{ward}'",
                hint=f"wards in the ledger: {', '.join(sorted(facts.known_wards)) or 'none'}",
            )
        report = build_report(facts, ward=ward)
        text = render(report, fmt)
        if output is not None:
            files.private_folder(output.parent)
            files.write_atomic(output, text.encode("utf-8"))
        events = [
            AuditEvent(
                "report.view",
                f"outage report ({fmt})",
                care_unit=w.ward,
                patient=p.patient.identifier,
                object_type="report",
            )
            for w in report.wards
            for p in w.patients
            if p.patient.identifier is not None
        ]
        events.append(
            AuditEvent(
                "report",
                f"format={fmt} scope={report.scope.rule} wards={len(report.wards)} "
                f"complete={str(report.complete).lower()}"
                + (f" output={output.name}" if output else ""),
                care_unit=ward,
                object_type="report",
            )
        )
        ledger.audit(events, actor=settings.operator, station=settings.station)
        return str(output) if output is not None else text

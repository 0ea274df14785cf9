"""Packs: printing a ward's packs (from a census file or a FHIR server), importing packs
printed elsewhere, and the table of packs the ledger knows."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from downtime import files
from downtime.app.ahead import prepare_ahead
from downtime.app.forms import site_forms_for
from downtime.app.workspace import workspace
from downtime.errors import InputError, Said
from downtime.ledger import AuditEvent, IssuedPage, Ledger, PackRecord, PackSummary, write_audit
from downtime.ledger.packs import Continuation, has_pack, pack_summaries, record_pack
from downtime.model import SkippedRow
from downtime.pack import PackResult, PreparedPack, make_packs, prepare_pack
from downtime.settings import Settings, resolve


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
    ahead: int | None = None,
    skipped: Callable[[SkippedRow], None] = lambda _: None,
) -> list[PackResult]:
    """Print the packs ``request`` asks for; ``skipped`` hears of each census row left out
    (with ``skip_invalid``). Each ward pack comes with ``ahead`` continuations made ahead
    (default: the site's ``continuations_ahead``), right after it in the list."""
    from downtime.census import load_census

    if request.ward is None and request.output.exists() and not request.output.is_dir():
        raise InputError(
            f"{request.output} is a file, and packs for every ward need a folder",
            hint="give a folder with -o (it is created if missing), or one ward with --ward",
        )
    census_path = request.census or _fetch_census(home, request)
    census = load_census(
        census_path,
        request.medications,
        skip_invalid=request.skip_invalid,
        today=request.today,
    )
    for row in census.skipped:
        skipped(row)
    with workspace(home, lang=lang, admission_forms=admission_forms, continuations_ahead=ahead) as (
        settings,
        keys,
        ledger,
    ):
        forms = site_forms_for(settings)
        if request.ward is not None:
            if request.ward not in census.wards():
                values = {"ward": request.ward, "census": Path(census.source).name,
                          "wards": ", ".join(census.wards())}  # fmt: skip
                raise InputError(
                    "ward '{ward}' is not in the census".format(**values),
                    hint="wards in {census}: {wards}".format(**values),
                    said=Said("ward_not_in_census", values),
                )
            pdf = request.output
            if pdf.is_dir():  # a folder given for one ward: the ward's PDF goes into it
                pdf = pdf / f"{safe_name(request.ward)}.pdf"
            targets = [(request.ward, pdf)]
        else:
            targets = [(w, request.output / f"{safe_name(w)}.pdf") for w in census.wards()]
        taken: set[str] = set()
        prepared: list[PreparedPack] = []
        for ward, pdf in targets:  # each pack, then its continuations: recorded in this order
            pack = prepare_pack(census, ward, pdf, settings=settings, forms=forms, keys=keys,
                                ledger=ledger, issued_at=request.issued_at,
                                skip_invalid=request.skip_invalid, taken_serials=taken)  # fmt: skip
            ahead_of = prepare_ahead(census, pack, settings=settings, forms=forms, keys=keys,
                                     ledger=ledger, taken_serials=taken)  # fmt: skip
            prepared.extend((pack, *ahead_of))
        results = make_packs(prepared, settings=settings, ledger=ledger, jobs=request.jobs)
        for result in results:
            for row in result.skipped[len(census.skipped) :]:
                skipped(row)
        return results


def _fetch_census(home: Path | None, request: PackRequest) -> Path:
    """The census from the FHIR server, kept (0600) in the data folder as the Bundle read."""
    import json

    from downtime.census.server import fetch_census_bundle
    from downtime.record.client import FhirClient, read_token

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


IMPORT_KEYS = (
    "import the print host's public keys on this station (downtime keys import-public), "
    "then import the manifest again"
)


@dataclass(frozen=True)
class ManifestImport:
    manifest: Path
    ward: str
    pages: int
    known_before: bool  # the pack was in the ledger already: nothing added
    refused: str = ""  # why it was not imported: PackRefused's reason (``bad-signature``…)
    problem: str = ""  # … what is wrong, and what to do
    hint: str | None = None
    said: Said | None = None  # ``problem`` by its key in the CLI's words (some refusals)


def import_manifests(home: Path | None, paths: Sequence[Path]) -> list[ManifestImport]:
    """Record packs printed elsewhere from their manifests, so this station's ledger knows
    their pages (a scan station with a ledger of its own). A manifest is believed only when
    its signature and every page code in it verify with the public keys this station holds
    (the pages' patients come from it); one that does not is refused, audited, and the others
    are imported. Importing twice adds nothing."""
    from downtime.pack.manifest import continuation_in
    from downtime.ward.verify import PackRefused, verify_manifest

    done = []
    with workspace(home, keys="read") as (settings, keys, ledger):
        public = keys.verification_keys()
        for path in paths:
            try:
                try:
                    data = path.read_bytes()
                except OSError as e:
                    raise PackRefused("unreadable", f"{path.name}: {e.strerror}") from e
                record, pages, _beds = verify_manifest(
                    data, public, name=path.name,
                    issued_by=settings.operator, station=settings.station,
                )  # fmt: skip
                try:
                    continues = continuation_in(json.loads(data))
                except InputError as e:
                    raise PackRefused("not-a-manifest", f"{path.name}: {e.message}") from e
            except PackRefused as e:
                hint = IMPORT_KEYS if e.reason == "unknown-key" else e.hint
                done.append(ManifestImport(path, "", 0, False, e.reason, e.message, hint, e.said))
                event = AuditEvent("pack.import-refused", f"{path.name}: {e.reason}")
                write_audit(ledger, [event], actor=settings.operator, station=settings.station)
                continue
            if has_pack(ledger, record.pack_id):
                done.append(ManifestImport(path, record.ward, len(pages), known_before=True))
                continue
            what = f"{path.name}: {len(pages)} pages"
            record_learned(ledger, settings, record, pages, "pack.import", what, continues)
            done.append(ManifestImport(path, record.ward, len(pages), known_before=False))
    return done


def record_learned(
    ledger: Ledger,
    settings: Settings,
    record: PackRecord,
    pages: Sequence[IssuedPage],
    action: str,
    detail: str,
    continues: Continuation | None = None,
) -> None:
    """Record a pack printed elsewhere, learned from its checked manifest (``packs import``,
    a ward station's sync): its pages and reserve numbers, no census rows, audited."""
    from downtime.pack.manifest import reserve_ids

    event = AuditEvent(
        action, detail, care_unit=record.ward, object_type="pack", object_id=record.pack_id
    )
    record_pack(
        ledger, record, pages, [], [], reserve_ids(pages), [event],
        actor=settings.operator, station=settings.station, continues=continues,
    )  # fmt: skip


def pack_table(home: Path | None) -> list[PackSummary]:
    """Every pack this ledger knows, newest first."""
    with workspace(home, keys="read") as (_, _keys, ledger):
        return pack_summaries(ledger)

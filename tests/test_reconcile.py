"""`downtime reconcile`: returned forms into the outbox folder or onto a real FHIR R4 server.

Pages of a MED42 pack printed once for this module are rendered, filled with
:mod:`downtime.simulate` (at random, or with chosen boxes ticked) and scanned in-process; every
test reconciles its own copy of the data folder, through the CLI or the library, and checks the
ledger (``postings``, ``posting_attempts``, ``posted_resources``, ``held_items``, the audit
trail), the outbox files, or the Medplum server of tests/fhirserver.py (emptied before each
server test). Faults are the server's own (``fault(...)``): a 429 or 503 answer, a response
dropped after the transaction was committed. Where a fault must hit the transaction rather than
the record checks' searches that come before it, :class:`Wire` arms it just before the
transaction goes on the wire; it is the real client, recording what it sent.

The pack is printed a day before its pages are scanned (as in an outage), so that every MAR
slot is in the past when its page comes back; one printed half a day before has slots on both
sides of the scan. The server holds the census patients and their encounters as a record does
(``census_in_record``: the census file read by the census reader, the record's own ids);
site.toml names the record's encounter identifier system for the CSV census.

Medplum refuses a string over 1 MB, and a two-page form's PDF of registered page images is
more than that once base64-encoded (pinned in
``test_typically_filled_two_page_journal_is_accepted_by_the_server``): the server tests use
one-page forms, and the revision tests re-encode their registered images smaller first.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import random
import re
import stat
import subprocess
import sys
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cv2
import pytest
from backends import SQLITE_BACKEND, Backend, add_site_lines, open_ledger, write_site
from backends import copy_home as copy_data_folder
from click.testing import Result
from conftest import EXAMPLE, PrintedPack, run_cli
from fhirserver import FhirServer, fhir_request, fhir_server_fixture  # noqa: F401 (fhir_server)
from scankit import (
    DPI,
    Gray,
    assert_no_identity,
    copy_home,
    patient_pages,
    render,
    require,
    rows,
    save_png,
    scan,
)

from downtime import simulate
from downtime.app import PackRequest, run_pack, workspace
from downtime.census import load_csv_census
from downtime.census.ids import fhir_system
from downtime.forms.layout import next_at
from downtime.ledger import verify_audit_chain
from downtime.ledger.store import Store
from downtime.model import Identifier
from downtime.record.client import FhirClient, FhirError, Response
from downtime.record.fhir import ITEM_SYSTEM
from downtime.record.reconciliation import Summary, Target, reconcile
from downtime.settings import SiteConfig
from downtime.vocab import REVIEW_FLAGS
from downtime.ward.pdf import page_count

RESOURCE_TYPES = (
    "Patient",
    "Encounter",
    "DocumentReference",
    "Provenance",
    "MedicationAdministration",
    "MedicationRequest",
    "ServiceRequest",
)
OTHER_SYSTEM = "urn:oid:1.2.752.29.4.13"  # the record's own identifiers, not the kit's
pytestmark = pytest.mark.backends
ENCOUNTERS = "urn:oid:1.2.752.29.4.14"  # the record's encounter ids (site.toml names it)
PERSONNUMMER = "http://electronichealth.se/identifier/personnummer"
CONFLICT = "record-conflict"
UNKNOWN = "unknown-in-record"


# --------------------------------------------------------------------------------------------
# Pages: printed once, filled, scanned into copies of the data folder


def print_issued(
    base: Path, hours_ago: int, backend: Backend = SQLITE_BACKEND, *, fhir_census: bool = False
) -> PrintedPack:
    """The example MED42 pack, printed ``hours_ago`` before now, into a data folder (its ledger
    on ``backend``) whose site.toml names the record's encounter identifier system (for the CSV
    census; the FHIR census names its own)."""
    home = backend.new_home(base / "home")
    home.mkdir(parents=True, exist_ok=True)
    add_site_lines(home, f'encounter_system = "{ENCOUNTERS}"')
    request = PackRequest(
        census=EXAMPLE / ("census.fhir.json" if fhir_census else "patients.csv"),
        medications=None if fhir_census else EXAMPLE / "medications.csv",
        ward="MED42",
        output=base / "out" / "MED42.pdf",
        skip_invalid=False,
        issued_at=datetime.now(UTC) - timedelta(hours=hours_ago),
        today=date.today(),
    )
    (result,) = run_pack(request, home=home)
    return PrintedPack(home, result.pdf, json.loads(result.manifest.read_text("utf-8")), "")


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> PrintedPack:
    """Printed a day (and an hour) ago: every MAR slot is over when a page is scanned."""
    return print_issued(tmp_path_factory.mktemp("reconcile-printed"), 25, backend)


@pytest.fixture(scope="module")
def printed_half_a_day_ago(
    tmp_path_factory: pytest.TempPathFactory, backend: Backend
) -> PrintedPack:
    """Printed some hours ago, so that its MAR has a slot over before a scan now and one at
    least half an hour after it, whatever the time of day (the example's 08, 14 and 20 o'clock
    slots: twelve hours ago would leave none ahead between 19:30 and 20:00)."""
    now = datetime.now(ZoneInfo(SiteConfig().timezone))
    times = [time_of_day(8), time_of_day(14), time_of_day(20)]
    for hours_ago in (12, 13, 9, 7, 5):
        # the administration record starts at the hour the pack was printed in
        start = (now - timedelta(hours=hours_ago)).replace(minute=0, second=0, microsecond=0)
        slots = [next_at(t, start) for t in times]
        over = [s for s in slots if s < now - timedelta(minutes=5)]
        if over and [s for s in slots if s > now + timedelta(minutes=40)]:
            break
    return print_issued(tmp_path_factory.mktemp("reconcile-half-day"), hours_ago, backend)


def filled_at_random(pack: PrintedPack, entry: dict[str, Any], seed: int = 3) -> Gray:
    image, _ = simulate.fill_page(
        render(pack, entry), entry, DPI, random.Random(f"{seed}:{entry['pdf_page']}")
    )
    return image


def ticked(pack: PrintedPack, entry: dict[str, Any], field_ids: Iterable[str]) -> Gray:
    """The page with exactly ``field_ids`` ticked (a pen tick) and nothing else on it."""
    wanted = set(field_ids)
    fields = [f for f in entry["fields"] if f["id"] in wanted]
    assert len(fields) == len(wanted), sorted(wanted - {f["id"] for f in fields})
    image, _ = simulate.fill_page(
        render(pack, entry),
        {"fields": fields},
        DPI,
        random.Random(0),
        mark_rate=1.0,
        write_rate=1.0,
        styles=("tick",),
    )
    return image


def scan_in(home: Path, folder: Path, images: Sequence[Gray]) -> None:
    """Scan the images (PNG files) into ``home``: every page must be identified."""
    for n, image in enumerate(images, start=1):
        save_png(folder / f"page-{n:03d}.png", image)
    records = scan(home, folder)
    require(
        [r["status"] for r in records] == ["identified"] * len(images),
        f"every page identified: {[(r['status'], r['reason']) for r in records]}",
    )


def readings(home: Path, page_uid: str) -> dict[str, tuple[str, str]]:
    found = rows(
        home,
        "SELECT m.field_id, m.state, m.flags FROM marks m JOIN captures c USING (capture_id)"
        " WHERE c.page_uid = ?",
        (page_uid,),
    )
    return {r["field_id"]: (r["state"], r["flags"]) for r in found}


def require_ticked(home: Path, entry: dict[str, Any], field_ids: Iterable[str]) -> None:
    """The scanner read the ticked boxes as marked, every other field empty or blank, and
    nothing with a flag that needs a person."""
    read = readings(home, entry["page_uid"])
    wanted = set(field_ids)
    for field_id, (state, flags) in read.items():
        ok = state == "marked" if field_id in wanted else state in ("empty", "blank")
        review = set(flags.split()) & REVIEW_FLAGS
        require(ok and not review, f"{field_id} read {state} {flags!r}")


@pytest.fixture(scope="module")
def scanned_all(printed: PrintedPack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every patient page of the pack filled at random and scanned (both journal pages)."""
    base = tmp_path_factory.mktemp("reconcile-all")
    home = copy_home(printed, base / "home")
    images = [filled_at_random(printed, e) for e in patient_pages(printed)]
    scan_in(home, base / "scans", images)
    return home


@pytest.fixture(scope="module")
def scanned_one_page_forms(printed: PrintedPack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every patient page filled at random and scanned, except the journals' second pages."""
    base = tmp_path_factory.mktemp("reconcile-one-page")
    home = copy_home(printed, base / "home")
    entries = [e for e in patient_pages(printed) if e["page"] == 1]
    scan_in(home, base / "scans", [filled_at_random(printed, e) for e in entries])
    return home


def fresh(scanned: Path, tmp_path: Path) -> Path:
    """This test's copy of a scanned data folder."""
    home = tmp_path / "home"
    return copy_data_folder(scanned, home)


def form_entries(pack: PrintedPack, form: str, patient: int = 0) -> list[dict[str, Any]]:
    """The pages of ``form`` printed for the census's ``patient``-th patient, page 1 first."""
    people = list(dict.fromkeys(p["patient"]["value"] for p in patient_pages(pack)))
    return [p for p in patient_pages(pack, form) if p["patient"]["value"] == people[patient]]


def mar_cells(entry: dict[str, Any]) -> list[str]:
    """The scheduled cells of a MAR page (``med1.t08``), in print order."""
    cells = [f["id"].removesuffix(".given") for f in entry["fields"]]
    return [c for c in cells if re.fullmatch(r"med\d+\.t\d{2,4}", c)]


def field_ref(entry: dict[str, Any], field_id: str) -> dict[str, str]:
    return next(f["ref"] for f in entry["fields"] if f["id"] == field_id)


@pytest.fixture
def mar_home(printed: PrintedPack, tmp_path: Path) -> tuple[Path, dict[str, Any], list[str]]:
    """A data folder with one returned MAR page (the first patient's): the first two scheduled
    cells of different rows ticked *given*. (home, manifest entry, the two cells)"""
    [entry] = form_entries(printed, "mar")
    cells = mar_cells(entry)
    second = next(c for c in cells if c.split(".")[0] != cells[0].split(".")[0])
    chosen = [cells[0], second]
    home = copy_home(printed, tmp_path / "home")
    ids = [f"{c}.given" for c in chosen]
    scan_in(home, tmp_path / "scans", [ticked(printed, entry, ids)])
    require_ticked(home, entry, ids)
    return home, entry, chosen


# --------------------------------------------------------------------------------------------
# Running it, and what it left


def reconcile_cli(home: Path, *args: str | Path, code: int = 0) -> Result:
    """``downtime reconcile ARGS`` in-process: exit ``code`` (0: everything delivered; 7:
    something not delivered; 75: stopped early), and no patient named on stderr."""
    result = run_cli("reconcile", "--lang", "en", *args, home=home, ok=False)
    assert result.exit_code == code, (
        f"exit {result.exit_code}, not {code}\nstdout:\n{result.stdout}\n"
        f"stderr:\n{result.stderr}\n{result.exception!r}"
    )
    assert_no_identity(result.stderr, home, "stderr of `downtime reconcile`")
    return result


def summary_of(result: Result) -> dict[str, int]:
    """The summary line: ``forms 35  unchanged 0  …  record conflicts 0  failed 0``."""
    last = result.stdout.strip().splitlines()[-1]
    return {k: int(v) for k, v in re.findall(r"([a-z][a-z ]*?) (\d+)", last)}


class Wire(FhirClient):
    """The real client. It records every transaction it sends, and arms the given server
    faults one per transaction, just before that transaction leaves (a fault armed earlier
    would be taken by the record checks' searches, which come first)."""

    def __init__(
        self,
        server: FhirServer,
        *faults: Mapping[str, Any],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(server.base_url, sleep=sleep)
        self.server = server
        self.faults = [dict(f) for f in faults]
        self.sent: list[dict[str, Any]] = []

    def transaction(self, bundle: Mapping[str, Any]) -> Response:
        if self.faults:
            self.server.fault(**self.faults.pop(0))
        self.sent.append(copy.deepcopy(dict(bundle)))
        return super().transaction(bundle)


def reconcile_with(home: Path, client: FhirClient) -> Summary:
    with workspace(home, keys="read") as (settings, _keys, ledger):
        return reconcile(ledger, settings, Target(client=client))


def attempts(home: Path) -> list[tuple[str, int, str, int | None]]:
    return [
        (r["bundle_key"], r["attempt"], r["outcome"], r["http_status"])
        for r in rows(home, "SELECT * FROM posting_attempts ORDER BY bundle_key, attempt")
    ]


def held(home: Path, kind: str | None = None) -> list[dict[str, Any]]:
    found = rows(home, "SELECT * FROM held_items ORDER BY form_key, item")
    return [h for h in found if kind is None or h["kind"] == kind]


def ledger_counts(home: Path) -> dict[str, int]:
    tables = ("postings", "posting_attempts", "posted_resources", "held_items")
    counts = {t: rows(home, f"SELECT count(*) AS n FROM {t}")[0]["n"] for t in tables}
    audit = rows(home, "SELECT count(*) AS n FROM audit_events WHERE action = 'reconcile.form'")
    return {**counts, "reconcile.form": audit[0]["n"]}


def returned_forms(home: Path) -> list[dict[str, Any]]:
    """Each returned patient form once: pack, form, patient system and value, form key."""
    found = rows(
        home,
        "SELECT DISTINCT p.pack_id, p.form, p.patient_system, p.patient_value FROM captures c"
        " JOIN pages p USING (page_uid) WHERE p.patient_system IS NOT NULL",
    )
    for f in found:
        f["form_key"] = f"{f['pack_id']}/{f['form']}/{f['patient_system']}|{f['patient_value']}"
        f["short"] = hashlib.sha256(f["form_key"].encode()).hexdigest()[:16]
    return found


def outbox_files(home: Path) -> dict[str, tuple[bytes, int]]:
    folder = home / "outbox"
    if not folder.exists():
        return {}
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def made(bundles: Iterable[dict[str, Any]]) -> str:
    """What bundles create besides the Patient, Encounter and Provenance, as the dry run says
    it: ``1 DocumentReference, 3 MedicationAdministration``."""
    urls: dict[str, str] = {}
    for bundle in bundles:
        for entry in bundle["entry"]:
            urls[entry["fullUrl"]] = entry["resource"]["resourceType"]
    counts = Counter(t for t in urls.values() if t not in ("Patient", "Encounter", "Provenance"))
    return ", ".join(f"{n} {t}" for t, n in sorted(counts.items())) or "nothing"


# -- the server ------------------------------------------------------------------------------


def server_state(server: FhirServer) -> dict[str, dict[str, dict[str, Any]]]:
    """Every resource on the server, by type and id."""
    state: dict[str, dict[str, dict[str, Any]]] = {}
    for resource_type in RESOURCE_TYPES:
        response = fhir_request("GET", f"{server.base_url}/{resource_type}?_count=1000")
        assert response.status == 200, response.body
        found = [e["resource"] for e in response.body.get("entry", [])]
        state[resource_type] = {r["id"]: r for r in found}
    return state


def versions(state: Mapping[str, Mapping[str, dict[str, Any]]]) -> dict[str, str]:
    return {
        f"{t}/{i}": r["meta"]["versionId"] for t, by_id in state.items() for i, r in by_id.items()
    }


def kit_key(resource: dict[str, Any]) -> str | None:
    """The kit's deterministic identifier of a resource (a Provenance's is its tag)."""
    if resource["resourceType"] == "Provenance":
        tags = resource.get("meta", {}).get("tag", [])
        return next(
            (f"{t['system']}|{t['code']}" for t in tags if t["system"] == ITEM_SYSTEM), None
        )
    ids = resource.get("identifier", [])
    return f"{ids[0]['system']}|{ids[0]['value']}" if ids else None


def assert_each_once(state: Mapping[str, Mapping[str, dict[str, Any]]]) -> None:
    for resource_type, by_id in state.items():
        keys = Counter(kit_key(r) for r in by_id.values())
        twice = {k: n for k, n in keys.items() if n > 1}
        assert not twice, f"{resource_type} more than once: {twice}"


def find(server: FhirServer, resource_type: str, identifier: str) -> list[dict[str, Any]]:
    param = "_tag" if resource_type == "Provenance" else "identifier"
    query = urllib.parse.urlencode({param: identifier})
    response = fhir_request("GET", f"{server.base_url}/{resource_type}?{query}")
    assert response.status == 200, response.body
    return [e["resource"] for e in response.body.get("entry", [])]


def create(server: FhirServer, resource: dict[str, Any]) -> dict[str, Any]:
    response = fhir_request("POST", f"{server.base_url}/{resource['resourceType']}", resource)
    assert response.status == 201, response.body
    body: dict[str, Any] = response.body
    return body


def census_in_record(
    server: FhirServer, *, leave_out: Iterable[str] = ()
) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """The example census's MED42 patients and their encounters as the record holds them: each
    patient by identifier, each encounter by the census encounter id in the record's system,
    both with the record's own ids. ``leave_out``: identifier values the record does not hold.
    Identifier value → (Patient, Encounter) as created."""
    census = load_csv_census(
        EXAMPLE / "patients.csv", EXAMPLE / "medications.csv", skip_invalid=False,
        today=date.today(),
    )  # fmt: skip
    held_now = {}
    for person in census.patients:
        ident = person.identifier
        if person.ward != "MED42" or ident.value in set(leave_out):
            continue
        patient = create(
            server,
            {
                "resourceType": "Patient",
                "identifier": [{"system": fhir_system(ident), "value": ident.value}],
                "name": [{"family": person.family_name, "given": [person.given_name]}],
            },
        )
        encounter = create(
            server,
            {
                "resourceType": "Encounter",
                "identifier": [{"system": ENCOUNTERS, "value": person.encounter_id}],
                "status": "in-progress",
                "class": {"code": "IMP"},
                "subject": {"reference": f"Patient/{patient['id']}"},
            },
        )
        held_now[ident.value] = (patient, encounter)
    return held_now


def record_patient(
    server: FhirServer, home: Path, entry: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """The page's patient as the record holds them (the census's, in ``server``), changed by
    ``extra`` in the record (made inactive, say) when given."""
    ident = Identifier(entry["patient"]["system"], entry["patient"]["value"])
    [patient] = find(server, "Patient", f"{fhir_system(ident)}|{ident.value}")
    if not extra:
        return patient
    changed = {k: v for k, v in patient.items() if k != "meta"} | extra
    response = fhir_request("PUT", f"{server.base_url}/Patient/{patient['id']}", changed)
    assert response.status == 200, response.body
    body: dict[str, Any] = response.body
    return body


@pytest.fixture
def empty_server(fhir_server: FhirServer) -> FhirServer:
    """The test server, emptied: a record that holds nobody."""
    fhir_server.reset()
    return fhir_server


@pytest.fixture
def server(empty_server: FhirServer) -> FhirServer:
    """The test server holding the census patients and their encounters, as a record does."""
    census_in_record(empty_server)
    return empty_server


def medication_text(home: Path, order_id: str) -> str:
    (order,) = rows(
        home, "SELECT medication, dose FROM pack_orders WHERE order_id = ?", (order_id,)
    )
    return f"{order['medication']} {order['dose']}".strip()


def subjects(state: Mapping[str, Mapping[str, dict[str, Any]]], patient_id: str) -> list[str]:
    """The resources on the server that name the patient as their subject."""
    return [
        f"{t}/{i}"
        for t, by_id in state.items()
        for i, r in by_id.items()
        if r.get("subject", {}).get("reference") == f"Patient/{patient_id}"
    ]


def shrink_registered_images(home: Path, quality: int = 25) -> None:
    """Re-encode every capture's registered page image smaller, so that a two-page PDF stays
    under Medplum's 1 MB string limit (pinned on its own below)."""
    store = Store(home)
    with open_ledger(home) as ledger, ledger.transaction() as conn:
        for capture_id, relative in conn.execute(
            "SELECT capture_id, registered_as FROM captures"
        ).fetchall():
            image = cv2.imread(str(home / relative), cv2.IMREAD_GRAYSCALE)
            ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
            assert ok
            smaller = store.put_bytes(jpeg.tobytes(), ".jpg")
            conn.execute(
                "UPDATE captures SET registered_as = ? WHERE capture_id = ?", (smaller, capture_id)
            )


# --------------------------------------------------------------------------------------------
# The outbox


def test_outbox_holds_private_transaction_bundles_of_at_most_eight_entries(
    scanned_all: Path, tmp_path: Path
) -> None:
    home = fresh(scanned_all, tmp_path)
    forms = returned_forms(home)
    result = reconcile_cli(home)
    summary = summary_of(result)
    assert summary["forms"] == len(forms) == 35
    assert summary["failed"] == 0 and summary["unchanged"] == 0
    folder = home / "outbox"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = sorted(folder.iterdir())
    postings = rows(home, "SELECT * FROM postings")
    assert len(files) == len(postings) == summary["bundles"] >= summary["forms"] - summary["unused"]
    entries = 0
    bundles: dict[str, dict[str, Any]] = {}
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        bundle = json.loads(path.read_text("utf-8"))
        bundles[path.name] = bundle
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
        assert bundle["identifier"]["system"] == ITEM_SYSTEM
        assert 2 <= len(bundle["entry"]) <= 8, path.name
        for entry in bundle["entry"]:
            assert entry["request"]["method"] == "POST"
            assert entry["request"]["ifNoneExist"], entry["request"]
            # The census patient and encounter are the record's: referred to, never created.
            assert entry["resource"]["resourceType"] not in ("Patient", "Encounter")
        entries += len(bundle["entry"])
    assert summary["resources"] == entries
    # Every bundle is a posting with one attempt, `written`, naming its file.
    written = {
        (r["detail"], r["outcome"], r["attempt"])
        for r in rows(home, "SELECT * FROM posting_attempts")
    }
    assert written == {(p.name, "written", 1) for p in files}
    assert {p["target"] for p in postings} == {"outbox"}
    assert {p["form_key"] for p in postings} <= {f["form_key"] for f in forms}
    # What each bundle makes is recorded by its deterministic identifier (no server location).
    recorded = rows(home, "SELECT * FROM posted_resources")
    assert all(r["location"] is None for r in recorded)
    in_files = {
        kit_key(e["resource"])
        for b in bundles.values()
        for e in b["entry"]
        if e["resource"]["resourceType"] != "Provenance"
    }
    assert {r["identifier"] for r in recorded} == in_files
    # One audit event per form, naming ward and patient, the chain intact.
    events = rows(home, "SELECT * FROM audit_events WHERE action = 'reconcile.form'")
    delivered = {p["form_key"] for p in postings}
    assert len(events) == len(delivered)
    by_short = {f["short"]: f for f in forms}
    for event in events:
        form = by_short[event["object_id"]]
        assert (event["care_unit"], event["object_type"]) == ("MED42", "form")
        assert event["patient_value"] == form["patient_value"]
        assert event["detail"].endswith("-> outbox")
    with open_ledger(home) as ledger:
        assert verify_audit_chain(ledger) is None


def test_outbox_rerun_creates_nothing(scanned_all: Path, tmp_path: Path) -> None:
    home = fresh(scanned_all, tmp_path)
    first = summary_of(reconcile_cli(home))
    files, counts = outbox_files(home), ledger_counts(home)
    again = summary_of(reconcile_cli(home))
    assert again["unchanged"] == first["forms"] - first["unused"] == again["forms"]
    assert (again["bundles"], again["resources"], again["failed"]) == (0, 0, 0)
    assert outbox_files(home) == files  # same names, bytes and modification times
    assert ledger_counts(home) == counts


def references_in(value: Any) -> set[str]:
    """Every ``reference`` string in a bundle or resource."""
    if isinstance(value, dict):
        own = {value["reference"]} if isinstance(value.get("reference"), str) else set()
        return own.union(*(references_in(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(references_in(v) for v in value))
    return set()


def test_outbox_bundles_refer_to_the_census_patient_and_encounter_by_conditional_reference(
    scanned_all: Path, tmp_path: Path
) -> None:
    home = fresh(scanned_all, tmp_path)
    reconcile_cli(home)
    census = {
        r["patient_value"]: r["encounter_id"]
        for r in rows(home, "SELECT patient_value, encounter_id FROM pack_patients")
    }
    for path in sorted((home / "outbox").iterdir()):
        bundle = json.loads(path.read_text("utf-8"))
        # Besides urn:uuid: references within the bundle, only the two conditional ones.
        named = {r for r in references_in(bundle) if not r.startswith("urn:uuid:")}
        [patient] = [r for r in named if r.startswith("Patient?")]
        system, value = patient.removeprefix("Patient?identifier=").split("|")
        assert system.startswith("http://electronichealth.se/identifier/") and value in census
        encounter = urllib.parse.quote(census[value], safe=":/")
        assert named == {patient, f"Encounter?identifier={ENCOUNTERS}|{encounter}"}, path.name


def test_a_fhir_census_names_the_encounter_system_its_bundles_refer_by(
    tmp_path: Path, backend: Backend
) -> None:
    printed = print_issued(tmp_path / "printed", 25, backend, fhir_census=True)
    [entry] = form_entries(printed, "referral")
    home = copy_home(printed, tmp_path / "home")
    scan_in(home, tmp_path / "scans", [filled_at_random(printed, entry)])
    reconcile_cli(home)
    [path] = (home / "outbox").iterdir()
    named = {r for r in references_in(json.loads(path.read_text("utf-8"))) if "?" in r}
    (stay,) = rows(home, "SELECT encounter_id, encounter_system FROM pack_patients"
                   " WHERE patient_value = ?", (entry["patient"]["value"],))  # fmt: skip
    system = "urn:downtime:example:encounter"  # the census's, not site.toml's
    assert stay["encounter_system"] == system
    assert f"Encounter?identifier={system}|{stay['encounter_id']}" in named


def test_without_an_encounter_system_the_outbox_bundles_name_no_encounter(
    scanned_one_page_forms: Path, tmp_path: Path
) -> None:
    home = fresh(scanned_one_page_forms, tmp_path)
    write_site(home, "")  # a CSV census, and no system named for it
    reconcile_cli(home)
    for path in (home / "outbox").iterdir():
        text = path.read_text("utf-8")
        assert "Patient?identifier=" in text and "Encounter" not in text, path.name


def test_dry_run_writes_nothing_and_shows_each_patient_form_as_the_run_then_makes_it(
    scanned_all: Path, tmp_path: Path
) -> None:
    home = fresh(scanned_all, tmp_path)
    before = ledger_counts(home)
    dry = reconcile_cli(home, "--dry-run")
    assert outbox_files(home) == {}
    assert ledger_counts(home) == before
    summary = summary_of(dry)
    lines = dry.stdout.strip().splitlines()[:-1]
    assert len(lines) == summary["forms"] - summary["unused"] == 35
    plan: dict[tuple[str, str], list[str]] = {}
    for line in lines:
        ward, patient, form, *rest = line.split("\t")
        assert ward == "MED42"
        assert (patient, form) not in plan, line
        plan[patient, form] = rest

    reconcile_cli(home)
    bundles = {p.name: json.loads(p.read_text("utf-8")) for p in (home / "outbox").iterdir()}
    for form in returned_forms(home):
        patient = Identifier(form["patient_system"], form["patient_value"]).display()
        made_now, *held_now = plan.pop((patient, form["form"]))
        own = [b for name, b in bundles.items() if name.startswith(form["short"] + "_")]
        assert made_now == made(own), form["form"]
        items = held(home)
        items = [h for h in items if h["form_key"] == form["form_key"]]
        if not items:
            assert held_now == [], form["form"]
            continue
        (why,) = held_now
        shown = [f"{h['item']} ({h['kind']}: {h['detail']})" for h in items]
        assert all(text in why for text in shown), why
        assert len(why) == len("held: ") + len(" | ".join(shown)), why  # and nothing else
    assert plan == {}


# --------------------------------------------------------------------------------------------
# A FHIR server


def test_server_gets_every_resource_once_and_a_rerun_creates_nothing(
    scanned_one_page_forms: Path, server: FhirServer, tmp_path: Path
) -> None:
    home = fresh(scanned_one_page_forms, tmp_path)
    record = server_state(server)
    first = summary_of(reconcile_cli(home, "--fhir-url", server.base_url))
    assert first["failed"] == 0 and first["bundles"] > 0
    assert first["record conflicts"] == 0
    state = server_state(server)
    assert_each_once(state)
    # Exactly the census's patients and encounters, as the record held them: none made, none
    # changed, nothing under the kit's own encounter system.
    assert len(state["Patient"]) == len(state["Encounter"]) == 7
    for kind in ("Patient", "Encounter"):
        assert state[kind] == record[kind]
    assert find(server, "Encounter", "urn:downtime:encounter|") == []
    # Everything made refers to them, by the record's own ids.
    named = {
        ref
        for kind, by_id in state.items()
        if kind not in ("Patient", "Encounter")
        for r in by_id.values()
        for ref in references_in(r)
        if ref.startswith(("Patient", "Encounter"))
    }
    assert named and named <= {f"{t}/{i}" for t in ("Patient", "Encounter") for i in record[t]}
    assert len(state["DocumentReference"]) == first["forms"] - first["unused"]
    # Every resource the ledger says was posted is there once, at the location recorded.
    for r in rows(home, "SELECT * FROM posted_resources"):
        [found] = find(server, r["resource_type"], r["identifier"])
        assert r["location"].split("/")[:2] == [r["resource_type"], found["id"]]
    outcomes = Counter(a[2] for a in attempts(home))
    assert outcomes == {"posted": first["bundles"]}

    again = summary_of(reconcile_cli(home, "--fhir-url", server.base_url))
    assert again["unchanged"] == first["forms"] - first["unused"]
    assert (again["bundles"], again["failed"]) == (0, 0)
    assert versions(server_state(server)) == versions(state)  # nothing created or changed


def test_a_dropped_response_is_found_by_identifier_and_not_sent_again(
    mar_home: tuple[Path, dict[str, Any], list[str]], server: FhirServer
) -> None:
    home, _entry, _cells = mar_home
    wire = Wire(server, {"drop_response": True})
    summary = reconcile_with(home, wire)
    assert (summary.bundles, summary.failed) == (1, 0)
    assert len(wire.sent) == 1  # committed by the server, its answer lost: never sent again
    [first, second] = attempts(home)
    assert first[0] == second[0]
    assert (first[1:], second[1:]) == ((1, "retry", None), (2, "posted", None))
    details = [
        r["detail"] for r in rows(home, "SELECT detail FROM posting_attempts ORDER BY attempt")
    ]
    assert details[0].startswith("response lost")
    assert details[1] == "found by identifier"
    state = server_state(server)
    assert_each_once(state)
    assert len(state["MedicationAdministration"]) == 2
    assert len(state["DocumentReference"]) == 1
    # The resources were found where they are, with the version the server gave them.
    for r in rows(home, "SELECT * FROM posted_resources"):
        resource_type, ident, _history, version = r["location"].split("/")
        stored = state[resource_type][ident]
        assert (kit_key(stored), stored["meta"]["versionId"]) == (r["identifier"], version)
    assert summary_of(reconcile_cli(home, "--fhir-url", server.base_url))["unchanged"] == 1
    assert versions(server_state(server)) == versions(state)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured_before_the_transaction_is_sent_again(
    mar_home: tuple[Path, dict[str, Any], list[str]], server: FhirServer, status: int
) -> None:
    home, _entry, _cells = mar_home
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    wire = Wire(server, {"status": status, "retry_after": 1}, sleep=sleep)
    started = time.monotonic()
    summary = reconcile_with(home, wire)
    assert time.monotonic() - started >= 1.0
    assert waits == [1.0]
    assert (wire.retries, summary.retries) == (1, 1)
    assert (summary.bundles, summary.failed) == (1, 0)
    assert [a[1:] for a in attempts(home)] == [(1, "posted", 200)]
    assert_each_once(server_state(server))
    assert len(server_state(server)["MedicationAdministration"]) == 2


def test_cli_waits_as_a_429_answer_asks(
    mar_home: tuple[Path, dict[str, Any], list[str]], server: FhirServer
) -> None:
    home, _entry, _cells = mar_home
    server.fault(status=429, retry_after=1, count=1)  # taken by the first request, a search
    started = time.monotonic()
    summary = summary_of(reconcile_cli(home, "--fhir-url", server.base_url))
    assert time.monotonic() - started >= 1.0
    assert (summary["bundles"], summary["failed"]) == (1, 0)
    assert [a[1:] for a in attempts(home)] == [(1, "posted", 200)]
    assert len(server_state(server)["MedicationAdministration"]) == 2


def test_a_bundle_the_server_refuses_is_recorded_as_failed_and_retried_on_the_next_run(
    printed: PrintedPack, server: FhirServer, tmp_path: Path
) -> None:
    # Four administrations make a bundle of 12 entries; Medplum refuses more than 8 in a
    # transaction with conditional creates: a real 400 with an OperationOutcome.
    [entry] = form_entries(printed, "mar")
    cells = mar_cells(entry)[:4]
    require(len(cells) == 4, "the MAR page has four scheduled cells")
    home = copy_home(printed, tmp_path / "home")
    ids = [f"{c}.given" for c in cells]
    scan_in(home, tmp_path / "scans", [ticked(printed, entry, ids)])
    require_ticked(home, entry, ids)

    refused = reconcile_cli(home, "--fhir-url", server.base_url, "--max-entries", "12", code=7)
    assert "1 bundle(s) failed" in refused.stderr
    summary = summary_of(refused)
    assert (summary["bundles"], summary["failed"]) == (0, 1)
    [attempt] = rows(home, "SELECT * FROM posting_attempts")
    assert (attempt["attempt"], attempt["outcome"], attempt["http_status"]) == (1, "failed", 400)
    assert "too many entries" in attempt["detail"]
    assert "too many entries" in refused.stderr
    assert server_state(server)["MedicationAdministration"] == {}
    report = json.loads(run_cli("report", "--format", "json", home=home).stdout)
    assert report["totals"]["failed"] == 1 and report["complete"] is False

    retried = summary_of(reconcile_cli(home, "--fhir-url", server.base_url))
    assert (retried["unchanged"], retried["failed"]) == (0, 0)
    assert retried["bundles"] == 2  # 2 + 2 + 4 × 2 entries: two bundles of at most 8
    outcomes = [(a[1], a[2]) for a in attempts(home)]
    assert sorted(outcomes) == [(1, "failed"), (1, "posted"), (2, "posted")]
    state = server_state(server)
    assert_each_once(state)
    assert len(state["MedicationAdministration"]) == 4
    report = json.loads(run_cli("report", "--format", "json", home=home).stdout)
    assert report["totals"]["failed"] == 0


def test_a_refused_transaction_is_described_by_the_servers_error_not_its_warnings(
    server: FhirServer,
) -> None:
    # Medplum warns about every urn:uuid reference before it rewrites them, and lists the
    # error after the warnings of the entries before it: a failed attempt's detail (what the
    # report shows) must name the error, as for a two-page journal's 1 MB attachment.
    patient = "urn:uuid:6b7c2f0a-0000-5000-8000-000000000001"
    encounters = [
        {
            "fullUrl": f"urn:uuid:6b7c2f0a-0000-5000-8000-00000000001{n}",
            "resource": {
                "resourceType": "Encounter",
                "status": "in-progress",
                "class": {"code": "IMP"},
                "subject": {"reference": patient},
            },
            "request": {"method": "POST", "url": "Encounter"},
        }
        for n in range(3)
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": patient,
                "resource": {"resourceType": "Patient"},
                "request": {"method": "POST", "url": "Patient"},
            },
            *encounters,
            {
                "fullUrl": "urn:uuid:6b7c2f0a-0000-5000-8000-000000000099",
                "resource": {"resourceType": "Patient", "birthDate": "1912-13-45"},
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    }
    raw = fhir_request("POST", server.base_url, bundle).body
    require(
        [i["severity"] for i in raw["issue"]] == ["warning"] * 3 + ["error"],
        f"three warnings, then the error: {raw}",
    )
    with pytest.raises(FhirError) as refused:
        FhirClient(server.base_url).transaction(bundle)
    assert refused.value.status == 400
    assert "Invalid date format at Bundle.entry[4].resource.birthDate" in refused.value.message
    assert "Invalid reference" not in refused.value.message


# --------------------------------------------------------------------------------------------
# What the record already holds


@pytest.fixture
def administered_in_record(
    mar_home: tuple[Path, dict[str, Any], list[str]], server: FhirServer
) -> tuple[Path, list[str], dict[str, Any]]:
    """The record already documents the first ticked cell's administration (same patient,
    slot and medication, the record's own identifier). (home, cells, that administration)"""
    home, entry, cells = mar_home
    patient = record_patient(server, home, entry)
    ref = field_ref(entry, f"{cells[0]}.given")
    theirs = create(
        server,
        {
            "resourceType": "MedicationAdministration",
            "identifier": [{"system": OTHER_SYSTEM, "value": "MA-77"}],
            "status": "completed",
            "medicationCodeableConcept": {"text": medication_text(home, ref["order_id"])},
            "subject": {"reference": f"Patient/{patient['id']}"},
            "effectiveDateTime": ref["slot"],
        },
    )
    return home, cells, theirs


def test_an_administration_already_in_the_record_is_held_not_posted(
    administered_in_record: tuple[Path, list[str], dict[str, Any]],
    server: FhirServer,
    printed: PrintedPack,
) -> None:
    home, cells, theirs = administered_in_record
    [entry] = form_entries(printed, "mar")
    dry = reconcile_cli(home, "--dry-run", "--fhir-url", server.base_url)
    [line] = dry.stdout.strip().splitlines()[:-1]
    assert "\t1 DocumentReference, 1 MedicationAdministration\theld: " in line
    assert f"({CONFLICT}: an administration for this slot is already documented" in line
    assert ledger_counts(home)["held_items"] == 0

    summary = summary_of(reconcile_cli(home, "--fhir-url", server.base_url))
    assert (summary["record conflicts"], summary["bundles"], summary["failed"]) == (1, 1, 0)
    [conflict] = held(home, CONFLICT)
    assert conflict["item"] == cells[0], "named as a clerk finds it on the paper"
    assert "already documented in the record" in conflict["detail"]
    administrations = server_state(server)["MedicationAdministration"]
    assert administrations[theirs["id"]] == theirs  # untouched
    ours = [r for r in administrations.values() if r["id"] != theirs["id"]]
    second = field_ref(entry, f"{cells[1]}.given")
    assert [r["effectiveDateTime"] for r in ours] == [second["slot"]]
    # Its Provenance was held back with it: only the document's and the posted cell's.
    assert len(server_state(server)["Provenance"]) == 2
    summary_of(reconcile_cli(home, "--fhir-url", server.base_url))
    assert len(held(home, CONFLICT)) == 1


def test_a_record_conflict_names_the_cell_on_the_paper(
    administered_in_record: tuple[Path, list[str], dict[str, Any]], server: FhirServer
) -> None:
    home, cells, _theirs = administered_in_record
    reconcile_cli(home, "--fhir-url", server.base_url)
    assert [h["item"] for h in held(home, CONFLICT)] == [cells[0]]


def order_in_record(
    server: FhirServer, home: Path, entry: dict[str, Any], authored: str
) -> dict[str, Any]:
    """An active order in the record, by another system, for the drug of ``active1``."""
    patient = record_patient(server, home, entry)
    order = field_ref(entry, "active1.stop")["order_id"]
    return create(
        server,
        {
            "resourceType": "MedicationRequest",
            "identifier": [{"system": OTHER_SYSTEM, "value": f"MR-{authored}"}],
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"text": medication_text(home, order)},
            "subject": {"reference": f"Patient/{patient['id']}"},
            "authoredOn": authored,
        },
    )


def test_an_order_written_in_the_record_since_the_pack_holds_the_paper_stop(
    printed: PrintedPack, server: FhirServer, tmp_path: Path
) -> None:
    [entry] = form_entries(printed, "medication-orders")
    home = copy_home(printed, tmp_path / "home")
    scan_in(home, tmp_path / "scans", [ticked(printed, entry, ["active1.stop"])])
    require_ticked(home, entry, ["active1.stop"])
    theirs = order_in_record(server, home, entry, datetime.now(UTC).isoformat(timespec="seconds"))
    summary = summary_of(reconcile_cli(home, "--fhir-url", server.base_url))
    assert (summary["record conflicts"], summary["failed"]) == (1, 0)
    [conflict] = held(home, CONFLICT)
    assert "written in the record after the pack" in conflict["detail"]
    state = server_state(server)
    assert list(state["MedicationRequest"]) == [theirs["id"]]
    assert state["MedicationRequest"][theirs["id"]]["status"] == "active"  # never discontinued
    assert len(state["DocumentReference"]) == 1


@pytest.mark.parametrize("how", ["inactive", "replaced-by"])
def test_a_patient_merged_or_inactive_in_the_record_gets_nothing_posted(
    printed: PrintedPack, server: FhirServer, tmp_path: Path, how: str
) -> None:
    [mar] = form_entries(printed, "mar", patient=0)
    other_journal = form_entries(printed, "journal", patient=1)[0]
    home = copy_home(printed, tmp_path / "home")
    cells = [f"{c}.given" for c in mar_cells(mar)[:2]]
    scan_in(
        home,
        tmp_path / "scans",
        [ticked(printed, mar, cells), filled_at_random(printed, other_journal)],
    )
    if how == "inactive":
        gone = record_patient(server, home, mar, active=False)
    else:
        survivor = create(server, {"resourceType": "Patient", "name": [{"family": "Kvar"}]})
        link = [{"other": {"reference": f"Patient/{survivor['id']}"}, "type": "replaced-by"}]
        gone = record_patient(server, home, mar, link=link)
    own = subjects(server_state(server), gone["id"])  # the record's own encounter

    summary = summary_of(reconcile_cli(home, "--fhir-url", server.base_url))
    assert (summary["record conflicts"], summary["failed"]) == (1, 0)
    [conflict] = held(home, CONFLICT)
    assert conflict["item"] == "patient"
    assert conflict["form_key"].split("/")[1:] == ["mar", f"personnummer|{mar['patient']['value']}"]
    assert "merged or inactive" in conflict["detail"]
    state = server_state(server)
    assert subjects(state, gone["id"]) == own
    assert state["Patient"][gone["id"]]["meta"]["versionId"] == gone["meta"]["versionId"]
    assert len(state["DocumentReference"]) == 1  # the other patient's journal
    assert rows(home, "SELECT * FROM postings WHERE form_key = ?", (conflict["form_key"],)) == []
    # Held again on the next run, not twice.
    summary_of(reconcile_cli(home, "--fhir-url", server.base_url))
    assert len(held(home, CONFLICT)) == 1
    assert subjects(server_state(server), gone["id"]) == own


# --------------------------------------------------------------------------------------------
# The record's own patients and encounters: referred to, never made (but a reserve admission)


def form_counts(home: Path, form_key: str) -> dict[str, int]:
    """The report's counts for one form."""
    report = json.loads(run_cli("report", "--format", "json", home=home).stdout)
    [found] = [
        f["counts"]
        for ward in report["wards"]
        for person in ward["patients"]
        for f in person["forms"]
        if f["form_key"] == form_key
    ]
    return dict(found)


def test_a_patient_the_record_does_not_hold_under_this_identifier_is_held_never_created(
    printed: PrintedPack, empty_server: FhirServer, tmp_path: Path
) -> None:
    server = empty_server
    [mar] = form_entries(printed, "mar", patient=0)
    journal = form_entries(printed, "journal", patient=1)[0]
    home = copy_home(printed, tmp_path / "home")
    cells = [f"{c}.given" for c in mar_cells(mar)[:2]]
    scan_in(
        home, tmp_path / "scans", [ticked(printed, mar, cells), filled_at_random(printed, journal)]
    )
    pnr = mar["patient"]["value"]
    census_in_record(server, leave_out=[pnr])
    # The record knows this patient only under another system (the personnummer's OID).
    elsewhere = create(
        server,
        {
            "resourceType": "Patient",
            "identifier": [{"system": "urn:oid:1.2.752.129.2.1.3.1", "value": pnr}],
        },
    )
    before = server_state(server)

    summary = summary_of(reconcile_cli(home, "--fhir-url", server.base_url))
    assert (summary["record conflicts"], summary["failed"]) == (2, 0)
    unknown = held(home, UNKNOWN)
    assert [h["item"] for h in unknown] == ["encounter", "patient"]
    [form_key] = {h["form_key"] for h in unknown}
    assert form_key.split("/")[1:] == ["mar", f"personnummer|{pnr}"]
    assert all("nothing of this form was posted" in h["detail"] for h in unknown)
    assert all(pnr not in h["detail"] for h in unknown)
    assert rows(home, "SELECT * FROM postings WHERE form_key = ?", (form_key,)) == []
    state = server_state(server)
    for kind in ("Patient", "Encounter"):
        assert state[kind] == before[kind]  # nothing created in the patient's place
    assert state["MedicationAdministration"] == {}
    assert len(state["DocumentReference"]) == 1  # the other patient's journal
    counts = form_counts(home, form_key)
    assert (counts["conflicts"], counts["posted"]) == (2, 0)

    again = summary_of(reconcile_cli(home, "--fhir-url", server.base_url))
    assert again["record conflicts"] == 2 and len(held(home, UNKNOWN)) == 2  # not twice
    assert server_state(server)["Patient"] == before["Patient"]

    # A person registers the identifier on the record's patient, and the encounter: the next
    # run posts the form and clears what it held.
    ident = {"system": PERSONNUMMER, "value": pnr}
    changed = {k: v for k, v in elsewhere.items() if k != "meta"}
    changed["identifier"] = [*elsewhere["identifier"], ident]
    assert (
        fhir_request("PUT", f"{server.base_url}/Patient/{elsewhere['id']}", changed).status == 200
    )
    (stay,) = rows(home, "SELECT encounter_id FROM pack_patients WHERE patient_value = ?", (pnr,))
    encounter = create(
        server,
        {
            "resourceType": "Encounter",
            "identifier": [{"system": ENCOUNTERS, "value": stay["encounter_id"]}],
            "status": "in-progress",
            "class": {"code": "IMP"},
            "subject": {"reference": f"Patient/{elsewhere['id']}"},
        },
    )
    settled = summary_of(reconcile_cli(home, "--fhir-url", server.base_url))
    assert (settled["record conflicts"], settled["failed"], settled["bundles"]) == (0, 0, 1)
    state = server_state(server)
    assert len(state["Patient"]) == len(before["Patient"])
    administrations = state["MedicationAdministration"].values()
    assert len(administrations) == 2
    assert {a["subject"]["reference"] for a in administrations} == {f"Patient/{elsewhere['id']}"}
    assert {a["context"]["reference"] for a in administrations} == {f"Encounter/{encounter['id']}"}
    assert form_counts(home, form_key)["conflicts"] == 0
    last = summary_of(reconcile_cli(home, "--fhir-url", server.base_url))
    assert last["bundles"] == 0 and versions(server_state(server)) == versions(state)


def test_a_reserve_number_admission_makes_its_patient_and_encounter_once(
    printed: PrintedPack, server: FhirServer, tmp_path: Path
) -> None:
    entry = next(p for p in printed.manifest["pages"] if p["form"] == "admission")
    home = copy_home(printed, tmp_path / "home")
    scan_in(home, tmp_path / "scans", [filled_at_random(printed, entry)])
    before = server_state(server)
    summary = summary_of(reconcile_cli(home, "--fhir-url", server.base_url))
    assert (summary["bundles"], summary["failed"], summary["record conflicts"]) == (1, 0, 0)
    reserve = entry["patient"]["value"] if entry["patient"] else ""
    [patient] = find(server, "Patient", f"urn:downtime:reserve-id|{reserve}")
    assert patient["meta"]["tag"][0]["code"] == "downtime-admission"
    [encounter] = find(server, "Encounter", f"urn:downtime:encounter|{reserve}")
    assert encounter["subject"] == {"reference": f"Patient/{patient['id']}"}
    state = server_state(server)
    assert len(state["Patient"]) == len(before["Patient"]) + 1
    assert len(state["Encounter"]) == len(before["Encounter"]) + 1
    assert [h["item"] for h in held(home)] == ["patient"]  # to be linked to the real patient
    again = summary_of(reconcile_cli(home, "--fhir-url", server.base_url))
    assert again["bundles"] == 0 and versions(server_state(server)) == versions(state)


# --------------------------------------------------------------------------------------------
# A time on paper later than the page's scan: it cannot have happened yet


def test_an_administration_ticked_for_a_slot_after_the_scan_is_held_not_posted(
    printed_half_a_day_ago: PrintedPack, server: FhirServer, tmp_path: Path
) -> None:
    printed = printed_half_a_day_ago
    [entry] = form_entries(printed, "mar")
    now = datetime.now(UTC)
    slots = {
        c: datetime.fromisoformat(field_ref(entry, f"{c}.given")["slot"]) for c in mar_cells(entry)
    }
    over = [c for c, at in slots.items() if at < now - timedelta(minutes=1)]
    ahead = [c for c, at in slots.items() if at > now + timedelta(minutes=30)]
    require(bool(over and ahead), f"slots on both sides of now: {sorted(slots.values())}")
    chosen = [over[-1], ahead[0]]
    home = copy_home(printed, tmp_path / "home")
    ids = [f"{c}.given" for c in chosen]
    scan_in(home, tmp_path / "scans", [ticked(printed, entry, ids)])
    require_ticked(home, entry, ids)
    (scanned,) = rows(home, "SELECT captured_at FROM captures")
    assert datetime.fromisoformat(scanned["captured_at"]) < slots[ahead[0]]

    summary = summary_of(reconcile_cli(home, "--fhir-url", server.base_url))
    assert (summary["bundles"], summary["failed"]) == (1, 0)
    [late] = held(home, "pending-review")
    assert late["item"] == ahead[0], "named as a clerk finds it on the paper"
    assert late["detail"] == (
        "the time on paper is after the page was scanned: check the slot's date"
    )
    [given] = server_state(server)["MedicationAdministration"].values()
    assert datetime.fromisoformat(given["effectiveDateTime"]) == slots[over[-1]]
    assert given["status"] == "completed"
    assert form_counts(home, late["form_key"])["pending_review"] == 1


# --------------------------------------------------------------------------------------------
# A page returned late: the form is revised, never silently overwritten


@pytest.fixture
def journal_first_page_posted(
    printed: PrintedPack, server: FhirServer, tmp_path: Path
) -> tuple[Path, list[dict[str, Any]], dict[str, Any]]:
    """A two-page journal with page 1 returned and posted. (home, its pages, the document)"""
    pages = form_entries(printed, "journal")
    require([p["page"] for p in pages] == [1, 2], "a two-page journal")
    home = copy_home(printed, tmp_path / "home")
    scan_in(home, tmp_path / "scans-1", [filled_at_random(printed, pages[0])])
    shrink_registered_images(home)
    first = summary_of(reconcile_cli(home, "--fhir-url", server.base_url))
    assert (first["bundles"], first["failed"]) == (1, 0)
    [document] = server_state(server)["DocumentReference"].values()
    assert document["content"][0]["attachment"]["title"].startswith("journal, page 1 of 2")
    return home, pages, document


def attachment_pdf(document: dict[str, Any]) -> bytes:
    return base64.b64decode(document["content"][0]["attachment"]["data"])


def test_a_page_returned_late_updates_the_document_with_if_match(
    journal_first_page_posted: tuple[Path, list[dict[str, Any]], dict[str, Any]],
    printed: PrintedPack,
    server: FhirServer,
    tmp_path: Path,
) -> None:
    home, pages, document = journal_first_page_posted
    scan_in(home, tmp_path / "scans-2", [filled_at_random(printed, pages[1])])
    shrink_registered_images(home)
    wire = Wire(server)
    summary = reconcile_with(home, wire)
    assert (summary.bundles, summary.failed, summary.unchanged) == (1, 0, 0)
    [bundle] = wire.sent
    [update] = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference"]
    assert update["request"] == {
        "method": "PUT",
        "url": f"DocumentReference/{document['id']}",
        "ifMatch": f'W/"{document["meta"]["versionId"]}"',
    }
    state = server_state(server)
    assert_each_once(state)
    [revised] = state["DocumentReference"].values()
    assert revised["id"] == document["id"]
    assert revised["meta"]["versionId"] != document["meta"]["versionId"]
    history = fhir_request("GET", f"{server.base_url}/DocumentReference/{document['id']}/_history")
    assert [e["resource"]["meta"]["versionId"] for e in history.body["entry"]] == [
        revised["meta"]["versionId"],
        document["meta"]["versionId"],
    ]
    pdf = attachment_pdf(revised)
    assert page_count(pdf) == 2 and page_count(attachment_pdf(document)) == 1
    for r in rows(home, "SELECT registered_as FROM captures"):
        assert (home / r["registered_as"]).read_bytes() in pdf  # the stored JPEGs, as they are
    assert revised["content"][0]["attachment"]["title"].startswith("journal, pages 1–2 of 2")
    assert "Not returned" not in revised["description"]
    assert "Not returned: page 2 of 2" in document["description"]


def test_a_revision_never_overwrites_a_change_made_in_the_record(
    journal_first_page_posted: tuple[Path, list[dict[str, Any]], dict[str, Any]],
    printed: PrintedPack,
    server: FhirServer,
    tmp_path: Path,
) -> None:
    home, pages, document = journal_first_page_posted
    edited = {**document, "docStatus": "final", "description": "Checked by ward clerk."}
    del edited["meta"]
    response = fhir_request("PUT", f"{server.base_url}/DocumentReference/{document['id']}", edited)
    assert response.status == 200, response.body
    scan_in(home, tmp_path / "scans-2", [filled_at_random(printed, pages[1])])
    shrink_registered_images(home)
    summary = summary_of(reconcile_cli(home, "--fhir-url", server.base_url, code=7))
    assert (summary["bundles"], summary["failed"]) == (0, 1)
    last = rows(home, "SELECT * FROM posting_attempts ORDER BY at DESC LIMIT 1")[0]
    assert (last["outcome"], last["http_status"]) == ("failed", 412)
    [kept] = server_state(server)["DocumentReference"].values()
    assert kept["description"] == "Checked by ward clerk."
    assert page_count(attachment_pdf(kept)) == 1


def test_a_revision_in_the_outbox_is_never_a_silent_overwrite(
    printed: PrintedPack, tmp_path: Path
) -> None:
    pages = form_entries(printed, "journal")
    home = copy_home(printed, tmp_path / "home")
    scan_in(home, tmp_path / "scans-1", [filled_at_random(printed, pages[0])])
    reconcile_cli(home)
    before = set(outbox_files(home))
    scan_in(home, tmp_path / "scans-2", [filled_at_random(printed, pages[1])])
    reconcile_cli(home)
    [name] = set(outbox_files(home)) - before
    bundle = json.loads((home / "outbox" / name).read_text("utf-8"))
    docs = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference"]
    for entry in docs:
        request = entry["request"]
        assert request.get("ifMatch") or (
            request["method"] == "POST" and "ifNoneExist" in request
        ), request


# --------------------------------------------------------------------------------------------
# A crash between recording a posting and recording its outcome

CRASH = """
import os, sys
from pathlib import Path
from downtime.app import workspace
from downtime.record.client import FhirClient
from downtime.record.reconciliation import Target, reconcile

class Crash(FhirClient):
    def transaction(self, bundle):
        if sys.argv[3] == "after":
            super().transaction(bundle)
        os._exit(70)

with workspace(Path(sys.argv[1]), keys="read") as (settings, _keys, ledger):
    reconcile(ledger, settings, Target(client=Crash(sys.argv[2])))
"""


def crash_while_posting(home: Path, server: FhirServer, when: str) -> None:
    """A real process dies just before, or just after, its transaction reached the server."""
    done = subprocess.run(
        [sys.executable, "-c", CRASH, str(home), server.base_url, when],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 70, done.stderr
    require(len(rows(home, "SELECT * FROM postings")) == 1, "the posting was recorded")
    require(rows(home, "SELECT * FROM posting_attempts") == [], "no outcome was recorded")


@pytest.mark.parametrize("when", ["before", "after"])
def test_after_a_crash_the_next_run_creates_everything_exactly_once(
    mar_home: tuple[Path, dict[str, Any], list[str]], server: FhirServer, when: str
) -> None:
    home, _entry, _cells = mar_home
    crash_while_posting(home, server, when)
    on_server = len(server_state(server)["MedicationAdministration"])
    assert on_server == (2 if when == "after" else 0)
    summary = summary_of(reconcile_cli(home, "--fhir-url", server.base_url))
    assert (summary["bundles"], summary["failed"]) == (1, 0)
    assert [a[2] for a in attempts(home)] == ["posted"]
    state = server_state(server)
    assert_each_once(state)
    assert len(state["MedicationAdministration"]) == 2
    assert len(state["Provenance"]) == 3


def test_after_a_crash_the_next_run_searches_before_sending_again(
    mar_home: tuple[Path, dict[str, Any], list[str]], server: FhirServer
) -> None:
    home, _entry, _cells = mar_home
    crash_while_posting(home, server, "after")
    wire = Wire(server)
    summary = reconcile_with(home, wire)
    assert summary.bundles == 1
    assert wire.sent == []  # found by identifier: nothing sent again
    assert [a[2:] for a in attempts(home)] == [("posted", None)]


# --------------------------------------------------------------------------------------------
# Known limits and bugs, pinned


def test_typically_filled_two_page_journal_is_accepted_by_the_server(
    printed: PrintedPack, server: FhirServer, tmp_path: Path
) -> None:
    pages = form_entries(printed, "journal")
    home = copy_home(printed, tmp_path / "home")
    scan_in(home, tmp_path / "scans", [filled_at_random(printed, p) for p in pages])
    summary = summary_of(reconcile_cli(home, "--fhir-url", server.base_url))
    assert (summary["bundles"], summary["failed"]) == (1, 0)


def test_a_form_written_to_the_outbox_then_posted_is_unchanged_on_the_next_run(
    printed: PrintedPack, server: FhirServer, tmp_path: Path
) -> None:
    [entry] = form_entries(printed, "referral")
    home = copy_home(printed, tmp_path / "home")
    scan_in(home, tmp_path / "scans", [filled_at_random(printed, entry)])
    reconcile_cli(home)
    posted = summary_of(reconcile_cli(home, "--fhir-url", server.base_url))
    assert (posted["bundles"], posted["failed"]) == (1, 0)
    again = summary_of(reconcile_cli(home, "--fhir-url", server.base_url))
    assert (again["unchanged"], again["bundles"]) == (1, 0)


def test_max_entries_below_what_a_bundle_needs_is_a_usage_error(
    scanned_all: Path, tmp_path: Path
) -> None:
    home = fresh(scanned_all, tmp_path)
    result = run_cli(
        "reconcile", "--lang", "en", "--dry-run", "--max-entries", "3", home=home, ok=False
    )
    assert result.exit_code == 2, result.output
    assert "--max-entries" in result.stderr
    assert not isinstance(result.exception, ValueError)


def test_an_order_written_in_the_record_in_the_second_the_pack_was_printed_is_held(
    printed: PrintedPack, server: FhirServer, tmp_path: Path
) -> None:
    """Both times are whole seconds: a tie may be an order the pack never saw (this raced when
    the pack was printed and scanned back within one second)."""
    [entry] = form_entries(printed, "medication-orders")
    home = copy_home(printed, tmp_path / "home")
    scan_in(home, tmp_path / "scans", [ticked(printed, entry, ["active1.stop"])])
    order_in_record(server, home, entry, printed.manifest["issued_at"])
    summary = summary_of(reconcile_cli(home, "--fhir-url", server.base_url))
    assert (summary["record conflicts"], summary["failed"]) == (1, 0)
    [conflict] = held(home, CONFLICT)
    assert "written in the record after the pack" in conflict["detail"]


def test_an_encounter_in_the_record_that_names_no_patient_holds_the_form(
    printed: PrintedPack, server: FhirServer, tmp_path: Path
) -> None:
    """The census encounter id found in the record on an Encounter without a subject: it is
    not shown to be this patient's, so nothing is posted against it."""
    [mar] = form_entries(printed, "mar", patient=0)
    home = copy_home(printed, tmp_path / "home")
    scan_in(home, tmp_path / "scans", [ticked(printed, mar, [f"{mar_cells(mar)[0]}.given"])])
    (person,) = rows(
        home, "SELECT encounter_id FROM pack_patients WHERE patient_value = ?",
        (mar["patient"]["value"],),
    )  # fmt: skip
    [encounter] = find(server, "Encounter", f"{ENCOUNTERS}|{person['encounter_id']}")
    orphan = {k: v for k, v in encounter.items() if k not in ("meta", "subject")}
    response = fhir_request("PUT", f"{server.base_url}/Encounter/{encounter['id']}", orphan)
    assert response.status == 200, response.body

    summary_of(reconcile_cli(home, "--fhir-url", server.base_url))

    [why] = [h["detail"] for h in held(home, UNKNOWN) if h["item"] == "encounter"]
    assert "not this patient's in the record" in why
    assert server_state(server)["MedicationAdministration"] == {}

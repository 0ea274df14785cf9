"""What counts as issued (issue 12): once a pack has print records, the report counts only the
pages printed from it (a page generated but never printed is never missing); without any, every
page it was made with. Print records come from ward stations' exports (`downtime prints
import`), once each; here they are written as a station would export them."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import ledger_rows, run_cli
from wardkit import Host, copy_host, make_host, manifest


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Host:
    return make_host(tmp_path_factory.mktemp("scope-host"))


def export(path: Path, *prints: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"schema": "downtime.prints/1", "site": "x", "station": "ward-pc",
                                "exported_at": datetime.now(UTC).isoformat(),
                                "prints": list(prints)}))  # fmt: skip
    return path


def a_print(pack: dict[str, Any], forms: set[str], **extra: Any) -> dict[str, Any]:
    return {
        "print_id": secrets.token_hex(16), "pack_id": pack["pack_id"], "ward": pack["ward"],
        "printed_at": datetime.now(UTC).isoformat(), "printed_by": "anna",
        "station": "ward-pc", "printer": "ward-printer", "copies": 1,
        "selection": "forms=" + ",".join(sorted(forms)),
        "pages": [p["page_uid"] for p in pack["pages"] if p["form"] in forms],
        "outcome": "sent", "job_id": "ward-printer-7", "detail": "",
    } | extra  # fmt: skip


def report(home: Path, *args: str) -> dict[str, Any]:
    return dict(json.loads(run_cli("report", "--format", "json", *args, home=home).stdout))


def missing_forms(doc: dict[str, Any], ward: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for m in doc["missing"]:
        if m["ward"] == ward:
            out[m["form"]] = out.get(m["form"], 0) + 1
    return out


def test_a_page_never_printed_never_counts_as_missing(host: Host, tmp_path: Path) -> None:
    central = copy_host(host, tmp_path)
    med = manifest(host.packs, "MED42")
    without = report(central.home)
    assert set(missing_forms(without, "MED42")) >= {"journal", "mar", "referral", "cover"}

    run_cli("prints", "import", export(tmp_path / "e.json", a_print(med, {"mar", "referral"})),
            home=central.home)  # fmt: skip
    with_prints = report(central.home)
    assert set(missing_forms(with_prints, "MED42")) == {"mar", "referral"}
    assert missing_forms(with_prints, "MED42") == {
        f: n for f, n in missing_forms(without, "MED42").items() if f in ("mar", "referral")
    }
    assert missing_forms(with_prints, "KIR7") == missing_forms(without, "KIR7")  # no record
    med_forms = {f["form"] for w in with_prints["wards"] if w["ward"] == "MED42"
                 for p in w["patients"] for f in p["forms"]}  # fmt: skip
    assert med_forms == {"mar", "referral"}
    assert "only the pages printed count as issued" in with_prints["scope"]["description"]
    printed = sum(missing_forms(with_prints, "MED42").values())
    text = run_cli("report", "--lang", "en", home=central.home).stdout
    assert f"{printed} pages printed on demand" in text
    swedish = run_cli("report", "--lang", "sv", home=central.home).stdout
    assert f"{printed} sidor utskrivna vid behov" in swedish


def test_a_failed_print_counts_for_nothing_and_imports_skip_what_they_cannot_place(
    host: Host, tmp_path: Path
) -> None:
    central = copy_host(host, tmp_path)
    med = manifest(host.packs, "MED42")
    failed = a_print(med, {"mar"}, outcome="failed", job_id="")
    unknown = a_print(med, {"mar"}, pack_id="0123456789abcdef")
    foreign = a_print(med, {"mar"})
    foreign["pages"].append(manifest(host.packs, "KIR7")["pages"][0]["page_uid"])
    result = run_cli("prints", "import", "--lang", "en",
                     export(tmp_path / "e.json", failed, unknown, foreign),
                     home=central.home, ok=False)  # fmt: skip
    assert result.exit_code == 3
    assert "1 added\t0 known before\t2 skipped" in result.stdout
    assert "is not in this ledger: import its manifest first" in result.stderr
    assert "1 of its pages are not pages of pack" in result.stderr
    events = ledger_rows(
        central.home / "ledger.sqlite3",
        "SELECT care_unit FROM audit_events WHERE action = 'print.import'",
    )
    assert [e["care_unit"] for e in events] == ["MED42"]
    assert missing_forms(report(central.home), "MED42") == missing_forms(
        report(copy_host(host, tmp_path / "plain").home), "MED42"
    )  # the failed print narrowed nothing


def test_a_pack_printed_during_the_outage_is_in_its_scope(host: Host, tmp_path: Path) -> None:
    central = copy_host(host, tmp_path)
    start = datetime.now(UTC) + timedelta(minutes=5)  # after both packs were issued
    run_cli("outage", "start", "--at", start.isoformat(), home=central.home)
    before = {p["ward"] for p in report(central.home)["scope"]["packs"]}
    assert before == {"MED42", "KIR7"}  # the newest at the start
    kir = manifest(host.packs, "KIR7")
    later = (start + timedelta(minutes=10)).isoformat()
    run_cli("prints", "import", export(tmp_path / "e.json", a_print(kir, {"mar"},
            printed_at=later)), home=central.home)  # fmt: skip
    (scoped,) = [p for p in report(central.home)["scope"]["packs"] if p["ward"] == "KIR7"]
    assert scoped["why"] == ["newest-at-outage-start", "printed-during-outage"]
    assert scoped["printed_pages"] == len([p for p in kir["pages"] if p["form"] == "mar"])

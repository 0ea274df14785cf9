"""Continuations made ahead: `downtime pack --ahead N` (site option `continuations_ahead`) makes,
with each ward pack, its next N continuation packs (MED42.ahead-1.pdf, …), each continuing the
pack itself, windows back to back, signed `"ahead": true`; a ward station prints them without
the network or a signing key. The report counts one only as far as it was printed or came back,
and the host's `pack --continue` passes over those never printed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from backends import Backend, add_site_lines
from conftest import PrintedPack, print_example_pack, run_cli
from scankit import rows, save_png, scan
from test_continuation import continued, first_text, slots, superseded
from test_print_scope import a_print, export
from test_reconcile import form_entries, mar_cells, ticked

from downtime.codes.keys import KeyStore
from downtime.errors import InputError
from downtime.pack.manifest import continuation_in
from downtime.ward.verify import PackRefused, verify_manifest

pytestmark = pytest.mark.backends


def ahead_of(pack: PrintedPack, n: int) -> PrintedPack:
    pdf = pack.pdf.with_name(f"{pack.pdf.stem}.ahead-{n}.pdf")
    manifest = json.loads(pdf.with_name(f"{pdf.stem}.manifest.json").read_text("utf-8"))
    return PrintedPack(pack.home, pdf, manifest, pack.stdout)


def window_end(pack: PrintedPack) -> datetime:
    """Where the pack's own administration record ends (its first hour + 24 h)."""
    issued = datetime.fromisoformat(pack.manifest["issued_at"])
    return issued.replace(minute=0, second=0) + timedelta(hours=24)


def report(home: Path) -> dict[str, Any]:
    return dict(json.loads(run_cli("report", "--format", "json", home=home).stdout))


def scoped(doc: dict[str, Any], pack: PrintedPack) -> dict[str, Any]:
    return next(p for p in doc["scope"]["packs"] if p["pack_id"] == pack.manifest["pack_id"])


@pytest.fixture
def made(tmp_path: Path, backend: Backend) -> PrintedPack:
    """MED42's pack, made with two continuations ahead."""
    home = backend.new_home(tmp_path / "home")
    return print_example_pack(home, tmp_path / "out", "--ahead", "2")


def test_a_pack_comes_with_its_continuations_made_ahead_back_to_back(
    made: PrintedPack, tmp_path: Path
) -> None:
    one, two = ahead_of(made, 1), ahead_of(made, 2)
    assert {p.name for p in made.pdf.parent.iterdir()} == {
        "MED42.pdf", "MED42.manifest.json", "MED42.ahead-1.pdf", "MED42.ahead-1.manifest.json",
        "MED42.ahead-2.pdf", "MED42.ahead-2.manifest.json",
    }  # fmt: skip
    pack_id, end = made.manifest["pack_id"], window_end(made)
    assert "continues" not in made.manifest
    for n, ahead in enumerate((one, two)):
        continues = ahead.manifest["continues"]
        assert continues == {"pack_id": pack_id, "ahead": True, "mar_hours": 24,
                             "mar_from": continues["mar_from"]}  # fmt: skip
        start = end + timedelta(hours=24 * n)
        assert datetime.fromisoformat(continues["mar_from"]) == start
        assert start <= slots(ahead)[0] and slots(ahead)[-1] < start + timedelta(hours=24)
        assert ahead.manifest["issued_at"] == made.manifest["issued_at"]
        assert {p["form"] for p in ahead.manifest["pages"]} == {"cover", "mar", "journal"}
        cover = first_text(ahead)
        assert f"Fortsättning på paket {pack_id}" in cover and "behåll tidigare blad" in cover
    patients = {p["patient"]["value"] for p in made.manifest["pages"] if p["form"] == "mar"}
    assert {p["patient"]["value"] for p in two.manifest["pages"] if p["form"] == "mar"} == patients
    assert slots(made)[-1] < slots(one)[0]
    assert "MED42\t2 fortsättningspaket gjorda i förväg" in made.stdout
    assert made.stdout.count("MED42\t") == 4  # the pack, its two continuations, the count

    links = rows(made.home, "SELECT pack_id, continues, ahead FROM pack_continuations")
    assert {(r["pack_id"], r["continues"], r["ahead"]) for r in links} == {
        (one.manifest["pack_id"], pack_id, 1), (two.manifest["pack_id"], pack_id, 1)
    }  # fmt: skip
    assert superseded(made.home) == set()
    later = print_example_pack(made.home, tmp_path / "later")
    assert superseded(made.home) == {
        pack_id, one.manifest["pack_id"], two.manifest["pack_id"]
    }, "the next regular pack supersedes the pack and its continuations"  # fmt: skip
    assert not list(later.pdf.parent.glob("*.ahead-*")), "no continuations ahead by default"


def test_an_ordinary_continuation_says_nothing_of_ahead(made: PrintedPack, tmp_path: Path) -> None:
    day2 = continued(made.home, tmp_path / "day2")
    assert set(day2.manifest["continues"]) == {"pack_id", "mar_from", "mar_hours"}
    link = rows(made.home, "SELECT ahead FROM pack_continuations WHERE pack_id = ?",
                (day2.manifest["pack_id"],))  # fmt: skip
    assert [r["ahead"] for r in link] == [0]


def test_ahead_cannot_be_changed_without_the_signature_failing(made: PrintedPack) -> None:
    keys = KeyStore.open(made.home / "keys").verification_keys()
    path = ahead_of(made, 1).pdf.with_name("MED42.ahead-1.manifest.json")
    data = path.read_bytes()
    record, _pages, _beds = verify_manifest(data, keys, name=path.name)
    continues = continuation_in(json.loads(data))
    assert continues is not None and continues.ahead and continues.continues != record.pack_id
    for ahead in (False, None):
        doc = json.loads(data)
        if ahead is None:
            del doc["continues"]["ahead"]
        else:
            doc["continues"]["ahead"] = ahead
        with pytest.raises(PackRefused) as refused:
            verify_manifest(json.dumps(doc).encode(), keys, name=path.name)
        assert refused.value.reason == "bad-signature"
    doc = json.loads(data)
    doc["continues"]["ahead"] = "yes"
    with pytest.raises(InputError, match="continues is damaged"):
        continuation_in(doc)


def test_the_report_counts_a_continuation_made_ahead_only_as_far_as_it_was_printed(
    made: PrintedPack, tmp_path: Path
) -> None:
    one = ahead_of(made, 1)
    before = report(made.home)
    assert before["totals"]["missing"] == len(made.manifest["pages"]), "only the pack's pages"
    assert {m["pack_id"] for m in before["missing"]} == {made.manifest["pack_id"]}
    assert scoped(before, one)["printed_pages"] == 0
    assert scoped(before, made)["printed_pages"] is None

    printed = a_print(one.manifest, {"mar"})
    run_cli("prints", "import", export(tmp_path / "e.json", printed), home=made.home)
    after = report(made.home)
    assert scoped(after, one)["printed_pages"] == len(printed["pages"])
    assert after["totals"]["missing"] == len(made.manifest["pages"]) + len(printed["pages"])
    assert {m["pack_id"] for m in after["missing"]} == {
        made.manifest["pack_id"], one.manifest["pack_id"]
    }  # fmt: skip
    assert scoped(after, ahead_of(made, 2))["printed_pages"] == 0

    # in an outage, the pack and those made with it are the ward's newest at its start
    start = datetime.now(UTC) + timedelta(minutes=5)
    run_cli("outage", "start", "--at", start.isoformat(), home=made.home)
    during = report(made.home)
    for pack in (made, one, ahead_of(made, 2)):
        assert scoped(during, pack)["why"] == ["newest-at-outage-start"]
    assert during["totals"]["missing"] == after["totals"]["missing"]


def test_a_page_of_a_continuation_made_ahead_comes_back_and_counts_as_returned(
    made: PrintedPack, tmp_path: Path
) -> None:
    two = ahead_of(made, 2)
    [mar] = form_entries(two, "mar")[:1]
    (tmp_path / "scans").mkdir()
    save_png(tmp_path / "scans" / "p.png", ticked(two, mar, [f"{mar_cells(mar)[0]}.given"]))
    [record] = scan(made.home, tmp_path / "scans")
    assert record["status"] == "identified"
    doc = report(made.home)
    assert doc["totals"]["returned"] == 1
    assert doc["totals"]["missing"] == len(made.manifest["pages"])
    assert doc["totals"]["issued"] == len(made.manifest["pages"]) + 1

    # a page back on paper was printed: the host's next continuation follows that one
    day4 = continued(made.home, tmp_path / "day4")
    assert day4.manifest["continues"]["pack_id"] == two.manifest["pack_id"]
    assert datetime.fromisoformat(day4.manifest["continues"]["mar_from"]) == window_end(
        made
    ) + timedelta(hours=48)


def test_the_hosts_continuation_passes_over_those_made_ahead_and_never_printed(
    made: PrintedPack, tmp_path: Path
) -> None:
    day2 = continued(made.home, tmp_path / "day2")
    assert day2.manifest["continues"]["pack_id"] == made.manifest["pack_id"]
    assert datetime.fromisoformat(day2.manifest["continues"]["mar_from"]) == window_end(made)

    two = ahead_of(made, 2)  # the ward station printed day 3's: the host's next follows it
    run_cli("prints", "import", export(tmp_path / "e.json", a_print(two.manifest, {"mar"})),
            home=made.home)  # fmt: skip
    day4 = continued(made.home, tmp_path / "day4")
    assert day4.manifest["continues"]["pack_id"] == two.manifest["pack_id"]
    assert datetime.fromisoformat(day4.manifest["continues"]["mar_from"]) == window_end(
        made
    ) + timedelta(hours=48)


def test_the_site_option_sets_how_many_and_all_wards_get_theirs(home: Path, tmp_path: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    add_site_lines(home, "continuations_ahead = 1")
    out = tmp_path / "all"
    result = run_cli("pack", "--example", "--all-wards", "--jobs", "2", "-o", out, home=home)
    assert sorted(p.name for p in out.glob("*.pdf")) == [
        "KIR7.ahead-1.pdf", "KIR7.pdf", "MED42.ahead-1.pdf", "MED42.pdf"
    ]  # fmt: skip
    for ward in ("KIR7", "MED42"):
        assert f"{ward}\t1 fortsättningspaket gjort i förväg" in result.stdout
        pack = json.loads((out / f"{ward}.manifest.json").read_text("utf-8"))
        ahead = json.loads((out / f"{ward}.ahead-1.manifest.json").read_text("utf-8"))
        assert ahead["continues"]["pack_id"] == pack["pack_id"] and ahead["ward"] == ward
    none = run_cli("pack", "--example", "--ward", "MED42", "--ahead", "0", "-o",
                   tmp_path / "none" / "MED42.pdf", home=home)  # fmt: skip
    assert "förväg" not in none.stdout
    assert not list((tmp_path / "none").glob("*.ahead-*"))


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--example", "--ward", "MED42", "--ahead", "9"), "'--ahead': 9 is not in the range"),
        (("--continue", "--ward", "MED42", "--ahead", "1"), "--ahead goes with a ward's pack"),
    ],
)
def test_a_bad_ahead_is_refused(home: Path, tmp_path: Path, args: tuple[str, ...],
                                says: str) -> None:  # fmt: skip
    result = run_cli("pack", *args, "-o", tmp_path / "x.pdf", home=home, ok=False)
    assert result.exit_code == 2 and says in result.output
    assert not (tmp_path / "x.pdf").exists()


def test_packs_list_says_what_each_continuation_continues_and_which_were_made_ahead(
    made: PrintedPack, tmp_path: Path
) -> None:
    pack_id = made.manifest["pack_id"]
    doc = json.loads(run_cli("packs", "list", "--json", home=made.home).stdout)
    listed = {p["pack_id"]: p for p in doc["packs"]}
    aheads = [p for p in listed.values() if p["continues"] is not None]
    assert len(aheads) == 2 and all(p["continues"] == pack_id and p["made_ahead"] for p in aheads)
    assert (listed[pack_id]["continues"], listed[pack_id]["made_ahead"]) == (None, False)
    later = tmp_path / "later.pdf"
    run_cli("pack", "--continue", "--ward", "MED42", "-o", later, home=made.home)
    made_now = json.loads(later.with_name("later.manifest.json").read_text())["pack_id"]
    again = json.loads(run_cli("packs", "list", "--json", home=made.home).stdout)
    now = next(p for p in again["packs"] if p["pack_id"] == made_now)
    assert now["continues"] == pack_id and now["made_ahead"] is False

    text = run_cli("packs", "list", "--lang", "en", home=made.home).stdout.splitlines()
    states = {line.split("\t")[0]: line.split("\t")[-1] for line in text[1:]}
    assert all(states[p["pack_id"]] == f"current; continues {pack_id}, made ahead" for p in aheads)
    assert states[made_now] == f"current; continues {pack_id}"
    assert states[pack_id] == "current"
    swedish = run_cli("packs", "list", home=made.home).stdout
    assert f"fortsätter {pack_id}, gjort i förväg" in swedish

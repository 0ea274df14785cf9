"""What a record conflict keeps of the record (a resource in a few facts, in the ledger with its
held row), and why an item is held, in the station's words. No server, no browser: the record
conflicts in a real browser against Medplum are in tests/test_station_conflicts.py."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from conftest import ledger_rows

from downtime.ledger import Ledger
from downtime.ledger.conflicts import PAPER, RECORD, ConflictSide, conflict_sides
from downtime.ledger.postings import HeldFact, PostingPlan, begin_postings, open_held_items
from downtime.ledger.returns import Reading
from downtime.record.fhir.readings import choice_of
from downtime.record.sides import MAX_CHARS, MAX_RECORD, paper_side, record_sides
from downtime.review import WHYS, why_code
from downtime.station.words import catalogue, why
from downtime.vocab import MarkState

FORM = "pack-1/mar/personnummer|191212121212"
THEIRS = {
    "resourceType": "MedicationAdministration",
    "id": "ma-1",
    "meta": {"lastUpdated": "2026-11-26T09:14:03.120Z"},
    "identifier": [{"system": "urn:oid:1.2.752.29.4.13", "value": "MA-77"}],
    "status": "completed",
    "medicationCodeableConcept": {"text": "Furosemid 40 mg"},
    "effectiveDateTime": "2026-11-26T08:00:00+01:00",
    "performer": [{"actor": {"reference": "Practitioner/p-9", "display": "Sara Ek"}}],
    "dosage": {"dose": {"value": 40, "unit": "mg"}},
}


# --------------------------------------------------------------------------------------------
# A resource in a few facts


def test_the_records_administration_is_kept_in_a_few_facts_as_it_has_them() -> None:
    [side] = record_sides([THEIRS])

    assert side == ConflictSide(
        side=RECORD,
        resource_type="MedicationAdministration",
        resource_id="ma-1",
        identifier="urn:oid:1.2.752.29.4.13|MA-77",
        status="completed",
        occurred_at="2026-11-26T08:00:00+01:00",
        medication="Furosemid 40 mg",
        dose="40 mg",
        who="Sara Ek",
        recorded_at="2026-11-26T09:14:03.120Z",
    )


def test_an_order_names_its_requester_and_dose_and_the_paper_side_has_no_record_id() -> None:
    order = {
        "resourceType": "MedicationRequest",
        "id": "mr-3",
        "status": "active",
        "authoredOn": "2026-11-26T07:30:00Z",
        "medicationCodeableConcept": {"coding": [{"code": "123", "display": "Alvedon"}]},
        "dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": 1, "unit": "g"}}]}],
        "requester": {"display": "Dr Lind"},
        "note": [{"text": "ökad dos"}],
    }
    [side] = record_sides([order])
    paper = paper_side({**order, "note": [{"text": "from paper"}]})

    assert (side.occurred_at, side.medication, side.dose, side.who, side.note) == (
        "2026-11-26T07:30:00Z", "Alvedon", "1 g", "Dr Lind", "ökad dos",
    )  # fmt: skip
    assert (paper.side, paper.resource_id, paper.note) == (PAPER, "", "")


def test_a_merged_patient_says_what_it_was_replaced_by() -> None:
    patient = {
        "resourceType": "Patient",
        "id": "p-1",
        "active": False,
        "link": [{"other": {"reference": "Patient/p-2"}, "type": "replaced-by"}],
    }
    [side] = record_sides([patient])

    assert (side.status, side.note) == ("inactive", "replaced-by Patient/p-2")


def test_what_a_server_holds_is_shown_visible_cut_short_and_at_most_five_resources() -> None:
    odd = {**THEIRS, "note": [{"text": "Given\u202e by\u200b night " + "x" * 400}]}

    sides = record_sides([odd] * (MAX_RECORD + 2))

    assert len(sides) == MAX_RECORD
    note = sides[0].note
    assert note.startswith("Given\ufffd by\ufffd night") and len(note) == MAX_CHARS
    assert note.endswith("…")


# --------------------------------------------------------------------------------------------
# In the ledger, with the held row


def plan(*sides: ConflictSide, detail: str = "already documented") -> PostingPlan:
    held = HeldFact("med1.t08", "record-conflict", detail, sides)
    return PostingPlan(FORM, "sha", (held,), ())


def test_sides_are_written_with_their_held_row_and_a_change_in_the_record_holds_it_anew(
    tmp_path: Path,
) -> None:
    paper = paper_side({**THEIRS, "identifier": []})
    [theirs] = record_sides([THEIRS])
    later = replace(theirs, recorded_at="2026-11-26T10:00:00Z")
    with Ledger.open(tmp_path / "ledger.sqlite3") as ledger:
        begin_postings(ledger, [plan(paper, theirs)], "server")
        begin_postings(ledger, [plan(paper, theirs)], "server")  # the same: nothing new
        first = ledger_rows(ledger, "SELECT found_at FROM held_items")
        shown_first = conflict_sides(ledger, [FORM])
        begin_postings(ledger, [plan(paper, later)], "server")  # the record changed
        held = ledger_rows(ledger, "SELECT found_at FROM held_items ORDER BY found_at")
        sides = ledger_rows(ledger, "SELECT found_at, side, n FROM conflict_sides")
        shown = conflict_sides(ledger, [FORM])
        [open_item] = open_held_items(ledger)

    assert len(first) == 1 and shown_first == {(FORM, "med1.t08"): (paper, theirs)}
    assert len(held) == 2
    assert sorted((s["found_at"], s["side"], s["n"]) for s in sides) == sorted(
        (h["found_at"], side, 1) for h in held for side in (PAPER, RECORD)
    )
    assert shown == {(FORM, "med1.t08"): (paper, later)}, "the latest held row's"
    assert open_item.since.isoformat() == first[0]["found_at"], "held since the first time"


# --------------------------------------------------------------------------------------------
# Why, in the station's words


def test_every_why_has_swedish_words_with_the_same_blanks() -> None:
    swedish = catalogue()["sv"]["whys"]
    blanks = re.compile(r"\{(\w+)\}")

    assert set(swedish) == set(WHYS)
    for code, english in WHYS.items():
        assert set(blanks.findall(swedish[code])) == set(blanks.findall(english)), code


def test_each_why_is_found_by_its_own_code() -> None:
    values = {"flags": "corrected, stained", "boxes": "given, notgiven"}
    for code, english in WHYS.items():
        filled = {k: v for k, v in values.items() if f"{{{k}}}" in english}
        assert why_code(english.format(**values)) == (code, filled), code


def test_a_why_the_mapping_writes_is_shown_in_swedish_with_its_flags_in_words() -> None:
    marked = Reading(state=MarkState.MARKED, score=0.3)
    ticked = choice_of({"given": marked, "notgiven": marked})
    assert ticked.why is not None

    assert why("sv", ticked.why) == "Mer än en ruta ikryssad (given, notgiven). Titta på sidan."
    assert why("en", ticked.why) == ticked.why
    flagged = WHYS["flagged-corrected"].format(flags="corrected, stained")
    assert why("sv", flagged).startswith("Flaggad (ifylld eller överstruken, vid en fläck).")
    assert why("sv", "held by an older version") == "held by an older version"

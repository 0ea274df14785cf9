"""The Transcription queue: handwriting a person types (an as-needed dose's time, a new or
changed order, a paper prescription, a referral's receiving unit, a reserve number's real
identity), the crop of the handwriting beside the inputs for its kind
(:data:`downtime.review.TRANSCRIPTIONS`).

Medication needs two people: an entry waits (``awaiting-confirmation``) until a second,
different person types it again without seeing it (the confirm roles; the inputs are empty
and nothing of the first entry is on the page). The library refuses the same person and says
so. A confirmation that differed comes back (``mismatch``) with both entries, for a new entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from downtime.app.held import drug_suggestions
from downtime.errors import InputError
from downtime.review import TRANSCRIPTIONS, ReviewItem, transcription_kind
from downtime.station.queue_held import HeldQueue, skip_or
from downtime.station.queues import CONFIRM, Desk

ENTER, CONFIRMING, WAITING, AGAIN = "enter", "confirm", "wait", "again"
INLINE_DRUGS = 300  # drug names a page carries at most; beyond, typing asks for matches


def mode_of(desk: Desk, item: ReviewItem) -> str:
    """What this user does with the item: enter it, confirm it blind, wait for a confirmer,
    or enter it again after a mismatch."""
    if item.state == "awaiting-confirmation":
        return CONFIRMING if desk.role in CONFIRM else WAITING
    return AGAIN if item.state == "mismatch" else ENTER


def inputs_of(item: ReviewItem) -> tuple[tuple[str, bool], ...]:
    """(value name, required) for the item's kind, required first."""
    kind = transcription_kind(item.item)
    required, optional = TRANSCRIPTIONS[kind] if kind else ((), ())
    return tuple((n, True) for n in required) + tuple((n, False) for n in optional)


class TranscriptionQueue(HeldQueue):
    slug = "transcription"
    title = "transcription"
    template = "transcription_item.html"

    def decision(
        self, desk: Desk, item: ReviewItem, form: Mapping[str, str]
    ) -> tuple[str, dict[str, str], bool]:
        action = skip_or("transcribe", form)
        if action == "skip":
            return action, {}, False
        mode = mode_of(desk, item)
        if mode == WAITING:
            raise InputError(desk.words("awaiting_other"))
        values = {name: form.get(name, "") for name, _ in inputs_of(item)}
        return action, values, mode == CONFIRMING

    def shown(self, desk: Desk, item: ReviewItem) -> dict[str, Any]:
        inputs = inputs_of(item)
        wants_drug = any(name == "drug" for name, _ in inputs)
        return {
            "mode": mode_of(desk, item),
            "inputs": inputs,
            "drugs": first_drugs(desk, item) if wants_drug else None,
        }


def first_drugs(desk: Desk, item: ReviewItem) -> list[str]:
    """The drug names a drug input offers before anything is typed: every name the station
    knows when they are few, else the patient's own orders' (what is typed then asks the
    station for the names that match: ``/drugs?q=``)."""
    known = drug_suggestions(desk.home, desk.drugs)
    if len(known) <= INLINE_DRUGS:
        return known
    return sorted({o.medication for o in item.form.orders.values()}, key=str.casefold)


class UnknownPatientQueue(TranscriptionQueue):
    """Admissions on a reserve number: the real identity typed (a personnummer or
    samordningsnummer, checked), which reconciliation posts as the Patient's link."""

    slug = "unknown-patient"
    title = "unknown_patient"

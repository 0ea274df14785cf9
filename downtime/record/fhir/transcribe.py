"""Forms a person transcribes: prescription, journal, admission, and forms not mapped. Their
scan is posted as the DocumentReference; what they hold is held for transcription."""

from __future__ import annotations

from downtime.record.fhir.common import Derived, Env, provenance
from downtime.record.fhir.model import (
    PENDING,
    RX_BLOCK,
    WHY_ADMISSION,
    WHY_FORM,
    WHY_RX,
    HeldItem,
)
from downtime.record.fhir.readings import grouped, inked


def prescription(env: Env, derived: Derived) -> None:
    for page in env.pages:
        for key, block in grouped(page.readings, RX_BLOCK):
            if inked(block.values()):
                derived.hold(env, page, key, WHY_RX)


def journal(env: Env, derived: Derived) -> None:
    """The DocumentReference is all: a Composition comes when the entries are transcribed."""


def unknown_form(env: Env, derived: Derived) -> None:
    derived.held.append(HeldItem("form", PENDING, WHY_FORM))


def admission(env: Env, derived: Derived) -> None:
    derived.units.append((provenance(env, env.header, "admission", env.document),))
    derived.hold(env, env.pages[0], "patient", WHY_ADMISSION)

"""Forms a person transcribes: prescription, journal, admission, and forms not mapped. Their
scan is posted as the DocumentReference; what they hold is held for transcription."""

from __future__ import annotations

from downtime.record.fhir.common import _Derived, _Env, _provenance
from downtime.record.fhir.model import (
    _RX_BLOCK,
    _WHY_ADMISSION,
    _WHY_FORM,
    _WHY_RX,
    PENDING,
    HeldItem,
)
from downtime.record.fhir.readings import _grouped, _inked


def _prescription(env: _Env, derived: _Derived) -> None:
    for page in env.pages:
        for key, block in _grouped(page.readings, _RX_BLOCK):
            if _inked(block.values()):
                derived.hold(env, page, key, _WHY_RX)


def _journal(env: _Env, derived: _Derived) -> None:
    """The DocumentReference is all: a Composition comes when the entries are transcribed."""


def _unknown_form(env: _Env, derived: _Derived) -> None:
    derived.held.append(HeldItem("form", PENDING, _WHY_FORM))


def _admission(env: _Env, derived: _Derived) -> None:
    derived.units.append((_provenance(env, env.header, "admission", env.document),))
    derived.hold(env, env.pages[0], "patient", _WHY_ADMISSION)

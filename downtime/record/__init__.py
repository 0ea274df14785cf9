"""The digital record: returned forms mapped to FHIR R4, delivered idempotently, checked."""

from __future__ import annotations

"""The digital record: returned forms mapped to FHIR R4, delivered idempotently, checked."""

from __future__ import annotations

from downtime.record.delivery import Target
from downtime.record.reconciliation import PlannedForm, Summary, reconcile

__all__ = ["PlannedForm", "Summary", "Target", "reconcile"]

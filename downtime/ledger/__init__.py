"""The ledger: every issued page, scan, capture, posting and audit event, appended, never changed.

One SQLite file in the data folder (:mod:`~downtime.ledger.db`). Every SQL statement of the kit
lives in this package; other stages call its named functions, which take and return its own
dataclasses (:mod:`~downtime.ledger.records`, and per topic: ``packs``, ``pages``, ``scans``,
``outage``, ``returns``, ``postings``). The image store beside it is :mod:`~downtime.ledger.store`.
"""

from __future__ import annotations

from downtime.ledger.audit import write_audit
from downtime.ledger.chain import verify_audit_chain
from downtime.ledger.db import Ledger, driver_errors
from downtime.ledger.records import AuditEvent, IssuedPage, PackRecord, PackSummary

__all__ = [
    "AuditEvent",
    "IssuedPage",
    "Ledger",
    "PackRecord",
    "PackSummary",
    "driver_errors",
    "verify_audit_chain",
    "write_audit",
]

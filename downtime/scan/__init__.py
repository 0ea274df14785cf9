"""Scanning back: input files → identified, registered and read pages, recorded in the ledger."""

from __future__ import annotations

from downtime.scan.run import PageRecord, ScanOptions, ScanSummary, log_event, run_scan

__all__ = ["PageRecord", "ScanOptions", "ScanSummary", "log_event", "run_scan"]

"""Use cases behind the CLI: each opens the data folder, does one job, and returns data.

This is the edge where settings, the key store and the ledger meet; the modules it calls
(census, pack, forms, layout, render) stay free of it.
"""

from __future__ import annotations

from downtime.app.forms import (
    check_form_files,
    describe_form,
    preview_form,
    site_forms,
    site_forms_for,
    site_lang,
)
from downtime.app.keys import export_keys, import_keys, key_table, rotate_key
from downtime.app.outage import outage_lines, record_outage, void_pages
from downtime.app.packs import PackRequest, import_manifests, pack_table, run_pack, safe_name
from downtime.app.reconcile import reconcile_cmd
from downtime.app.report import outage_report
from downtime.app.scans import ASSIGNABLE, quarantine_assign, quarantine_list, scan_files
from downtime.app.workspace import Log, initialise, workspace

__all__ = [
    "ASSIGNABLE",
    "Log",
    "PackRequest",
    "check_form_files",
    "describe_form",
    "export_keys",
    "import_keys",
    "import_manifests",
    "initialise",
    "key_table",
    "outage_lines",
    "outage_report",
    "pack_table",
    "preview_form",
    "quarantine_assign",
    "quarantine_list",
    "reconcile_cmd",
    "record_outage",
    "rotate_key",
    "run_pack",
    "safe_name",
    "scan_files",
    "site_forms",
    "site_forms_for",
    "site_lang",
    "void_pages",
    "workspace",
]

"""Use cases behind the CLI: each opens the data folder, does one job, and returns data.

This is the edge where settings, the key store and the ledger meet; the stages it calls
(census, forms, pack, scan, record, report) stay free of it. Functions here return
dataclasses; the CLI turns them into text or JSON.
"""

from __future__ import annotations

from downtime.app.forms import (
    FormCheck,
    FormDescription,
    check_form_files,
    describe_form,
    preview_form,
    site_forms,
    site_forms_for,
    site_lang,
)
from downtime.app.keys import KeyRow, export_keys, import_keys, key_table, rotate_key
from downtime.app.login import ClientKeyInfo, make_client_key, show_client_key
from downtime.app.outage import (
    OutageLog,
    OutageRecorded,
    Voided,
    outage_log,
    record_outage,
    void_pages,
)
from downtime.app.packs import (
    ManifestImport,
    PackRequest,
    import_manifests,
    pack_table,
    run_pack,
    safe_name,
)
from downtime.app.reconcile import reconcile_forms
from downtime.app.report import held_kinds, outage_report
from downtime.app.scans import (
    Assignment,
    quarantine_assign,
    quarantine_list,
    quarantine_reject,
    scan_files,
)
from downtime.app.workspace import DataFolder, Log, initialise, workspace

__all__ = [
    "Assignment",
    "ClientKeyInfo",
    "DataFolder",
    "FormCheck",
    "FormDescription",
    "KeyRow",
    "Log",
    "ManifestImport",
    "OutageLog",
    "OutageRecorded",
    "PackRequest",
    "Voided",
    "check_form_files",
    "describe_form",
    "export_keys",
    "held_kinds",
    "import_keys",
    "import_manifests",
    "initialise",
    "key_table",
    "make_client_key",
    "outage_log",
    "outage_report",
    "pack_table",
    "preview_form",
    "quarantine_assign",
    "quarantine_list",
    "quarantine_reject",
    "reconcile_forms",
    "record_outage",
    "rotate_key",
    "run_pack",
    "safe_name",
    "scan_files",
    "show_client_key",
    "site_forms",
    "site_forms_for",
    "site_lang",
    "void_pages",
    "workspace",
]

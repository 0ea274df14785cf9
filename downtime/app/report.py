"""The outage report, written to a file or returned, and audited per patient it names."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from downtime import files
from downtime.app.workspace import workspace
from downtime.errors import InputError
from downtime.ledger import AuditEvent, write_audit


def outage_report(
    home: Path | None,
    *,
    fmt: str,
    ward: str | None = None,
    all_packs: bool = False,
    output: Path | None = None,
    now: datetime | None = None,
) -> str:
    """The outage report as ``fmt``; written to ``output`` (0600) when given, then its path is
    returned, else the document itself. Producing it is audited per patient it names."""
    from downtime.report import build_report, read_facts
    from downtime.report.formats import render

    with workspace(home, keys="read") as (settings, _keys, ledger):
        facts = read_facts(
            ledger,
            site=settings.config.site,
            timezone=settings.config.timezone,
            now=now or datetime.now(settings.tz),
            all_packs=all_packs,
        )
        if ward is not None and ward not in facts.known_wards:
            raise InputError(
                f"no pack was printed for ward '{ward}'",
                hint=f"wards in the ledger: {', '.join(sorted(facts.known_wards)) or 'none'}",
            )
        report = build_report(facts, ward=ward)
        text = render(report, fmt)
        if output is not None:
            files.private_folder(output.parent)
            files.write_atomic(output, text.encode("utf-8"))
        events = [
            AuditEvent(
                "report.view",
                f"outage report ({fmt})",
                care_unit=w.ward,
                patient=p.patient.identifier,
                object_type="report",
            )
            for w in report.wards
            for p in w.patients
            if p.patient.identifier is not None
        ]
        events.append(
            AuditEvent(
                "report",
                f"format={fmt} scope={report.scope.rule} wards={len(report.wards)} "
                f"complete={str(report.complete).lower()}"
                + (f" output={output.name}" if output else ""),
                care_unit=ward,
                object_type="report",
            )
        )
        write_audit(ledger, events, actor=settings.operator, station=settings.station)
        return str(output) if output is not None else text

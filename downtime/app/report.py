"""The outage report, written to a file or returned, and audited per patient it names; how many
items are held for a person, naming nobody."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from downtime import files
from downtime.app.workspace import workspace
from downtime.errors import InputError, Said
from downtime.ledger import AuditEvent, write_audit


def outage_report(
    home: Path | None,
    *,
    fmt: str,
    lang: str | None = None,
    ward: str | None = None,
    all_packs: bool = False,
    output: Path | None = None,
    now: datetime | None = None,
) -> str:
    """The outage report as ``fmt``, in ``lang`` (None: the site's for the table and HTML,
    English for JSON and CSV: :func:`~downtime.report.formats.report_lang`); written to
    ``output`` (0600) when given, then its path is returned, else the document itself.
    Producing it is audited per patient it names."""
    from downtime.report import build_report, read_facts
    from downtime.report.formats import render, report_lang

    with workspace(home, keys="read") as (settings, _keys, ledger):
        facts = read_facts(
            ledger,
            site=settings.config.site,
            timezone=settings.config.timezone,
            now=now or datetime.now(settings.tz),
            all_packs=all_packs,
        )
        if ward is not None and ward not in facts.known_wards:
            wards = ", ".join(sorted(facts.known_wards))
            raise InputError(
                f"no pack was printed for ward '{ward}'",
                hint=f"wards in the ledger: {wards or 'none'}",
                said=Said("no_pack_for_ward", {"ward": ward, "wards": wards or "–"}),
            )
        report = build_report(facts, ward=ward)
        lang = report_lang(fmt, lang, settings.config.lang)
        text = render(report, fmt, lang)
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
                f"format={fmt} lang={lang} scope={report.scope.rule} wards={len(report.wards)} "
                f"complete={str(report.complete).lower()}"
                + (f" output={output.name}" if output else ""),
                care_unit=ward,
                object_type="report",
            )
        )
        write_audit(ledger, events, actor=settings.operator, station=settings.station)
        return str(output) if output is not None else text


def held_kinds(home: Path | None) -> dict[str, int]:
    """How many items are held for a person now, per kind held: the items the report lists as
    pending (with no ward filter), counted by the same ledger function. Names nobody."""
    from downtime.ledger.postings import open_held_items

    with workspace(home, keys="read") as (_settings, _keys, ledger):
        kinds: dict[str, int] = {}
        for item in open_held_items(ledger):
            kinds[item.kind] = kinds.get(item.kind, 0) + 1
        return kinds

"""``downtime doctor``'s check of the record system's FHIR server (site.toml ``[fhir] url``):
it answers within a short time, logged in as ``downtime reconcile`` would (SMART Backend
Services or a static token, the hospital's CA bundle), and its CapabilityStatement promises
what reconciliation needs (:mod:`downtime.record.capability`)."""

from __future__ import annotations

from downtime.app.doctor_check import FAILED, OK, Check
from downtime.app.login import fhir_client
from downtime.errors import DowntimeError, Said
from downtime.record.capability import POSTED_TYPES, capability_problems
from downtime.settings import Settings

TIMEOUT_S = 5.0  # one request, one attempt: a server slower than this fails the check


def fhir_check(settings: Settings, *, timeout_s: float = TIMEOUT_S) -> Check:
    url = settings.config.fhir.url
    if not url:
        return Check(
            "fhir",
            OK,
            "no FHIR server in site.toml ([fhir] url): reconcile writes bundles to the outbox",
            said=Said("fhir_none"),
        )
    try:
        client = fhir_client(settings, url, None, timeout_s=timeout_s, attempts=1)
        statement = client.read("metadata")
    except DowntimeError as e:
        return Check(
            "fhir",
            FAILED,
            f"{url}: {e.message}",
            e.hint or "check the address ([fhir] url), the network and the server",
            Said("fhir_failed", {"url": url, "message": e.message}),
            None if e.hint else Said("fhir_failed"),
        )
    problems = capability_problems(statement)
    if problems:
        return Check(
            "fhir",
            FAILED,
            f"{url} answers, but {'; '.join(problems)}: reconcile cannot post there",
            "ask the record system's administrators; until then reconcile into the outbox "
            "(downtime reconcile --outbox DIR)",
            Said("fhir_lacks", {"url": url, "problems": "; ".join(problems)}),
        )
    software = statement.get("software", {})
    name = software.get("name") if isinstance(software, dict) else None
    version, types = statement.get("fhirVersion"), ", ".join(POSTED_TYPES)
    return Check(
        "fhir",
        OK,
        f"{url} ({name or 'FHIR server'}, FHIR {version}): transactions "
        f"and conditional create of {types}",
        said=Said("fhir_ok", {"url": url, "name": name or "FHIR-server", "version": version,
                              "types": types}),
    )  # fmt: skip

"""``downtime doctor``: is this computer ready for a run? One small check per thing a run needs.

Each check returns a :class:`Check`: ``ok``; ``warning`` (it works, but not as well as it
should, or soon will not: the slower QR encoder, a disk filling up, an old signing key, files
no ledger row names); or ``failed`` (a command would stop, or a scan would set aside pages it
could otherwise read, or patient data is open to other users of the computer). Every check
that is not ok says what to do. Nothing here changes the data folder: the ledger is opened
read-only, and a data folder that does not exist is reported, not made.

The checks, in order:

1. the site's options (site.toml), its time zone, and this computer's clock;
2. what the kit runs on: Tesseract and its language data, zxing-cpp and libzbar (the QR
   readers; each reads a code made by the QR encoder in use), the QR encoder, the fonts;
3. the data folder (:mod:`downtime.app.doctor_folder`): permissions, the ledger's integrity
   and audit chain, the keys, free disk for the image store;
4. the record system's FHIR server, when site.toml names one (:mod:`downtime.app.doctor_fhir`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from downtime.app.doctor_check import FAILED, OK, STATES, WARNING, Check, Diagnosis
from downtime.app.doctor_fhir import fhir_check
from downtime.app.doctor_folder import clock_check, folder_checks, timezone_check
from downtime.app.doctor_system import dependency_checks
from downtime.errors import DowntimeError, Said
from downtime.settings import SITE_FILE, Settings, default_home, resolve

__all__ = ["FAILED", "OK", "STATES", "WARNING", "Check", "Diagnosis", "diagnose"]


def diagnose(home: Path | None, *, now: datetime | None = None) -> Diagnosis:
    """Every check, in the order above."""
    now = now or datetime.now(UTC)
    checks: list[Check] = []
    try:
        settings: Settings | None = resolve(home)
    except DowntimeError as e:
        settings = None
        where = (home or default_home()).expanduser()
        fix = e.hint or f"correct {where / SITE_FILE} (or remove the option: its default applies)"
        said = Said("site_failed", {"where": where, "message": e.message, "file": SITE_FILE})
        fixed = None if e.hint else said
        checks.append(Check("site-config", FAILED, f"{where}: {e.message}", fix, said, fixed))
    if settings is not None:
        c = settings.config
        what = f"{settings.home}: site {c.site!r}, forms in {c.lang}"
        defaults = not (settings.home / SITE_FILE).is_file()
        if defaults:
            what += f" (no {SITE_FILE}: the defaults)"
        values = {
            "home": settings.home,
            "site": repr(c.site),
            "lang": c.lang,
            "defaults": Said("site_defaults", {"file": SITE_FILE}) if defaults else "",
        }
        checks += [
            Check("site-config", OK, what, said=Said("site_ok", values)),
            timezone_check(settings, now),
            clock_check(settings, now),
        ]
    checks += dependency_checks(settings.config.qr_encoder if settings else "auto")
    if settings is not None:
        checks += folder_checks(settings, now)
        checks.append(fhir_check(settings))
    return Diagnosis(tuple(checks))

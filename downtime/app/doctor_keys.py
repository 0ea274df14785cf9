"""``downtime doctor``'s check of the keys: which key signs (and that its private key is there
and matches), which only verify, how old the signing key is, and that every key that signed a
page the ledger knows is here to verify it."""

from __future__ import annotations

from datetime import datetime

from downtime.app.doctor_check import FAILED, OK, WARNING, Check
from downtime.codes.keyfiles import KEYRING
from downtime.codes.keys import KeyStore
from downtime.errors import KeyStoreError, Said
from downtime.settings import Settings

KEY_AGE_WARNING_DAYS = 365  # a signing key this old: rotate it (old ones keep verifying)
STATUSES = ("active", "retired", "verify-only")


def keys_check(settings: Settings, signed: dict[str, int], now: datetime) -> Check:
    """The keys, as the module says; ``signed``: pages signed per key id, from the ledger."""
    if not (settings.keys_dir / KEYRING).is_file():
        return Check(
            "keys",
            FAILED,
            "no key store: packs cannot be signed, page codes cannot be verified",
            "downtime init on the print host; on a scan station downtime init --scan-station, "
            "then downtime keys import-public",
            Said("keys_no_store"),
        )
    try:
        store = KeyStore.open(settings.keys_dir)
        keys = store.public_keys()
        if any(k.status == "active" for k in keys):
            store.signing_key()  # the private key is there, readable, and the active key's
    except KeyStoreError as e:
        return Check("keys", FAILED, e.message, e.hint or "restore keys/ from a backup")
    if not keys:
        return Check(
            "keys",
            FAILED,
            "the key store holds no keys",
            "on a scan station: downtime keys import-public (from the print host)",
            Said("keys_none"),
        )
    active = next((k for k in keys if k.status == "active"), None)
    counts = [(sum(k.status == s for k in keys), s) for s in STATUSES]
    statuses = ", ".join(f"{n} {s}" for n, s in counts if n)
    verifies = f"verifies with {len(keys)} key(s) ({statuses})"
    said_statuses = [Said(f"keys_{s}", {"n": n}) for n, s in counts if n]
    said_verifies = Said("keys_verify", {"n": len(keys), "statuses": said_statuses})
    if active is None:
        signs, said_signs = "signs with none (a scan station)", Said("keys_signs_none")
        age = 0
    else:
        age = (now - active.created_at).days
        made = active.created_at.astimezone(settings.tz).date().isoformat()
        pages = signed.get(active.key_id, 0)
        signs = (
            f"signs with {active.key_id} (made {made}, {age} day(s) old, {pages} page(s) signed)"
        )
        said_signs = Said("keys_signs", {"key": active.key_id, "made": made,
                                         "days": Said("keys_days", {"n": age}),
                                         "pages": Said("keys_pages", {"n": pages})})  # fmt: skip
    what = f"{signs}; {verifies}"
    found = Said("keys_found", {"signs": said_signs, "verifies": said_verifies})
    held = {k.key_id for k in keys}
    unknown = sorted(k for k in signed if k not in held)
    if unknown:
        return Check(
            "keys",
            FAILED,
            f"{what}; the ledger has pages signed by key(s) {', '.join(unknown)}, which this "
            "station does not hold: those pages would be set aside as unknown-key",
            "downtime keys export-public on the print host, downtime keys import-public here",
            Said("keys_unknown", {"found": found, "keys": ", ".join(unknown)}),
        )
    if active is not None and age > KEY_AGE_WARNING_DAYS:
        return Check(
            "keys",
            WARNING,
            f"{what}; the signing key is over {KEY_AGE_WARNING_DAYS} days old",
            "downtime keys rotate, then give the scan stations the new public key",
            Said("keys_old", {"found": found, "days": KEY_AGE_WARNING_DAYS}),
        )
    return Check("keys", OK, what, said=found)

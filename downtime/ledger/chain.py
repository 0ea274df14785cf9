"""Checking the audit trail's hash chain (:mod:`~downtime.ledger.audit`) and saying exactly what
is wrong where: a row edited, rows removed, a row moved out of its place, or a wholesale
rewrite (caught against a chain head printed earlier, e.g. on a report).

Each row stores the previous row's hash (``prev_hash``) and its own (``hash``, over
``prev_hash`` and its values). So:

* a row whose values no longer give its hash was **edited**;
* a row whose ``prev_hash`` is no row's hash follows rows that are **missing** (deleted);
* a row whose ``prev_hash`` is another row's hash, not the one stored before it, is **out of
  order** (rows reordered, or its ``seq`` changed);
* a chain head printed before (:func:`chain_head`) that no row holds any more means the chain
  was **rewritten** from some point on, or rows were removed from its end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from downtime.errors import Said
from downtime.ledger.audit import GENESIS, chain_hash
from downtime.ledger.db import Ledger, rows

VALUES = (
    "at",
    "actor",
    "station",
    "action",
    "care_unit",
    "patient_system",
    "patient_value",
    "object_type",
    "object_id",
    "detail",
)  # fmt: skip  (what each row's hash covers)
EDITED, MISSING, OUT_OF_ORDER, REWRITTEN = "edited", "missing", "out-of-order", "rewritten"


@dataclass(frozen=True)
class ChainFinding:
    """One thing wrong with the chain, at the row ``seq`` (None: the chain as a whole)."""

    seq: int | None
    kind: str  # edited | missing | out-of-order | rewritten
    what: str  # for a person: what is wrong there
    said: Said | None = field(default=None, compare=False)  # ``what`` in the CLI's findings

    @property
    def where(self) -> str:
        return f"audit event {self.seq}" if self.seq is not None else "the audit trail"

    @property
    def place(self) -> Said:
        """``where`` in the CLI's findings."""
        return Said("audit_event", {"seq": self.seq}) if self.seq else Said("audit_trail")

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass(frozen=True)
class ChainHead:
    """How long the chain is and the hash of its last row: printed on reports, so that a
    later check can tell the chain was not rewritten since."""

    events: int
    head: str  # the last row's hash (GENESIS when there is none)

    @property
    def short(self) -> str:
        return self.head[:16]


def chain_head(ledger: Ledger) -> ChainHead:
    found = rows(
        ledger,
        "SELECT (SELECT count(*) FROM audit_events) AS n,"
        " (SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1) AS head",
    )[0]
    return ChainHead(int(found["n"]), found["head"] or GENESIS)


def check_chain(ledger: Ledger, *, expect_head: str | None = None) -> list[ChainFinding]:
    """Everything wrong with the audit chain, in ``seq`` order (empty: intact). With
    ``expect_head`` (a head printed before, whole or its first 16 or more hex digits), also
    whether the chain still holds that row."""
    stored = list(_rows(ledger))
    by_hash = {r["hash"]: r["seq"] for r in stored}
    findings = []
    before_hash, before_seq = GENESIS, None
    for r in stored:
        seq = int(r["seq"])
        if r["hash"] != chain_hash(r["prev_hash"], _values(r)):
            what = "its content does not give its hash"
            findings.append(ChainFinding(seq, EDITED, what, Said("chain_edited")))
        if r["prev_hash"] != before_hash:
            findings.append(_link(seq, r["prev_hash"], before_seq, by_hash))
        before_hash, before_seq = r["hash"], seq
    if expect_head is not None:
        wanted = expect_head.strip().lower()
        if len(wanted) < 16 or not all(c in "0123456789abcdef" for c in wanted):
            what = "the expected head is not 16 or more hex digits"
            findings.append(ChainFinding(None, REWRITTEN, what, Said("chain_bad_head")))
        elif not any(h.startswith(wanted) for h in by_hash) and GENESIS[: len(wanted)] != wanted:
            findings.append(
                ChainFinding(
                    None,
                    REWRITTEN,
                    f"no event has the head {wanted[:16]} printed before: the chain was"
                    " rewritten from some point on, or its last events were removed",
                    Said("chain_rewritten", {"head": wanted[:16]}),
                )
            )
    return findings


def _link(seq: int, prev_hash: str, before: int | None, by_hash: dict[str, Any]) -> ChainFinding:
    """Why the row ``seq`` does not follow the row stored before it (``before``)."""
    after = by_hash.get(prev_hash)
    stored_after = f"event {before}" if before is not None else "the start"
    said_after = Said("event", {"seq": before}) if before is not None else Said("start")
    if after is not None:
        return ChainFinding(
            seq,
            OUT_OF_ORDER,
            f"it follows event {after} in the chain but is stored after {stored_after}",
            Said("chain_follows", {"after": after, "stored_after": said_after}),
        )
    if prev_hash == GENESIS:
        what = f"it starts the chain but is stored after {stored_after}"
        said = Said("chain_starts", {"stored_after": said_after})
        return ChainFinding(seq, OUT_OF_ORDER, what, said)
    if before is not None and before == seq - 1:  # nothing between them: the one before changed
        what = f"its content and hash were changed: event {seq} no longer follows it"
        return ChainFinding(before, EDITED, what, Said("chain_changed", {"seq": seq}))
    gone = f"{before + 1}–{seq - 1}" if before is not None else f"1–{seq - 1}"
    what = f"the events before it are missing (events {gone})"
    return ChainFinding(seq, MISSING, what, Said("chain_missing", {"gone": gone}))


def _rows(ledger: Ledger) -> Iterator[Any]:
    yield from rows(ledger, "SELECT * FROM audit_events ORDER BY seq")


def _values(r: Any) -> tuple[Any, ...]:
    return tuple(r[c] for c in VALUES)


def verify_audit_chain(ledger: Ledger) -> int | None:
    """The ``seq`` of the first row :func:`check_chain` finds wrong, or None if intact."""
    return next((f.seq for f in check_chain(ledger) if f.seq is not None), None)
